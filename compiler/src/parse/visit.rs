//! Walks over the syntax tree: the sub-expressions of an expression, every
//! statement of a body, the expressions statements hold.
//!
//! In: a borrowed [`Expr`], [`Stmt`] or [`Block`]; out: calls of a closure,
//! in source order, a node before what is inside it. The walks read the
//! tree and never change it; a walk that gives back references keeps the
//! tree's lifetime. Nesting is bounded by the parser, so recursion is too.

use super::ast::{Block, Expr, ExprKind, HistKind, Stmt, StmtKind, TargetBase, TargetOp};

/// The direct sub-expressions of `e` (not into statements).
pub fn children(e: &Expr) -> Vec<&Expr> {
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
            if let HistKind::Linear { start, stop, step } = kind {
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
                if let TargetOp::Index(i) = op {
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

/// Calls `f` on `e`, then, when `f` says so (returns true), on each of its
/// sub-expressions in turn, recursively.
pub fn walk_expr<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a Expr) -> bool) {
    if f(e) {
        for c in children(e) {
            walk_expr(c, f);
        }
    }
}

/// Calls `f` on every statement of a block, nested ones included: each
/// statement before the statements inside it.
pub fn walk_block<'a>(b: &'a Block, f: &mut dyn FnMut(&'a Stmt)) {
    for s in &b.stmts {
        walk_stmt(s, f);
    }
}

/// Calls `f` on `s`, then on every statement inside it.
pub fn walk_stmt<'a>(s: &'a Stmt, f: &mut dyn FnMut(&'a Stmt)) {
    f(s);
    for c in child_stmts(s) {
        walk_stmt(c, f);
    }
}

/// Calls `f` on every statement inside `s`, then on `s`: the order in
/// which effects inside a statement are gathered before its own.
pub fn walk_stmt_post<'a>(s: &'a Stmt, f: &mut dyn FnMut(&'a Stmt)) {
    for c in child_stmts(s) {
        walk_stmt_post(c, f);
    }
    f(s);
}

/// The statements directly inside `s`, in source order: a block's, an
/// `if`'s branches, a loop's body, a `try`'s body then its `catch`.
pub fn child_stmts(s: &Stmt) -> Vec<&Stmt> {
    match &s.kind {
        StmtKind::Null
        | StmtKind::Next
        | StmtKind::Break
        | StmtKind::Continue
        | StmtKind::Expr(_)
        | StmtKind::Delete(_)
        | StmtKind::Return(_) => Vec::new(),
        StmtKind::Block(b) => b.stmts.iter().collect(),
        StmtKind::If { then, otherwise, .. } => std::iter::once(&**then).chain(otherwise.as_deref()).collect(),
        StmtKind::For { body, .. } => vec![&**body],
        StmtKind::Foreach(fe) => vec![&fe.body],
        StmtKind::Try { body, catch, .. } => body.stmts.iter().chain(&catch.stmts).collect(),
    }
}

/// The expressions a statement holds itself (not those of the statements
/// inside it, nor their sub-expressions): an expression statement's, a
/// `delete`'s or a `return`'s; an `if`'s condition; a `for`'s three parts;
/// a `foreach`'s array, limit and slice keys.
pub fn own_exprs(s: &Stmt) -> Vec<&Expr> {
    match &s.kind {
        StmtKind::Null
        | StmtKind::Next
        | StmtKind::Break
        | StmtKind::Continue
        | StmtKind::Block(_)
        | StmtKind::Try { .. } => Vec::new(),
        StmtKind::Expr(e) | StmtKind::Delete(e) => vec![e],
        StmtKind::Return(e) => e.iter().collect(),
        StmtKind::If { cond, .. } => vec![cond],
        StmtKind::For { init, cond, incr, .. } => {
            [init.as_ref(), Some(cond), incr.as_ref()].into_iter().flatten().collect()
        }
        StmtKind::Foreach(fe) => {
            let mut v = vec![&fe.array];
            v.extend(fe.limit.iter());
            v.extend(fe.slice.iter().flatten().flatten());
            v
        }
    }
}

/// Calls `f` on each expression the statements of a block hold themselves
/// ([`own_exprs`]), nested statements included, in source order.
pub fn block_exprs<'a>(b: &'a Block, f: &mut dyn FnMut(&'a Expr)) {
    walk_block(b, &mut |s| own_exprs(s).into_iter().for_each(&mut *f));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseOptions, lexer, parse_tokens};
    use crate::source::{FileKind, SourceMap, Span};

    fn body(src: &str) -> Block {
        let text = format!("probe begin {{ {src} }}");
        let mut sm = SourceMap::new();
        let f = sm.add("<input>", text.as_str(), FileKind::User);
        let (toks, _) = lexer::lex(f, &text);
        let eof = Span::new(f, text.len() as u32, text.len() as u32);
        let (script, diags) = parse_tokens(f, &toks, eof, ParseOptions::default());
        assert!(diags.is_empty(), "{diags:?}");
        script.probes.into_iter().next().expect("one probe").body
    }

    fn names(e: &Expr) -> Vec<String> {
        let mut out = Vec::new();
        walk_expr(e, &mut |e| {
            if let ExprKind::Var(n) = &e.kind {
                out.push(n.clone());
            }
            true
        });
        out
    }

    #[test]
    fn expressions_of_statements_in_source_order() {
        let b =
            body("a = 1; if (b) { c++ } else d; for (e = 0; f; g++) h; foreach (k in arr[m, *] limit n) { return }");
        let mut seen = Vec::new();
        block_exprs(&b, &mut |e| seen.extend(names(e)));
        assert_eq!(seen, ["a", "b", "c", "d", "e", "f", "g", "h", "arr", "n", "m"]);
    }

    #[test]
    fn walk_stops_where_told() {
        let b = body("x = y + f(z)");
        let mut seen = Vec::new();
        block_exprs(&b, &mut |e| {
            walk_expr(e, &mut |e| {
                if let ExprKind::Var(n) = &e.kind {
                    seen.push(n.clone());
                }
                !matches!(e.kind, ExprKind::Call { .. })
            })
        });
        assert_eq!(seen, ["x", "y"]);
    }

    #[test]
    fn statements_before_those_inside() {
        let b = body("if (1) { next } try { x = 1 } catch { y = 2 }");
        let mut kinds = Vec::new();
        walk_block(&b, &mut |s| {
            kinds.push(match s.kind {
                StmtKind::If { .. } => "if",
                StmtKind::Block(_) => "block",
                StmtKind::Next => "next",
                StmtKind::Try { .. } => "try",
                StmtKind::Expr(_) => "expr",
                _ => "other",
            })
        });
        assert_eq!(kinds, ["if", "block", "next", "try", "expr", "expr"]);
        let mut post = Vec::new();
        b.stmts.iter().for_each(|s| walk_stmt_post(s, &mut |s| post.push(s.span.start)));
        let mut pre = Vec::new();
        walk_block(&b, &mut |s| pre.push(s.span.start));
        // Inside before outside: `next`, its block, the `if`; then the `try`'s.
        assert_eq!(post.len(), pre.len());
        assert_eq!(post.first(), pre.get(2));
        assert_eq!(post.get(2), pre.first());
        assert_eq!(post.last(), pre.get(3));
    }
}
