//! Binding names: locals, globals, script functions and intrinsics, with
//! tapset files pulled in when they define a name the script needs
//! (stap's rule), `private` names visible in their own file only, and
//! stap's arity and declaration errors. Also the last step of the pass:
//! eliding unused code with stap's warnings, and placing handlers.

use std::collections::{HashMap, HashSet};

use super::points::ProbeKind;
use super::{DerivedProbe, ElabOptions, Func, GlobalVar, Placement, Program, Type, Var, intrinsics};
use crate::diag::{Diagnostic, suggest};
use crate::parse::ast::{
    AssignOp, Block, Expr, ExprKind, FunctionBody, Probe, Script, Stmt, StmtKind, Target, TargetBase, TargetId,
    TypeName,
};
use crate::source::{FileId, Span};
use crate::tapset::Library;

/// What a body is resolved in.
pub(crate) struct Scope<'p> {
    pub file: FileId,
    pub locals: Vec<Var>,
    /// The probe's concrete points; empty in functions.
    pub points: &'p [super::ResolvedPoint],
    pub in_function: bool,
    /// Inside `@defined(...)`: failures are answers, not errors.
    pub probing: bool,
    pub failed: bool,
    /// Per variable name: occurrences in the body, and as a `<<<` target.
    pub uses: HashMap<String, VarCounts>,
    pub body: BodyId,
    /// Where a tracepoint probe's `$name`s are read.
    pub tp_source: super::tp_source::TpSource,
}

impl Scope<'_> {
    fn local(&self, name: &str) -> Option<usize> {
        self.locals.iter().position(|v| v.name == name)
    }
}

/// A probe waiting to be expanded through aliases.
pub(crate) struct PendingProbe {
    pub probe: Probe,
    pub file: FileId,
    pub from_tapset: bool,
}

pub(crate) struct Session<'a> {
    pub opts: &'a ElabOptions<'a>,
    pub user: &'a [Script],
    pub library: &'a Library,
    pub diags: Vec<Diagnostic>,
    pub globals: Vec<GlobalVar>,
    pub functions: Vec<Func>,
    pub probes: Vec<DerivedProbe>,
    pub pending: Vec<PendingProbe>,
    /// Per library file: pulled into the session.
    pub pulled: Vec<bool>,
    lib_functions: HashMap<String, Vec<usize>>,
    lib_globals: HashMap<String, Vec<usize>>,
    /// Every alias the session can see.
    pub aliases: Vec<super::derive::AliasDef<'a>>,
    /// Alias expansions left to the probe being derived (see
    /// `derive::MAX_ALIAS_STEPS`).
    pub alias_steps: usize,
    /// Functions whose bodies are resolved.
    resolved_functions: usize,
    reported: HashSet<(Span, String)>,
    /// What an earlier round learnt of the C types locals and functions
    /// carry (autocast).
    pub hints: AutocastHints,
    /// The last round: an untyped `x->member` is an error, not a retry.
    pub autocast_final: bool,
    /// This round met an `x->member` it could not type yet.
    pub autocast_pending: bool,
    /// Keep every statement (listing: `-L` shows what aliases set).
    pub keep_all: bool,
    /// The variables the user's handler of the probe being resolved writes
    /// (`@probewrite`).
    pub probe_writes: HashSet<String>,
    /// The points of the probe being simplified: target variables in code
    /// that goes are still resolved where the points give them meaning.
    dropped_points: Vec<super::ResolvedPoint>,
    /// Every target expression's resolution, by [`TargetId`].
    pub targets: Vec<super::target::Resolved>,
}

/// Which body a local belongs to: a derived probe or a function, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BodyId {
    Probe(usize),
    Function(usize),
}

/// Autocast: the kernel type a value points to, for locals assigned only
/// typed pointers and functions returning only them. `x->member` on such a
/// value reads as `@cast(x, "T")->member`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AutocastHints {
    pub locals: HashMap<(BodyId, String), CType>,
    pub funcs: HashMap<(String, usize), CType>,
}

/// A kernel type and where its definition came from (`kernel`, or the
/// module or header list an @cast named): types from different places
/// are different, as in stap.
pub(crate) type CType = (crate::kernel::TypeId, String);

fn file_script(library: &Library, i: usize) -> Option<&Script> {
    library.files.get(i).and_then(|f| f.script.as_ref())
}

