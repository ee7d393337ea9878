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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::printer::print_block;
    use crate::parse::{ParseOptions, lexer, parse_tokens};
    use crate::source::{FileKind, SourceMap, Span};

    fn body(src: &str) -> Block {
        let text = format!("probe prometheus {{ {src} }}");
        let mut sm = SourceMap::new();
        let f = sm.add("<input>", text.as_str(), FileKind::User);
        let (toks, _) = lexer::lex(f, &text);
        let eof = Span::new(f, text.len() as u32, text.len() as u32);
        let (script, diags) = parse_tokens(f, &toks, eof, ParseOptions::default());
        assert!(diags.is_empty(), "{diags:?}");
        script.probes.into_iter().next().expect("one probe").body
    }

    #[test]
    fn appends_to_value_are_prints_at_any_depth() {
        let mut b = body(
            "$value .= \"a 1\\n\"; if (x) { $value .= sprint(x) } else $value .= \"none\" \
             foreach (k in arr) { $value .= k } try { $value .= \"t\" } catch { $value .= \"c\" }",
        );
        let diags = value_appends(&mut b);
        assert!(diags.is_empty(), "{diags:?}");
        let text = print_block(&b);
        assert!(!text.contains("$value"), "{text}");
        assert_eq!(text.matches("print(").count() - text.matches("sprint(").count(), 6, "{text}");
        assert!(text.contains("print(\"a 1\\n\")"), "{text}");
    }

    #[test]
    fn other_uses_of_value_are_refused_where_they_are() {
        let mut b = body("$value = \"x\"; print($value); $value .= \"ok\"");
        let diags = value_appends(&mut b);
        assert_eq!(diags.len(), 2, "{diags:?}");
        assert!(diags.iter().all(|d| d.message.contains("only as `$value .= EXPR`")), "{diags:?}");
        assert!(b.stmts.is_empty());
        // Another target variable is not ours to judge.
        let mut b = body("$count .= \"x\"");
        assert!(value_appends(&mut b).is_empty());
    }
}
