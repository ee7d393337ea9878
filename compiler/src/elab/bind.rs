//! Resolving a body: every name bound (`Session::var`, `Session::call`),
//! `@defined` answered and the branches it decides dropped, target
//! expressions resolved into the session's table, and stap's errors for
//! what may not be written, read or called where it is. In: a body and
//! its `Scope`; out: the body rewritten in place, its locals in the
//! scope, errors in the session.

use super::points::ProbeKind;
use super::symbols::{Scope, Session};
use crate::diag::Diagnostic;
use crate::parse::ast::{AssignOp, Block, Expr, ExprKind, Stmt, StmtKind, Target, TargetBase, TargetId};
use crate::source::{FileId, Span};

impl Session<'_> {
    pub fn block(&mut self, b: &mut Block, scope: &mut Scope<'_>) {
        for s in &mut b.stmts {
            self.stmt(s, scope);
        }
    }

    pub(super) fn stmt(&mut self, s: &mut Stmt, scope: &mut Scope<'_>) {
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
    pub(super) fn array_ref(&mut self, name: &str, arity: usize, span: Span, write: bool, scope: &mut Scope<'_>) {
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
    pub(super) fn lvalue(&mut self, e: &mut Expr, scope: &mut Scope<'_>, delete: bool) {
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
    pub(super) fn decide(&mut self, cond: &mut Expr, scope: &mut Scope<'_>) -> Option<bool> {
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
    pub(super) fn index_ref(&mut self, base: &mut Expr, keys: &mut [Option<Expr>], write: bool, scope: &mut Scope<'_>) {
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

    pub(super) fn guru_only(&mut self, what: &str, span: Span, scope: &mut Scope<'_>) {
        if !self.opts.guru && !self.is_tapset_file(scope.file) {
            let d = Diagnostic::semantic_error(format!("{what} requires guru mode (-g)"), span);
            self.fail(scope, d);
        }
    }

    pub(super) fn is_tapset_file(&self, file: FileId) -> bool {
        self.library.files.iter().any(|f| f.file == file)
    }

    pub(super) fn mark_read(&mut self, e: &Expr, scope: &mut Scope<'_>) {
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
    pub(super) fn stat_operand(&mut self, operand: &mut Expr, scope: &mut Scope<'_>) {
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

    pub(super) fn target(&mut self, t: &mut Target, span: Span, scope: &mut Scope<'_>) -> Result<(), Diagnostic> {
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
    pub(super) fn record(&mut self, r: super::target::Resolved) -> TargetId {
        let id = TargetId(u32::try_from(self.targets.len()).expect("fewer than 2^32 target expressions"));
        self.targets.push(r);
        id
    }

    /// The resolution of a target expression, once resolved.
    pub fn resolved(&self, t: &Target) -> Option<&super::target::Resolved> {
        t.resolved.and_then(|id| self.targets.get(id.0 as usize))
    }

    /// A struct or union resolves (so `@defined` holds) but is no value.
    pub(super) fn aggregate_check(
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

/// Whether `@entry` means something at a point: a function's return, or
/// a system call's exit, whose entry is its `sys_enter_` twin.
fn is_return_point(k: &ProbeKind) -> bool {
    match k {
        ProbeKind::KernelFunction { ret, .. } | ProbeKind::Uprobe { ret, .. } => *ret,
        ProbeKind::Tracepoint { tp } => tp.syscall_entry().is_some(),
        _ => false,
    }
}