impl<'a> Session<'a> {
    pub fn new(user: &'a [Script], library: &'a Library, opts: &'a ElabOptions<'a>) -> Session<'a> {
        let mut lib_functions: HashMap<String, Vec<usize>> = HashMap::new();
        let mut lib_globals: HashMap<String, Vec<usize>> = HashMap::new();
        for i in 0..library.files.len() {
            let Some(s) = file_script(library, i) else { continue };
            for f in s.functions.iter().filter(|f| !f.private) {
                let v = lib_functions.entry(f.name.name.clone()).or_default();
                if !v.contains(&i) {
                    v.push(i);
                }
            }
            for g in s.globals.iter().filter(|g| !g.private) {
                lib_globals.entry(g.name.name.clone()).or_default().push(i);
            }
        }
        Session {
            opts,
            user,
            library,
            diags: Vec::new(),
            globals: Vec::new(),
            functions: Vec::new(),
            probes: Vec::new(),
            pending: Vec::new(),
            pulled: vec![false; library.files.len()],
            lib_functions,
            lib_globals,
            aliases: Vec::new(),
            alias_steps: 0,
            resolved_functions: 0,
            reported: HashSet::new(),
            hints: AutocastHints::default(),
            autocast_final: true,
            autocast_pending: false,
            keep_all: false,
            probe_writes: HashSet::new(),
            dropped_points: Vec::new(),
            targets: Vec::new(),
        }
    }

    pub fn error(&mut self, d: Diagnostic) {
        let key = (d.span().unwrap_or(Span::DUMMY), d.message.clone());
        if self.reported.insert(key) {
            self.diags.push(d);
        }
    }

    fn add_script(&mut self, s: &Script, from_tapset: bool) {
        for g in &s.globals {
            let mut var = Var::new(&g.name.name, g.name.span);
            if g.array {
                var.arity_span = Some(g.name.span);
            } else if g.init.is_some() {
                var.arity = Some(0);
                var.arity_span = Some(g.name.span);
            }
            if let Some((lit, _)) = &g.init {
                var.ty = match lit {
                    crate::parse::ast::Literal::Number(_) => Type::Long,
                    crate::parse::ast::Literal::String(_) => Type::String,
                };
                var.written = true;
            }
            self.globals.push(GlobalVar { var, decl: g.clone(), private_to: g.private.then_some(s.file), from_tapset });
        }
        for f in &s.functions {
            let ty = |t: Option<(TypeName, Span)>| match t.map(|t| t.0) {
                Some(TypeName::Long) => Type::Long,
                Some(TypeName::String) => Type::String,
                None => Type::Unknown,
            };
            let params = f
                .params
                .iter()
                .map(|p| {
                    let mut v = Var::new(&p.name.name, p.name.span);
                    v.ty = ty(p.ty);
                    v.arity = Some(0);
                    v.written = true;
                    v
                })
                .collect();
            self.functions.push(Func {
                def: f.clone(),
                file: s.file,
                private_to: f.private.then_some(s.file),
                ret: ty(f.ret),
                params,
                locals: Vec::new(),
                from_tapset,
                used: false,
                placements: Vec::new(),
            });
        }
        // Functions of one name: the highest priority (lowest number) first.
        for p in &s.probes {
            self.pending.push(PendingProbe { probe: p.clone(), file: s.file, from_tapset });
        }
    }

    /// Pulls a library file into the session.
    pub fn pull(&mut self, i: usize) {
        if self.pulled.get(i).copied().unwrap_or(true) {
            return;
        }
        if let Some(p) = self.pulled.get_mut(i) {
            *p = true;
        }
        let library = self.library;
        if let Some(s) = file_script(library, i) {
            self.add_script(s, true);
        }
    }

    pub fn run(&mut self) {
        for s in self.user {
            self.add_script(s, false);
        }
        self.collect_aliases();
        loop {
            if let Some(p) = self.pending.pop() {
                // Keep the source order: pending is drained from the front.
                self.pending.push(p);
                let p = self.pending.remove(0);
                self.derive(p);
                continue;
            }
            if self.resolved_functions < self.functions.len() {
                let i = self.resolved_functions;
                self.resolved_functions += 1;
                self.resolve_function(i);
                continue;
            }
            break;
        }
        if self.probes.is_empty() && !crate::diag::has_errors(&self.diags) {
            self.diags.push(Diagnostic::error("semantic error: no probes found"));
        }
    }

    pub fn into_program(self) -> Program {
        let tapsets = self
            .pulled
            .iter()
            .enumerate()
            .filter(|(_, p)| **p)
            .filter_map(|(i, _)| self.library.files.get(i).map(|f| f.name.clone()))
            .collect();
        Program {
            globals: self.globals,
            functions: self.functions,
            probes: self.probes,
            tapsets,
            targets: self.targets,
        }
    }

    fn resolve_function(&mut self, i: usize) {
        let Some(f) = self.functions.get(i) else { return };
        let FunctionBody::Script(body) = &f.def.body else {
            if !self.opts.guru && !f.from_tapset {
                let span = f.def.name.span;
                self.error(Diagnostic::semantic_error("embedded code in unprivileged script; need stap -g", span));
            }
            return;
        };
        let mut body = body.clone();
        let file = f.file;
        self.simplify(&mut body, file, &[]);
        let Some(f) = self.functions.get(i) else { return };
        let mut scope = Scope {
            file: f.file,
            locals: f.params.clone(),
            points: &[],
            in_function: true,
            probing: false,
            failed: false,
            uses: var_counts(&body),
            body: BodyId::Function(i),
            tp_source: super::tp_source::TpSource::Args,
        };
        self.block(&mut body, &mut scope);
        if let Some(f) = self.functions.get_mut(i) {
            let nparams = f.params.len();
            f.params = scope.locals.get(..nparams).map(<[Var]>::to_vec).unwrap_or_default();
            f.locals = scope.locals.get(nparams..).map(<[Var]>::to_vec).unwrap_or_default();
            f.def.body = FunctionBody::Script(body);
        }
    }

    /// Resolves a derived probe's body in place.
    pub fn resolve_probe_body(&mut self, probe: &mut DerivedProbe) {
        let points = probe.points.clone();
        self.simplify(&mut probe.body, probe.file, &points);
        let points = probe.points.clone();
        let tp_source = match super::tp_source::choose(self.opts.kernel, &points, &probe.body) {
            Ok(s) => s,
            Err(d) => {
                self.error(d);
                super::tp_source::TpSource::Args
            }
        };
        let mut scope = Scope {
            file: probe.file,
            locals: Vec::new(),
            points: &points,
            in_function: false,
            probing: false,
            failed: false,
            uses: var_counts(&probe.body),
            body: BodyId::Probe(self.probes.len()),
            tp_source,
        };
        if let Some(c) = &mut probe.condition {
            self.check_condition(c);
            self.expr(c, &mut scope);
            scope.locals.clear();
        }
        self.block(&mut probe.body, &mut scope);
        probe.locals = scope.locals;
    }

    /// A probe point's `if (cond)`: it may read globals only, call
    /// nothing and change nothing.
    fn check_condition(&mut self, c: &Expr) {
        let file = self.user.first().map(|s| s.file).unwrap_or_default();
        let mut bad: Vec<(Span, String)> = Vec::new();
        fn walk(e: &Expr, bad: &mut Vec<(Span, String)>, is_global: &dyn Fn(&str) -> bool) {
            match &e.kind {
                ExprKind::Var(n) if !is_global(n) => {
                    bad.push((e.span, format!("probe point condition may read global variables only, not '{n}'")))
                }
                ExprKind::Call { name, .. } => {
                    bad.push((name.span, "probe point condition may not call functions".to_string()))
                }
                ExprKind::Assign { .. } | ExprKind::Crement { .. } => {
                    bad.push((e.span, "probe point condition may not have side effects".to_string()))
                }
                _ => {}
            }
            for c in children(e) {
                walk(c, bad, is_global);
            }
        }
        let globals: Vec<String> = self.globals.iter().map(|g| g.var.name.clone()).collect();
        let lib_globals: Vec<String> = self.lib_globals.keys().cloned().collect();
        walk(c, &mut bad, &|n| globals.iter().chain(&lib_globals).any(|g| g == n));
        let _ = file;
        for (span, msg) in bad {
            self.error(Diagnostic::semantic_error(msg, span));
        }
    }

    fn fail(&mut self, scope: &mut Scope<'_>, d: Diagnostic) {
        if scope.probing {
            scope.failed = true;
        } else {
            self.error(d);
        }
    }

    // ----- names -----

    /// Binds a variable name used with `arity` keys. Returns false when it
    /// could not be bound.
    fn var(&mut self, name: &str, arity: usize, span: Span, write: bool, scope: &mut Scope<'_>) -> bool {
        if let Some(i) = scope.local(name) {
            if arity > 0 {
                let d = Diagnostic::semantic_error(
                    format!("unresolved arity-{arity} global array {name}, missing global declaration?"),
                    span,
                );
                self.fail(scope, d);
                return false;
            }
            if let Some(v) = scope.locals.get_mut(i) {
                v.written |= write;
                v.read |= !write;
            }
            return true;
        }
        let g = self.find_global(name, scope.file);
        if let Some(g) = g {
            let mut err = None;
            if let Some(gv) = self.globals.get_mut(g) {
                let v = &mut gv.var;
                match v.arity {
                    None if gv.decl.array && arity == 0 => {
                        err = Some((arity, 1usize, v.arity_span.unwrap_or(v.span)));
                    }
                    None => {
                        v.arity = Some(arity);
                        v.arity_span = Some(span);
                    }
                    Some(a) if a != arity => err = Some((arity, a, v.arity_span.unwrap_or(v.span))),
                    Some(_) => {}
                }
                v.written |= write;
                v.read |= !write;
            }
            if let Some((now, first, first_span)) = err {
                let d = Diagnostic::semantic_error(format!("inconsistent arity ({now} vs {first})"), span)
                    .with_label(first_span, format!("arity {first} first inferred here"));
                self.fail(scope, d);
                return false;
            }
            return true;
        }
        if arity > 0 {
            let d = Diagnostic::semantic_error(
                format!("unresolved arity-{arity} global array {name}, missing global declaration?"),
                span,
            );
            self.fail(scope, d);
            return false;
        }
        if scope.probing {
            scope.failed = true;
            return false;
        }
        let mut v = Var::new(name, span);
        v.arity = Some(0);
        v.written = write;
        v.read = !write;
        scope.locals.push(v);
        true
    }

    fn find_global(&mut self, name: &str, file: FileId) -> Option<usize> {
        let found = self
            .globals
            .iter()
            .position(|g| g.var.name == name && g.private_to == Some(file))
            .or_else(|| self.globals.iter().position(|g| g.var.name == name && g.private_to.is_none()));
        if found.is_some() {
            return found;
        }
        let files = self.lib_globals.get(name).cloned().unwrap_or_default();
        let file = files.into_iter().find(|&i| !self.pulled.get(i).copied().unwrap_or(true))?;
        self.pull(file);
        self.globals.iter().position(|g| g.var.name == name && g.private_to.is_none())
    }

    /// Binds a call. Script functions (the file's private ones first),
    /// then tapset files, then intrinsics.
    fn call(&mut self, name: &str, arity: usize, span: Span, scope: &mut Scope<'_>) {
        let mut found = self.functions_named(name, scope.file);
        if found.is_empty() {
            let files = self.lib_functions.get(name).cloned().unwrap_or_default();
            if let Some(file) = files.into_iter().find(|&i| !self.pulled.get(i).copied().unwrap_or(true)) {
                self.pull(file);
                found = self.functions_named(name, scope.file);
            }
        }
        if !found.is_empty() {
            let ok: Vec<usize> = found
                .iter()
                .copied()
                .filter(|&i| self.functions.get(i).is_some_and(|f| f.params.len() == arity))
                .collect();
            if ok.is_empty() {
                let Some(f) = found.first().and_then(|&i| self.functions.get(i)) else { return };
                let (n, decl) = (f.params.len(), f.def.name.span);
                if intrinsics::lookup_arity(name, arity).is_some() {
                    return;
                }
                let d = Diagnostic::semantic_error(
                    format!("arity mismatch found (function '{name}' takes {n} args)"),
                    span,
                )
                .with_label(decl, "declared here");
                self.fail(scope, d);
            }
            return;
        }
        if let Some(all) = intrinsics::lookup(name) {
            if all.iter().any(|i| i.place == intrinsics::Where::Guru)
                && !self.opts.guru
                && !self.is_tapset_file(scope.file)
            {
                let d = Diagnostic::semantic_error("function may not be used unless -g is specified", span);
                self.fail(scope, d);
                return;
            }
            if !all.iter().any(|i| i.params.len() == arity) {
                let n = all.first().map(|i| i.params.len()).unwrap_or(0);
                let d = Diagnostic::semantic_error(
                    format!("arity mismatch found (function '{name}' takes {n} args)"),
                    span,
                );
                self.fail(scope, d);
            }
            return;
        }
        if scope.probing {
            scope.failed = true;
            return;
        }
        let mut candidates: Vec<String> = self.functions.iter().map(|f| f.def.name.name.clone()).collect();
        candidates.extend(self.lib_functions.keys().cloned());
        candidates.extend(intrinsics::names().map(str::to_string));
        let similar: Vec<String> =
            suggest(name, candidates.iter().map(String::as_str)).into_iter().map(str::to_string).collect();
        let msg = if similar.is_empty() {
            format!("unresolved function {name}")
        } else {
            format!("unresolved function {name} (similar: {})", similar.join(", "))
        };
        self.error(Diagnostic::semantic_error(msg, span));
    }

    fn functions_named(&self, name: &str, file: FileId) -> Vec<usize> {
        let pick = |private: Option<FileId>| -> Vec<usize> {
            let mut v: Vec<usize> = (0..self.functions.len())
                .filter(|&i| self.functions.get(i).is_some_and(|f| f.def.name.name == name && f.private_to == private))
                .collect();
            v.sort_by_key(|&i| self.functions.get(i).and_then(|f| f.def.priority.map(|p| p.0)).unwrap_or(0));
            v
        };
        let private = pick(Some(file));
        if private.is_empty() { pick(None) } else { private }
    }

    // ----- stap's optimizer, before resolution -----

    /// Drops what does nothing, as stap's optimizer does, until nothing
    /// more goes: expression statements without side effects, assignments
    /// to locals nobody reads, `if`s with empty branches, side-effect-free
    /// `for` parts. `-u` keeps everything; so does `-L`, which lists what
    /// aliases offer.
    fn simplify(&mut self, body: &mut Block, file: FileId, points: &[super::ResolvedPoint]) {
        if self.opts.unoptimized || self.keep_all {
            return;
        }
        self.dropped_points = points.to_vec();
        for _ in 0..32 {
            let reads = var_counts(body);
            if !self.simplify_block(body, &reads, file) {
                break;
            }
        }
    }

    fn simplify_block(&mut self, b: &mut Block, reads: &HashMap<String, VarCounts>, file: FileId) -> bool {
        let mut changed = false;
        for s in &mut b.stmts {
            changed |= self.simplify_stmt(s, reads, file);
        }
        changed
    }

    /// What elision drops was still resolved by stap first: a global used
    /// with two arities is an error even there.
    fn check_dropped(&mut self, e: &Expr, file: FileId) {
        let (name, arity, span) = match &e.kind {
            // `@defined` answers; it does not fail.
            ExprKind::Defined(_) => return,
            ExprKind::Target(t) => {
                let points = std::mem::take(&mut self.dropped_points);
                let context = !points.is_empty()
                    && points.iter().all(|p| {
                        matches!(
                            p.kind,
                            ProbeKind::KernelFunction { .. } | ProbeKind::Tracepoint { .. } | ProbeKind::Lsm { .. }
                        )
                    });
                if context
                    && matches!(t.base, TargetBase::Var(_) | TargetBase::Context(_))
                    && let Err(d) =
                        super::target::resolve(t, e.span, &points, self.opts, false, super::tp_source::TpSource::Args)
                {
                    self.error(d);
                }
                self.dropped_points = points;
                for c in children(e) {
                    self.check_dropped(c, file);
                }
                return;
            }
            ExprKind::Var(n) => (n, 0, e.span),
            ExprKind::Index { base, keys } | ExprKind::In { array: base, keys } => match &base.kind {
                ExprKind::Var(n) => (n, keys.len(), base.span),
                _ => {
                    for c in children(e) {
                        self.check_dropped(c, file);
                    }
                    return;
                }
            },
            _ => {
                for c in children(e) {
                    self.check_dropped(c, file);
                }
                return;
            }
        };
        if let Some(g) = self.find_global(name, file)
            && let Some(gv) = self.globals.get(g)
            && let Some(a) = gv.var.arity
            && a != arity
        {
            let first = gv.var.arity_span.unwrap_or(gv.var.span);
            self.error(
                Diagnostic::semantic_error(format!("inconsistent arity ({arity} vs {a})"), span)
                    .with_label(first, format!("arity {a} first inferred here")),
            );
        }
        // The keys; the array itself was the name just checked.
        if let ExprKind::Index { keys, .. } | ExprKind::In { keys, .. } = &e.kind {
            for k in keys.iter().flatten() {
                self.check_dropped(k, file);
            }
        }
    }

    fn simplify_stmt(&mut self, s: &mut Stmt, reads: &HashMap<String, VarCounts>, file: FileId) -> bool {
        // As stap: said once, and only of the user's own code.
        let warn = |this: &mut Self, msg: String, span: Span| {
            if !this.is_tapset_file(span.file) && this.reported.insert((span, msg.clone())) {
                this.diags.push(Diagnostic::new(crate::diag::Severity::Warning, msg).at(span, ""));
            }
        };
        match &mut s.kind {
            StmtKind::Expr(e) if side_effect_free(e) => {
                self.check_dropped(e, file);
                warn(self, "Eliding side-effect-free expression".into(), e.span);
                s.kind = StmtKind::Null;
                true
            }
            StmtKind::Expr(e) => {
                let ExprKind::Assign { op: AssignOp::Assign, lhs, rhs } = &mut e.kind else { return false };
                let ExprKind::Var(name) = &lhs.kind else { return false };
                if reads.get(name).is_some_and(|c| c.reads > 0) || self.find_global(name, file).is_some() {
                    return false;
                }
                warn(self, format!("Eliding assignment to '{name}'"), e.span);
                let value = std::mem::replace(&mut **rhs, Expr::new(ExprKind::Number(0), e.span));
                *e = value;
                true
            }
            StmtKind::If { cond, then, otherwise } => {
                let empty = |s: &Stmt| match &s.kind {
                    StmtKind::Null => true,
                    StmtKind::Block(b) => block_is_empty(b),
                    _ => false,
                };
                if empty(then) && otherwise.as_deref().is_none_or(empty) {
                    let c = std::mem::replace(&mut *cond, Expr::new(ExprKind::Number(0), s.span));
                    s.kind = StmtKind::Expr(c);
                    return true;
                }
                let mut changed = self.simplify_stmt(then, reads, file);
                if let Some(o) = otherwise {
                    changed |= self.simplify_stmt(o, reads, file);
                }
                changed
            }
            StmtKind::For { init, incr, body, .. } => {
                let mut changed = false;
                for part in [&mut *init, &mut *incr] {
                    if let Some(p) = part.as_ref().filter(|p| side_effect_free(p)) {
                        self.check_dropped(p, file);
                        *part = None;
                        changed = true;
                    }
                }
                changed | self.simplify_stmt(body, reads, file)
            }
            StmtKind::Block(b) => self.simplify_block(b, reads, file),
            StmtKind::Foreach(f) => {
                let empty = match &f.body.kind {
                    StmtKind::Null => true,
                    StmtKind::Block(b) => block_is_empty(b),
                    _ => false,
                };
                if empty && f.limit.as_ref().is_none_or(side_effect_free) {
                    if let ExprKind::Var(name) = &f.array.kind {
                        let index = ExprKind::In {
                            keys: (0..f.keys.len())
                                .map(|_| Some(Expr::new(ExprKind::Number(0), f.array.span)))
                                .collect(),
                            array: Box::new(Expr::new(ExprKind::Var(name.clone()), f.array.span)),
                        };
                        self.check_dropped(&Expr::new(index, f.array.span), file);
                    }
                    s.kind = StmtKind::Null;
                    return true;
                }
                self.simplify_stmt(&mut f.body, reads, file)
            }
            StmtKind::Try { body, catch, .. } => {
                self.simplify_block(body, reads, file) | self.simplify_block(catch, reads, file)
            }
            _ => false,
        }
    }

    // ----- bodies -----

    pub fn block(&mut self, b: &mut Block, scope: &mut Scope<'_>) {
        for s in &mut b.stmts {
            self.stmt(s, scope);
        }
    }

    fn stmt(&mut self, s: &mut Stmt, scope: &mut Scope<'_>) {
        match &mut s.kind {
            StmtKind::Null | StmtKind::Next | StmtKind::Break | StmtKind::Continue => {}
            StmtKind::Block(b) => self.block(b, scope),
            StmtKind::Expr(e) => self.expr(e, scope),
            StmtKind::If { cond, then, otherwise } => {
                match self.decide(cond, scope) {
                    // `@defined` decided the branch: the other is dropped
                    // unresolved, as stap does.
                    Some(taken) => {
                        let keep = if taken { Some(&mut **then) } else { otherwise.as_deref_mut() };
                        let kept = match keep {
                            Some(k) => {
                                self.stmt(k, scope);
                                std::mem::replace(k, Stmt { kind: StmtKind::Null, span: s.span })
                            }
                            None => Stmt { kind: StmtKind::Null, span: s.span },
                        };
                        *s = kept;
                    }
                    _ => {
                        self.stmt(then, scope);
                        if let Some(o) = otherwise {
                            self.stmt(o, scope);
                        }
                    }
                }
            }
            StmtKind::For { init, cond, incr, body } => {
                if let Some(i) = init {
                    self.expr(i, scope);
                }
                self.expr(cond, scope);
                if let Some(i) = incr {
                    self.expr(i, scope);
                }
                self.stmt(body, scope);
            }
            StmtKind::Foreach(f) => {
                let arity = f.keys.len();
                if let Some(slice) = &f.slice
                    && slice.len() != arity
                {
                    let d = Diagnostic::semantic_error(
                        format!("the slice has {} keys but the loop takes {arity}", slice.len()),
                        f.array.span,
                    );
                    self.fail(scope, d);
                }
                match &mut f.array.kind {
                    ExprKind::Var(name) => {
                        let name = name.clone();
                        self.array_ref(&name, arity, f.array.span, false, scope);
                    }
                    _ => self.expr(&mut f.array, scope),
                }
                if let Some(slice) = &mut f.slice {
                    for k in slice.iter_mut().flatten() {
                        self.expr(k, scope);
                    }
                }
                for k in &f.keys {
                    self.var(&k.name, 0, k.span, true, scope);
                }
                if let Some(v) = &f.value {
                    self.var(&v.name, 0, v.span, true, scope);
                }
                if let Some(l) = &mut f.limit {
                    self.expr(l, scope);
                }
                self.stmt(&mut f.body, scope);
            }
            StmtKind::Delete(e) => self.lvalue(e, scope, true),
            StmtKind::Return(e) => {
                if !scope.in_function {
                    let span = s.span;
                    self.error(Diagnostic::semantic_error("found return statement outside of function", span));
                }
                if let Some(e) = e {
                    self.expr(e, scope);
                }
            }
            StmtKind::Try { body, var, catch } => {
                self.block(body, scope);
                if let Some(v) = var {
                    self.var(&v.name, 0, v.span, true, scope);
                }
                self.block(catch, scope);
            }
        }
    }

    /// An array name used with `arity` keys (or 0 for a whole-array use
    /// such as `foreach`, `delete a`, statistics of a scalar).
    fn array_ref(&mut self, name: &str, arity: usize, span: Span, write: bool, scope: &mut Scope<'_>) {
        if scope.local(name).is_some() || self.find_global(name, scope.file).is_none() {
            let d = Diagnostic::semantic_error(
                format!("unresolved arity-{arity} global array {name}, missing global declaration?"),
                span,
            );
            self.fail(scope, d);
            return;
        }
        self.var(name, arity, span, write, scope);
    }

    /// The target of an assignment, `++`, `delete` or `<<<`.
    fn lvalue(&mut self, e: &mut Expr, scope: &mut Scope<'_>, delete: bool) {
        let span = e.span;
        match &mut e.kind {
            ExprKind::Var(name) => {
                let name = name.clone();
                if delete {
                    // `delete x`: a whole array, or a scalar.
                    if let Some(g) = self.find_global(&name, scope.file) {
                        if let Some(gv) = self.globals.get_mut(g) {
                            gv.var.written = true;
                        }
                        return;
                    }
                }
                self.var(&name, 0, span, true, scope);
            }
            ExprKind::Index { base, keys } => self.index_ref(base, keys, true, scope),
            ExprKind::Target(t) => {
                let on_tracepoint = matches!(t.base, TargetBase::Var(_))
                    && !scope.points.is_empty()
                    && scope.points.iter().all(|p| matches!(p.kind, ProbeKind::Tracepoint { .. }));
                if !self.opts.guru {
                    let d = Diagnostic::semantic_error("write to target variable not permitted; need stap -g", span);
                    self.fail(scope, d);
                } else if on_tracepoint {
                    let d = Diagnostic::semantic_error(
                        "write to target variable not permitted: a tracepoint's arguments are read-only",
                        span,
                    );
                    self.fail(scope, d);
                }
                self.expr(e, scope);
            }
            _ => {
                let d = Diagnostic::semantic_error("expected lvalue", span);
                self.fail(scope, d);
                self.expr(e, scope);
            }
        }
    }

    /// Resolves a condition; one made of `@defined` terms is folded, and
    /// which branch it takes is the answer.
    fn decide(&mut self, cond: &mut Expr, scope: &mut Scope<'_>) -> Option<bool> {
        let foldable = is_defined_condition(cond);
        self.expr(cond, scope);
        if !foldable {
            return None;
        }
        fold_logic(cond);
        match cond.kind {
            ExprKind::Number(n) => Some(n != 0),
            _ => None,
        }
    }

    /// `a[k, ...]`, read or written.
    fn index_ref(&mut self, base: &mut Expr, keys: &mut [Option<Expr>], write: bool, scope: &mut Scope<'_>) {
        for k in keys.iter_mut().flatten() {
            self.expr(k, scope);
        }
        let arity = keys.len();
        match &base.kind {
            ExprKind::Var(name) => {
                let name = name.clone();
                self.array_ref(&name, arity, base.span, write, scope);
            }
            _ => self.expr(base, scope),
        }
    }

    pub fn expr(&mut self, e: &mut Expr, scope: &mut Scope<'_>) {
        let span = e.span;
        match &mut e.kind {
            ExprKind::Number(_) | ExprKind::String(_) | ExprKind::Perf(_) => {}
            ExprKind::Embedded(_) => {
                if !self.opts.guru && !self.is_tapset_file(scope.file) {
                    let d = Diagnostic::semantic_error("embedded code in unprivileged script; need stap -g", span);
                    self.fail(scope, d);
                }
            }
            ExprKind::Var(name) => {
                let name = name.clone();
                self.var(&name, 0, span, false, scope);
            }
            ExprKind::Index { base, keys } => self.index_ref(base, keys, false, scope),
            ExprKind::Call { name, args } => {
                for a in args.iter_mut() {
                    self.expr(a, scope);
                }
                let (n, s) = (name.name.clone(), name.span);
                self.call(&n, args.len(), s, scope);
            }
            ExprKind::Print { delimiter, args, .. } => {
                if let Some(d) = delimiter {
                    self.expr(d, scope);
                }
                for a in args.iter_mut() {
                    self.expr(a, scope);
                }
            }
            ExprKind::Unary { operand, .. } => self.expr(operand, scope),
            ExprKind::Crement { operand, .. } => {
                self.lvalue(operand, scope, false);
                self.mark_read(operand, scope);
            }
            ExprKind::Binary { lhs, rhs, .. }
            | ExprKind::Logical { lhs, rhs, .. }
            | ExprKind::Compare { lhs, rhs, .. } => {
                self.expr(lhs, scope);
                self.expr(rhs, scope);
            }
            ExprKind::Regex { operand, pattern, pattern_span, .. } => {
                if let Err(e) = super::regex::check(pattern) {
                    let d = Diagnostic::semantic_error(
                        format!("regex compilation error (at position {}): {}", e.position, e.message),
                        *pattern_span,
                    );
                    self.error(d);
                }
                self.expr(operand, scope)
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                match self.decide(cond, scope) {
                    // `@defined` decided the branch: the other is dropped unresolved.
                    Some(taken) => {
                        let keep = if taken { then } else { otherwise };
                        self.expr(keep, scope);
                        let kept = std::mem::replace(&mut **keep, Expr::new(ExprKind::Number(0), span));
                        *e = kept;
                    }
                    _ => {
                        self.expr(then, scope);
                        self.expr(otherwise, scope);
                    }
                }
            }
            ExprKind::Assign { op, lhs, rhs } => {
                self.expr(rhs, scope);
                if *op == AssignOp::Aggregate
                    && let ExprKind::Var(name) = &lhs.kind
                    && (scope.local(name).is_some() || self.find_global(name, scope.file).is_none())
                {
                    // As stap: a statistic nobody can read is never kept, so
                    // the assignment goes and its value stays. Reading it
                    // (`@count(a)`) is the error.
                    let only_stats = scope.uses.get(name.as_str()).is_some_and(|c| c.all == c.stat_targets);
                    if !self.opts.unoptimized && only_stats {
                        let w = Diagnostic::new(
                            crate::diag::Severity::Warning,
                            format!("Eliding assignment to '{name}': operator '<<<'"),
                        )
                        .at(span, "");
                        self.diags.push(w);
                        let value = std::mem::replace(&mut **rhs, Expr { kind: ExprKind::Number(0), span });
                        *e = value;
                        return;
                    }
                    let d =
                        Diagnostic::semantic_error("stat locals not supported, missing global declaration?", lhs.span);
                    self.fail(scope, d);
                    return;
                }
                self.lvalue(lhs, scope, false);
                if !matches!(op, AssignOp::Assign | AssignOp::Aggregate) {
                    self.mark_read(lhs, scope);
                }
            }
            ExprKind::In { keys, array } => self.index_ref(array, keys, false, scope),
            ExprKind::Stat { operand, extra, .. } => {
                for x in extra.iter_mut() {
                    self.expr(x, scope);
                }
                self.stat_operand(operand, scope);
            }
            ExprKind::Hist { kind, operand } => {
                if let crate::parse::ast::HistKind::Linear { start, stop, step } = kind {
                    self.expr(start, scope);
                    self.expr(stop, scope);
                    self.expr(step, scope);
                }
                self.stat_operand(operand, scope);
            }
            ExprKind::Target(t) => {
                if let Err(d) = self.target(t, span, scope) {
                    // `--skip-badvars`: the variable reads as 0 (not inside
                    // `@defined`, whose answer it is).
                    if self.opts.skip_badvars
                        && !scope.probing
                        && matches!(t.base, TargetBase::Var(_) | TargetBase::Context(_))
                    {
                        let w = Diagnostic::new(
                            crate::diag::Severity::Warning,
                            "Bad $context variable being substituted with literal 0",
                        )
                        .at(span, "")
                        .with_note(d.message.trim_start_matches("semantic error: ").to_string());
                        self.diags.push(w);
                        *e = Expr::new(ExprKind::Number(0), span);
                        return;
                    }
                    self.fail(scope, d);
                }
            }
            ExprKind::Defined(inner) => {
                let was = (scope.probing, scope.failed);
                scope.probing = true;
                scope.failed = false;
                let mut probe = (**inner).clone();
                let locals = scope.locals.len();
                self.expr(&mut probe, scope);
                let ok = !scope.failed && defined_value(&probe);
                scope.locals.truncate(locals);
                (scope.probing, scope.failed) = was;
                e.kind = ExprKind::Number(i64::from(ok));
            }
            ExprKind::Entry(inner) => {
                if !scope.points.is_empty() && !scope.points.iter().all(|p| is_return_point(&p.kind)) {
                    let d = Diagnostic::semantic_error("@entry is allowed only in .return probes", span);
                    self.fail(scope, d);
                }
                self.expr(inner, scope);
            }
            // Whether the user's handler (inside the aliases) writes the
            // variable: decided here, a constant from now on.
            ExprKind::ProbeWrite(id) => {
                if scope.in_function {
                    let d = Diagnostic::semantic_error("@probewrite is only valid in probe handlers", span);
                    self.fail(scope, d);
                    return;
                }
                let written = self.probe_writes.contains(&id.name);
                *e = Expr::new(ExprKind::Number(i64::from(written)), span);
            }
            ExprKind::Register { number, .. } => {
                self.guru_only("register access", span, scope);
                self.expr(number, scope);
            }
            ExprKind::Deref { size, addr, .. } => {
                self.guru_only("memory access", span, scope);
                self.expr(size, scope);
                self.expr(addr, scope);
            }
        }
    }

    fn guru_only(&mut self, what: &str, span: Span, scope: &mut Scope<'_>) {
        if !self.opts.guru && !self.is_tapset_file(scope.file) {
            let d = Diagnostic::semantic_error(format!("{what} requires guru mode (-g)"), span);
            self.fail(scope, d);
        }
    }

    fn is_tapset_file(&self, file: FileId) -> bool {
        self.library.files.iter().any(|f| f.file == file)
    }

    fn mark_read(&mut self, e: &Expr, scope: &mut Scope<'_>) {
        let name = match &e.kind {
            ExprKind::Var(n) => n,
            ExprKind::Index { base, .. } => match &base.kind {
                ExprKind::Var(n) => n,
                _ => return,
            },
            _ => return,
        };
        if let Some(i) = scope.local(name) {
            if let Some(v) = scope.locals.get_mut(i) {
                v.read = true;
            }
        } else if let Some(g) = self.find_global(name, scope.file)
            && let Some(gv) = self.globals.get_mut(g)
        {
            gv.var.read = true;
        }
    }

    /// The operand of `@count(x)`, `@hist_log(x[k])`: a global statistic.
    fn stat_operand(&mut self, operand: &mut Expr, scope: &mut Scope<'_>) {
        match &mut operand.kind {
            ExprKind::Var(name) => {
                let name = name.clone();
                if scope.local(&name).is_some() || self.find_global(&name, scope.file).is_none() {
                    let d = Diagnostic::semantic_error(
                        "stat locals not supported, missing global declaration?",
                        operand.span,
                    );
                    self.fail(scope, d);
                    return;
                }
                self.var(&name, 0, operand.span, false, scope);
            }
            _ => self.expr(operand, scope),
        }
    }

    fn target(&mut self, t: &mut Target, span: Span, scope: &mut Scope<'_>) -> Result<(), Diagnostic> {
        match &mut t.base {
            TargetBase::Cast { operand, .. } => self.expr(operand, scope),
            TargetBase::Autocast(operand) => self.expr(operand, scope),
            _ => {}
        }
        for op in &mut t.ops {
            if let crate::parse::ast::TargetOp::Index(i) = op {
                self.expr(i, scope);
            }
        }
        if let TargetBase::Autocast(operand) = &t.base {
            match self.ctype_of(operand, scope.body) {
                Some((ty, _)) => {
                    let resolved = super::target::resolve_autocast(t, ty, span, self.opts)?;
                    self.aggregate_check(t, &resolved, span, scope)?;
                    t.resolved = Some(self.record(resolved));
                    return Ok(());
                }
                None if !self.autocast_final => {
                    self.autocast_pending = true;
                    return Ok(());
                }
                None => {}
            }
        }
        let resolved = super::target::resolve(t, span, scope.points, self.opts, scope.in_function, scope.tp_source)?;
        self.aggregate_check(t, &resolved, span, scope)?;
        t.resolved = Some(self.record(resolved));
        Ok(())
    }

    /// Keeps a resolution in the table, under a new id.
    fn record(&mut self, r: super::target::Resolved) -> TargetId {
        let id = TargetId(u32::try_from(self.targets.len()).expect("fewer than 2^32 target expressions"));
        self.targets.push(r);
        id
    }

    /// The resolution of a target expression, once resolved.
    pub fn resolved(&self, t: &Target) -> Option<&super::target::Resolved> {
        t.resolved.and_then(|id| self.targets.get(id.0 as usize))
    }

    /// A struct or union resolves (so `@defined` holds) but is no value.
    fn aggregate_check(
        &self,
        t: &Target,
        r: &super::target::Resolved,
        span: Span,
        scope: &Scope<'_>,
    ) -> Result<(), Diagnostic> {
        if r.load != super::target::Load::Aggregate || scope.probing {
            return Ok(());
        }
        let what = super::target::describe(t);
        Err(Diagnostic::semantic_error(
            format!("'{what}' is of type '{}', which cannot be used as a value; use '{what}$' to print it", r.c_type),
            span,
        ))
    }

    /// The kernel type `e`'s value points to, where it is known: a typed
    /// target expression, a local or function call typed by an earlier
    /// round, or a choice between two of the same type.
    fn ctype_of(&self, e: &Expr, body: BodyId) -> Option<CType> {
        use super::target::Load;
        match &e.kind {
            ExprKind::Target(t) => {
                let r = self.resolved(t)?;
                let ty = r.btf?;
                let origin = match &t.base {
                    TargetBase::Cast { module: Some(m), .. } if m.as_str() != "kernel" => m.clone(),
                    _ => "kernel".to_string(),
                };
                match &r.load {
                    Load::Address => Some((ty, origin)),
                    Load::Value | Load::Int { .. } => match self.opts.kernel.type_kind(ty) {
                        crate::kernel::TypeKind::Pointer(p) => Some((p, origin)),
                        _ => None,
                    },
                    _ => None,
                }
            }
            ExprKind::Var(name) => self.hints.locals.get(&(body, name.clone())).cloned(),
            ExprKind::Call { name, args } => {
                if let Some(t) = self.hints.funcs.get(&(name.name.clone(), args.len())) {
                    return Some(t.clone());
                }
                // An intrinsic, unless a script function of that name hides it.
                let c_type = super::intrinsics::points_to(&name.name, args.len())?;
                if self.functions.iter().any(|f| f.def.name.name == name.name) {
                    return None;
                }
                Some((self.opts.kernel.find_type(c_type, None)?, "kernel".to_string()))
            }
            ExprKind::Ternary { then, otherwise, .. } => {
                let a = self.ctype_of(then, body)?;
                (self.ctype_of(otherwise, body)? == a).then_some(a)
            }
            ExprKind::Assign { op: AssignOp::Assign, rhs, .. } => self.ctype_of(rhs, body),
            _ => None,
        }
    }

    /// What this round's resolved bodies say of locals and functions.
    pub fn collect_hints(&self) -> AutocastHints {
        let mut hints = AutocastHints::default();
        let learn = |body: BodyId, block: &Block, locals: &[Var], hints: &mut AutocastHints| {
            let mut seen: HashMap<String, Option<CType>> = HashMap::new();
            let mut walk = |e: &Expr| {
                fn visit(
                    s: &Session<'_>,
                    e: &Expr,
                    body: BodyId,
                    locals: &[Var],
                    seen: &mut HashMap<String, Option<CType>>,
                ) {
                    if let ExprKind::Assign { op, lhs, rhs } = &e.kind
                        && let ExprKind::Var(name) = &lhs.kind
                        && locals.iter().any(|v| v.name == *name)
                    {
                        let ty = if *op == AssignOp::Assign { s.ctype_of(rhs, body) } else { None };
                        let entry = seen.entry(name.clone()).or_insert_with(|| ty.clone());
                        if *entry != ty {
                            *entry = None;
                        }
                    }
                    for c in children(e) {
                        visit(s, c, body, locals, seen);
                    }
                }
                visit(self, e, body, locals, &mut seen);
            };
            each_expr_block(block, &mut walk);
            for (name, ty) in seen {
                if let Some(ty) = ty {
                    hints.locals.insert((body, name), ty);
                }
            }
        };
        for (i, p) in self.probes.iter().enumerate() {
            learn(BodyId::Probe(i), &p.body, &p.locals, &mut hints);
        }
        for (i, f) in self.functions.iter().enumerate() {
            let FunctionBody::Script(body) = &f.def.body else { continue };
            let all: Vec<Var> = f.params.iter().chain(&f.locals).cloned().collect();
            learn(BodyId::Function(i), body, &all, &mut hints);
            let mut returns = Vec::new();
            block_returns(body, &mut returns);
            let types: Vec<Option<CType>> = returns.iter().map(|e| self.ctype_of(e, BodyId::Function(i))).collect();
            if let Some(Some(first)) = types.first()
                && types.iter().all(|t| t.as_ref() == Some(first))
            {
                hints.funcs.insert((f.def.name.name.clone(), f.params.len()), first.clone());
            }
        }
        hints
    }
}

