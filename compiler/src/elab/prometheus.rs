//! The body of a `prometheus` probe: SystemTap's prometheus tapset has the
//! handler build its answer in `$value` (`$value .= "name{k=\"v\"} 1\n"`);
//! stp answers a scrape with what the handler prints, so each statement
//! `$value .= EXPR` becomes `print(EXPR)`.
//!
//! In: a derived probe's body whose points are all `prometheus`. Out: the
//! body rewritten, and an error at each other use of `$value` (reading
//! it, assigning it whole), which stp does not give a meaning to.

use crate::diag::Diagnostic;
use crate::parse::ast::{AssignOp, BinaryOp, Block, Expr, ExprKind, PrintKind, Stmt, StmtKind, TargetBase};
use crate::parse::visit::{block_exprs, walk_expr};

/// Rewrites the `$value .= EXPR` statements of `body`; the diagnostics of
/// the uses of `$value` left.
pub fn value_appends(body: &mut Block) -> Vec<Diagnostic> {
    for s in &mut body.stmts {
        rewrite(s);
    }
    let mut diags = Vec::new();
    block_exprs(body, &mut |e| {
        walk_expr(e, &mut |e| {
            if is_value(e) {
                diags.push(
                    Diagnostic::semantic_error("stp takes $value of a prometheus probe only as `$value .= EXPR`", e.span)
                        .with_help("append each line with `$value .= ...`, or print it: the scrape answers what the handler prints"),
                );
            }
            true
        })
    });
    if !diags.is_empty() {
        // What else the body would report of `$value` says less.
        body.stmts.clear();
    }
    diags
}

fn is_value(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Target(t) if matches!(&t.base, TargetBase::Var(n) if n == "value") && t.ops.is_empty())
}

fn rewrite(s: &mut Stmt) {
    match &mut s.kind {
        StmtKind::Block(b) => b.stmts.iter_mut().for_each(rewrite),
        StmtKind::If { then, otherwise, .. } => {
            rewrite(then);
            if let Some(o) = otherwise {
                rewrite(o);
            }
        }
        StmtKind::For { body, .. } => rewrite(body),
        StmtKind::Foreach(f) => rewrite(&mut f.body),
        StmtKind::Try { body, catch, .. } => {
            body.stmts.iter_mut().for_each(rewrite);
            catch.stmts.iter_mut().for_each(rewrite);
        }
        StmtKind::Expr(e) => {
            if let ExprKind::Assign { op: AssignOp::Op(BinaryOp::Concat), lhs, rhs } = &mut e.kind
                && is_value(lhs)
            {
                let span = rhs.span;
                let arg = std::mem::replace(&mut **rhs, Expr::new(ExprKind::Number(0), span));
                e.kind = ExprKind::Print { kind: PrintKind::Print, format: None, delimiter: None, args: vec![arg] };
            }
        }
        StmtKind::Null
        | StmtKind::Delete(_)
        | StmtKind::Return(_)
        | StmtKind::Next
        | StmtKind::Break
        | StmtKind::Continue => {}
    }
}
