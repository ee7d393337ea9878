//! Rules stap's parser enforces that the grammar does not: `return` only in
//! functions, embedded C and guru-only operators only with `-g` (or in the
//! tapset library), histograms only where a histogram may stand, and a
//! bound on nesting so that later passes may recurse over the tree.

use std::collections::HashMap;

use super::ParseOptions;
use super::ast::*;
use crate::diag::Diagnostic;
use crate::source::Span;

/// Deeper trees are rejected; every later pass may recurse this deep.
pub const MAX_NESTING: usize = 1000;

struct Checker<'a> {
    opts: ParseOptions,
    diags: &'a mut Vec<Diagnostic>,
    in_function: bool,
    too_deep: bool,
}

/// Checks one parsed file, adding what it finds to `diags`.
pub fn check(script: &Script, opts: ParseOptions, diags: &mut Vec<Diagnostic>) {
    let mut c = Checker { opts, diags, in_function: false, too_deep: false };
    for e in &script.embeds {
        c.embedded(e.span);
    }
    for p in &script.probes {
        for pp in &p.points {
            c.point(pp);
        }
        c.block(&p.body, 0);
    }
    for a in &script.aliases {
        for n in &a.names {
            if n.components.first().is_some_and(|c| c.name.starts_with('@')) {
                c.diags.push(Diagnostic::parse_error("probe alias names cannot begin with '@'", n.span));
            }
        }
        for pp in &a.points {
            c.point(pp);
        }
        c.block(&a.body, 0);
        if let Some(b) = &a.epilogue_body {
            c.block(b, 0);
        }
    }
    let mut seen: HashMap<&str, &Global> = HashMap::new();
    for g in &script.globals {
        match seen.get(g.name.name.as_str()) {
            Some(first) => {
                let msg = if first.private == g.private {
                    "duplicate global name"
                } else {
                    "global versus private variable declaration conflict"
                };
                c.diags
                    .push(Diagnostic::parse_error(msg, g.name.span).with_label(first.name.span, "first declared here"));
            }
            None => {
                seen.insert(&g.name.name, g);
            }
        }
    }
    for f in &script.functions {
        let mut params: HashMap<&str, &Param> = HashMap::new();
        for p in &f.params {
            if let Some(first) = params.insert(&p.name.name, p) {
                c.diags.push(
                    Diagnostic::parse_error("duplicate parameter names", p.name.span)
                        .with_label(first.name.span, "first declared here"),
                );
            }
        }
        c.in_function = true;
        match &f.body {
            FunctionBody::Script(b) => c.block(b, 0),
            FunctionBody::Embedded(e) => c.embedded(e.span),
        }
        c.in_function = false;
    }
}