/// The expressions a body returns.
fn block_returns<'b>(b: &'b Block, out: &mut Vec<&'b Expr>) {
    fn stmt<'b>(s: &'b Stmt, out: &mut Vec<&'b Expr>) {
        match &s.kind {
            StmtKind::Return(Some(e)) => out.push(e),
            StmtKind::Block(b) => block_returns(b, out),
            StmtKind::If { then, otherwise, .. } => {
                stmt(then, out);
                if let Some(o) = otherwise {
                    stmt(o, out);
                }
            }
            StmtKind::For { body, .. } => stmt(body, out),
            StmtKind::Foreach(f) => stmt(&f.body, out),
            StmtKind::Try { body, catch, .. } => {
                block_returns(body, out);
                block_returns(catch, out);
            }
            _ => {}
        }
    }
    for s in &b.stmts {
        stmt(s, out);
    }
}

/// Whether a condition is made of `@defined` terms only, possibly
/// negated or combined (`@choose_defined`, the preprocessor's
/// `!@defined(x) && @defined(y)`): then the branch not taken is dropped
/// before it is resolved.
fn is_defined_condition(cond: &Expr) -> bool {
    match &cond.kind {
        ExprKind::Defined(_) => true,
        ExprKind::Unary { op: crate::parse::ast::UnaryOp::Not, operand } => is_defined_condition(operand),
        ExprKind::Logical { lhs, rhs, .. } => is_defined_condition(lhs) && is_defined_condition(rhs),
        _ => false,
    }
}

