//! `sprintf` and the `sprint` family in kernel handlers, rendering what
//! the user side's formatter ([`crate::format::render`]) renders.
//!
//! The text is built in the second temporary of the scratch record, its
//! length kept in the work area (see [`super::search`]), each piece
//! appended with a bounded string copy, so the text stops at a string's
//! size. Plain conversions (`%d %i %u %x %X %o %p %s` with no flag but
//! `0`, and a small fixed width) take short code of their own. The others
//! (the `-`, `+`, space and `#` flags, precisions, `*` widths and
//! precisions, `%c`, `%b`, `%m`, `%M`) take general code: the
//! conversion's parts (a sign or prefix, digits, bytes) are written
//! first, then the lengths of its padding are worked out at run time in
//! the work area, then each part is appended in its order. Padding is the
//! tail of a run of spaces or zeros in the object's read-only data.
//!
//! `%m` and `%M` read kernel memory (user memory with `#`), as stap's do;
//! the user side, which cannot, prints only their padding.
//!
//! On the user side a string ends at its first NUL: a NUL written by
//! `%c`, `%b` or `%m` ends the text there, and nothing after it shows.
//! Here the text is then sealed: its length set to the last byte, where
//! what follows appends nothing.

use super::{Gen, VALUE_SLOT};
use crate::bpf::abi::{HELPER_PROBE_READ_KERNEL, HELPER_PROBE_READ_KERNEL_STR, HELPER_PROBE_READ_USER};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::format::{Conv, Count, Piece, Spec};
use crate::ir::{Operand, Ty, VarId};
use crate::parse::ast::PrintKind;
use crate::source::Span;

/// The work longs of a general conversion: its width, its precision (-1:
/// none), whether it is left-justified, its sign or prefix (a short
/// string) and that string's length, the length of its body (digits,
/// bytes), the zeros its precision adds, and its padding.
const W_WIDTH: u32 = 0;
const W_PREC: u32 = 1;
const W_LEFT: u32 = 2;
const W_SIGN: u32 = 3;
const W_SIGN_LEN: u32 = 4;
const W_BODY: u32 = 5;
const W_ZEROS: u32 = 6;
const W_FILL: u32 = 7;

/// The work long holding the length of the text built, read back from
/// the scratch record at each piece: the verifier then sees one length
/// (below a string's size) after each piece, rather than a range of its
/// own per way the pieces before went, whose number grows with them.
pub(super) const TEXT_LEN: u32 = 8;

/// Where the digits of a number end in the work area's number area (22
/// octal digits, a sign and padding before).
const DIGITS_END: u32 = 24;

/// The largest width or precision, as the user side caps them.
const MAX_COUNT: i32 = 1 << 20;

/// What `sprint` appends, in order.
enum Part {
    Text(Vec<u8>),
    Str(Operand),
    /// A number, its conversion, width and zero padding.
    Num(Operand, Conv, u32, bool),
    /// A string, its width, left-justified.
    PaddedStr(Operand, u32, bool),
    /// A conversion the plain code does not cover, with the arguments of
    /// its `*` width and precision.
    General {
        spec: Spec,
        width: Option<Operand>,
        precision: Option<Operand>,
        value: Operand,
    },
}

/// The plain code's part for a conversion, if it has one.
fn plain(spec: &Spec, v: &Operand, s: u32) -> Option<Part> {
    let f = spec.flags;
    let simple_flags = !f.left && !f.plus && !f.space && !f.alt;
    let width = match spec.width {
        None => Some(0),
        Some(Count::Fixed(w)) if w <= 22 => Some(w),
        _ => None,
    };
    Some(match (spec.conv, width, spec.precision) {
        (Conv::Str, Some(0), None) if simple_flags && !f.zero => Part::Str(v.clone()),
        // `%Ns`, `%-Ns`: padded with spaces.
        (Conv::Str, _, None) if !f.plus && !f.space && !f.alt && !f.zero => match spec.width {
            Some(Count::Fixed(w)) if w < s => Part::PaddedStr(v.clone(), w, f.left),
            _ => return None,
        },
        (c @ (Conv::Signed | Conv::Unsigned | Conv::Hex | Conv::HexUpper | Conv::Octal), Some(w), None)
            if simple_flags =>
        {
            Part::Num(v.clone(), c, w, f.zero)
        }
        _ => return None,
    })
}

