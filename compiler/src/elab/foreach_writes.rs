//! stap's rule that an array may not change while a `foreach` iterates
//! over it, directly in the loop's body or through the functions it
//! calls. In: the elaborated [`Program`]; out: one error per write, at
//! the write or the call.

use std::collections::{HashMap, HashSet};

use super::Program;
use crate::diag::Diagnostic;
use crate::parse::ast::{Block, Expr, ExprKind, FunctionBody, Stmt, StmtKind};
use crate::parse::visit;
use crate::source::Span;

/// The globals an expression writes, directly, and the functions it calls.
fn writes_expr(e: &Expr, out: &mut Vec<(String, Span)>, calls: &mut Vec<(String, Span)>) {
    visit::walk_expr(e, &mut |e| {
        match &e.kind {
            ExprKind::Assign { lhs, .. } | ExprKind::Crement { operand: lhs, .. } => {
                if let Some(n) = array_name(lhs) {
                    out.push((n, lhs.span));
                }
            }
            ExprKind::Call { name, .. } => calls.push((name.name.clone(), name.span)),
            _ => {}
        }
        true
    });
}

fn array_name(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Index { base, .. } => match &base.kind {
            ExprKind::Var(n) => Some(n.clone()),
            _ => None,
        },
        ExprKind::Var(n) => Some(n.clone()),
        _ => None,
    }
}

/// The globals a statement writes, directly, and the functions it calls:
/// those of the statements inside it first, then its own (a `foreach`'s
/// limit, not its array or slice, which it reads).
fn writes_stmt(s: &Stmt, out: &mut Vec<(String, Span)>, calls: &mut Vec<(String, Span)>) {
    visit::walk_stmt_post(s, &mut |s| match &s.kind {
        StmtKind::Delete(e) => {
            if let Some(n) = array_name(e) {
                out.push((n, e.span));
            }
        }
        StmtKind::Foreach(f) => f.limit.iter().for_each(|e| writes_expr(e, out, calls)),
        _ => visit::own_exprs(s).into_iter().for_each(|e| writes_expr(e, out, calls)),
    });
}

/// stap forbids changing an array while a `foreach` iterates over it,
/// directly or through the functions the loop body calls.
pub(super) fn check_foreach_writes(p: &Program) -> Vec<Diagnostic> {
    // Globals each function writes, transitively.
    let mut fwrites: HashMap<String, HashSet<String>> = HashMap::new();
    let mut fcalls: HashMap<String, Vec<String>> = HashMap::new();
    for f in &p.functions {
        let FunctionBody::Script(b) = &f.def.body else { continue };
        let (mut w, mut c) = (Vec::new(), Vec::new());
        b.stmts.iter().for_each(|s| writes_stmt(s, &mut w, &mut c));
        let locals: HashSet<&str> = f.params.iter().chain(&f.locals).map(|v| v.name.as_str()).collect();
        fwrites
            .entry(f.def.name.name.clone())
            .or_default()
            .extend(w.into_iter().map(|x| x.0).filter(|n| !locals.contains(n.as_str())));
        fcalls.entry(f.def.name.name.clone()).or_default().extend(c.into_iter().map(|x| x.0));
    }
    let mut changed = true;
    while changed {
        changed = false;
        let names: Vec<String> = fcalls.keys().cloned().collect();
        for n in names {
            let callees = fcalls.get(&n).cloned().unwrap_or_default();
            let mut add: HashSet<String> = HashSet::new();
            for c in callees {
                add.extend(fwrites.get(&c).cloned().unwrap_or_default());
            }
            let w = fwrites.entry(n).or_default();
            let before = w.len();
            w.extend(add);
            changed |= w.len() != before;
        }
    }
    let mut diags = Vec::new();
    let mut check = |body: &Block| {
        // Last statement first, each before those inside it (its own
        // ones last first too): the statements in reverse post-order.
        let mut order: Vec<&Stmt> = Vec::new();
        body.stmts.iter().for_each(|s| visit::walk_stmt_post(s, &mut |s| order.push(s)));
        for s in order.into_iter().rev() {
            let StmtKind::Foreach(f) = &s.kind else { continue };
            let Some(arr) = array_name(&f.array) else { continue };
            let (mut w, mut c) = (Vec::new(), Vec::new());
            writes_stmt(&f.body, &mut w, &mut c);
            for (n, span) in w {
                if n == arr {
                    diags.push(Diagnostic::semantic_error(
                        format!("invalid modification of array '{arr}' while iterating over it"),
                        span,
                    ));
                }
            }
            for (callee, span) in c {
                if fwrites.get(&callee).is_some_and(|w| w.contains(&arr)) {
                    diags.push(Diagnostic::semantic_error(
                        format!("function '{callee}' modifies array '{arr}' while a foreach iterates over it"),
                        span,
                    ));
                }
            }
        }
    };
    for pr in &p.probes {
        check(&pr.body);
    }
    for f in &p.functions {
        if let FunctionBody::Script(b) = &f.def.body {
            check(b);
        }
    }
    diags
}