/// Folds `!`, `&&`, `||` over constants, in place.
fn fold_logic(e: &mut Expr) {
    let value = match &mut e.kind {
        ExprKind::Number(n) => {
            return {
                let _ = n;
            };
        }
        ExprKind::Unary { op: crate::parse::ast::UnaryOp::Not, operand } => {
            fold_logic(operand);
            match operand.kind {
                ExprKind::Number(n) => i64::from(n == 0),
                _ => return,
            }
        }
        ExprKind::Logical { op, lhs, rhs } => {
            fold_logic(lhs);
            fold_logic(rhs);
            match (&lhs.kind, &rhs.kind, op) {
                (ExprKind::Number(a), ExprKind::Number(b), crate::parse::ast::LogicalOp::And) => {
                    i64::from(*a != 0 && *b != 0)
                }
                (ExprKind::Number(a), ExprKind::Number(b), crate::parse::ast::LogicalOp::Or) => {
                    i64::from(*a != 0 || *b != 0)
                }
                _ => return,
            }
        }
        _ => return,
    };
    e.kind = ExprKind::Number(value);
}

/// `@defined(expr)` holds when the expression resolved, and for a target
/// expression when it names something that exists.
fn defined_value(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Target(t) => t.resolved.is_some(),
        _ => true,
    }
}

