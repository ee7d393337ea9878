//! Updates of globals as one indivisible step (`InstKind::Update`): an
//! atomic instruction (`BPF_ATOMIC` with `BPF_ADD`, `BPF_OR`, `BPF_AND`
//! or `BPF_XOR`, and `BPF_FETCH` when the old value is used) on the
//! global's place in the globals record, or on an array element's value.
//! A missing element is first inserted as 0 (`BPF_NOEXIST`: when another
//! CPU inserts it first, its entry is the one updated); a full array
//! fails with "array overflow" as a plain write does. `-=` adds the
//! negation.

use super::{Gen, Label, VALUE_SLOT, map_name, not_yet, overflow_message};
use crate::bpf::abi::{HELPER_MAP_UPDATE, NOEXIST};
use crate::bpf::insn::{AluOp, AtomicOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::{BinOp, GlobalId, Operand, VarId};
use crate::layout::ValueLayout;
use crate::source::Span;

/// `-EEXIST`: `BPF_NOEXIST` found the key there.
const EEXIST: i32 = -17;

impl Gen<'_> {
    pub(super) fn update(
        &mut self,
        old: Option<VarId>,
        global: GlobalId,
        keys: Option<&[Operand]>,
        op: BinOp,
        value: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let aop = match op {
            BinOp::Add | BinOp::Sub => AtomicOp::Add,
            BinOp::Or => AtomicOp::Or,
            BinOp::And => AtomicOp::And,
            BinOp::Xor => AtomicOp::Xor,
            _ => return Err(Diagnostic::internal("pass 3: an update by this operator").at(span, "")),
        };
        // r0 (arrays) or r7 (the globals record) + off: the value.
        let (base, off, gone) = match keys {
            None => {
                let slot = self.global_slot(global, span)?;
                (Reg::R7, i16::try_from(slot.offset).map_err(|_| not_yet("globals this large", span))?, None)
            }
            Some(keys) => (Reg::R0, 0, Some(self.element(global, keys, span)?)),
        };
        match (op, value) {
            (BinOp::Sub, Operand::Long(v)) => self.mov_imm(Reg::R1, v.wrapping_neg()),
            (BinOp::Sub, _) => {
                self.load(Reg::R1, value, span)?;
                self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
            }
            _ => self.load(Reg::R1, value, span)?,
        }
        self.emit(Insn::atomic(aop, old.is_some(), Size::DW, base, off, Reg::R1));
        if let Some(old) = old {
            self.store(old, Reg::R1, span)?;
        }
        if let Some(gone) = gone {
            // The entry was deleted by another CPU between its insertion
            // and the update: the update came before that delete.
            let done = self.label();
            self.jump_to(done);
            self.bind(gone);
            if let Some(old) = old {
                self.emit(Insn::mov64_imm(Reg::R1, 0));
                self.store(old, Reg::R1, span)?;
            }
            self.bind(done);
        }
        Ok(())
    }

    /// r0 = the entry of `map` under `keys`, inserted as 0 when absent;
    /// the label returned is where the code goes when the entry is gone
    /// again before it is found.
    fn element(&mut self, map: GlobalId, keys: &[Operand], span: Span) -> Result<Label, Diagnostic> {
        let ml = self.map_layout(map, span)?;
        if ml.value != ValueLayout::Long {
            return Err(Diagnostic::internal("pass 3: an update of an array that does not hold longs").at(span, ""));
        }
        self.build_key(&ml, keys, span)?;
        let (have, ok) = (self.label(), self.label());
        self.lookup(map);
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, have);
        self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(VALUE_SLOT)));
        let name = map_name(self.m, map);
        self.map_load(Reg::R1, &name);
        self.scratch_addr(Reg::R2, self.frame.key);
        self.emit(Insn::mov64_imm(Reg::R4, NOEXIST));
        self.emit(Insn::call(HELPER_MAP_UPDATE));
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
        self.jump_imm_to(Cond::Eq, Reg::R0, EEXIST, ok);
        let msg = overflow_message(self.m, map);
        self.fail(Ok(&msg), span)?;
        self.bind(ok);
        self.lookup(map);
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, have);
        let gone = self.label();
        self.jump_to(gone);
        self.bind(have);
        Ok(gone)
    }
}
