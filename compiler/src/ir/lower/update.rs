//! Updates of globals as one indivisible step.
//!
//! Kernel handlers run on every CPU at once, and stap's semantics are
//! exact: a handler's writes to a global are not lost to another's. A
//! read followed by a write loses them, so `g++`, `--g`, `g += e`,
//! `g -= e`, `g |= e`, `g &= e` and `g ^= e` on a global long or a long
//! array's element become one [`InstKind::Update`], which the eBPF back
//! end emits as an atomic instruction on the value. So does `g = g OP e`
//! (`OP` one of `+ - | & ^`, and `g OP e` also as `e OP g` where `OP`
//! commutes) when `e` neither names `g` nor calls a script function (one
//! could read or write it): it means the same as `g OP= e`.

use super::{Lower, Place};
use crate::ir::{BinOp, GlobalId, InstKind, Operand, Ty};
use crate::parse::ast::{BinaryOp, Expr, ExprKind};
use crate::source::Span;

/// Functions a key may call: the same value twice in one handler, and
/// no effect.
const STEADY: &[&str] = &[
    "execname",
    "pid",
    "tid",
    "ppid",
    "pgrp",
    "sid",
    "uid",
    "gid",
    "euid",
    "egid",
    "cpu",
    "pexecname",
    "pp",
    "ppfunc",
    "probefunc",
    "target",
    "ns_pid",
    "ns_tid",
    "task_current",
    "cpuid",
    "user_mode",
    "is_return",
];

/// What an update's expression must give.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// Nothing: its value is not used.
    Nothing,
    /// The value before (`g++`).
    Old,
    /// The value after (`++g`, `g += e`).
    New,
}

impl Lower<'_> {
    /// The global and keys of a place an update can change in one step:
    /// a global long or a long array's element.
    pub(super) fn updatable(p: &Place) -> Option<(GlobalId, Option<Vec<Operand>>)> {
        match p {
            Place::Global(g, Ty::Long) => Some((*g, None)),
            Place::Elem(g, keys, Ty::Long) => Some((*g, Some(keys.clone()))),
            _ => None,
        }
    }

    /// `g op= value` as one step; the expression's value as `want` asks.
    pub(super) fn update(
        &mut self,
        (global, keys): (GlobalId, Option<Vec<Operand>>),
        op: BinOp,
        value: Operand,
        want: Want,
        span: Span,
    ) -> Operand {
        // The operand is read once, before the step: a named variable
        // stays as it is.
        let old = (want != Want::Nothing).then(|| self.temp(Ty::Long));
        self.emit(InstKind::Update { old, global, keys, op, value: value.clone() }, span);
        match (want, old) {
            (Want::Old, Some(o)) => Operand::Var(o),
            (Want::New, Some(o)) => {
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::Binary { dst, op, a: Operand::Var(o), b: value }, span);
                Operand::Var(dst)
            }
            _ => Operand::Long(0),
        }
    }

    /// `g = g OP e` with `g` a global long or long array element: the
    /// operator and `e`, when it means `g OP= e` (see the module's
    /// header).
    pub(super) fn compound<'e>(&self, lhs: &Expr, rhs: &'e Expr) -> Option<(BinOp, &'e Expr)> {
        let ExprKind::Binary { op, lhs: a, rhs: b } = &rhs.kind else { return None };
        let (op, commutes) = match op {
            BinaryOp::Add => (BinOp::Add, true),
            BinaryOp::Sub => (BinOp::Sub, false),
            BinaryOp::BitOr => (BinOp::Or, true),
            BinaryOp::BitAnd => (BinOp::And, true),
            BinaryOp::BitXor => (BinOp::Xor, true),
            _ => return None,
        };
        let name = self.global_name(lhs)?;
        let other = if self.same_place(lhs, a) {
            b
        } else if commutes && self.same_place(lhs, b) {
            a
        } else {
            return None;
        };
        (!self.touches(other, name)).then_some((op, &**other))
    }

    /// The name of the global `e` names (`g` or `g[k...]`), not shadowed
    /// by a local.
    fn global_name<'e>(&self, e: &'e Expr) -> Option<&'e str> {
        let name = match &e.kind {
            ExprKind::Var(name) => name,
            ExprKind::Index { base, .. } => match &base.kind {
                ExprKind::Var(name) => name,
                _ => return None,
            },
            _ => return None,
        };
        (!self.names.contains_key(name)).then_some(name.as_str())
    }

    /// Whether `a` and `b` are the same place: the same global, with
    /// the same keys written the same way, keys whose evaluation has no
    /// effect (so evaluating them once is evaluating them twice).
    fn same_place(&self, a: &Expr, b: &Expr) -> bool {
        let (Some(x), Some(y)) = (self.global_name(a), self.global_name(b)) else { return false };
        if x != y {
            return false;
        }
        match (&a.kind, &b.kind) {
            (ExprKind::Var(_), ExprKind::Var(_)) => true,
            (ExprKind::Index { keys: ka, .. }, ExprKind::Index { keys: kb, .. }) => {
                ka.len() == kb.len()
                    && ka.iter().zip(kb).all(|(p, q)| match (p, q) {
                        (Some(p), Some(q)) => {
                            self.pure(p) && crate::parse::printer::print_expr(p) == crate::parse::printer::print_expr(q)
                        }
                        _ => false,
                    })
            }
            _ => false,
        }
    }

    /// Whether evaluating `e` has no effect and gives the same value
    /// twice in a row: no assignment, output or script function call.
    fn pure(&self, e: &Expr) -> bool {
        let here = match &e.kind {
            ExprKind::Assign { .. } | ExprKind::Crement { .. } | ExprKind::Print { .. } => false,
            ExprKind::Call { name, .. } => {
                self.program.functions_named(&name.name, self.file).is_empty() && STEADY.contains(&name.name.as_str())
            }
            _ => true,
        };
        here && crate::parse::visit::children(e).into_iter().all(|c| self.pure(c))
    }

    /// Whether `e` may read or write the global `name`: it names it, or
    /// calls a script function.
    fn touches(&self, e: &Expr, name: &str) -> bool {
        let here = match &e.kind {
            ExprKind::Var(n) => n == name,
            ExprKind::Call { name: f, .. } => !self.program.functions_named(&f.name, self.file).is_empty(),
            _ => false,
        };
        here || crate::parse::visit::children(e).into_iter().any(|c| self.touches(c, name))
    }
}