fn is_return_point(k: &ProbeKind) -> bool {
    matches!(k, ProbeKind::KernelFunction { ret: true, .. } | ProbeKind::Uprobe { ret: true, .. })
}

/// Elision of unused code (with stap's warnings, unless `-u`) and
/// placement of handlers and functions.
pub fn finish(program: &mut Program, opts: &ElabOptions<'_>) -> Vec<Diagnostic> {
    let mut diags: Vec<Diagnostic> = Vec::new();
    // As stap: a probe that does nothing is not kept, and a script left
    // with no probe is an error.
    if !opts.unoptimized && !program.probes.is_empty() {
        let mut elided: Vec<(String, Span)> = Vec::new();
        program.probes.retain(|p| {
            let empty = block_is_empty(&p.body) && p.condition.is_none();
            if empty && !p.from_tapset && !elided.iter().any(|(o, s)| *o == p.origin && *s == p.span) {
                elided.push((p.origin.clone(), p.span));
            }
            !empty
        });
        for (origin, span) in elided {
            diags.push(
                Diagnostic::new(crate::diag::Severity::Warning, format!("Probe '{origin}' has been elided"))
                    .at(span, ""),
            );
        }
        if program.probes.is_empty() {
            diags.push(Diagnostic::error("semantic error: no probes found"));
            return diags;
        }
    }
    // Which functions are reachable from probes.
    let mut used: HashSet<usize> = HashSet::new();
    let mut placed: HashMap<usize, HashSet<Placement>> = HashMap::new();
    let mut work: Vec<(usize, Placement)> = Vec::new();
    for p in &program.probes {
        let mut calls = Vec::new();
        collect_calls_block(&p.body, &mut calls);
        if let Some(c) = &p.condition {
            collect_calls_expr(c, &mut calls);
        }
        for name in calls {
            for i in program.functions_named(&name, p.file) {
                work.push((i, p.placement));
            }
        }
    }
    while let Some((i, place)) = work.pop() {
        if !placed.entry(i).or_default().insert(place) {
            continue;
        }
        used.insert(i);
        let Some(f) = program.functions.get(i) else { continue };
        let mut calls = Vec::new();
        if let FunctionBody::Script(b) = &f.def.body {
            collect_calls_block(b, &mut calls);
        }
        let file = f.file;
        for name in calls {
            for j in program.functions_named(&name, file) {
                work.push((j, place));
            }
        }
    }
    for (i, f) in program.functions.iter_mut().enumerate() {
        f.used = used.contains(&i);
        let mut p: Vec<Placement> = placed.get(&i).map(|s| s.iter().copied().collect()).unwrap_or_default();
        p.sort();
        f.placements = p;
    }
    // Overloads after one that never says `next` cannot be reached.
    let mut seen: HashSet<(String, usize, Option<FileId>)> = HashSet::new();
    for (i, f) in program.functions.iter().enumerate() {
        let key = (f.def.name.name.clone(), f.params.len(), f.private_to);
        if !seen.insert(key) {
            continue;
        }
        let overloads: Vec<usize> = program
            .functions_named(&f.def.name.name, f.file)
            .into_iter()
            .filter(|&j| program.functions.get(j).is_some_and(|g| g.params.len() == f.params.len()))
            .collect();
        let _ = i;
        for w in overloads.windows(2) {
            let (Some(a), Some(b)) =
                (w.first().and_then(|&j| program.functions.get(j)), w.get(1).and_then(|&j| program.functions.get(j)))
            else {
                continue;
            };
            let has_next = match &a.def.body {
                FunctionBody::Script(body) => block_has_next(body),
                FunctionBody::Embedded(_) => true,
            };
            if !has_next && !b.from_tapset {
                diags.push(
                    Diagnostic::new(
                        crate::diag::Severity::Warning,
                        format!(
                            "unreachable overload of function '{}': the one before it never says 'next'",
                            b.def.name.name
                        ),
                    )
                    .at(b.def.name.span, ""),
                );
            }
        }
    }
    if !opts.unoptimized {
        for g in
            program.globals.iter().filter(|g| !g.from_tapset && !g.var.read && !g.var.written && g.var.arity.is_none())
        {
            diags.push(
                Diagnostic::new(crate::diag::Severity::Warning, format!("Eliding unused variable '{}'", g.var.name))
                    .at(g.var.span, ""),
            );
        }
        program.functions.retain(|f| f.used);
        program.globals.retain(|g| g.var.read || g.var.written || g.var.arity.is_some());
    }
    diags.extend(check_foreach_writes(program));
    // `global x%` is for arrays; what its uses made a scalar cannot wrap.
    for g in program.globals.iter().filter(|g| g.decl.wrap && g.var.arity == Some(0)) {
        diags.push(Diagnostic::semantic_error("wrapping not supported for scalars", g.decl.name.span));
    }
    for g in program.globals.iter().filter(|g| !g.from_tapset) {
        if g.var.read && !g.var.written {
            diags.push(
                Diagnostic::new(
                    crate::diag::Severity::Warning,
                    format!("never-assigned global variable '{}'", g.var.name),
                )
                .at(g.var.span, ""),
            );
        }
    }
    let locals = program
        .probes
        .iter()
        .filter(|p| !p.from_tapset)
        .flat_map(|p| p.locals.iter())
        .chain(program.functions.iter().filter(|f| !f.from_tapset).flat_map(|f| f.locals.iter()));
    for v in locals {
        if v.read && !v.written {
            diags.push(
                Diagnostic::new(crate::diag::Severity::Warning, format!("never-assigned local variable '{}'", v.name))
                    .at(v.span, ""),
            );
        }
    }
    diags
}

