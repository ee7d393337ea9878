//! Constant folding of the few places where stap wants a number the
//! script can only spell as an expression: the bounds of
//! `@hist_linear(s, lo, hi, step)` (a negative literal is `-` applied to a
//! number; `@define` macros and `$1` arrive here as tokens already).
//!
//! In: an expression of the parse tree. Out: its value when it is built
//! only from number literals and the integer operators, computed as stap
//! computes at run time (64-bit, wrapping `+ - *`); `None` for anything
//! else, and for a division by zero or a shift outside 0..64, which have
//! no value to fold.

use super::ast::{BinaryOp, Expr, ExprKind, UnaryOp};

/// The value of a constant integer expression.
pub fn constant(e: &Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Number(n) => Some(*n),
        ExprKind::Unary { op, operand } => {
            let v = constant(operand)?;
            Some(match op {
                UnaryOp::Neg => v.wrapping_neg(),
                UnaryOp::Plus => v,
                UnaryOp::Not => i64::from(v == 0),
                UnaryOp::BitNot => !v,
            })
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (constant(lhs)?, constant(rhs)?);
            let shift = || u32::try_from(b).ok().filter(|&s| s < 64);
            match op {
                BinaryOp::Add => Some(a.wrapping_add(b)),
                BinaryOp::Sub => Some(a.wrapping_sub(b)),
                BinaryOp::Mul => Some(a.wrapping_mul(b)),
                BinaryOp::Div => a.checked_div(b),
                BinaryOp::Mod => a.checked_rem(b),
                BinaryOp::Shl => shift().map(|s| a << s),
                BinaryOp::Shr => shift().map(|s| a >> s),
                BinaryOp::BitAnd => Some(a & b),
                BinaryOp::BitOr => Some(a | b),
                BinaryOp::BitXor => Some(a ^ b),
                BinaryOp::Concat => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    fn num(n: i64) -> Expr {
        Expr::new(ExprKind::Number(n), Span::DUMMY)
    }
    fn un(op: UnaryOp, e: Expr) -> Expr {
        Expr::new(ExprKind::Unary { op, operand: Box::new(e) }, Span::DUMMY)
    }
    fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
        Expr::new(ExprKind::Binary { op, lhs: Box::new(a), rhs: Box::new(b) }, Span::DUMMY)
    }

    #[test]
    fn folds_literals_and_integer_operators() {
        assert_eq!(constant(&un(UnaryOp::Neg, num(100))), Some(-100));
        assert_eq!(constant(&bin(BinaryOp::Mul, num(2), num(50))), Some(100));
        assert_eq!(constant(&bin(BinaryOp::Sub, num(3), bin(BinaryOp::Shl, num(1), num(4)))), Some(3 - 16));
        assert_eq!(constant(&bin(BinaryOp::Mod, un(UnaryOp::Neg, num(7)), num(3))), Some(-7 % 3));
        assert_eq!(constant(&un(UnaryOp::BitNot, num(0))), Some(-1));
    }

    #[test]
    fn refuses_what_has_no_constant_value() {
        assert_eq!(constant(&bin(BinaryOp::Div, num(1), num(0))), None);
        assert_eq!(constant(&bin(BinaryOp::Shl, num(1), num(64))), None);
        assert_eq!(constant(&bin(BinaryOp::Shr, num(1), un(UnaryOp::Neg, num(1)))), None);
        assert_eq!(constant(&Expr::new(ExprKind::Var("n".into()), Span::DUMMY)), None);
        assert_eq!(constant(&bin(BinaryOp::Add, num(1), Expr::new(ExprKind::Var("n".into()), Span::DUMMY))), None);
    }
}
