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
}

/// A block that does nothing: only `;` and empty blocks.
pub(super) fn block_is_empty(b: &Block) -> bool {
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
