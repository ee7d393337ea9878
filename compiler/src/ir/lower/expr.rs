//! Expressions: literals, names, operators, `&&`/`||`/`?:` as branches,
//! `++`/`--`, regex matches, `in`, statistics, `$target` reads, printing,
//! histograms and `@entry`.
//!
//! In: an AST expression. Out: an operand holding its value and the value's
//! IR type, after the instructions computing it. Pass 2 has checked the
//! types; an expression pass 3 cannot translate is a `not_yet` diagnostic
//! at its span, and what pass 2 should have removed is an internal error.

use super::update::Want;
use super::{Lower, not_yet, ty};
use crate::diag::Diagnostic;
use crate::ir::{BinOp, Hist, InstKind, Operand, Terminator, Ty, UnOp};
use crate::parse::ast::{BinaryOp, Crement, Expr, ExprKind, LogicalOp, TargetBase, TargetOp, UnaryOp};
use crate::source::Span;

impl Lower<'_> {
    pub(super) fn binary(&mut self, op: BinaryOp, a: (Operand, Ty), b: (Operand, Ty), span: Span) -> (Operand, Ty) {
        let want = if op == BinaryOp::Concat { Ty::Str } else { Ty::Long };
        let (a, b) = (self.coerce(a, want), self.coerce(b, want));
        if op == BinaryOp::Concat {
            let dst = self.temp(Ty::Str);
            self.emit(InstKind::Concat { dst, a, b }, span);
            return (Operand::Var(dst), Ty::Str);
        }
        let op = match op {
            BinaryOp::Add => BinOp::Add,
            BinaryOp::Sub => BinOp::Sub,
            BinaryOp::Mul => BinOp::Mul,
            BinaryOp::Div => BinOp::Div,
            BinaryOp::Mod => BinOp::Mod,
            BinaryOp::Shl => BinOp::Shl,
            BinaryOp::Shr => BinOp::Shr,
            BinaryOp::BitAnd => BinOp::And,
            BinaryOp::BitOr => BinOp::Or,
            BinaryOp::BitXor | BinaryOp::Concat => BinOp::Xor,
        };
        let dst = self.temp(Ty::Long);
        self.emit(InstKind::Binary { dst, op, a, b }, span);
        (Operand::Var(dst), Ty::Long)
    }

    pub(super) fn expr(&mut self, e: &Expr) -> Result<(Operand, Ty), Diagnostic> {
        let span = e.span;
        let discard = std::mem::take(&mut self.discard);
        Ok(match &e.kind {
            ExprKind::Number(n) => (Operand::Long(*n), Ty::Long),
            ExprKind::String(s) => (Operand::Str(s.clone()), Ty::Str),
            ExprKind::Var(_) | ExprKind::Index { .. } => {
                if let ExprKind::Index { base, keys } = &e.kind
                    && !matches!(base.kind, ExprKind::Var(_))
                {
                    // `@hist_log(s)[i]`: a bucket's count.
                    let ExprKind::Hist { kind, operand } = &base.kind else {
                        return Err(not_yet("indexing this", span));
                    };
                    let [Some(index)] = keys.as_slice() else {
                        return Err(Diagnostic::semantic_error("a histogram bucket takes one index", span));
                    };
                    let (stat, skeys) = self.stat_place(operand)?;
                    let hist = self.hist(kind)?;
                    let (index, _) = self.expr(index)?;
                    let dst = self.temp(Ty::Long);
                    self.emit(InstKind::HistBucket { dst, stat, keys: skeys, hist, index }, span);
                    return Ok((Operand::Var(dst), Ty::Long));
                }
                let p = self.place(e)?;
                let t = Self::place_ty(&p);
                (self.read(&p, span), t)
            }
            ExprKind::Unary { op, operand } => {
                let (a, _) = self.expr(operand)?;
                let op = match op {
                    UnaryOp::Plus => return Ok((a, Ty::Long)),
                    UnaryOp::Neg => UnOp::Neg,
                    UnaryOp::Not => UnOp::Not,
                    UnaryOp::BitNot => UnOp::BitNot,
                };
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::Unary { dst, op, a }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.expr(lhs)?;
                let a = self.hold(a, [&**rhs], lhs.span);
                let b = self.expr(rhs)?;
                // A division fails at its operator: the text between the
                // operands (its runtime error says "near operator '/'").
                let at = match op {
                    BinaryOp::Div | BinaryOp::Mod if lhs.span.end <= rhs.span.start => {
                        Span::new(span.file, lhs.span.end, rhs.span.start)
                    }
                    _ => span,
                };
                self.binary(*op, a, b, at)
            }
            ExprKind::Compare { op, lhs, rhs } => {
                let a = self.expr(lhs)?;
                let a = self.hold(a, [&**rhs], lhs.span);
                let b = self.expr(rhs)?;
                let strings = a.1 == Ty::Str || b.1 == Ty::Str;
                let t = if strings { Ty::Str } else { Ty::Long };
                let (a, b) = (self.coerce(a, t), self.coerce(b, t));
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::Compare { dst, op: *op, a, b, strings }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Logical { op, lhs, rhs } => {
                // The result is 0 or 1; the right side runs only if needed.
                let dst = self.temp(Ty::Long);
                let (a, _) = self.expr(lhs)?;
                let (right, short, join) = (self.new_block(), self.new_block(), self.new_block());
                let (then, otherwise) = if *op == LogicalOp::And { (right, short) } else { (short, right) };
                self.terminate(Terminator::Branch { cond: a, then, otherwise }, lhs.span);
                self.switch_to(short);
                let short_value = i64::from(*op == LogicalOp::Or);
                self.emit(InstKind::Copy { dst, src: Operand::Long(short_value) }, span);
                self.goto(join, span);
                self.switch_to(right);
                let (b, _) = self.expr(rhs)?;
                self.emit(
                    InstKind::Compare {
                        dst,
                        op: crate::parse::ast::CompareOp::Ne,
                        a: b,
                        b: Operand::Long(0),
                        strings: false,
                    },
                    span,
                );
                self.goto(join, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                let (c, _) = self.expr(cond)?;
                let (tb, ob, join) = (self.new_block(), self.new_block(), self.new_block());
                self.terminate(Terminator::Branch { cond: c, then: tb, otherwise: ob }, cond.span);
                self.switch_to(tb);
                let a = self.expr(then)?;
                // The result's type is known once both arms are: a string
                // if either is one (the other is then a call that returns
                // nothing). The then arm's copy is added when it is known.
                let dst = self.temp(a.1);
                let then_end = self.cur;
                self.switch_to(ob);
                let b = self.expr(otherwise)?;
                let t = if a.1 == Ty::Str || b.1 == Ty::Str { Ty::Str } else { Ty::Long };
                if let Some(d) = self.func.vars.get_mut(dst.0 as usize) {
                    d.ty = t;
                }
                let b = self.coerce(b, t);
                self.emit(InstKind::Copy { dst, src: b }, span);
                self.goto(join, span);
                self.switch_to(then_end);
                let a = self.coerce(a, t);
                self.emit(InstKind::Copy { dst, src: a }, span);
                self.goto(join, span);
                (Operand::Var(dst), t)
            }
            ExprKind::Assign { op, lhs, rhs } => self.assign(*op, lhs, rhs, span, discard)?,
            ExprKind::Crement { op, prefix, operand } => {
                let p = self.place(operand)?;
                if let Some(target) = Self::updatable(&p) {
                    let delta = Operand::Long(if *op == Crement::Incr { 1 } else { -1 });
                    let want = match (discard, *prefix) {
                        (true, _) => Want::Nothing,
                        (false, true) => Want::New,
                        (false, false) => Want::Old,
                    };
                    return Ok((self.update(target, BinOp::Add, delta, want, span), Ty::Long));
                }
                let old = self.read(&p, span);
                let before = self.temp(Ty::Long);
                self.emit(InstKind::Copy { dst: before, src: old }, span);
                let delta = Operand::Long(if *op == Crement::Incr { 1 } else { -1 });
                let (new, _) = self.binary(BinaryOp::Add, (Operand::Var(before), Ty::Long), (delta, Ty::Long), span);
                self.write(&p, new.clone(), span);
                (if *prefix { new } else { Operand::Var(before) }, Ty::Long)
            }
            ExprKind::Regex { negated, operand, pattern, .. } => {
                let (a, _) = self.expr(operand)?;
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::Regex { dst, a, pattern: pattern.clone(), negated: *negated }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::In { keys, array } => {
                let ExprKind::Var(name) = &array.kind else { return Err(not_yet("this `in`", span)) };
                let g = self.global(name, array.span)?;
                let keys = self.slice(g, keys)?;
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::MapHas { dst, map: g, keys }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Stat { op, operand, extra } => {
                // `@variance(s, shift)`: a literal from 0 to 62, as in
                // stap; it scales the statistic's running mean.
                let mut shift = 0;
                if let Some(x) = extra.first() {
                    match x.kind {
                        ExprKind::Number(n) if (0..=62).contains(&n) => shift = n as u32,
                        ExprKind::Number(_) => {
                            return Err(Diagnostic::semantic_error("bit shift out of range [0,62]", x.span));
                        }
                        _ => return Err(Diagnostic::semantic_error("expected literal number as bit shift", x.span)),
                    }
                }
                let (stat, keys) = self.stat_place(operand)?;
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::StatGet { dst, stat, keys, op: *op, shift }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Target(t) => {
                let Some(resolved) = self.program.resolved(t).cloned().map(Box::new) else {
                    return Err(Diagnostic::internal("pass 3: an unresolved target expression").at(span, ""));
                };
                if let crate::elab::target::Base::Parts(parts) = &resolved.base {
                    return Ok(self.context_text(parts, span));
                }
                if let Some(address) = constant_address(t, &resolved) {
                    return Ok((Operand::Long(address), Ty::Long));
                }
                let mut operands = Vec::new();
                if let TargetBase::Cast { operand, .. } | TargetBase::Autocast(operand) = &t.base {
                    operands.push(self.expr(operand)?.0);
                }
                // One operand per operation, so that `Step::Index { op }`
                // finds its index at `op` (after the address of a cast).
                for op in &t.ops {
                    operands.push(match op {
                        TargetOp::Index(i) => self.expr(i)?.0,
                        _ => Operand::Long(0),
                    });
                }
                let t = ty(resolved.ty);
                let dst = self.temp(t);
                self.emit(InstKind::Target { dst, resolved, operands }, span);
                (Operand::Var(dst), t)
            }
            ExprKind::Call { name, args } => self.call(&name.name, args, span)?,
            ExprKind::Print { kind, format, delimiter, args } => {
                let delimiter = match delimiter {
                    Some(d) => Some(self.expr(d)?.0),
                    None => None,
                };
                // `print(@hist_log(s))`, `println(...)`: the histogram drawn.
                if let [arg] = args.as_slice()
                    && let ExprKind::Hist { kind: hk, operand } = &arg.kind
                    && matches!(kind, crate::parse::ast::PrintKind::Print | crate::parse::ast::PrintKind::Println)
                {
                    let (stat, keys) = self.stat_place(operand)?;
                    let hist = self.hist(hk)?;
                    self.emit(InstKind::HistPrint { stat, keys, hist }, span);
                    if *kind == crate::parse::ast::PrintKind::Println {
                        let nl = Operand::Str(b"\n".to_vec());
                        let print = crate::parse::ast::PrintKind::Print;
                        self.emit(
                            InstKind::Print {
                                dst: None,
                                kind: print,
                                format: None,
                                delimiter: None,
                                args: vec![(nl, Ty::Str)],
                            },
                            span,
                        );
                    }
                    return Ok((Operand::Long(0), Ty::Long));
                }
                let mut values = Vec::new();
                for (i, a) in args.iter().enumerate() {
                    if let ExprKind::Hist { .. } = a.kind {
                        return Err(not_yet("histograms in sprint or among other values", a.span));
                    }
                    let v = self.expr(a)?;
                    values.push(self.hold(v, args.get(i + 1..).unwrap_or_default(), a.span));
                }
                let dst = kind.returns_string().then(|| self.temp(Ty::Str));
                let format = format.as_ref().map(|(f, _)| f.clone());
                self.emit(InstKind::Print { dst, kind: *kind, format, delimiter, args: values }, span);
                match dst {
                    Some(d) => (Operand::Var(d), Ty::Str),
                    None => (Operand::Long(0), Ty::Long),
                }
            }
            ExprKind::Defined(_) => return Err(Diagnostic::internal("pass 3: an undecided @defined").at(span, "")),
            ExprKind::Hist { .. } => return Err(not_yet("histograms outside print", span)),
            ExprKind::Entry(inner) => {
                // Typed as its operand; evaluated at entry by the entry function.
                let t = self.expr_type(inner);
                let slot = self.entries.len() as u32;
                self.entries.push((**inner).clone());
                let dst = self.temp(t);
                self.emit(InstKind::EntryLoad { dst, slot }, span);
                (Operand::Var(dst), t)
            }
            ExprKind::Perf(_) => return Err(not_yet("@perf", span)),
            ExprKind::ProbeWrite(_) => {
                return Err(Diagnostic::internal("pass 3: an undecided @probewrite").at(span, ""));
            }
            ExprKind::Register { .. } | ExprKind::Deref { .. } => {
                return Err(not_yet("register and memory access", span));
            }
            ExprKind::Embedded(_) => return Err(not_yet("embedded C", span)),
        })
    }

    /// `$$parms` and friends: `name=0x...` for each part, separated by
    /// spaces, built with sprintf (a part stp cannot read is `name=?`).
    fn context_text(&mut self, parts: &[crate::elab::target::Part], span: Span) -> (Operand, Ty) {
        let mut format = Vec::new();
        let mut args = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                format.push(b' ');
            }
            format.extend(p.name.bytes());
            format.push(b'=');
            match &p.value {
                Some(r) => {
                    let dst = self.temp(Ty::Long);
                    self.emit(InstKind::Target { dst, resolved: r.clone(), operands: Vec::new() }, span);
                    format.extend(b"0x%x");
                    args.push((Operand::Var(dst), Ty::Long));
                }
                None => format.push(b'?'),
            }
        }
        if args.is_empty() {
            return (Operand::Str(format), Ty::Str);
        }
        let dst = self.temp(Ty::Str);
        self.emit(
            InstKind::Print {
                dst: Some(dst),
                kind: crate::parse::ast::PrintKind::Sprintf,
                format: Some(format),
                delimiter: None,
                args,
            },
            span,
        );
        (Operand::Var(dst), Ty::Str)
    }

    fn hist(&mut self, kind: &crate::parse::ast::HistKind) -> Result<Hist, Diagnostic> {
        Ok(match kind {
            crate::parse::ast::HistKind::Log => Hist::Log,
            crate::parse::ast::HistKind::Linear { start, stop, step } => {
                Hist::Linear { lo: self.expr(start)?.0, hi: self.expr(stop)?.0, step: self.expr(step)?.0 }
            }
        })
    }

    /// The type an expression would have, without lowering it: lowered
    /// into a throwaway copy of this function.
    fn expr_type(&self, e: &Expr) -> Ty {
        let mut probe =
            Lower::new(self.program, self.ids, self.file, self.func.placement, String::new(), None, self.func.span);
        probe.func.vars = self.func.vars.clone();
        probe.names = self.names.clone();
        probe.expr(e).map_or(Ty::Long, |(_, t)| t)
    }
}

/// The value of `&@cast(N, "type")->member[K]...` where N and every index
/// are numbers: an address computed from the type alone (`@offsetof`,
/// `@cast_sizeof`), with nothing to read, so that it is a constant in
/// every handler, user-placed ones included.
fn constant_address(t: &crate::parse::ast::Target, resolved: &crate::elab::target::Resolved) -> Option<i64> {
    use crate::elab::target::{Base, Load, Step};
    let TargetBase::Cast { operand, .. } = &t.base else { return None };
    let ExprKind::Number(mut address) = operand.kind else { return None };
    if resolved.base != Base::Cast || resolved.load != Load::Address {
        return None;
    }
    for step in &resolved.steps {
        match step {
            Step::Offset(off) => address = address.wrapping_add(i64::from(*off)),
            Step::Index { op, elem_size } => {
                let TargetOp::Index(i) = t.ops.get(*op)? else { return None };
                let ExprKind::Number(k) = i.kind else { return None };
                address = address.wrapping_add(k.wrapping_mul(i64::from(*elem_size)));
            }
            Step::LoadPointer => return None,
        }
    }
    Some(address)
}
