//! How names are used in a body: counts of each variable's occurrences
//! (the optimizer's "does anyone read it"), and the variables a body
//! writes (`@probewrite`). In: a block; out: tables by name. Read only.

use std::collections::{HashMap, HashSet};

use crate::parse::ast::{AssignOp, Block, Expr, ExprKind};
use crate::parse::visit;

/// The variables a block assigns, increments or `<<<`s into.
pub(crate) fn assigned_names(b: &Block) -> HashSet<String> {
    let mut out = HashSet::new();
    visit::block_exprs(b, &mut |e| {
        visit::walk_expr(e, &mut |e| {
            if let ExprKind::Assign { lhs: target, .. } | ExprKind::Crement { operand: target, .. } = &e.kind {
                let base = match &target.kind {
                    ExprKind::Index { base, .. } => base,
                    _ => target,
                };
                if let ExprKind::Var(n) = &base.kind {
                    out.insert(n.clone());
                }
            }
            true
        })
    });
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

/// Per variable name: how often a block uses it, and how.
pub(crate) fn var_counts(b: &Block) -> HashMap<String, VarCounts> {
    // The left side of a plain `=` is no read: the walk does not go into it.
    fn count(e: &Expr, out: &mut HashMap<String, VarCounts>) {
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
                count(rhs, out);
                return;
            }
            ExprKind::Assign { op: AssignOp::Aggregate, lhs, .. } => {
                if let ExprKind::Var(n) = &lhs.kind {
                    out.entry(n.clone()).or_default().stat_targets += 1;
                }
            }
            _ => {}
        }
        for c in visit::children(e) {
            count(c, out);
        }
    }
    let mut out = HashMap::new();
    visit::block_exprs(b, &mut |e| count(e, &mut out));
    out
}
