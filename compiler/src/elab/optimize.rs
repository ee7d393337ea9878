//! stap's optimizer, run on a body before its names are resolved: what
//! has no effect goes, with stap's "Eliding ..." warnings on the user's
//! own code. In: a probe's or function's body; out: the same body with
//! side-effect-free statements, assignments nobody reads, empty `if`s and
//! idle `foreach`es dropped, until nothing more goes. What goes is still
//! checked as stap checks it (arity of globals, target variables).

use std::collections::HashMap;

use super::points::ProbeKind;
use super::symbols::Session;
use super::uses::{VarCounts, var_counts};
use crate::diag::Diagnostic;
use crate::parse::ast::{AssignOp, Block, Expr, ExprKind, Stmt, StmtKind, TargetBase};
use crate::parse::visit::children;
use crate::source::{FileId, Span};

impl Session<'_> {
    /// Drops what does nothing, as stap's optimizer does, until nothing
    /// more goes: expression statements without side effects, assignments
    /// to locals nobody reads, `if`s with empty branches, side-effect-free
    /// `for` parts. `-u` keeps everything; so does `-L`, which lists what
    /// aliases offer.
    pub(super) fn simplify(&mut self, body: &mut Block, file: FileId, points: &[super::ResolvedPoint]) {
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

    pub(super) fn simplify_block(&mut self, b: &mut Block, reads: &HashMap<String, VarCounts>, file: FileId) -> bool {
        let mut changed = false;
        for s in &mut b.stmts {
            changed |= self.simplify_stmt(s, reads, file);
        }
        changed
    }

    /// What elision drops was still resolved by stap first: a global used
    /// with two arities is an error even there.
    pub(super) fn check_dropped(&mut self, e: &Expr, file: FileId) {
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

    pub(super) fn simplify_stmt(&mut self, s: &mut Stmt, reads: &HashMap<String, VarCounts>, file: FileId) -> bool {
        // As stap: said once, and only of the user's own code.
        let warn = |this: &mut Self, msg: String, span: Span| {
            if !this.is_tapset_file(span.file) && this.reported.insert((span, msg.clone())) {
                this.diags.push(Diagnostic::new(crate::diag::Severity::Warning, msg).at(span, ""));
            }
        };
        match &mut s.kind {
            StmtKind::Expr(e) if side_effect_free(e, self) => {
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
                    if let Some(p) = part.as_ref().filter(|p| side_effect_free(p, self)) {
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
                if empty && f.limit.as_ref().is_none_or(|l| side_effect_free(l, self)) {
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
}

/// A block that does nothing: only `;` and empty blocks.
pub(super) fn block_is_empty(b: &Block) -> bool {
    b.stmts.iter().all(|s| match &s.kind {
        StmtKind::Null => true,
        StmtKind::Block(inner) => block_is_empty(inner),
        _ => false,
    })
}

/// How deep a chain of script-function calls is followed to find it pure;
/// past it, a call counts as having effects.
const PURE_DEPTH: u32 = 8;

/// Whether evaluating `e` changes nothing: no assignment, increment,
/// statistics update, print or embedded code anywhere in it, and only
/// calls of pure intrinsics or of script functions that are pure
/// themselves ([`Session::pure_function`]), as stap's optimizer has it.
fn side_effect_free(e: &Expr, s: &Session<'_>) -> bool {
    effect_free_within(e, s, PURE_DEPTH)
}

fn effect_free_within(e: &Expr, s: &Session<'_>, depth: u32) -> bool {
    match &e.kind {
        ExprKind::Assign { .. } | ExprKind::Crement { .. } | ExprKind::Embedded(_) => false,
        // `sprintf` and the `sprint` family only make a string.
        ExprKind::Print { kind, .. } if !kind.returns_string() => false,
        ExprKind::Call { name, args } => {
            (super::intrinsics::is_pure(&name.name, args.len()) || s.pure_function(&name.name, args.len(), depth))
                && args.iter().all(|a| effect_free_within(a, s, depth))
        }
        _ => children(e).into_iter().all(|c| effect_free_within(c, s, depth)),
    }
}

impl<'a> Session<'a> {
    /// Whether a call of the script function `name` with `arity`
    /// arguments changes nothing, whichever definition it reaches: each
    /// definition of that name and arity (the user's and the library's)
    /// has a script body that writes no global (by any name a global has
    /// anywhere), deletes nothing, has no `next`, prints nothing and calls only pure
    /// functions, `depth` calls deep at most. A name with no definition,
    /// or an embedded-C body, has effects.
    fn pure_function(&self, name: &str, arity: usize, depth: u32) -> bool {
        let key = (name.to_owned(), arity);
        if let Some(&known) = self.pure_memo.borrow().get(&key) {
            return known;
        }
        let Some(depth) = depth.checked_sub(1) else {
            // Cut off, not known: an answer not to remember.
            self.pure_cut.set(true);
            return false;
        };
        let (user, library): (&'a [crate::parse::ast::Script], &'a crate::tapset::Library) = (self.user, self.library);
        let index = self.function_index.get_or_init(|| {
            let mut index: super::symbols::FunctionIndex<'a> = HashMap::new();
            let library = library.files.iter().filter_map(|f| f.script.as_ref());
            for f in user.iter().chain(library).flat_map(|sc| sc.functions.iter()) {
                index.entry((f.name.name.as_str(), f.params.len())).or_default().push(f);
            }
            index
        });
        let Some(defs) = index.get(&(name, arity)) else {
            self.pure_memo.borrow_mut().insert(key, false);
            return false;
        };
        // While its body is looked at, a call back into it (recursion)
        // counts as having effects.
        self.pure_memo.borrow_mut().insert(key.clone(), false);
        let outer_cut = self.pure_cut.replace(false);
        let pure = defs.iter().all(|f| match &f.body {
            crate::parse::ast::FunctionBody::Script(body) => self.pure_body(body, depth),
            _ => false,
        });
        let cut = self.pure_cut.replace(outer_cut || self.pure_cut.get());
        let mut memo = self.pure_memo.borrow_mut();
        if cut && !pure {
            memo.remove(&key);
        } else {
            memo.insert(key, pure);
        }
        pure
    }

    fn pure_body(&self, body: &Block, depth: u32) -> bool {
        let global = |n: &str| {
            self.lib_globals.contains_key(n) || self.user.iter().any(|sc| sc.globals.iter().any(|g| g.name.name == n))
        };
        let mut pure = true;
        crate::parse::visit::walk_block(body, &mut |st| {
            // `next` in a function passes the call to the next overload,
            // or fails it when there is none: an effect.
            if matches!(st.kind, StmtKind::Delete(_) | StmtKind::Next) {
                pure = false;
            }
            if let StmtKind::Foreach(f) = &st.kind
                && f.keys.iter().chain(f.value.iter()).any(|k| global(&k.name))
            {
                pure = false;
            }
        });
        if !pure {
            return false;
        }
        let mut exprs = Vec::new();
        crate::parse::visit::block_exprs(body, &mut |e| exprs.push(e));
        exprs.into_iter().all(|e| self.pure_expr(e, depth, &global))
    }

    fn pure_expr(&self, e: &Expr, depth: u32, global: &dyn Fn(&str) -> bool) -> bool {
        match &e.kind {
            ExprKind::Assign { lhs, .. } | ExprKind::Crement { operand: lhs, .. } => {
                matches!(&lhs.kind, ExprKind::Var(n) if !global(n)) && self.pure_expr_children(e, depth, global)
            }
            ExprKind::Embedded(_) => false,
            ExprKind::Print { kind, .. } if !kind.returns_string() => false,
            ExprKind::Call { name, args } => {
                (super::intrinsics::is_pure(&name.name, args.len())
                    || self.pure_function(&name.name, args.len(), depth))
                    && args.iter().all(|a| self.pure_expr(a, depth, global))
            }
            _ => self.pure_expr_children(e, depth, global),
        }
    }

    fn pure_expr_children(&self, e: &Expr, depth: u32, global: &dyn Fn(&str) -> bool) -> bool {
        children(e).into_iter().all(|c| self.pure_expr(c, depth, global))
    }
}
