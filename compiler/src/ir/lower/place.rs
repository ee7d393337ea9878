//! Places and assignments: locals, globals and array elements as places
//! a value is read from and written to, the keys of an element, and `=`,
//! `OP=` and `<<<` on them.
//!
//! In: an lvalue expression (and for an assignment, its value). Out: a
//! [`Place`] and the instructions that read or write it. Keys are evaluated
//! left to right, each held against the keys after it; a value reaches a
//! place coerced to the place's type. `OP=` on a global long goes through
//! [`super::update`] as one indivisible step.

use super::update::Want;
use super::{Lower, Place, not_yet, ty, zero};
use crate::diag::Diagnostic;
use crate::ir::{BinOp, GlobalId, InstKind, Operand, Ty, VarId};
use crate::parse::ast::{AssignOp, BinaryOp, Expr, ExprKind};
use crate::source::Span;

impl Lower<'_> {
    pub(super) fn var_ty(&self, v: VarId) -> Ty {
        self.func.var(v).map_or(Ty::Long, |d| d.ty)
    }

    pub(super) fn global(&self, name: &str, span: Span) -> Result<GlobalId, Diagnostic> {
        self.program.global(name, self.file).map(|g| GlobalId(g as u32)).ok_or_else(|| {
            Diagnostic::internal(format!("pass 3: '{name}' is neither a local nor a global")).at(span, "")
        })
    }

    fn global_ty(&self, g: GlobalId) -> Ty {
        self.program.globals.get(g.0 as usize).map_or(Ty::Long, |g| ty(g.var.ty))
    }

    /// The key types of a global array or statistic.
    fn key_types(&self, g: GlobalId) -> Vec<Ty> {
        self.program.globals.get(g.0 as usize).map(|g| g.var.keys.iter().map(|&k| ty(k)).collect()).unwrap_or_default()
    }

    pub(super) fn keys(&mut self, g: GlobalId, keys: &[Option<Expr>]) -> Result<Vec<Operand>, Diagnostic> {
        let types = self.key_types(g);
        let mut out = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match k {
                Some(k) => {
                    let v = self.expr(k)?;
                    let v = self.hold(v, keys.get(i + 1..).unwrap_or_default().iter().flatten(), k.span);
                    let want = types.get(i).copied().unwrap_or(v.1);
                    out.push(self.coerce(v, want));
                }
                None => return Err(Diagnostic::internal("pass 3: a `*` key where a key is needed")),
            }
        }
        Ok(out)
    }

    /// Keys where `*` may stand for any.
    pub(super) fn slice(&mut self, g: GlobalId, keys: &[Option<Expr>]) -> Result<Vec<Option<Operand>>, Diagnostic> {
        let types = self.key_types(g);
        let mut out = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            out.push(match k {
                Some(k) => {
                    let v = self.expr(k)?;
                    let v = self.hold(v, keys.get(i + 1..).unwrap_or_default().iter().flatten(), k.span);
                    let want = types.get(i).copied().unwrap_or(v.1);
                    Some(self.coerce(v, want))
                }
                None => None,
            });
        }
        Ok(out)
    }

    /// Where an assignment writes.
    pub(super) fn place(&mut self, e: &Expr) -> Result<Place, Diagnostic> {
        match &e.kind {
            ExprKind::Var(name) => match self.names.get(name) {
                Some(&v) => Ok(Place::Local(v, self.var_ty(v))),
                None => {
                    let g = self.global(name, e.span)?;
                    Ok(Place::Global(g, self.global_ty(g)))
                }
            },
            ExprKind::Index { base, keys } => {
                let ExprKind::Var(name) = &base.kind else { return Err(not_yet("this assignment", e.span)) };
                let g = self.global(name, base.span)?;
                let keys = self.keys(g, keys)?;
                Ok(Place::Elem(g, keys, self.global_ty(g)))
            }
            ExprKind::Target(_) => Err(not_yet("writes to target variables", e.span)),
            _ => Err(Diagnostic::internal("pass 3: not an lvalue").at(e.span, "")),
        }
    }

    pub(super) fn read(&mut self, p: &Place, span: Span) -> Operand {
        match p {
            Place::Local(v, _) => Operand::Var(*v),
            Place::Global(g, t) => {
                let dst = self.temp(*t);
                self.emit(InstKind::LoadGlobal { dst, global: *g }, span);
                Operand::Var(dst)
            }
            Place::Elem(g, keys, t) => {
                let dst = self.temp(*t);
                self.emit(InstKind::MapGet { dst, map: *g, keys: keys.clone() }, span);
                Operand::Var(dst)
            }
        }
    }

    pub(super) fn write(&mut self, p: &Place, value: Operand, span: Span) {
        match p {
            Place::Local(v, _) => self.emit(InstKind::Copy { dst: *v, src: value }, span),
            Place::Global(g, _) => self.emit(InstKind::StoreGlobal { global: *g, src: value }, span),
            Place::Elem(g, keys, _) => self.emit(InstKind::MapSet { map: *g, keys: keys.clone(), value }, span),
        }
    }

    pub(super) fn place_ty(p: &Place) -> Ty {
        match p {
            Place::Local(_, t) | Place::Global(_, t) | Place::Elem(_, _, t) => *t,
        }
    }

    /// A value where `want` is needed. Pass 2 has checked the types; the
    /// one value of another type that reaches here is that of a call that
    /// returns nothing (`printf(...)`, `exit()`), which stap lets stand for
    /// any type: it is 0 or "".
    pub(super) fn coerce(&self, value: (Operand, Ty), want: Ty) -> Operand {
        if value.1 == want { value.0 } else { zero(want) }
    }

    pub(super) fn stat_place(&mut self, e: &Expr) -> Result<(GlobalId, Vec<Operand>), Diagnostic> {
        match &e.kind {
            ExprKind::Var(name) => Ok((self.global(name, e.span)?, Vec::new())),
            ExprKind::Index { base, keys } => {
                let ExprKind::Var(name) = &base.kind else { return Err(not_yet("this statistic", e.span)) };
                let g = self.global(name, base.span)?;
                let keys = self.keys(g, keys)?;
                Ok((g, keys))
            }
            _ => Err(not_yet("this statistic", e.span)),
        }
    }

    pub(super) fn assign(
        &mut self,
        op: AssignOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        discard: bool,
    ) -> Result<(Operand, Ty), Diagnostic> {
        if op == AssignOp::Aggregate {
            let value = self.expr(rhs)?;
            let value = self.coerce(value, Ty::Long);
            let (stat, keys) = self.stat_place(lhs)?;
            self.emit(InstKind::StatAdd { stat, keys, value: value.clone() }, span);
            return Ok((value, Ty::Long));
        }
        // A write that fails (a full array) fails at the operator: the
        // text between the two sides.
        let at = if lhs.span.end <= rhs.span.start { Span::new(span.file, lhs.span.end, rhs.span.start) } else { span };
        let want = if discard { Want::Nothing } else { Want::New };
        // `g = g OP e`: `g OP= e`.
        if op == AssignOp::Assign
            && let Some((bop, e)) = self.compound(lhs, rhs)
        {
            let value = self.expr(e)?;
            let value = self.coerce(value, Ty::Long);
            let p = self.place(lhs)?;
            if let Some(target) = Self::updatable(&p) {
                return Ok((self.update(target, bop, value, want, at), Ty::Long));
            }
            return Err(Diagnostic::internal("pass 3: a compound assignment to a string").at(span, ""));
        }
        let value = self.expr(rhs)?;
        let p = self.place(lhs)?;
        let t = Self::place_ty(&p);
        let atomic = match op {
            AssignOp::Op(BinaryOp::Add) => Some(BinOp::Add),
            AssignOp::Op(BinaryOp::Sub) => Some(BinOp::Sub),
            AssignOp::Op(BinaryOp::BitOr) => Some(BinOp::Or),
            AssignOp::Op(BinaryOp::BitAnd) => Some(BinOp::And),
            AssignOp::Op(BinaryOp::BitXor) => Some(BinOp::Xor),
            _ => None,
        };
        if let (Some(bop), Some(target)) = (atomic, Self::updatable(&p)) {
            let value = self.coerce(value, Ty::Long);
            return Ok((self.update(target, bop, value, want, at), Ty::Long));
        }
        let value = match op {
            AssignOp::Op(bop) => {
                let old = self.read(&p, span);
                self.binary(bop, (old, t), value, span).0
            }
            _ => self.coerce(value, t),
        };
        // The assignment's value is what was stored: a temporary keeps it
        // stable when the place is a variable written again later.
        let kept = match (&p, &value) {
            (_, Operand::Var(_)) | (Place::Local(..), _) => {
                let dst = self.temp(t);
                self.emit(InstKind::Copy { dst, src: value }, span);
                Operand::Var(dst)
            }
            _ => value,
        };
        self.write(&p, kept.clone(), at);
        Ok((kept, t))
    }
}
