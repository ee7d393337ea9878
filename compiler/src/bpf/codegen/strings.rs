//! Strings in kernel handlers: comparison, concatenation, lengths and
//! reads of kernel and user memory, all bounded by MAXSTRINGLEN (the
//! text `sprintf` builds: see [`super::sprintf`]).

use super::{Gen, LEN_SLOT};
use crate::bpf::abi::{HELPER_PROBE_READ_KERNEL_STR, HELPER_PROBE_READ_USER_STR};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::{Operand, VarId};
use crate::parse::ast::CompareOp;
use crate::source::Span;

/// The largest string size whose byte loops (comparisons, short literal
/// searches) are plain jumps, which the verifier follows byte by byte;
/// past it they are `bpf_loop` callbacks, which it checks once.
pub(super) const PLAIN_STRING_LOOPS: u32 = 256;

/// The jump taken when two bytes (unsigned) compare as `op` says.
fn compare_cond(op: CompareOp) -> Cond {
    match op {
        CompareOp::Eq => Cond::Eq,
        CompareOp::Ne => Cond::Ne,
        CompareOp::Lt => Cond::Lt,
        CompareOp::Le => Cond::Le,
        CompareOp::Gt => Cond::Gt,
        CompareOp::Ge => Cond::Ge,
    }
}

