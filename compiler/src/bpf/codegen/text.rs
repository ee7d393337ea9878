//! Conversions of strings in kernel handlers: `strtol`, and `text_str`,
//! `text_strn` and `string_quoted` (C escapes for what is not printable),
//! with the user side's semantics (`runtime/src/jit/builtins.rs`).
//!
//! Each runs through [`Gen::string_loop`], whose body the verifier checks
//! once: `strtol` a loop over the white space, then (past the sign and
//! prefix) one over the digits, their value kept in the work area (see
//! [`super::search`]); the escapes, whose text grows by one to four bytes
//! per input byte, a turn per input byte.

use super::Gen;
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::{Operand, VarId};
use crate::source::Span;

/// The two-byte escapes, by the byte they stand for.
const ESCAPES: [(u8, u8); 10] = [
    (b'\n', b'n'),
    (b'\t', b't'),
    (b'\r', b'r'),
    (0x07, b'a'),
    (0x08, b'b'),
    (0x0c, b'f'),
    (0x0b, b'v'),
    (b'"', b'"'),
    (b'\'', b'\''),
    (b'\\', b'\\'),
];

impl Gen<'_> {
    /// `strtol(str, base)` as C's: white space, a sign, a `0x` prefix
    /// (base 0 or 16) or a `0` (base 0: octal), then the digits of the
    /// base; saturating at the largest long. A base other than 0 and 2 to
    /// 36 is an error.
    pub(super) fn strtol(&mut self, dst: VarId, str: &Operand, base: &Operand, span: Span) -> Result<(), Diagnostic> {
        let p = self.str_place(str, self.frame.tmp[0])?;
        let s = self.frame.s as i32;
        // Work: the base, the position of the first digit, the sign, the
        // value.
        let (w_base, w_at, w_neg, w_value) = (self.w(0), self.w(1), self.w(2), self.w(3));
        let (bad, good) = (self.label(), self.label());
        self.load(Reg::R1, base, span)?;
        self.jump_imm_to(Cond::Slt, Reg::R1, 0, bad);
        self.jump_imm_to(Cond::Eq, Reg::R1, 1, bad);
        self.jump_imm_to(Cond::Sle, Reg::R1, 36, good);
        self.bind(bad);
        self.fail(Ok("Base must be between 2 and 36 (or 0)"), span)?;
        self.bind(good);
        self.emit(Insn::store(Size::DW, Reg::R8, w_base, Reg::R1));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, w_neg, 0));
        // r2: the first position past the white space (as Rust's
        // `is_ascii_whitespace`).
        self.emit(Insn::store_imm(Size::DW, Reg::R8, w_at, s - 1));
        self.string_loop(self.frame.s, false, span, |g, stop, next| {
            g.byte_at_turn(Reg::R1, p);
            for c in [b' ', b'\t', b'\n', 0x0c, b'\r'] {
                g.jump_imm_to(Cond::Eq, Reg::R1, i32::from(c), next);
            }
            g.emit(Insn::store(Size::DW, Reg::R8, w_at, Reg::R7));
            g.jump_to(stop);
            Ok(())
        })?;
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, w_at));
        self.clamp(Reg::R2, s - 1);
        // The sign.
        let (minus, signed, prefix) = (self.label(), self.label(), self.label());
        self.byte_at(Reg::R4, p, Reg::R2);
        self.jump_imm_to(Cond::Eq, Reg::R4, i32::from(b'-'), minus);
        self.jump_imm_to(Cond::Eq, Reg::R4, i32::from(b'+'), signed);
        self.jump_to(prefix);
        self.bind(minus);
        self.emit(Insn::store_imm(Size::DW, Reg::R8, w_neg, 1));
        self.bind(signed);
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
        // The prefix: r5 = 1 if the rest is `0x` or `0X` and more.
        self.bind(prefix);
        let (no_hex, hex_known) = (self.label(), self.label());
        self.emit(Insn::mov64_imm(Reg::R5, 0));
        self.jump_imm_to(Cond::Gt, Reg::R2, s - 3, hex_known);
        self.byte_at(Reg::R4, p, Reg::R2);
        self.jump_imm_to(Cond::Ne, Reg::R4, i32::from(b'0'), hex_known);
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R3, 1));
        self.emit(Insn::alu64_imm(AluOp::Or, Reg::R4, 0x20));
        self.jump_imm_to(Cond::Ne, Reg::R4, i32::from(b'x'), no_hex);
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R3, 2));
        self.jump_imm_to(Cond::Eq, Reg::R4, 0, no_hex);
        self.emit(Insn::mov64_imm(Reg::R5, 1));
        self.bind(no_hex);
        self.bind(hex_known);
        // r1: the base; base 0 takes it from the prefix.
        let (given, known, skip) = (self.label(), self.label(), self.label());
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, w_base));
        self.jump_imm_to(Cond::Ne, Reg::R1, 0, given);
        self.emit(Insn::mov64_imm(Reg::R1, 16));
        self.jump_imm_to(Cond::Ne, Reg::R5, 0, skip);
        self.emit(Insn::mov64_imm(Reg::R1, 10));
        self.byte_at(Reg::R4, p, Reg::R2);
        self.jump_imm_to(Cond::Ne, Reg::R4, i32::from(b'0'), known);
        self.emit(Insn::mov64_imm(Reg::R1, 8));
        self.jump_to(known);
        self.bind(given);
        self.jump_imm_to(Cond::Ne, Reg::R1, 16, known);
        self.jump_imm_to(Cond::Eq, Reg::R5, 0, known);
        self.bind(skip);
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 2));
        self.bind(known);
        self.emit(Insn::store(Size::DW, Reg::R8, w_base, Reg::R1));
        self.emit(Insn::store(Size::DW, Reg::R8, w_at, Reg::R2));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, w_value, 0));
        // The digits, a turn each from the position found: r1 the base,
        // r4 a digit, r0 the value.
        self.string_loop(self.frame.s, false, span, |g, stop, next| {
            let (letter, have, saturate, keep) = (g.label(), g.label(), g.label(), g.label());
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, w_at));
            g.jump_reg_to(Cond::Lt, Reg::R7, Reg::R1, next);
            g.byte_at_turn(Reg::R4, p);
            g.jump_imm_to(Cond::Lt, Reg::R4, i32::from(b'0'), stop);
            g.jump_imm_to(Cond::Gt, Reg::R4, i32::from(b'9'), letter);
            g.emit(Insn::alu64_imm(AluOp::Sub, Reg::R4, i32::from(b'0')));
            g.jump_to(have);
            g.bind(letter);
            // Letters, either case: 10 and up.
            g.emit(Insn::alu64_imm(AluOp::Or, Reg::R4, 0x20));
            g.jump_imm_to(Cond::Lt, Reg::R4, i32::from(b'a'), stop);
            g.jump_imm_to(Cond::Gt, Reg::R4, i32::from(b'z'), stop);
            g.emit(Insn::alu64_imm(AluOp::Sub, Reg::R4, i32::from(b'a') - 10));
            g.bind(have);
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, w_base));
            g.jump_reg_to(Cond::Ge, Reg::R4, Reg::R1, stop);
            // value = value * base + digit, or the largest long past it.
            g.emit(Insn::load(Size::DW, Reg::R0, Reg::R8, w_value));
            g.emit2(Insn::ld_imm64(Reg::R5, i64::MAX as u64));
            g.emit(Insn::alu64_reg(AluOp::Sub, Reg::R5, Reg::R4));
            g.emit(Insn::alu64_reg(AluOp::Div, Reg::R5, Reg::R1));
            g.jump_reg_to(Cond::Gt, Reg::R0, Reg::R5, saturate);
            g.emit(Insn::alu64_reg(AluOp::Mul, Reg::R0, Reg::R1));
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R4));
            g.jump_to(keep);
            g.bind(saturate);
            g.emit2(Insn::ld_imm64(Reg::R0, i64::MAX as u64));
            g.bind(keep);
            g.emit(Insn::store(Size::DW, Reg::R8, w_value, Reg::R0));
            Ok(())
        })?;
        self.emit(Insn::load(Size::DW, Reg::R0, Reg::R8, w_value));
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, w_neg));
        self.emit(Insn::jump_imm(Cond::Eq, Reg::R1, 0, 1));
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R0, 0));
        self.store(dst, Reg::R0, span)
    }

    /// `reg` = byte `at` (a register below a string's size) of the string
    /// at scratch offset `off`; r3 is left pointing to it.
    fn byte_at(&mut self, reg: Reg, off: u32, at: Reg) {
        self.scratch_addr(Reg::R3, off);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, at));
        self.emit(Insn::load(Size::B, reg, Reg::R3, 0));
    }

    /// `text_strn(str, len, quoted)`: each byte of the first `len` (all
    /// when `len` is not positive) as itself if printable, else as its C
    /// escape, whole escapes only, within a string's size; quoted, in
    /// `"` with `...` after when cut short. `text_str(s)` is
    /// `text_strn(s, 0, 0)` and `string_quoted(s)` `text_strn(s, 0, 1)`.
    pub(super) fn text_strn(
        &mut self,
        dst: VarId,
        str: &Operand,
        len: &Operand,
        quoted: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let input = self.str_place(str, self.frame.tmp[0])?;
        let s = self.frame.s as i32;
        // The user side's limit is MAXSTRINGLEN itself.
        let max = self.layout.limits.max_string_len.min(self.frame.s) as i32;
        // The text goes after a byte left for the opening quote.
        let build = self.frame.tmp[1];
        let body = build + 1;
        // Work: the text's length, whether cut short, how many bytes
        // of the input to take, the room for the text.
        let (out, cut, limit, room) = (self.w(0), self.w(1), self.w(2), self.w(3));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, out, 0));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, cut, 0));
        self.load(Reg::R1, len, span)?;
        self.emit(Insn::jump_imm(Cond::Sgt, Reg::R1, 0, 1));
        self.emit(Insn::mov64_imm(Reg::R1, s));
        self.emit(Insn::store(Size::DW, Reg::R8, limit, Reg::R1));
        let quote = match quoted {
            Operand::Long(q) => Some(*q != 0),
            _ => None,
        };
        let room_of = |q: bool| (max - 1 - if q { 5 } else { 0 }).max(0);
        match quote {
            Some(q) => self.emit(Insn::store_imm(Size::DW, Reg::R8, room, room_of(q))),
            None => {
                self.load(Reg::R1, quoted, span)?;
                self.emit(Insn::mov64_imm(Reg::R2, room_of(false)));
                self.emit(Insn::jump_imm(Cond::Eq, Reg::R1, 0, 1));
                self.emit(Insn::mov64_imm(Reg::R2, room_of(true)));
                self.emit(Insn::store(Size::DW, Reg::R8, room, Reg::R2));
            }
        }
        self.string_loop(self.frame.s, false, span, |g, stop, next| {
            let (cut_here, one, four) = (g.label(), g.label(), g.label());
            g.byte_at_turn(Reg::R5, input);
            g.jump_imm_to(Cond::Eq, Reg::R5, 0, stop);
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, limit));
            g.jump_reg_to(Cond::Ge, Reg::R7, Reg::R1, cut_here);
            // r1: the text's length; r3: where the escape goes; r2: room.
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, out));
            g.clamp(Reg::R1, s - 1);
            g.scratch_addr(Reg::R3, body);
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
            g.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, room));
            // r4: the length after it; the escape fits, or the text ends.
            let fits = |g: &mut Gen<'_>, n: i32| {
                g.emit(Insn::mov64_reg(Reg::R4, Reg::R1));
                g.emit(Insn::alu64_imm(AluOp::Add, Reg::R4, n));
                g.jump_reg_to(Cond::Gt, Reg::R4, Reg::R2, cut_here);
            };
            for (c, e) in ESCAPES {
                let other = g.label();
                g.jump_imm_to(Cond::Ne, Reg::R5, i32::from(c), other);
                fits(g, 2);
                g.emit(Insn::store_imm(Size::H, Reg::R3, 0, i32::from(u16::from_le_bytes([b'\\', e]))));
                g.emit(Insn::store(Size::DW, Reg::R8, out, Reg::R4));
                g.jump_to(next);
                g.bind(other);
            }
            g.jump_imm_to(Cond::Lt, Reg::R5, 0x20, four);
            g.jump_imm_to(Cond::Le, Reg::R5, 0x7e, one);
            g.bind(four);
            // `\ooo`.
            fits(g, 4);
            g.emit(Insn::store_imm(Size::B, Reg::R3, 0, i32::from(b'\\')));
            for (k, shift) in [(1, 6), (2, 3), (3, 0)] {
                g.emit(Insn::mov64_reg(Reg::R0, Reg::R5));
                g.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, shift));
                g.emit(Insn::alu64_imm(AluOp::And, Reg::R0, 7));
                g.emit(Insn::alu64_imm(AluOp::Add, Reg::R0, i32::from(b'0')));
                g.emit(Insn::store(Size::B, Reg::R3, k, Reg::R0));
            }
            g.emit(Insn::store(Size::DW, Reg::R8, out, Reg::R4));
            g.jump_to(next);
            g.bind(one);
            fits(g, 1);
            g.emit(Insn::store(Size::B, Reg::R3, 0, Reg::R5));
            g.emit(Insn::store(Size::DW, Reg::R8, out, Reg::R4));
            g.jump_to(next);
            g.bind(cut_here);
            g.emit(Insn::store_imm(Size::DW, Reg::R8, cut, 1));
            g.jump_to(stop);
            Ok(())
        })?;
        // r3: the end of the text.
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, out));
        self.clamp(Reg::R1, s - 1);
        self.scratch_addr(Reg::R3, body);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
        let (plain, done) = (self.label(), self.label());
        match quote {
            Some(false) => self.jump_to(plain),
            Some(true) => {}
            None => {
                self.load(Reg::R1, quoted, span)?;
                self.jump_imm_to(Cond::Eq, Reg::R1, 0, plain);
            }
        }
        if quote != Some(false) {
            let whole = self.label();
            self.emit(Insn::store_imm(Size::B, Reg::R8, build as i16, i32::from(b'"')));
            self.emit(Insn::store_imm(Size::H, Reg::R3, 0, i32::from(b'"')));
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, cut));
            self.jump_imm_to(Cond::Eq, Reg::R1, 0, whole);
            self.emit(Insn::store_imm(Size::W, Reg::R3, 1, i32::from_le_bytes(*b"...\0")));
            self.bind(whole);
            self.copy_scratch_str(dst, build)?;
            self.jump_to(done);
        }
        self.bind(plain);
        if quote != Some(true) {
            self.emit(Insn::store_imm(Size::B, Reg::R3, 0, 0));
            self.copy_scratch_str(dst, body)?;
        }
        self.bind(done);
        Ok(())
    }
}
