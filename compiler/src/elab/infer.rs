//! Type inference: every variable, array key and value, function
//! parameter and return value gets `long`, `string` or `stats`, inferred
//! from its uses until nothing changes, with stap's error wording.

use std::collections::HashSet;

use super::{Program, Type, Var, intrinsics};
use crate::diag::Diagnostic;
use crate::parse::ast::{AssignOp, BinaryOp, Block, Expr, ExprKind, FunctionBody, Stmt, StmtKind, UnaryOp};
use crate::source::{FileId, Span};

struct Env {
    file: FileId,
    locals: Vec<Var>,
    /// The function being typed, for `return`.
    function: Option<usize>,
}

impl Env {
    fn local(&self, name: &str) -> Option<usize> {
        self.locals.iter().position(|v| v.name == name)
    }
}

struct Infer<'p> {
    p: &'p mut Program,
    changed: bool,
    report: bool,
    diags: Vec<Diagnostic>,
    seen: HashSet<(Span, String)>,
}

/// Infers the program's types in place.
pub fn infer(p: &mut Program) -> Vec<Diagnostic> {
    let mut inf = Infer { p, changed: true, report: false, diags: Vec::new(), seen: HashSet::new() };
    let mut rounds = 0;
    while inf.changed && rounds < 32 {
        inf.changed = false;
        inf.round();
        rounds += 1;
    }
    inf.report = true;
    inf.round();
    inf.unresolved();
    inf.diags
}

/// The conversions of a printf format, as the types they take (a `*`
/// width or precision takes a long).
pub fn format_types(format: &[u8]) -> Result<Vec<Type>, String> {
    crate::format::parse(format).map(|pieces| crate::format::arg_types(&pieces))
}

