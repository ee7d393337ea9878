//! Target variables in kernel handlers: tracepoint record fields, raw
//! tracepoint and `pt_regs` arguments, `$return`, USDT operands, and the
//! pointer walks pass 2 resolved, read with `bpf_probe_read_kernel`.

use super::facts::Ctx;
use super::{Gen, VALUE_SLOT, not_yet};
use crate::bpf::abi::{HELPER_PROBE_READ_KERNEL, HELPER_PROBE_READ_KERNEL_STR, HELPER_PROBE_READ_USER};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::{Operand, VarId};
use crate::source::Span;
use crate::userspace::sdt::SdtLoc;

/// stap's message for a failed read through a pointer (`$p->field`).
const DEREF_FAULT: &str = "read fault [man error::fault] at {addr}";

impl Gen<'_> {
    /// A target variable: the walk pass 2 resolved, from the context.
    /// The address in hand is kept in r9; memory other than the
    /// tracepoint record is read with `bpf_probe_read_kernel`.
    pub(super) fn target(
        &mut self,
        dst: VarId,
        r: &crate::elab::target::Resolved,
        operands: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
        use crate::elab::target::{Base, Load, Step};
        // Index operands follow a cast's address.
        let shift = usize::from(matches!(r.base, Base::Cast));
        let index = |op: usize| operands.get(op + shift);
        // The fast path: a field of the tracepoint record at a constant
        // offset, read directly from the context.
        if let Base::Field(field) = &r.base {
            let mut offset = i64::from(field.offset);
            let mut constant = true;
            for st in &r.steps {
                match st {
                    Step::Offset(n) => offset += i64::from(*n),
                    Step::Index { op, elem_size } => match index(*op) {
                        Some(Operand::Long(i)) => offset += i * i64::from(*elem_size),
                        _ => constant = false,
                    },
                    Step::LoadPointer => constant = false,
                }
            }
            if let (true, Load::Int { size, signed }, Ok(off)) = (constant, &r.load, i16::try_from(offset))
                && let Some(width) = Size::of_bytes(*size)
            {
                self.emit(Insn::load(width, Reg::R1, Reg::R6, off));
                self.sign_extend(Reg::R1, *size, *signed);
                return self.store(dst, Reg::R1, span);
            }
        }
        // In a tracing program, a pointer argument is typed by the verifier:
        // fine for adding offsets and reading through, not for arithmetic
        // or for handing on as a number.
        let before_read = r.steps.iter().take_while(|s| !matches!(s, Step::LoadPointer));
        let as_number = r.steps.iter().all(|s| !matches!(s, Step::LoadPointer))
            && matches!(r.load, Load::Value | Load::Address)
            && r.c_type.ends_with('*');
        let scalar = as_number || before_read.clone().any(|s| matches!(s, Step::Index { .. }));
        // r9 = the base value.
        match &r.base {
            Base::Field(field) => {
                self.emit(Insn::mov64_reg(Reg::R9, Reg::R6));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, field.offset as i32));
                if matches!(r.load, Load::DataLoc) {
                    // (offset, length) of a string elsewhere in the record.
                    self.emit(Insn::load(Size::W, Reg::R1, Reg::R6, field.offset as i16));
                    self.emit(Insn::alu64_imm(AluOp::And, Reg::R1, 0xffff));
                    self.emit(Insn::mov64_reg(Reg::R9, Reg::R6));
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R9, Reg::R1));
                }
            }
            Base::Arg { index, .. } => match self.arg_slot(*index) {
                Some(off) if scalar => self.ctx_u64(Reg::R9, off),
                Some(off) => self.emit(Insn::load(Size::DW, Reg::R9, Reg::R6, off)),
                None => return Err(not_yet("this argument in kernel handlers", span)),
            },
            Base::Return => match self.return_slot() {
                Some(off) if scalar => self.ctx_u64(Reg::R9, off),
                Some(off) => self.emit(Insn::load(Size::DW, Reg::R9, Reg::R6, off)),
                None => return Err(not_yet("$return here", span)),
            },
            Base::Cast => {
                let Some(addr) = operands.first() else {
                    return Err(Diagnostic::internal("pass 3: @cast without its address"));
                };
                self.load(Reg::R9, addr, span)?;
            }
            Base::Context(_) | Base::Parts(_) => {
                return Err(not_yet("$$vars and $$parms in kernel handlers", span));
            }
            Base::SdtArg { index } => return self.sdt_arg(dst, *index, span),
        }
        for st in &r.steps {
            match st {
                Step::Offset(n) => self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, *n as i32)),
                Step::LoadPointer => {
                    self.read_kernel(8);
                    self.check_fault(DEREF_FAULT, Reg::R9, span)?;
                    self.emit(Insn::load(Size::DW, Reg::R9, Reg::FP, VALUE_SLOT));
                }
                Step::Index { op, elem_size } => {
                    let Some(i) = index(*op) else {
                        return Err(Diagnostic::internal("pass 3: an index without its operand"));
                    };
                    self.load(Reg::R1, i, span)?;
                    self.emit(Insn::alu64_imm(AluOp::Mul, Reg::R1, *elem_size as i32));
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R9, Reg::R1));
                }
            }
        }
        match &r.load {
            Load::Value => self.store(dst, Reg::R9, span),
            Load::Address => self.store(dst, Reg::R9, span),
            Load::Int { size, signed } => {
                let Some(width) = Size::of_bytes(*size) else { return Err(not_yet("integers of this size", span)) };
                self.read_kernel(*size);
                self.check_fault(DEREF_FAULT, Reg::R9, span)?;
                self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
                self.sign_extend(Reg::R1, *size, *signed);
                self.store(dst, Reg::R1, span)
            }
            Load::Bitfield { size, bit_offset, bits, signed } => {
                let Some(width) = Size::of_bytes(*size) else { return Err(not_yet("bitfields of this size", span)) };
                self.read_kernel(*size);
                self.check_fault(DEREF_FAULT, Reg::R9, span)?;
                self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
                // Move the field to the top, then back down.
                let up = 64 - (*bit_offset + *bits) as i32;
                self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, up));
                let op = if *signed { AluOp::Arsh } else { AluOp::Rsh };
                self.emit(Insn::alu64_imm(op, Reg::R1, 64 - *bits as i32));
                self.store(dst, Reg::R1, span)
            }
            Load::CharArray { .. } | Load::DataLoc => {
                let limit = match r.load {
                    Load::CharArray { len } => (len + 1).min(self.frame.s),
                    _ => self.frame.s,
                };
                let off = self.str_off(dst)?;
                self.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
                self.scratch_addr(Reg::R1, off);
                self.emit(Insn::mov64_imm(Reg::R2, limit as i32));
                self.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
                self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
                self.check_fault(DEREF_FAULT, Reg::R9, span)
            }
            Load::Pretty { .. } | Load::Aggregate => Err(not_yet("printing whole structures in kernel handlers", span)),
        }
    }

    /// `$argN` of a USDT mark, as this site's note says: a constant, a
    /// register of the probed task's `pt_regs`, or user memory at an
    /// address made of registers and a displacement. The value is cut to
    /// the argument's size and extended by its sign.
    pub(super) fn sdt_arg(&mut self, dst: VarId, index: usize, span: Span) -> Result<(), Diagnostic> {
        let Some(arg) = self.facts.sdt.get(index).cloned().flatten() else {
            return Err(Diagnostic::internal("pass 3: a USDT argument this site does not have").at(span, ""));
        };
        let cut = 64 - 8 * arg.size.min(8) as i32;
        match arg.loc {
            SdtLoc::Const(v) => {
                let v = if cut == 0 {
                    v
                } else if arg.signed {
                    (v << cut) >> cut
                } else {
                    ((v as u64) << cut >> cut) as i64
                };
                self.mov_imm(Reg::R1, v);
            }
            SdtLoc::Reg(r) => {
                self.emit(Insn::load(Size::DW, Reg::R1, Reg::R6, r.offset));
                if r.shift != 0 {
                    self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R1, i32::from(r.shift)));
                }
                if cut != 0 {
                    self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, cut));
                    self.emit(Insn::alu64_imm(if arg.signed { AluOp::Arsh } else { AluOp::Rsh }, Reg::R1, cut));
                }
            }
            SdtLoc::Mem { base, index: scaled, disp } => {
                match base {
                    Some(b) => self.emit(Insn::load(Size::DW, Reg::R9, Reg::R6, b.offset)),
                    None => self.emit(Insn::mov64_imm(Reg::R9, 0)),
                }
                if let Some((i, scale)) = scaled {
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::R6, i.offset));
                    if scale > 1 {
                        self.emit(Insn::alu64_imm(AluOp::Mul, Reg::R1, i32::from(scale)));
                    }
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R9, Reg::R1));
                }
                if disp != 0 {
                    self.mov_imm(Reg::R1, disp);
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R9, Reg::R1));
                }
                let width = Size::of_bytes(arg.size).unwrap_or(Size::DW);
                self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
                self.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
                self.emit(Insn::mov64_imm(Reg::R2, arg.size as i32));
                self.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
                self.emit(Insn::call(HELPER_PROBE_READ_USER));
                let ok = self.label();
                self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
                self.fail(Ok(&format!("user {}-byte copy fault reading $arg{}", arg.size, index + 1)), span)?;
                self.bind(ok);
                self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
                self.sign_extend(Reg::R1, arg.size, arg.signed);
            }
        }
        self.store(dst, Reg::R1, span)
    }

    /// `*(size *)VALUE_SLOT = *(size *)r9`, the slot zeroed first (a
    /// fault leaves 0, and r0 negative).
    /// `reg` = the context's u64 at `off`: an argument or `$return`. In
    /// a tracing program (fentry, fexit, tp_btf, LSM) the verifier types
    /// a pointer argument by its BTF type, and refuses arithmetic on it
    /// (`%x`, `& 0xff`); read through the helper, it is a plain number.
    pub(super) fn ctx_u64(&mut self, reg: Reg, off: i16) {
        if !self.facts.typed_ctx {
            self.emit(Insn::load(Size::DW, reg, Reg::R6, off));
            return;
        }
        self.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
        self.emit(Insn::mov64_imm(Reg::R2, 8));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R6));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(off)));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
        self.emit(Insn::load(Size::DW, reg, Reg::FP, VALUE_SLOT));
    }

    pub(super) fn read_kernel(&mut self, size: u32) {
        self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
        self.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
        self.emit(Insn::mov64_imm(Reg::R2, size as i32));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
    }

    pub(super) fn sign_extend(&mut self, reg: Reg, size: u32, signed: bool) {
        if signed && size < 8 {
            let shift = 64 - 8 * size as i32;
            self.emit(Insn::alu64_imm(AluOp::Lsh, reg, shift));
            self.emit(Insn::alu64_imm(AluOp::Arsh, reg, shift));
        }
    }

    /// Where argument `i` is in the context: a raw tracepoint's u64
    /// array, or (kprobes) the x86-64 calling convention's registers in
    /// `struct pt_regs`.
    pub(super) fn arg_slot(&self, i: usize) -> Option<i16> {
        match self.facts.ctx {
            Ctx::RawArgs => i16::try_from(8 * i).ok(),
            Ctx::Regs => [112, 104, 96, 88, 72, 64].get(i).copied(),
            Ctx::Record if self.facts.syscall_args && i < 6 => i16::try_from(16 + 8 * i).ok(),
            Ctx::Record | Ctx::PerfRegs | Ctx::Other => None,
        }
    }

    pub(super) fn return_slot(&self) -> Option<i16> {
        self.facts.ret_slot.or((self.facts.ctx == Ctx::Regs).then_some(80))
    }
}
