//! `InstKind::Update` on the user side: a global long by an atomic
//! read-modify-write of its place in the globals record (which kernel
//! handlers update atomically at the same time), an array element by a
//! read and a write through the map helpers.

use cranelift_codegen::ir::{AtomicRmwOp, InstBuilder, Value};
use stp_compiler::diag::Diagnostic;
use stp_compiler::ir::{BinOp, GlobalId, Operand, VarId};
use stp_compiler::source::Span;

use super::{Gen, I64, flags, internal};
use crate::jit::rt;

impl Gen<'_, '_> {
    pub(super) fn update(
        &mut self,
        old: Option<VarId>,
        global: GlobalId,
        keys: Option<&[Operand]>,
        op: BinOp,
        value: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let v = self.long(value)?;
        let before = match keys {
            None => {
                let slot = self.global_slot(global, span)?;
                let rmw = match op {
                    BinOp::Add => AtomicRmwOp::Add,
                    BinOp::Sub => AtomicRmwOp::Sub,
                    BinOp::Or => AtomicRmwOp::Or,
                    BinOp::And => AtomicRmwOp::And,
                    BinOp::Xor => AtomicRmwOp::Xor,
                    _ => return Err(internal("an update by this operator")),
                };
                let at = self.b.ins().iadd_imm_s(self.globals, i64::from(slot.offset));
                self.b.ins().atomic_rmw(I64, flags(), rmw, at, v)
            }
            Some(keys) => {
                let k = self.full_keys(keys)?;
                let m = self.map_id(global);
                let null = self.b.ins().iconst(I64, 0);
                let cur = self.helper_value(rt::map_get as *const (), &[self.ctx, m, k, null]);
                let new = self.apply(op, cur, v)?;
                self.site(span);
                let st = self.helper_value(rt::map_set as *const (), &[self.ctx, m, k, new]);
                self.check(st)?;
                cur
            }
        };
        if let Some(old) = old {
            self.def_long(old, before)?;
        }
        Ok(())
    }

    fn apply(&mut self, op: BinOp, x: Value, y: Value) -> Result<Value, Diagnostic> {
        Ok(match op {
            BinOp::Add => self.b.ins().iadd(x, y),
            BinOp::Sub => self.b.ins().isub(x, y),
            BinOp::Or => self.b.ins().bor(x, y),
            BinOp::And => self.b.ins().band(x, y),
            BinOp::Xor => self.b.ins().bxor(x, y),
            _ => return Err(internal("an update by this operator")),
        })
    }
}