impl Infer<'_> {
    fn error(&mut self, span: Span, msg: String) {
        if self.report && self.seen.insert((span, msg.clone())) {
            self.diags.push(Diagnostic::semantic_error(msg, span));
        }
    }

    fn mismatch(&mut self, span: Span, want: Type, got: Type) {
        self.error(span, format!("type mismatch ({} vs. {})", want.name(), got.name()));
    }

    fn round(&mut self) {
        for i in 0..self.p.probes.len() {
            let Some(pr) = self.p.probes.get_mut(i) else { continue };
            let span = pr.body.span;
            let body = std::mem::replace(&mut pr.body, Block { stmts: Vec::new(), span });
            let cond = pr.condition.take();
            let mut env = Env { file: pr.file, locals: std::mem::take(&mut pr.locals), function: None };
            if let Some(c) = &cond {
                self.expect(c, &mut env, Type::Long);
            }
            self.block(&body, &mut env);
            if let Some(pr) = self.p.probes.get_mut(i) {
                pr.body = body;
                pr.locals = env.locals;
                pr.condition = cond;
            }
        }
        for i in 0..self.p.functions.len() {
            let Some(f) = self.p.functions.get_mut(i) else { continue };
            let FunctionBody::Script(b) = &mut f.def.body else { continue };
            let span = b.span;
            let body = std::mem::replace(b, Block { stmts: Vec::new(), span });
            let nparams = f.params.len();
            let mut locals = f.params.clone();
            locals.append(&mut f.locals);
            let mut env = Env { file: f.file, locals, function: Some(i) };
            self.block(&body, &mut env);
            if let Some(f) = self.p.functions.get_mut(i) {
                f.def.body = FunctionBody::Script(body);
                let locals = env.locals.split_off(nparams.min(env.locals.len()));
                for (p, new) in f.params.iter_mut().zip(env.locals) {
                    if p.ty == Type::Unknown && new.ty != Type::Unknown {
                        p.ty = new.ty;
                    }
                }
                f.locals = locals;
            }
        }
    }

    fn unresolved(&mut self) {
        let mut errs = Vec::new();
        for pr in &self.p.probes {
            for v in &pr.locals {
                if v.ty == Type::Unknown && (v.read || v.written) {
                    errs.push((v.span, "unresolved type".to_string()));
                }
            }
        }
        for f in &self.p.functions {
            for v in f.params.iter().chain(&f.locals) {
                if v.ty == Type::Unknown && v.read {
                    errs.push((v.span, "unresolved type".to_string()));
                }
            }
        }
        for g in &self.p.globals {
            if g.var.ty == Type::Unknown && (g.var.read || g.var.written) {
                errs.push((g.var.span, format!("unresolved type for global '{}'", g.var.name)));
            }
        }
        for (span, msg) in errs {
            self.error(span, msg);
        }
    }

    // ----- variables -----

    fn var_type(&self, name: &str, env: &Env) -> Type {
        if let Some(i) = env.local(name) {
            return env.locals.get(i).map(|v| v.ty).unwrap_or_default();
        }
        self.p.global(name, env.file).and_then(|g| self.p.globals.get(g)).map(|g| g.var.ty).unwrap_or_default()
    }

    fn set_var(&mut self, name: &str, env: &mut Env, t: Type, span: Span) {
        if t == Type::Unknown {
            return;
        }
        let slot = if let Some(i) = env.local(name) {
            env.locals.get_mut(i).map(|v| &mut v.ty)
        } else {
            match self.p.global(name, env.file) {
                Some(g) => self.p.globals.get_mut(g).map(|g| &mut g.var.ty),
                None => None,
            }
        };
        let Some(slot) = slot else { return };
        if *slot == Type::Unknown {
            *slot = t;
            self.changed = true;
        } else if *slot != t {
            let have = *slot;
            self.mismatch(span, have, t);
        }
    }

    fn array_keys(&mut self, name: &str, env: &Env, keys: &[Type], spans: &[Span]) {
        let Some(g) = self.p.global(name, env.file) else { return };
        let mut errs = Vec::new();
        if let Some(gv) = self.p.globals.get_mut(g) {
            if gv.var.keys.len() < keys.len() {
                gv.var.keys.resize(keys.len(), Type::Unknown);
            }
            for (i, (&k, slot)) in keys.iter().zip(gv.var.keys.iter_mut()).enumerate() {
                if k == Type::Unknown {
                    continue;
                }
                if *slot == Type::Unknown {
                    *slot = k;
                    self.changed = true;
                } else if *slot != k {
                    errs.push((spans.get(i).copied().unwrap_or(Span::DUMMY), *slot, k));
                }
            }
        }
        for (span, want, got) in errs {
            self.mismatch(span, want, got);
        }
    }

    fn array_key_types(&self, name: &str, env: &Env) -> Vec<Type> {
        self.p
            .global(name, env.file)
            .and_then(|g| self.p.globals.get(g))
            .map(|g| g.var.keys.clone())
            .unwrap_or_default()
    }

    /// Makes an expression that can take a type (a variable, an array
    /// element, a call) have type `t`.
    /// Two values that must have one type (`a = b`, the arms of `?:`): an
    /// unknown side takes the other's type; two known ones must agree,
    /// else the second is the mismatch.
    fn join(&mut self, first: &Expr, a: Type, second: &Expr, b: Type, env: &mut Env) -> Type {
        match (a, b) {
            (Type::Unknown, t) => {
                self.unify_slot(first, env, t);
                t
            }
            (t, Type::Unknown) => {
                self.unify_slot(second, env, t);
                t
            }
            (a, b) => {
                if a != b {
                    self.mismatch(second.span, a, b);
                }
                a
            }
        }
    }

    fn unify_slot(&mut self, e: &Expr, env: &mut Env, t: Type) {
        if t == Type::Unknown {
            return;
        }
        match &e.kind {
            ExprKind::Var(name) => self.set_var(name, env, t, e.span),
            ExprKind::Index { base, .. } => {
                if let ExprKind::Var(name) = &base.kind {
                    self.set_var(name, env, t, e.span);
                }
            }
            ExprKind::Call { name, args } => {
                let found = self.p.functions_named(&name.name, env.file);
                for j in found {
                    let Some(f) = self.p.functions.get_mut(j) else { continue };
                    if f.params.len() != args.len() {
                        continue;
                    }
                    if f.ret == Type::Unknown {
                        f.ret = t;
                        self.changed = true;
                    }
                }
            }
            ExprKind::Ternary { then, otherwise, .. } => {
                self.unify_slot(then, env, t);
                self.unify_slot(otherwise, env, t);
            }
            ExprKind::Assign { op: AssignOp::Assign, lhs, rhs } => {
                self.unify_slot(lhs, env, t);
                self.unify_slot(rhs, env, t);
            }
            _ => {}
        }
    }

    /// Types `e`, wanting `want`: unknown slots take it, known types
    /// must agree.
    fn expect(&mut self, e: &Expr, env: &mut Env, want: Type) -> Type {
        let got = self.expr(e, env);
        if got == Type::Unknown {
            self.unify_slot(e, env, want);
            return want;
        }
        if want != Type::Unknown && got != want {
            self.mismatch(e.span, want, got);
        }
        got
    }

    // ----- statements -----

    fn block(&mut self, b: &Block, env: &mut Env) {
        for s in &b.stmts {
            self.stmt(s, env);
        }
    }

    fn stmt(&mut self, s: &Stmt, env: &mut Env) {
        match &s.kind {
            StmtKind::Null | StmtKind::Next | StmtKind::Break | StmtKind::Continue => {}
            StmtKind::Block(b) => self.block(b, env),
            StmtKind::Expr(e) => {
                self.expr(e, env);
            }
            StmtKind::If { cond, then, otherwise } => {
                self.expect(cond, env, Type::Long);
                self.stmt(then, env);
                if let Some(o) = otherwise {
                    self.stmt(o, env);
                }
            }
            StmtKind::For { init, cond, incr, body } => {
                if let Some(i) = init {
                    self.expr(i, env);
                }
                self.expect(cond, env, Type::Long);
                if let Some(i) = incr {
                    self.expr(i, env);
                }
                self.stmt(body, env);
            }
            StmtKind::Foreach(f) => {
                if let ExprKind::Var(name) = &f.array.kind {
                    let keys = self.array_key_types(name, env);
                    for (i, k) in f.keys.iter().enumerate() {
                        let kt = keys.get(i).copied().unwrap_or_default();
                        self.set_var(&k.name, env, kt, k.span);
                        let now = self.var_type(&k.name, env);
                        let mut kts = vec![Type::Unknown; i];
                        kts.push(now);
                        self.array_keys(name, env, &kts, &[k.span]);
                    }
                    let vt = self.var_type(name, env);
                    if let Some(v) = &f.value {
                        let vt = if vt == Type::Stats { Type::Unknown } else { vt };
                        self.set_var(&v.name, env, vt, v.span);
                        let now = self.var_type(&v.name, env);
                        if now != Type::Unknown && vt == Type::Unknown && self.var_type(name, env) != Type::Stats {
                            self.set_var(name, env, now, f.array.span);
                        }
                    }
                } else {
                    self.expr(&f.array, env);
                }
                if let Some(slice) = &f.slice {
                    self.keys_of(&f.array, slice, env);
                }
                if f.aggregate.is_some()
                    && let ExprKind::Var(name) = &f.array.kind
                {
                    let t = self.var_type(name, env);
                    if t != Type::Stats && t != Type::Unknown {
                        self.error(
                            f.array.span,
                            format!(
                                "'{name}' is not a statistic: it cannot be sorted by @{}",
                                f.aggregate.map(|a| a.name()).unwrap_or("sum")
                            ),
                        );
                    }
                }
                if let Some(l) = &f.limit {
                    self.expect(l, env, Type::Long);
                }
                self.stmt(&f.body, env);
            }
            StmtKind::Delete(e) => {
                if let ExprKind::Index { base, keys } = &e.kind {
                    self.keys_of(base, keys, env);
                }
            }
            StmtKind::Return(e) => {
                let Some(e) = e else { return };
                let t = self.expr(e, env);
                let Some(fi) = env.function else { return };
                let Some(f) = self.p.functions.get_mut(fi) else { return };
                let ret = f.ret;
                if ret == Type::Unknown {
                    if t != Type::Unknown {
                        f.ret = t;
                        self.changed = true;
                    }
                } else if t == Type::Unknown {
                    self.unify_slot(e, env, ret);
                } else if t != ret {
                    self.mismatch(e.span, ret, t);
                }
            }
            StmtKind::Try { body, var, catch } => {
                self.block(body, env);
                if let Some(v) = var {
                    self.set_var(&v.name, env, Type::String, v.span);
                }
                self.block(catch, env);
            }
        }
    }

    /// Keys (some `*`) given to an array: typed like the array's keys.
    fn keys_of(&mut self, array: &Expr, keys: &[Option<Expr>], env: &mut Env) {
        let ExprKind::Var(name) = &array.kind else {
            for k in keys.iter().flatten() {
                self.expr(k, env);
            }
            return;
        };
        let known = self.array_key_types(name, env);
        let mut kts = Vec::new();
        let mut spans = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match k {
                Some(k) => {
                    let want = known.get(i).copied().unwrap_or_default();
                    let t = if want == Type::Unknown { self.expr(k, env) } else { self.expect(k, env, want) };
                    if t == Type::Stats {
                        self.error(k.span, "array keys cannot be statistics".to_string());
                    }
                    kts.push(t);
                    spans.push(k.span);
                }
                None => {
                    kts.push(Type::Unknown);
                    spans.push(array.span);
                }
            }
        }
        self.array_keys(name, env, &kts, &spans);
    }

    // ----- expressions -----

    fn expr(&mut self, e: &Expr, env: &mut Env) -> Type {
        match &e.kind {
            ExprKind::Number(_) => Type::Long,
            ExprKind::String(_) => Type::String,
            ExprKind::Var(name) => self.var_type(name, env),
            ExprKind::Index { base, keys } => {
                let ExprKind::Var(name) = &base.kind else {
                    // A histogram bucket.
                    self.expr(base, env);
                    for k in keys.iter().flatten() {
                        self.expect(k, env, Type::Long);
                    }
                    return Type::Long;
                };
                self.keys_of(base, keys, env);
                self.var_type(name, env)
            }
            ExprKind::Call { name, args } => self.call(&name.name, name.span, args, env),
            ExprKind::Print { kind, format, delimiter, args } => {
                if let Some(d) = delimiter {
                    self.expect(d, env, Type::String);
                }
                if let Some((fmt, fspan)) = format {
                    match format_types(fmt) {
                        Ok(types) => {
                            if types.len() != args.len() {
                                let msg = format!(
                                    "Wrong number of arguments to {}: the format takes {}, {} given",
                                    kind.name(),
                                    types.len(),
                                    args.len()
                                );
                                self.error(e.span, msg);
                            }
                            for (a, t) in args.iter().zip(types.iter().copied().chain(std::iter::repeat(Type::Unknown)))
                            {
                                self.expect(a, env, t);
                            }
                        }
                        Err(msg) => {
                            self.error(*fspan, msg);
                        }
                    }
                } else {
                    for a in args {
                        let t = self.expr(a, env);
                        if t == Type::Stats {
                            self.error(a.span, "cannot print a statistic; use @count, @sum, ... or @hist_*".into());
                        }
                    }
                }
                if kind.returns_string() { Type::String } else { Type::Unknown }
            }
            ExprKind::Unary { op, operand } => {
                let _ = op == &UnaryOp::Not;
                self.expect(operand, env, Type::Long);
                Type::Long
            }
            ExprKind::Crement { operand, .. } => {
                self.expect(operand, env, Type::Long);
                Type::Long
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let t = if *op == BinaryOp::Concat { Type::String } else { Type::Long };
                self.expect(lhs, env, t);
                self.expect(rhs, env, t);
                t
            }
            ExprKind::Logical { lhs, rhs, .. } => {
                self.expect(lhs, env, Type::Long);
                self.expect(rhs, env, Type::Long);
                Type::Long
            }
            ExprKind::Compare { lhs, rhs, .. } => {
                let lt = self.expr(lhs, env);
                let rt = self.expr(rhs, env);
                match (lt, rt) {
                    (Type::Unknown, Type::Unknown) => {}
                    (Type::Unknown, t) => self.unify_slot(lhs, env, t),
                    (t, Type::Unknown) => self.unify_slot(rhs, env, t),
                    (a, b) if a != b => self.mismatch(rhs.span, a, b),
                    (Type::Stats, _) => self.error(e.span, "cannot compare statistics".to_string()),
                    _ => {}
                }
                Type::Long
            }
            ExprKind::Regex { operand, .. } => {
                self.expect(operand, env, Type::String);
                Type::Long
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                self.expect(cond, env, Type::Long);
                let a = self.expr(then, env);
                let b = self.expr(otherwise, env);
                self.join(then, a, otherwise, b, env)
            }
            ExprKind::Assign { op, lhs, rhs } => match op {
                AssignOp::Aggregate => {
                    self.unify_slot(lhs, env, Type::Stats);
                    let lt = self.expr(lhs, env);
                    if lt != Type::Stats && lt != Type::Unknown {
                        self.mismatch(lhs.span, Type::Stats, lt);
                    }
                    self.expect(rhs, env, Type::Long);
                    Type::Unknown
                }
                AssignOp::Op(BinaryOp::Concat) => {
                    self.expect(lhs, env, Type::String);
                    self.expect(rhs, env, Type::String);
                    Type::String
                }
                AssignOp::Op(_) => {
                    self.expect(lhs, env, Type::Long);
                    self.expect(rhs, env, Type::Long);
                    Type::Long
                }
                AssignOp::Assign => {
                    let rt = self.expr(rhs, env);
                    let lt = self.expr(lhs, env);
                    if lt == Type::Stats {
                        self.error(e.span, "cannot assign to a statistic; use <<<".to_string());
                        return Type::Stats;
                    }
                    self.join(lhs, lt, rhs, rt, env)
                }
            },
            ExprKind::In { keys, array } => {
                if let ExprKind::Var(name) = &array.kind {
                    let known = self.array_key_types(name, env);
                    let mut kts = Vec::new();
                    let mut spans = Vec::new();
                    for (i, k) in keys.iter().enumerate() {
                        let t = match k {
                            Some(k) => {
                                let want = known.get(i).copied().unwrap_or_default();
                                spans.push(k.span);
                                if want == Type::Unknown { self.expr(k, env) } else { self.expect(k, env, want) }
                            }
                            None => {
                                spans.push(e.span);
                                Type::Unknown
                            }
                        };
                        kts.push(t);
                    }
                    self.array_keys(name, env, &kts, &spans);
                }
                Type::Long
            }
            ExprKind::Stat { operand, extra, .. } => {
                self.unify_slot(operand, env, Type::Stats);
                let t = self.expr(operand, env);
                if t != Type::Stats && t != Type::Unknown {
                    self.mismatch(operand.span, Type::Stats, t);
                }
                for x in extra {
                    self.expect(x, env, Type::Long);
                }
                Type::Long
            }
            ExprKind::Hist { kind, operand } => {
                self.unify_slot(operand, env, Type::Stats);
                let t = self.expr(operand, env);
                if t != Type::Stats && t != Type::Unknown {
                    self.mismatch(operand.span, Type::Stats, t);
                }
                if let crate::parse::ast::HistKind::Linear { start, stop, step } = kind {
                    for x in [start, stop, step] {
                        self.expect(x, env, Type::Long);
                    }
                }
                Type::Unknown
            }
            ExprKind::Target(t) => {
                for op in &t.ops {
                    if let crate::parse::ast::TargetOp::Index(i) = op {
                        self.expect(i, env, Type::Long);
                    }
                }
                match &t.base {
                    crate::parse::ast::TargetBase::Cast { operand, .. } => {
                        self.expect(operand, env, Type::Long);
                    }
                    crate::parse::ast::TargetBase::Autocast(operand) => {
                        self.expr(operand, env);
                    }
                    _ => {}
                }
                self.p.resolved(t).map(|r| r.ty).unwrap_or_default()
            }
            ExprKind::Defined(_) | ExprKind::Perf(_) | ExprKind::Register { .. } => Type::Long,
            ExprKind::Deref { size, addr, .. } => {
                self.expect(size, env, Type::Long);
                self.expect(addr, env, Type::Long);
                Type::Long
            }
            ExprKind::ProbeWrite(_) => Type::Long,
            ExprKind::Entry(inner) => self.expr(inner, env),
            ExprKind::Embedded(_) => Type::Long,
        }
    }

    fn call(&mut self, name: &str, span: Span, args: &[Expr], env: &mut Env) -> Type {
        let found: Vec<usize> = self
            .p
            .functions_named(name, env.file)
            .into_iter()
            .filter(|&j| self.p.functions.get(j).is_some_and(|f| f.params.len() == args.len()))
            .collect();
        if let Some(&j) = found.first() {
            for (k, a) in args.iter().enumerate() {
                let want = self.p.functions.get(j).and_then(|f| f.params.get(k)).map(|v| v.ty).unwrap_or_default();
                let t = if want == Type::Unknown { self.expr(a, env) } else { self.expect(a, env, want) };
                if want == Type::Unknown && t != Type::Unknown {
                    for &j in &found {
                        if let Some(p) = self.p.functions.get_mut(j).and_then(|f| f.params.get_mut(k))
                            && p.ty == Type::Unknown
                        {
                            p.ty = t;
                            self.changed = true;
                        }
                    }
                }
                if t == Type::Stats {
                    self.error(a.span, "cannot pass a statistic to a function".to_string());
                }
            }
            return self.p.functions.get(j).map(|f| f.ret).unwrap_or_default();
        }
        if let Some(i) = intrinsics::lookup_arity(name, args.len()) {
            for (a, (_, t)) in args.iter().zip(&i.params) {
                self.expect(a, env, *t);
            }
            return i.ret;
        }
        let _ = span;
        for a in args {
            self.expr(a, env);
        }
        Type::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_formats() {
        assert_eq!(format_types(b"%d %s %%\n"), Ok(vec![Type::Long, Type::String]));
        assert_eq!(format_types(b"%-*.*s|%5lx"), Ok(vec![Type::Long, Type::Long, Type::String, Type::Long]));
        assert!(format_types(b"%").is_err());
        assert!(format_types(b"%y").is_err());
        // %m and %M read memory at an address.
        assert_eq!(format_types(b"%.4m %M"), Ok(vec![Type::Long, Type::Long]));
    }
}