impl Gen<'_> {
    /// Compares two strings byte by byte (bytes as unsigned, as strcmp).
    pub(super) fn compare_strings(
        &mut self,
        dst: VarId,
        op: CompareOp,
        a: &Operand,
        b: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
        // r4, r5: the first bytes that differ, or 0 and 0.
        if self.frame.s > PLAIN_STRING_LOOPS {
            self.first_difference_looped(a, b, span)?;
        } else {
            self.first_difference(a, b)?;
        }
        let done = self.label();
        self.emit(Insn::mov64_imm(Reg::R0, 1));
        self.jump_reg_to(compare_cond(op), Reg::R4, Reg::R5, done);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.bind(done);
        self.store(dst, Reg::R0, span)
    }

    /// r4, r5 = the first bytes where two strings differ (0 and 0 for
    /// equal strings), in a loop of plain jumps.
    fn first_difference(&mut self, a: &Operand, b: &Operand) -> Result<(), Diagnostic> {
        self.str_ptr(Reg::R1, a, 0)?;
        self.str_ptr(Reg::R2, b, 1)?;
        let (top, differ, equal) = (self.label(), self.label(), self.label());
        self.emit(Insn::mov64_imm(Reg::R3, 0));
        self.bind(top);
        self.jump_imm_to(Cond::Ge, Reg::R3, self.frame.s as i32, equal);
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R1, 0));
        self.emit(Insn::load(Size::B, Reg::R5, Reg::R2, 0));
        self.jump_reg_to(Cond::Ne, Reg::R4, Reg::R5, differ);
        self.jump_imm_to(Cond::Eq, Reg::R4, 0, equal);
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, 1));
        self.jump_to(top);
        self.bind(equal);
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::mov64_imm(Reg::R5, 0));
        self.bind(differ);
        Ok(())
    }

    /// `dst = a . b`, truncated to a string's size: built in the second
    /// temporary, then copied.
    pub(super) fn concat(&mut self, dst: VarId, a: &Operand, b: &Operand) -> Result<(), Diagnostic> {
        let build = self.frame.tmp[1];
        // a: its length (with the NUL) is what the copy returns.
        self.str_ptr(Reg::R3, a, 0)?;
        self.scratch_addr(Reg::R1, build);
        self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        // n = the length without the NUL, within [0, s - 1].
        let (nonneg, inrange) = (self.label(), self.label());
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R0, 1));
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, nonneg);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.bind(nonneg);
        self.jump_imm_to(Cond::Le, Reg::R0, self.frame.s as i32 - 1, inrange);
        self.emit(Insn::mov64_imm(Reg::R0, self.frame.s as i32 - 1));
        self.bind(inrange);
        self.emit(Insn::store(Size::DW, Reg::FP, LEN_SLOT, Reg::R0));
        // b, after it: a literal goes to the first temporary first.
        self.str_ptr(Reg::R3, b, 0)?;
        self.emit(Insn::load(Size::DW, Reg::R0, Reg::FP, LEN_SLOT));
        // The verifier needs the bounds again after the reload.
        let (lo, hi) = (self.label(), self.label());
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, lo);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.bind(lo);
        self.jump_imm_to(Cond::Le, Reg::R0, self.frame.s as i32 - 1, hi);
        self.emit(Insn::mov64_imm(Reg::R0, self.frame.s as i32 - 1));
        self.bind(hi);
        self.scratch_addr(Reg::R1, build);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R0));
        self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R0));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        self.copy_scratch_str(dst, build)?;
        Ok(())
    }

    /// `len` = the length of a string operand (at most a string's size
    /// less its NUL), counted byte by byte; uses r1 and r4.
    pub(super) fn string_length(&mut self, len: Reg, o: &Operand) -> Result<(), Diagnostic> {
        if let Operand::Str(bytes) = o {
            let n = bytes.iter().take_while(|&&c| c != 0).count().min(self.frame.s as usize - 1);
            self.emit(Insn::mov64_imm(len, n as i32));
            return Ok(());
        }
        // A copy of the string onto itself (in this CPU's scratch record,
        // which nothing else writes) returns its length with the NUL: one
        // helper call, where a loop would have the verifier follow every
        // byte.
        self.str_ptr(Reg::R1, o, 0)?;
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R1));
        self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R0, 1));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R0, 0, 1));
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.emit(Insn::mov64_reg(len, Reg::R0));
        Ok(())
    }

    /// [`Gen::first_difference`] past [`PLAIN_STRING_LOOPS`]: the bytes
    /// compared in a `bpf_loop` callback, a turn per byte, the first pair
    /// that differs (or two NULs) left in work longs 0 and 1.
    fn first_difference_looped(&mut self, a: &Operand, b: &Operand, span: Span) -> Result<(), Diagnostic> {
        let pa = self.str_place(a, self.frame.tmp[0])?;
        let pb = self.str_place(b, self.frame.tmp[1])?;
        let (ca, cb) = (self.w(0), self.w(1));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, ca, 0));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, cb, 0));
        self.string_loop(self.frame.s, false, span, |g, stop, next| {
            let differ = g.label();
            g.byte_at_turn(Reg::R4, pa);
            g.byte_at_turn(Reg::R5, pb);
            g.jump_reg_to(Cond::Ne, Reg::R4, Reg::R5, differ);
            g.jump_imm_to(Cond::Eq, Reg::R4, 0, stop);
            g.jump_to(next);
            g.bind(differ);
            g.emit(Insn::store(Size::DW, Reg::R8, ca, Reg::R4));
            g.emit(Insn::store(Size::DW, Reg::R8, cb, Reg::R5));
            g.jump_to(stop);
            Ok(())
        })?;
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::R8, ca));
        self.emit(Insn::load(Size::DW, Reg::R5, Reg::R8, cb));
        Ok(())
    }

    /// `kernel_string(addr)` and its kin: a NUL-terminated string read
    /// from kernel or user memory, at most `n` bytes (and a string's
    /// size); a fault is an error, or the fallback string given.
    pub(super) fn read_string(
        &mut self,
        dst: VarId,
        name: &str,
        addr: &Operand,
        rest: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
        let user = name.starts_with("user_");
        let (limit, fallback) = match (name.ends_with("_n"), rest) {
            (true, [n, ..]) => (Some(n), rest.get(1)),
            (_, _) => (None, rest.first()),
        };
        let off = self.str_off(dst)?;
        self.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
        self.load(Reg::R3, addr, span)?;
        // The address stays in r9 for the fault's message.
        self.emit(Insn::mov64_reg(Reg::R9, Reg::R3));
        self.scratch_addr(Reg::R1, off);
        match limit {
            Some(n) => {
                // n + 1 bytes with the NUL, within [1, string size].
                self.load(Reg::R2, n, span)?;
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
                self.emit(Insn::jump_imm(Cond::Sge, Reg::R2, 1, 1));
                self.emit(Insn::mov64_imm(Reg::R2, 1));
                self.emit(Insn::jump_imm(Cond::Sle, Reg::R2, self.frame.s as i32, 1));
                self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
            }
            None => self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32)),
        }
        self.emit(Insn::call(if user { HELPER_PROBE_READ_USER_STR } else { HELPER_PROBE_READ_KERNEL_STR }));
        let ok = self.label();
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
        match fallback {
            Some(f) => {
                let f = f.clone();
                self.set_str(dst, &f)?;
            }
            None => {
                let what = if user { "user" } else { "kernel" };
                let message = format!("{what} string copy fault at {} [man error::fault]", super::fault::ADDR);
                self.fault(&message, Reg::R9, span)?;
            }
        }
        self.bind(ok);
        Ok(())
    }
}