impl Checker<'_> {
    fn embedded(&mut self, span: Span) {
        if !self.opts.guru && !self.opts.tapset {
            self.diags.push(
                Diagnostic::parse_error("embedded code in unprivileged script; need stap -g", span)
                    .with_help("embedded C is kept for compatibility; stp runs no C code in the kernel"),
            );
        }
    }

    fn guru_only(&mut self, what: &str, span: Span) {
        if !self.opts.guru && !self.opts.tapset {
            self.diags.push(Diagnostic::parse_error(format!("{what} is only allowed in guru mode (-g)"), span));
        }
    }

    fn deep(&mut self, depth: usize, span: Span) -> bool {
        if depth <= MAX_NESTING {
            return false;
        }
        if !self.too_deep {
            self.too_deep = true;
            self.diags.push(
                Diagnostic::parse_error("nested too deeply", span)
                    .with_note(format!("expressions and statements may nest at most {MAX_NESTING} levels")),
            );
        }
        true
    }

    fn point(&mut self, p: &ProbePoint) {
        if let Some(c) = &p.condition {
            self.expr(c, 0);
        }
    }

    fn block(&mut self, b: &Block, depth: usize) {
        if self.deep(depth, b.span) {
            return;
        }
        for s in &b.stmts {
            self.stmt(s, depth + 1);
        }
    }

    fn stmt(&mut self, s: &Stmt, depth: usize) {
        if self.deep(depth, s.span) {
            return;
        }
        let d = depth + 1;
        match &s.kind {
            StmtKind::Null | StmtKind::Next | StmtKind::Break | StmtKind::Continue => {}
            StmtKind::Block(b) => self.block(b, d),
            StmtKind::Expr(e) | StmtKind::Delete(e) => self.expr(e, d),
            StmtKind::If { cond, then, otherwise } => {
                self.expr(cond, d);
                self.stmt(then, d);
                if let Some(o) = otherwise {
                    self.stmt(o, d);
                }
            }
            StmtKind::For { init, cond, incr, body } => {
                for e in [init.as_ref(), Some(cond), incr.as_ref()].into_iter().flatten() {
                    self.expr(e, d);
                }
                self.stmt(body, d);
            }
            StmtKind::Foreach(f) => {
                self.hist_or_expr(&f.array, d);
                for k in f.slice.iter().flatten().flatten() {
                    self.expr(k, d);
                }
                if let Some(l) = &f.limit {
                    self.expr(l, d);
                }
                self.stmt(&f.body, d);
            }
            StmtKind::Return(e) => {
                if !self.in_function {
                    self.diags.push(Diagnostic::parse_error("found 'return' not in function context", s.span));
                }
                if let Some(e) = e {
                    self.expr(e, d);
                }
            }
            StmtKind::Try { body, catch, .. } => {
                self.block(body, d);
                self.block(catch, d);
            }
        }
    }

    /// Where a histogram may stand: `print(@hist_log(s))`, `foreach`, and
    /// a bucket index.
    fn hist_or_expr(&mut self, e: &Expr, depth: usize) {
        match &e.kind {
            ExprKind::Hist { kind, operand } => {
                self.expr(operand, depth + 1);
                if let HistKind::Linear { start, stop, step } = kind {
                    for x in [start, stop, step] {
                        self.expr(x, depth + 1);
                    }
                }
            }
            _ => self.expr(e, depth),
        }
    }

    fn expr(&mut self, e: &Expr, depth: usize) {
        if self.deep(depth, e.span) {
            return;
        }
        let d = depth + 1;
        match &e.kind {
            ExprKind::Number(_) | ExprKind::String(_) | ExprKind::Var(_) | ExprKind::Perf(_) => {}
            ExprKind::ProbeWrite(_) => {}
            ExprKind::Hist { .. } => {
                self.diags.push(Diagnostic::parse_error("base histogram operator where expression expected", e.span));
            }
            ExprKind::Index { base, keys } => {
                self.hist_or_expr(base, d);
                for k in keys.iter().flatten() {
                    self.expr(k, d);
                }
            }
            ExprKind::Call { args, .. } => {
                for a in args {
                    self.expr(a, d);
                }
            }
            ExprKind::Print { delimiter, args, .. } => {
                if let Some(x) = delimiter {
                    self.expr(x, d);
                }
                for a in args {
                    self.hist_or_expr(a, d);
                }
            }
            ExprKind::Unary { operand, .. }
            | ExprKind::Crement { operand, .. }
            | ExprKind::Regex { operand, .. }
            | ExprKind::Stat { operand, .. } => self.expr(operand, d),
            ExprKind::Defined(x) | ExprKind::Entry(x) => self.expr(x, d),
            ExprKind::Binary { lhs, rhs, .. }
            | ExprKind::Logical { lhs, rhs, .. }
            | ExprKind::Compare { lhs, rhs, .. }
            | ExprKind::Assign { lhs, rhs, .. } => {
                self.expr(lhs, d);
                self.expr(rhs, d);
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                self.expr(cond, d);
                self.expr(then, d);
                self.expr(otherwise, d);
            }
            ExprKind::In { keys, array } => {
                for k in keys.iter().flatten() {
                    self.expr(k, d);
                }
                self.expr(array, d);
            }
            ExprKind::Target(t) => {
                match &t.base {
                    TargetBase::Cast { operand, .. } => self.expr(operand, d),
                    TargetBase::Autocast(x) => self.expr(x, d),
                    TargetBase::Var(_) | TargetBase::Context(_) | TargetBase::AtVar { .. } => {}
                }
                for op in &t.ops {
                    if let TargetOp::Index(i) = op {
                        self.expr(i, d);
                    }
                }
            }
            ExprKind::Register { user, number } => {
                self.guru_only(if *user { "@uregister" } else { "@kregister" }, e.span);
                self.expr(number, d);
            }
            ExprKind::Deref { user, size, addr } => {
                self.guru_only(if *user { "@uderef" } else { "@kderef" }, e.span);
                self.expr(size, d);
                self.expr(addr, d);
            }
            ExprKind::Embedded(_) => self.embedded(e.span),
        }
    }
}