/// Whether a format has `%m` or `%M` (which need the work area's
/// strings).
pub(super) fn reads_memory(format: &[u8]) -> bool {
    crate::format::parse(format).is_ok_and(|pieces| {
        pieces.iter().any(|p| matches!(p, Piece::Conv(s) if matches!(s.conv, Conv::Memory | Conv::MemoryHex)))
    })
}

/// Whether a `%p` is plain: no flags, width or precision.
fn plain_pointer(spec: &Spec) -> bool {
    spec.width.is_none() && spec.precision.is_none() && spec.flags == crate::format::Flags::default()
}

/// A part of a general conversion, as it is appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bit<'a> {
    /// As many of a padding byte as a work long says.
    Fill(u8, u32),
    /// The sign or prefix.
    Sign,
    /// The digits, `W_BODY` of them, ending at `DIGITS_END`.
    Digits,
    /// A string operand, at most `W_BODY` bytes of it.
    Str(&'a Operand),
    /// The byte of `%c`.
    Char(&'a Operand),
    /// `W_BODY` bytes at a scratch offset, which may hold a NUL.
    Bytes(u32),
}

impl Gen<'_> {
    /// `sprintf` and the `sprint` family.
    pub(super) fn sprint(
        &mut self,
        dst: VarId,
        kind: PrintKind,
        format: Option<&[u8]>,
        delimiter: Option<&Operand>,
        args: &[(Operand, Ty)],
        span: Span,
    ) -> Result<(), Diagnostic> {
        let mut parts = Vec::new();
        if let (PrintKind::Sprintf, Some(f)) = (kind, format) {
            let pieces = crate::format::parse(f).map_err(|e| Diagnostic::semantic_error(e, span))?;
            let mut values = args.iter().map(|(v, _)| v.clone());
            for p in pieces {
                let spec = match p {
                    Piece::Text(t) => {
                        parts.push(Part::Text(t));
                        continue;
                    }
                    Piece::Conv(spec) => spec,
                };
                // The arguments: a `*` width's, a `*` precision's, the value.
                let mut star = |c: Option<Count>| if c == Some(Count::Arg) { values.next() } else { None };
                let width = star(spec.width);
                let precision = star(spec.precision);
                let Some(value) = values.next() else { break };
                if spec.conv == Conv::Pointer && plain_pointer(&spec) {
                    // `%p`: 0x and 16 hex digits.
                    parts.push(Part::Text(b"0x".to_vec()));
                    parts.push(Part::Num(value, Conv::Hex, 16, true));
                    continue;
                }
                match plain(&spec, &value, self.frame.s) {
                    Some(part) => parts.push(part),
                    None => parts.push(Part::General { spec, width, precision, value }),
                }
            }
        } else {
            let delimited = matches!(kind, PrintKind::Sprintd | PrintKind::Sprintdln);
            for (i, (v, ty)) in args.iter().enumerate() {
                if i > 0 && delimited {
                    match delimiter {
                        Some(Operand::Str(d)) => parts.push(Part::Text(d.clone())),
                        Some(d) => parts.push(Part::Str(d.clone())),
                        None => {}
                    }
                }
                parts.push(match ty {
                    Ty::Long => Part::Num(v.clone(), Conv::Signed, 0, false),
                    Ty::Str => Part::Str(v.clone()),
                });
            }
            if matches!(kind, PrintKind::Sprintln | PrintKind::Sprintdln) {
                parts.push(Part::Text(b"\n".to_vec()));
            }
        }
        let build = self.frame.tmp[1];
        self.emit(Insn::store_imm(Size::DW, Reg::R8, self.w(TEXT_LEN), 0));
        self.emit(Insn::store_imm(Size::B, Reg::R8, build as i16, 0));
        for part in parts {
            match part {
                Part::Text(t) if t.is_empty() => {}
                Part::Text(t) => {
                    let o = Operand::Str(t);
                    self.str_ptr(Reg::R3, &o, 0)?;
                    self.append(build);
                }
                Part::Str(o) => {
                    self.str_ptr(Reg::R3, &o, 0)?;
                    self.append(build);
                }
                Part::PaddedStr(o, width, left) => {
                    // Its length in VALUE_SLOT, then the spaces it lacks:
                    // the tail of `width` spaces written in the first
                    // temporary.
                    self.string_length(Reg::R3, &o)?;
                    self.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R3));
                    if left {
                        self.str_ptr(Reg::R3, &o, 0)?;
                        self.append(build);
                    }
                    let spaces = vec![b' '; width as usize];
                    self.store_literal(Reg::R8, self.frame.tmp[0] as i32, &spaces, None);
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
                    self.emit(Insn::jump_imm(Cond::Le, Reg::R1, width as i32, 1));
                    self.emit(Insn::mov64_imm(Reg::R1, width as i32));
                    self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 1));
                    self.emit(Insn::mov64_imm(Reg::R1, 0));
                    self.scratch_addr(Reg::R3, self.frame.tmp[0]);
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
                    self.append(build);
                    if !left {
                        self.str_ptr(Reg::R3, &o, 0)?;
                        self.append(build);
                    }
                }
                Part::Num(o, conv, width, zero) => {
                    self.load(Reg::R1, &o, span)?;
                    self.digits(conv, width, zero);
                    self.append(build);
                }
                Part::General { spec, width, precision, value } => {
                    self.general(build, &spec, width.as_ref(), precision.as_ref(), &value, span)?;
                }
            }
        }
        self.copy_scratch_str(dst, build)?;
        Ok(())
    }

    /// Appends the string at r3 to the text being built at `build`;
    /// truncates at a string's size.
    pub(super) fn append(&mut self, build: u32) {
        self.append_at(build, self.w(TEXT_LEN));
    }

    /// r3 = the address of r1's text in `conv` (decimal, unsigned, hex or
    /// octal), written right to left in the number area, padded to
    /// `width` with zeros or spaces.
    pub(super) fn digits(&mut self, conv: Conv, width: u32, zero: bool) {
        // r4: negative (signed decimal only); r1: the magnitude.
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        if conv == Conv::Signed {
            self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 2));
            self.emit(Insn::mov64_imm(Reg::R4, 1));
            self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
        }
        self.digit_loop(conv);
        let width = width.min(22) as i32;
        // Zero padding goes between the sign and the digits.
        if zero && width > 0 {
            let (top, padded) = (self.label(), self.label());
            self.emit(Insn::mov64_imm(Reg::R0, width));
            self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R0, Reg::R4));
            self.bind(top);
            self.jump_reg_to(Cond::Sge, Reg::R5, Reg::R0, padded);
            self.jump_imm_to(Cond::Sge, Reg::R5, 22, padded);
            self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R3, 1));
            self.emit(Insn::store_imm(Size::B, Reg::R3, 0, i32::from(b'0')));
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
            self.jump_to(top);
            self.bind(padded);
        }
        self.emit(Insn::jump_imm(Cond::Eq, Reg::R4, 0, 3));
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R3, 1));
        self.emit(Insn::store_imm(Size::B, Reg::R3, 0, i32::from(b'-')));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
        if !zero && width > 0 {
            let (top, padded) = (self.label(), self.label());
            self.bind(top);
            self.jump_imm_to(Cond::Sge, Reg::R5, width, padded);
            self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R3, 1));
            self.emit(Insn::store_imm(Size::B, Reg::R3, 0, i32::from(b' ')));
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
            self.jump_to(top);
            self.bind(padded);
        }
    }

    /// The digits of the magnitude in r1 in `conv`'s base, written right
    /// to left before `DIGITS_END` of the number area (and its NUL
    /// there): r3 the first, r5 how many (22 at most). Uses r2.
    fn digit_loop(&mut self, conv: Conv) {
        let end = self.number_area() + DIGITS_END;
        self.emit(Insn::store_imm(Size::B, Reg::R8, end as i16, 0));
        let (base, upper) = match conv {
            Conv::Hex | Conv::Pointer => (16, false),
            Conv::HexUpper => (16, true),
            Conv::Octal => (8, false),
            _ => (10, false),
        };
        // r3: where the next digit goes.
        self.scratch_addr(Reg::R3, end);
        let (top, done) = (self.label(), self.label());
        self.emit(Insn::mov64_imm(Reg::R5, 0));
        self.bind(top);
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R3, 1));
        self.emit(Insn::mov64_reg(Reg::R2, Reg::R1));
        self.emit(Insn::alu64_imm(AluOp::Mod, Reg::R2, base));
        // 0-9, then a-f (or A-F).
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(b'0')));
        self.emit(Insn::jump_imm(Cond::Le, Reg::R2, i32::from(b'9'), 1));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, if upper { 7 } else { 39 }));
        self.emit(Insn::store(Size::B, Reg::R3, 0, Reg::R2));
        self.emit(Insn::alu64_imm(AluOp::Div, Reg::R1, base));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
        self.jump_imm_to(Cond::Eq, Reg::R1, 0, done);
        self.jump_imm_to(Cond::Lt, Reg::R5, 22, top);
        self.bind(done);
    }

    /// A conversion through the general code (see the module's doc).
    fn general(
        &mut self,
        build: u32,
        spec: &Spec,
        width: Option<&Operand>,
        precision: Option<&Operand>,
        value: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
        // A `*` width below zero left-justifies: then the order of the
        // parts is known only at run time.
        let left = spec.flags.left;
        let dynamic = width.is_some() && !left;
        self.counts(spec, width, precision, span)?;
        let fill = Bit::Fill(b' ', W_FILL);
        match spec.conv {
            Conv::Str => {
                self.string_length(Reg::R3, value)?;
                self.cap_by_precision(Reg::R3);
                self.emit(Insn::store(Size::DW, Reg::R8, self.w(W_BODY), Reg::R3));
                self.padding(0);
                let body = Bit::Str(value);
                self.arrange(build, left, dynamic, &[body, fill], &[fill, body], span)
            }
            Conv::Char => {
                self.emit(Insn::store_imm(Size::DW, Reg::R8, self.w(W_BODY), 1));
                self.padding(0);
                let body = Bit::Char(value);
                self.arrange(build, left, dynamic, &[body, fill], &[fill, body], span)
            }
            Conv::Binary => self.binary(build, spec, value, span),
            Conv::Memory | Conv::MemoryHex => {
                let at = self.memory(spec, value, span)?;
                self.padding(0);
                let body = Bit::Bytes(at);
                self.arrange(build, left, dynamic, &[body, fill], &[fill, body], span)
            }
            conv => {
                self.number(conv, spec, value, span)?;
                self.padding(W_SIGN_LEN);
                let (sign, zeros, digits) = (Bit::Sign, Bit::Fill(b'0', W_ZEROS), Bit::Digits);
                let right: &[Bit<'_>] = if spec.flags.zero {
                    &[sign, Bit::Fill(b'0', W_FILL), zeros, digits]
                } else {
                    &[fill, sign, zeros, digits]
                };
                self.arrange(build, left, dynamic, &[sign, zeros, digits, fill], right, span)
            }
        }
    }

    /// The width (0 without one), the precision (-1 without one) and,
    /// for a `*` width, whether it left-justifies, to the work area.
    fn counts(
        &mut self,
        spec: &Spec,
        width: Option<&Operand>,
        precision: Option<&Operand>,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let fixed = |c: Option<Count>, none: i32| match c {
            Some(Count::Fixed(n)) => i32::try_from(n).unwrap_or(MAX_COUNT).min(MAX_COUNT),
            _ => none,
        };
        match width {
            Some(o) => {
                let positive = self.label();
                self.emit(Insn::store_imm(Size::DW, Reg::R8, self.w(W_LEFT), i32::from(spec.flags.left)));
                self.load(Reg::R1, o, span)?;
                self.jump_imm_to(Cond::Sge, Reg::R1, 0, positive);
                self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
                self.emit(Insn::store_imm(Size::DW, Reg::R8, self.w(W_LEFT), 1));
                self.bind(positive);
                // i64::MIN stays negative: as large as any, unsigned.
                self.clamp(Reg::R1, MAX_COUNT);
                self.emit(Insn::store(Size::DW, Reg::R8, self.w(W_WIDTH), Reg::R1));
            }
            None => self.emit(Insn::store_imm(Size::DW, Reg::R8, self.w(W_WIDTH), fixed(spec.width, 0))),
        }
        match precision {
            Some(o) => {
                let given = self.label();
                self.load(Reg::R1, o, span)?;
                self.jump_imm_to(Cond::Sge, Reg::R1, 0, given);
                self.emit(Insn::mov64_imm(Reg::R1, -1));
                self.bind(given);
                self.emit(Insn::jump_imm(Cond::Sle, Reg::R1, MAX_COUNT, 1));
                self.emit(Insn::mov64_imm(Reg::R1, MAX_COUNT));
                self.emit(Insn::store(Size::DW, Reg::R8, self.w(W_PREC), Reg::R1));
            }
            None => self.emit(Insn::store_imm(Size::DW, Reg::R8, self.w(W_PREC), fixed(spec.precision, -1))),
        }
        Ok(())
    }

    /// `reg` = min(`reg`, the precision) when there is one; uses r2.
    fn cap_by_precision(&mut self, reg: Reg) {
        let done = self.label();
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, self.w(W_PREC)));
        self.jump_imm_to(Cond::Slt, Reg::R2, 0, done);
        self.jump_reg_to(Cond::Sle, reg, Reg::R2, done);
        self.emit(Insn::mov64_reg(reg, Reg::R2));
        self.bind(done);
    }

    /// The padding: the width less the body, the precision's zeros and
    /// (`extra`, a work long, or 0) the sign, not below zero.
    fn padding(&mut self, extra: u32) {
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(W_WIDTH)));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, self.w(W_BODY)));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R1, Reg::R2));
        if extra > 0 {
            for at in [extra, W_ZEROS] {
                self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, self.w(at)));
                self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R1, Reg::R2));
            }
        }
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 1));
        self.emit(Insn::mov64_imm(Reg::R1, 0));
        self.emit(Insn::store(Size::DW, Reg::R8, self.w(W_FILL), Reg::R1));
    }

    /// A number's parts: its sign or prefix, its digits (none for 0 at
    /// precision 0), the zeros its precision adds.
    fn number(&mut self, conv: Conv, spec: &Spec, value: &Operand, span: Span) -> Result<(), Diagnostic> {
        let f = spec.flags;
        let (sign, sign_len) = (self.w(W_SIGN), self.w(W_SIGN_LEN));
        let text = |t: &[u8]| {
            let mut w = [0u8; 4];
            for (d, c) in w.iter_mut().zip(t) {
                *d = *c;
            }
            i32::from_le_bytes(w)
        };
        self.emit(Insn::store_imm(Size::DW, Reg::R8, sign, 0));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, sign_len, 0));
        self.load(Reg::R1, value, span)?;
        let (positive, signed) = (self.label(), self.label());
        // What goes before the digits when the value is negative, when
        // it is not, and when it is not 0.
        let (negative, plus, nonzero): (&[u8], &[u8], &[u8]) = match conv {
            Conv::Signed if f.plus => (b"-", b"+", b""),
            Conv::Signed if f.space => (b"-", b" ", b""),
            Conv::Signed => (b"-", b"", b""),
            Conv::Octal if f.alt => (b"", b"", b"0"),
            Conv::Hex if f.alt => (b"", b"", b"0x"),
            Conv::HexUpper if f.alt => (b"", b"", b"0X"),
            Conv::Pointer => (b"0x", b"0x", b""),
            _ => (b"", b"", b""),
        };
        let put = |g: &mut Self, t: &[u8]| {
            if !t.is_empty() {
                g.emit(Insn::store_imm(Size::DW, Reg::R8, sign, text(t)));
                g.emit(Insn::store_imm(Size::DW, Reg::R8, sign_len, t.len() as i32));
            }
        };
        if conv == Conv::Signed {
            self.jump_imm_to(Cond::Sge, Reg::R1, 0, positive);
            put(self, negative);
            self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
            self.jump_to(signed);
            self.bind(positive);
            put(self, plus);
        } else {
            put(self, plus);
            if !nonzero.is_empty() {
                self.jump_imm_to(Cond::Eq, Reg::R1, 0, positive);
                put(self, nonzero);
                self.bind(positive);
            }
        }
        self.bind(signed);
        self.digit_loop(conv);
        if conv == Conv::Pointer {
            // At least 16 digits.
            let (top, padded) = (self.label(), self.label());
            self.bind(top);
            self.jump_imm_to(Cond::Sge, Reg::R5, 16, padded);
            self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R3, 1));
            self.emit(Insn::store_imm(Size::B, Reg::R3, 0, i32::from(b'0')));
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
            self.jump_to(top);
            self.bind(padded);
        } else {
            // A precision of 0 writes nothing for 0.
            let keep = self.label();
            self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, self.w(W_PREC)));
            self.jump_imm_to(Cond::Ne, Reg::R2, 0, keep);
            self.load(Reg::R1, value, span)?;
            self.jump_imm_to(Cond::Ne, Reg::R1, 0, keep);
            self.emit(Insn::mov64_imm(Reg::R5, 0));
            self.bind(keep);
        }
        self.emit(Insn::store(Size::DW, Reg::R8, self.w(W_BODY), Reg::R5));
        // The precision's zeros.
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(W_PREC)));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R1, Reg::R5));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 1));
        self.emit(Insn::mov64_imm(Reg::R1, 0));
        self.emit(Insn::store(Size::DW, Reg::R8, self.w(W_ZEROS), Reg::R1));
        Ok(())
    }

    /// `%b`: the value's bytes in the machine's order, as many as the
    /// width (else the precision, else 8) says, rounded up to 1, 2, 4 or
    /// 8; never padded.
    fn binary(&mut self, build: u32, spec: &Spec, value: &Operand, span: Span) -> Result<(), Diagnostic> {
        let bytes = self.number_area();
        self.load(Reg::R1, value, span)?;
        self.emit(Insn::store(Size::DW, Reg::R8, bytes as i16, Reg::R1));
        self.emit(Insn::store_imm(Size::B, Reg::R8, (bytes + 8) as i16, 0));
        // r1: the count the format gives, then the size.
        let fixed = match (spec.width, spec.precision) {
            (Some(Count::Fixed(n)), _) | (None, Some(Count::Fixed(n))) => Some(n),
            (None, None) => Some(8),
            _ => None,
        };
        match fixed {
            Some(n) => self.emit(Insn::mov64_imm(Reg::R1, n.min(8) as i32)),
            None => {
                let from = if spec.width.is_some() { W_WIDTH } else { W_PREC };
                self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(from)));
                // No precision: 8.
                self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 1));
                self.emit(Insn::mov64_imm(Reg::R1, 8));
            }
        }
        let sized = self.label();
        for size in [1, 2, 4] {
            let next = self.label();
            self.jump_imm_to(Cond::Gt, Reg::R1, size, next);
            self.emit(Insn::mov64_imm(Reg::R1, size));
            self.jump_to(sized);
            self.bind(next);
        }
        self.emit(Insn::mov64_imm(Reg::R1, 8));
        self.bind(sized);
        // The bytes past the size are not written: a NUL after them.
        self.emit(Insn::store(Size::DW, Reg::R8, self.w(W_BODY), Reg::R1));
        self.scratch_addr(Reg::R2, bytes);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R1));
        self.emit(Insn::store_imm(Size::B, Reg::R2, 0, 0));
        self.append_bytes(build, bytes);
        Ok(())
    }

    /// `%m` and `%M`: the bytes at an address (kernel memory, or with
    /// `#` user memory), as many as the precision says (1 without one),
    /// as they are or in hex, at the scratch offset returned; their
    /// length in `W_BODY`. A fault is an error.
    fn memory(&mut self, spec: &Spec, value: &Operand, span: Span) -> Result<u32, Diagnostic> {
        let hex = spec.conv == Conv::MemoryHex;
        let (raw, text) = (self.work_str(0), self.work_str(1));
        let s = self.frame.s as i32;
        let most = if hex { (s - 1) / 2 } else { s - 1 };
        // r2: how many bytes (1 without a precision), at most `most`.
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, self.w(W_PREC)));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R2, 0, 1));
        self.emit(Insn::mov64_imm(Reg::R2, 1));
        self.clamp(Reg::R2, most);
        self.emit(Insn::store(Size::DW, Reg::R8, self.w(W_BODY), Reg::R2));
        let (read, done) = (self.label(), self.label());
        self.jump_imm_to(Cond::Ne, Reg::R2, 0, read);
        self.emit(Insn::store_imm(Size::B, Reg::R8, raw as i16, 0));
        self.jump_to(done);
        self.bind(read);
        self.load(Reg::R3, value, span)?;
        self.scratch_addr(Reg::R1, raw);
        let user = spec.flags.alt;
        self.emit(Insn::call(if user { HELPER_PROBE_READ_USER } else { HELPER_PROBE_READ_KERNEL }));
        let ok = self.label();
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
        self.fail(Ok(if user { "user read fault" } else { "kernel read fault" }), span)?;
        self.bind(ok);
        // The NUL after them.
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(W_BODY)));
        self.clamp(Reg::R1, most);
        self.scratch_addr(Reg::R2, raw);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R1));
        self.emit(Insn::store_imm(Size::B, Reg::R2, 0, 0));
        self.bind(done);
        if !hex {
            return Ok(raw);
        }
        // Two hex digits a byte, a turn each.
        let count = self.w(W_BODY);
        self.string_loop(most as u32, false, span, |g, stop, _| {
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, count));
            g.jump_reg_to(Cond::Ge, Reg::R7, Reg::R1, stop);
            g.byte_at_turn(Reg::R1, raw);
            g.scratch_addr(Reg::R3, text);
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R7));
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R7));
            for (k, shift) in [(0, 4), (1, 0)] {
                g.emit(Insn::mov64_reg(Reg::R2, Reg::R1));
                g.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R2, shift));
                g.emit(Insn::alu64_imm(AluOp::And, Reg::R2, 15));
                g.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(b'0')));
                g.emit(Insn::jump_imm(Cond::Le, Reg::R2, i32::from(b'9'), 1));
                g.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 39));
                g.emit(Insn::store(Size::B, Reg::R3, k, Reg::R2));
            }
            Ok(())
        })?;
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(W_BODY)));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R1));
        self.clamp(Reg::R1, s - 1);
        self.emit(Insn::store(Size::DW, Reg::R8, self.w(W_BODY), Reg::R1));
        self.scratch_addr(Reg::R2, text);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R1));
        self.emit(Insn::store_imm(Size::B, Reg::R2, 0, 0));
        Ok(text)
    }

    /// Appends the bits of a conversion in their order: `when_left` if it
    /// is left-justified, else `otherwise`; with `dynamic`, as the work
    /// area says at run time.
    fn arrange(
        &mut self,
        build: u32,
        left: bool,
        dynamic: bool,
        when_left: &[Bit<'_>],
        otherwise: &[Bit<'_>],
        span: Span,
    ) -> Result<(), Diagnostic> {
        if !dynamic {
            return self.bits(build, if left { when_left } else { otherwise }, span);
        }
        let (right, done) = (self.label(), self.label());
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(W_LEFT)));
        self.jump_imm_to(Cond::Eq, Reg::R1, 0, right);
        self.bits(build, when_left, span)?;
        self.jump_to(done);
        self.bind(right);
        self.bits(build, otherwise, span)?;
        self.bind(done);
        Ok(())
    }

    fn bits(&mut self, build: u32, bits: &[Bit<'_>], span: Span) -> Result<(), Diagnostic> {
        let s = self.frame.s as i32;
        for bit in bits {
            match *bit {
                Bit::Fill(c, count) => {
                    // The tail of a run of `c`: r3 = its end less the count.
                    let run = self.fill_run(c);
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(count)));
                    self.clamp(Reg::R1, s - 1);
                    self.emit(Insn::mov64_imm(Reg::R2, s - 1));
                    self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R1));
                    self.rodata_load(Reg::R3, run);
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R2));
                    self.append(build);
                }
                Bit::Sign => {
                    self.scratch_addr(Reg::R3, self.w(W_SIGN) as u32);
                    self.append(build);
                }
                Bit::Digits => {
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(W_BODY)));
                    self.clamp(Reg::R1, DIGITS_END as i32);
                    self.scratch_addr(Reg::R3, self.number_area() + DIGITS_END);
                    self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R3, Reg::R1));
                    self.append(build);
                }
                Bit::Str(o) => {
                    self.str_ptr(Reg::R3, o, 0)?;
                    self.append_limited(build);
                }
                Bit::Char(o) => {
                    let (end, written) = (self.number_area() + DIGITS_END, self.label());
                    self.load(Reg::R1, o, span)?;
                    self.emit(Insn::store(Size::B, Reg::R8, (end - 1) as i16, Reg::R1));
                    self.emit(Insn::store_imm(Size::B, Reg::R8, end as i16, 0));
                    self.scratch_addr(Reg::R3, end - 1);
                    self.append(build);
                    self.load(Reg::R1, o, span)?;
                    self.emit(Insn::alu64_imm(AluOp::And, Reg::R1, 0xff));
                    self.jump_imm_to(Cond::Ne, Reg::R1, 0, written);
                    self.seal(build);
                    self.bind(written);
                }
                Bit::Bytes(at) => self.append_bytes(build, at),
            }
        }
        Ok(())
    }

    /// Appends the string at r3, at most `W_BODY` bytes of it.
    fn append_limited(&mut self, build: u32) {
        let s = self.frame.s as i32;
        let done = self.label();
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(TEXT_LEN)));
        self.clamp(Reg::R1, s - 1);
        self.emit(Insn::mov64_imm(Reg::R2, s));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R1));
        // At most the body and its NUL.
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::R8, self.w(W_BODY)));
        self.clamp(Reg::R4, s - 1);
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R4, 1));
        self.emit(Insn::jump_reg(Cond::Le, Reg::R2, Reg::R4, 1));
        self.emit(Insn::mov64_reg(Reg::R2, Reg::R4));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R8));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, build as i32));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        self.jump_imm_to(Cond::Sle, Reg::R0, 1, done);
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R0, 1));
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(TEXT_LEN)));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R0));
        self.emit(Insn::store(Size::DW, Reg::R8, self.w(TEXT_LEN), Reg::R1));
        self.bind(done);
    }

    /// Appends the `W_BODY` bytes at scratch offset `at` (a NUL after
    /// them); a NUL among them seals the text. (These conversions have
    /// no sign: its work long keeps the length before.)
    fn append_bytes(&mut self, build: u32, at: u32) {
        let whole = self.label();
        let before = self.w(W_SIGN);
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(TEXT_LEN)));
        self.emit(Insn::store(Size::DW, Reg::R8, before, Reg::R1));
        self.scratch_addr(Reg::R3, at);
        self.append(build);
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(TEXT_LEN)));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, before));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R1, Reg::R2));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, self.w(W_BODY)));
        self.jump_reg_to(Cond::Sge, Reg::R1, Reg::R2, whole);
        self.seal(build);
        self.bind(whole);
    }

    /// Ends the text where it is: a NUL there, and the length at the last
    /// byte, where what follows appends nothing.
    fn seal(&mut self, build: u32) {
        let s = self.frame.s as i32;
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, self.w(TEXT_LEN)));
        self.clamp(Reg::R1, s - 1);
        self.scratch_addr(Reg::R2, build);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R1));
        self.emit(Insn::store_imm(Size::B, Reg::R2, 0, 0));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, self.w(TEXT_LEN), s - 1));
    }

    /// The offset in the read-only data of a string's size less one of
    /// `c`, then a NUL (written once per generator).
    fn fill_run(&mut self, c: u8) -> u32 {
        if let Some(&(_, at)) = self.fills.iter().find(|(f, _)| *f == c) {
            return at;
        }
        let at = self.rodata_base + self.rodata.len() as u32;
        self.rodata.extend(std::iter::repeat_n(c, self.frame.s as usize - 1));
        self.rodata.push(0);
        self.rodata.resize(self.rodata.len().div_ceil(8) * 8, 0);
        self.fills.push((c, at));
        at
    }
}