/// Calls `f` on each expression a block holds directly (not on their
/// subexpressions).
fn each_expr_block(b: &Block, f: &mut dyn FnMut(&Expr)) {
    for s in &b.stmts {
        each_expr_stmt(s, f);
    }
}

fn each_expr_stmt(s: &Stmt, f: &mut dyn FnMut(&Expr)) {
    match &s.kind {
        StmtKind::Null | StmtKind::Next | StmtKind::Break | StmtKind::Continue => {}
        StmtKind::Block(b) => each_expr_block(b, f),
        StmtKind::Expr(e) | StmtKind::Delete(e) => f(e),
        StmtKind::Return(e) => {
            if let Some(e) = e {
                f(e);
            }
        }
        StmtKind::If { cond, then, otherwise } => {
            f(cond);
            each_expr_stmt(then, f);
            if let Some(o) = otherwise {
                each_expr_stmt(o, f);
            }
        }
        StmtKind::For { init, cond, incr, body } => {
            for e in [init.as_ref(), Some(cond), incr.as_ref()].into_iter().flatten() {
                f(e);
            }
            each_expr_stmt(body, f);
        }
        StmtKind::Foreach(fe) => {
            f(&fe.array);
            if let Some(l) = &fe.limit {
                f(l);
            }
            for k in fe.slice.iter().flatten().flatten() {
                f(k);
            }
            each_expr_stmt(&fe.body, f);
        }
        StmtKind::Try { body, catch, .. } => {
            each_expr_block(body, f);
            each_expr_block(catch, f);
        }
    }
}

