//! The elaboration session and its name binding: the user's scripts and
//! the tapset library in, derived probes, functions and globals out
//! (`Session::into_program`). Names bind to locals, globals, script
//! functions and intrinsics, with tapset files pulled in when they define
//! a name the script needs (stap's rule), `private` names visible in their
//! own file only, and stap's arity and declaration errors.
//!
//! The rest of the session's work lives beside it: [`super::optimize`]
//! (stap's optimizer, before resolution), [`super::bind`] (resolving
//! bodies), [`super::autocast`], and after the session [`super::elide`]
//! (elision and placement) and [`super::foreach_writes`].

use std::collections::{HashMap, HashSet};

use super::autocast::AutocastHints;
use super::uses::{VarCounts, var_counts};
use super::{DerivedProbe, ElabOptions, Func, GlobalVar, Program, Type, Var, intrinsics};
use crate::diag::{Diagnostic, suggest};
use crate::parse::ast::{Expr, ExprKind, FunctionBody, Probe, Script, TypeName};
use crate::parse::visit;
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
    pub(super) fn local(&self, name: &str) -> Option<usize> {
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
    pub(super) lib_functions: HashMap<String, Vec<usize>>,
    pub(super) lib_globals: HashMap<String, Vec<usize>>,
    /// Every alias the session can see.
    pub aliases: Vec<super::derive::AliasDef<'a>>,
    /// The aliases by the first component of their names (an alias
    /// under each first component it has), for points that spell theirs
    /// without wildcards.
    pub alias_first: HashMap<String, Vec<usize>>,
    /// Alias expansions left to the probe being derived (see
    /// `derive::MAX_ALIAS_STEPS`).
    pub alias_steps: usize,
    /// Functions whose bodies are resolved.
    pub(super) resolved_functions: usize,
    pub(super) reported: HashSet<(Span, String)>,
    /// What an earlier round learnt of the C types locals and functions
    /// carry (autocast).
    pub hints: AutocastHints,
    /// The last round: an untyped `x->member` is an error, not a retry.
    pub autocast_final: bool,
    /// This round met an `x->member` it could not type yet.
    pub autocast_pending: bool,
    /// Keep every statement (listing: `-L` shows what aliases set).
    pub keep_all: bool,
    /// A library function's body (or a library's own probe) is being
    /// resolved: the script's own globals are not visible there, so that a user global named like
    /// one of its locals (`global r` against `ustack`'s `r`) cannot take
    /// the local over. (An alias body, spliced into the user's probe,
    /// still sees them, as in stap.)
    pub(super) in_library_function: bool,
    /// The variables the user's handler of the probe being resolved writes
    /// (`@probewrite`).
    pub probe_writes: HashSet<String>,
    /// The points of the probe being simplified: target variables in code
    /// that goes are still resolved where the points give them meaning.
    pub(super) dropped_points: Vec<super::ResolvedPoint>,
    /// Every target expression's resolution, by [`TargetId`].
    pub targets: Vec<super::target::Resolved>,
    /// Script functions by name and arity, the user's and the library's
    /// (private ones too), built when the optimizer first asks.
    pub(super) function_index: std::cell::OnceCell<FunctionIndex<'a>>,
    /// Which functions are known pure (see `optimize`), or known not.
    pub(super) pure_memo: std::cell::RefCell<HashMap<(String, usize), bool>>,
    /// The purity check being made was cut off by its depth limit.
    pub(super) pure_cut: std::cell::Cell<bool>,
}

/// Every definition of a script function, by name and arity.
pub(super) type FunctionIndex<'a> = HashMap<(&'a str, usize), Vec<&'a crate::parse::ast::Function>>;

/// Which body a local belongs to: a derived probe or a function, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BodyId {
    Probe(usize),
    Function(usize),
}

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
            alias_first: HashMap::new(),
            alias_steps: 0,
            resolved_functions: 0,
            reported: HashSet::new(),
            hints: AutocastHints::default(),
            autocast_final: true,
            autocast_pending: false,
            keep_all: false,
            in_library_function: false,
            probe_writes: HashSet::new(),
            dropped_points: Vec::new(),
            targets: Vec::new(),
            function_index: std::cell::OnceCell::new(),
            pure_memo: std::cell::RefCell::new(HashMap::new()),
            pure_cut: std::cell::Cell::new(false),
        }
    }

    pub fn error(&mut self, d: Diagnostic) {
        let key = (d.span().unwrap_or(Span::DUMMY), d.message.clone());
        if self.reported.insert(key) {
            self.diags.push(d);
        }
    }

    pub(super) fn add_script(&mut self, s: &Script, from_tapset: bool) {
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

    pub(super) fn resolve_function(&mut self, i: usize) {
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
        let library = f.from_tapset;
        self.in_library_function = library;
        self.simplify(&mut body, file, &[]);
        let Some(f) = self.functions.get(i) else {
            self.in_library_function = false;
            return;
        };
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
        self.in_library_function = false;
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
        if !points.is_empty() && points.iter().all(|p| p.kind == super::points::ProbeKind::Prometheus) {
            for d in super::prometheus::value_appends(&mut probe.body) {
                self.error(d);
            }
        }
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
    pub(super) fn check_condition(&mut self, c: &Expr) {
        let file = self.user.first().map(|s| s.file).unwrap_or_default();
        let mut bad: Vec<(Span, String)> = Vec::new();
        let globals: Vec<String> = self.globals.iter().map(|g| g.var.name.clone()).collect();
        let lib_globals: Vec<String> = self.lib_globals.keys().cloned().collect();
        let is_global = |n: &str| globals.iter().chain(&lib_globals).any(|g| g == n);
        visit::walk_expr(c, &mut |e| {
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
            true
        });
        let _ = file;
        for (span, msg) in bad {
            self.error(Diagnostic::semantic_error(msg, span));
        }
    }

    pub(super) fn fail(&mut self, scope: &mut Scope<'_>, d: Diagnostic) {
        if scope.probing {
            scope.failed = true;
        } else {
            self.error(d);
        }
    }

    // ----- names -----

    /// Binds a variable name used with `arity` keys. Returns false when it
    /// could not be bound.
    pub(super) fn var(&mut self, name: &str, arity: usize, span: Span, write: bool, scope: &mut Scope<'_>) -> bool {
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

    pub(super) fn find_global(&mut self, name: &str, file: FileId) -> Option<usize> {
        let visible = |g: &GlobalVar| g.from_tapset || !self.in_library_function;
        let found =
            self.globals.iter().position(|g| g.var.name == name && g.private_to == Some(file) && visible(g)).or_else(
                || self.globals.iter().position(|g| g.var.name == name && g.private_to.is_none() && visible(g)),
            );
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
    pub(super) fn call(&mut self, name: &str, arity: usize, span: Span, scope: &mut Scope<'_>) {
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
        if let Some(why) = intrinsics::refusal(name) {
            let msg = format!("function '{name}' is not available in stp: {why}");
            self.error(Diagnostic::semantic_error(msg, span));
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

    pub(super) fn functions_named(&self, name: &str, file: FileId) -> Vec<usize> {
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
}