/// A block that does nothing: only `;` and empty blocks.
fn block_is_empty(b: &Block) -> bool {
    b.stmts.iter().all(|s| match &s.kind {
        StmtKind::Null => true,
        StmtKind::Block(inner) => block_is_empty(inner),
        _ => false,
    })
}

/// Whether evaluating `e` changes nothing: no assignment, increment,
/// call, statistics update or embedded code anywhere in it.
fn side_effect_free(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Assign { .. } | ExprKind::Crement { .. } | ExprKind::Embedded(_) => false,
        // `sprintf` and the `sprint` family only make a string.
        ExprKind::Print { kind, .. } if !kind.returns_string() => false,
        ExprKind::Call { name, args } => {
            super::intrinsics::is_pure(&name.name, args.len()) && args.iter().all(side_effect_free)
        }
        _ => children(e).into_iter().all(side_effect_free),
    }
}

/// Calls a walk over every sub-expression of `e` (not into statements).
pub(crate) fn children(e: &Expr) -> Vec<&Expr> {
    let mut v: Vec<&Expr> = Vec::new();
    match &e.kind {
        ExprKind::Number(_)
        | ExprKind::String(_)
        | ExprKind::Var(_)
        | ExprKind::Perf(_)
        | ExprKind::ProbeWrite(_)
        | ExprKind::Embedded(_) => {}
        ExprKind::Index { base, keys } => {
            v.push(base);
            v.extend(keys.iter().flatten());
        }
        ExprKind::Call { args, .. } => v.extend(args.iter()),
        ExprKind::Print { delimiter, args, .. } => {
            v.extend(delimiter.iter().map(|d| &**d));
            v.extend(args.iter());
        }
        ExprKind::Unary { operand, .. } | ExprKind::Crement { operand, .. } | ExprKind::Regex { operand, .. } => {
            v.push(operand)
        }
        ExprKind::Binary { lhs, rhs, .. }
        | ExprKind::Logical { lhs, rhs, .. }
        | ExprKind::Compare { lhs, rhs, .. }
        | ExprKind::Assign { lhs, rhs, .. } => {
            v.push(lhs);
            v.push(rhs);
        }
        ExprKind::Ternary { cond, then, otherwise } => {
            v.push(cond);
            v.push(then);
            v.push(otherwise);
        }
        ExprKind::In { keys, array } => {
            v.extend(keys.iter().flatten());
            v.push(array);
        }
        ExprKind::Stat { operand, extra, .. } => {
            v.push(operand);
            v.extend(extra.iter());
        }
        ExprKind::Hist { kind, operand } => {
            v.push(operand);
            if let crate::parse::ast::HistKind::Linear { start, stop, step } = kind {
                v.push(start);
                v.push(stop);
                v.push(step);
            }
        }
        ExprKind::Target(t) => {
            match &t.base {
                TargetBase::Cast { operand, .. } | TargetBase::Autocast(operand) => v.push(operand),
                _ => {}
            }
            for op in &t.ops {
                if let crate::parse::ast::TargetOp::Index(i) = op {
                    v.push(i);
                }
            }
        }
        ExprKind::Defined(x) | ExprKind::Entry(x) => v.push(x),
        ExprKind::Register { number, .. } => v.push(number),
        ExprKind::Deref { size, addr, .. } => {
            v.push(size);
            v.push(addr);
        }
    }
    v
}

fn collect_calls_block(b: &Block, out: &mut Vec<String>) {
    each_expr_block(b, &mut |e| collect_calls_expr(e, out));
}

/// The variables a block assigns, increments or `<<<`s into.
pub(crate) fn assigned_names(b: &Block) -> HashSet<String> {
    fn walk(e: &Expr, out: &mut HashSet<String>) {
        if let ExprKind::Assign { lhs: target, .. } | ExprKind::Crement { operand: target, .. } = &e.kind {
            let base = match &target.kind {
                ExprKind::Index { base, .. } => base,
                _ => target,
            };
            if let ExprKind::Var(n) = &base.kind {
                out.insert(n.clone());
            }
        }
        for c in children(e) {
            walk(c, out);
        }
    }
    let mut out = HashSet::new();
    each_expr_block(b, &mut |e| walk(e, &mut out));
    out
}

/// How a name is used in a block.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct VarCounts {
    /// Every occurrence.
    pub all: usize,
    /// As the target of `<<<`.
    pub stat_targets: usize,
    /// Every occurrence but the left side of a plain `=`.
    pub reads: usize,
}

fn var_counts(b: &Block) -> HashMap<String, VarCounts> {
    fn walk(e: &Expr, out: &mut HashMap<String, VarCounts>) {
        match &e.kind {
            ExprKind::Var(n) => {
                let c = out.entry(n.clone()).or_default();
                c.all += 1;
                c.reads += 1;
            }
            ExprKind::Assign { op: AssignOp::Assign, lhs, rhs } if matches!(lhs.kind, ExprKind::Var(_)) => {
                if let ExprKind::Var(n) = &lhs.kind {
                    out.entry(n.clone()).or_default().all += 1;
                }
                walk(rhs, out);
                return;
            }
            ExprKind::Assign { op: AssignOp::Aggregate, lhs, .. } => {
                if let ExprKind::Var(n) = &lhs.kind {
                    out.entry(n.clone()).or_default().stat_targets += 1;
                }
            }
            _ => {}
        }
        for c in children(e) {
            walk(c, out);
        }
    }
    let mut out = HashMap::new();
    each_expr_block(b, &mut |e| walk(e, &mut out));
    out
}

fn collect_calls_expr(e: &Expr, out: &mut Vec<String>) {
    if let ExprKind::Call { name, .. } = &e.kind {
        out.push(name.name.clone());
    }
    for c in children(e) {
        collect_calls_expr(c, out);
    }
}

/// The globals an expression or statement writes, directly.
fn writes_expr(e: &Expr, out: &mut Vec<(String, Span)>, calls: &mut Vec<(String, Span)>) {
    match &e.kind {
        ExprKind::Assign { lhs, .. } | ExprKind::Crement { operand: lhs, .. } => {
            if let Some(n) = array_name(lhs) {
                out.push((n, lhs.span));
            }
        }
        ExprKind::Call { name, .. } => calls.push((name.name.clone(), name.span)),
        _ => {}
    }
    for c in children(e) {
        writes_expr(c, out, calls);
    }
}

fn array_name(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Index { base, .. } => match &base.kind {
            ExprKind::Var(n) => Some(n.clone()),
            _ => None,
        },
        ExprKind::Var(n) => Some(n.clone()),
        _ => None,
    }
}

fn writes_stmt(s: &Stmt, out: &mut Vec<(String, Span)>, calls: &mut Vec<(String, Span)>) {
    let mut exprs: Vec<&Expr> = Vec::new();
    match &s.kind {
        StmtKind::Null | StmtKind::Next | StmtKind::Break | StmtKind::Continue => {}
        StmtKind::Block(b) => b.stmts.iter().for_each(|s| writes_stmt(s, out, calls)),
        StmtKind::Expr(e) => exprs.push(e),
        StmtKind::Delete(e) => {
            if let Some(n) = array_name(e) {
                out.push((n, e.span));
            }
        }
        StmtKind::Return(e) => exprs.extend(e.iter()),
        StmtKind::If { cond, then, otherwise } => {
            exprs.push(cond);
            writes_stmt(then, out, calls);
            if let Some(o) = otherwise {
                writes_stmt(o, out, calls);
            }
        }
        StmtKind::For { init, cond, incr, body } => {
            exprs.extend(init.iter());
            exprs.push(cond);
            exprs.extend(incr.iter());
            writes_stmt(body, out, calls);
        }
        StmtKind::Foreach(f) => {
            exprs.extend(f.limit.iter());
            writes_stmt(&f.body, out, calls);
        }
        StmtKind::Try { body, catch, .. } => {
            body.stmts.iter().chain(&catch.stmts).for_each(|s| writes_stmt(s, out, calls));
        }
    }
    for e in exprs {
        writes_expr(e, out, calls);
    }
}

/// stap forbids changing an array while a `foreach` iterates over it,
/// directly or through the functions the loop body calls.
fn check_foreach_writes(p: &Program) -> Vec<Diagnostic> {
    // Globals each function writes, transitively.
    let mut fwrites: HashMap<String, HashSet<String>> = HashMap::new();
    let mut fcalls: HashMap<String, Vec<String>> = HashMap::new();
    for f in &p.functions {
        let FunctionBody::Script(b) = &f.def.body else { continue };
        let (mut w, mut c) = (Vec::new(), Vec::new());
        b.stmts.iter().for_each(|s| writes_stmt(s, &mut w, &mut c));
        let locals: HashSet<&str> = f.params.iter().chain(&f.locals).map(|v| v.name.as_str()).collect();
        fwrites
            .entry(f.def.name.name.clone())
            .or_default()
            .extend(w.into_iter().map(|x| x.0).filter(|n| !locals.contains(n.as_str())));
        fcalls.entry(f.def.name.name.clone()).or_default().extend(c.into_iter().map(|x| x.0));
    }
    let mut changed = true;
    while changed {
        changed = false;
        let names: Vec<String> = fcalls.keys().cloned().collect();
        for n in names {
            let callees = fcalls.get(&n).cloned().unwrap_or_default();
            let mut add: HashSet<String> = HashSet::new();
            for c in callees {
                add.extend(fwrites.get(&c).cloned().unwrap_or_default());
            }
            let w = fwrites.entry(n).or_default();
            let before = w.len();
            w.extend(add);
            changed |= w.len() != before;
        }
    }
    let mut diags = Vec::new();
    let mut check = |body: &Block| {
        let mut stack: Vec<&Stmt> = body.stmts.iter().collect();
        while let Some(s) = stack.pop() {
            match &s.kind {
                StmtKind::Foreach(f) => {
                    if let Some(arr) = array_name(&f.array) {
                        let (mut w, mut c) = (Vec::new(), Vec::new());
                        writes_stmt(&f.body, &mut w, &mut c);
                        for (n, span) in w {
                            if n == arr {
                                diags.push(Diagnostic::semantic_error(
                                    format!("invalid modification of array '{arr}' while iterating over it"),
                                    span,
                                ));
                            }
                        }
                        for (callee, span) in c {
                            if fwrites.get(&callee).is_some_and(|w| w.contains(&arr)) {
                                diags.push(Diagnostic::semantic_error(
                                    format!(
                                        "function '{callee}' modifies array '{arr}' while a foreach iterates over it"
                                    ),
                                    span,
                                ));
                            }
                        }
                    }
                    stack.push(&f.body);
                }
                StmtKind::Block(b) => stack.extend(b.stmts.iter()),
                StmtKind::If { then, otherwise, .. } => {
                    stack.push(then);
                    stack.extend(otherwise.iter().map(|o| &**o));
                }
                StmtKind::For { body, .. } => stack.push(body),
                StmtKind::Try { body, catch, .. } => stack.extend(body.stmts.iter().chain(&catch.stmts)),
                _ => {}
            }
        }
    };
    for pr in &p.probes {
        check(&pr.body);
    }
    for f in &p.functions {
        if let FunctionBody::Script(b) = &f.def.body {
            check(b);
        }
    }
    diags
}

fn block_has_next(b: &Block) -> bool {
    b.stmts.iter().any(stmt_has_next)
}

fn stmt_has_next(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Next => true,
        StmtKind::Block(b) => block_has_next(b),
        StmtKind::If { then, otherwise, .. } => stmt_has_next(then) || otherwise.as_deref().is_some_and(stmt_has_next),
        StmtKind::For { body, .. } => stmt_has_next(body),
        StmtKind::Foreach(f) => stmt_has_next(&f.body),
        StmtKind::Try { body, catch, .. } => block_has_next(body) || block_has_next(catch),
        _ => false,
    }
}
