//! Strings in kernel handlers: comparison, concatenation, lengths,
//! reads of kernel and user memory, and the text `sprintf` builds in the
//! scratch record, all bounded by MAXSTRINGLEN.

use super::*;

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
        self.str_ptr(Reg::R1, a, 0)?;
        self.str_ptr(Reg::R2, b, 1)?;
        let (top, differ, equal, done) = (self.label(), self.label(), self.label(), self.label());
        self.emit(Insn::mov64_imm(Reg::R3, 0));
        self.bind(top);
        self.jump_imm_to(Cond::Ge, Reg::R3, self.s as i32, equal);
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
        let cond = match op {
            CompareOp::Eq => Cond::Eq,
            CompareOp::Ne => Cond::Ne,
            CompareOp::Lt => Cond::Lt,
            CompareOp::Le => Cond::Le,
            CompareOp::Gt => Cond::Gt,
            CompareOp::Ge => Cond::Ge,
        };
        self.emit(Insn::mov64_imm(Reg::R0, 1));
        self.jump_reg_to(cond, Reg::R4, Reg::R5, done);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.bind(done);
        self.store(dst, Reg::R0, span)
    }

    /// `dst = a . b`, truncated to a string's size: built in the second
    /// temporary, then copied.
    pub(super) fn concat(&mut self, dst: VarId, a: &Operand, b: &Operand) -> Result<(), Diagnostic> {
        let build = self.tmp[1];
        // a: its length (with the NUL) is what the copy returns.
        self.str_ptr(Reg::R3, a, 0)?;
        self.scratch_addr(Reg::R1, build);
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        // n = the length without the NUL, within [0, s - 1].
        let (nonneg, inrange) = (self.label(), self.label());
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R0, 1));
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, nonneg);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.bind(nonneg);
        self.jump_imm_to(Cond::Le, Reg::R0, self.s as i32 - 1, inrange);
        self.emit(Insn::mov64_imm(Reg::R0, self.s as i32 - 1));
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
        self.jump_imm_to(Cond::Le, Reg::R0, self.s as i32 - 1, hi);
        self.emit(Insn::mov64_imm(Reg::R0, self.s as i32 - 1));
        self.bind(hi);
        self.scratch_addr(Reg::R1, build);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R0));
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R0));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        let off = self.str_off(dst)?;
        self.scratch_addr(Reg::R1, off);
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.scratch_addr(Reg::R3, build);
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        Ok(())
    }

    /// `len` = the length of a string operand (at most a string's size
    /// less its NUL), counted byte by byte; uses r1 and r4.
    pub(super) fn string_length(&mut self, len: Reg, o: &Operand) -> Result<(), Diagnostic> {
        self.str_ptr(Reg::R1, o, 0)?;
        let (top, done) = (self.label(), self.label());
        self.emit(Insn::mov64_imm(len, 0));
        self.bind(top);
        self.jump_imm_to(Cond::Ge, len, self.s as i32 - 1, done);
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R1, 0));
        self.jump_imm_to(Cond::Eq, Reg::R4, 0, done);
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        self.emit(Insn::alu64_imm(AluOp::Add, len, 1));
        self.jump_to(top);
        self.bind(done);
        Ok(())
    }

    /// `sprintf` and the `sprint` family: the text is built in the second
    /// temporary, its length kept in LEN_SLOT, each piece appended with a
    /// bounded string copy. Conversions without width or flags: `%d %i
    /// %u %x %X %o %s %c %%`.
    pub(super) fn sprint(
        &mut self,
        dst: VarId,
        kind: PrintKind,
        format: Option<&[u8]>,
        delimiter: Option<&Operand>,
        args: &[(Operand, Ty)],
        span: Span,
    ) -> Result<(), Diagnostic> {
        use crate::format::{Conv, Piece};
        // What to append, in order.
        enum Part {
            Text(Vec<u8>),
            Str(Operand),
            /// A number, its conversion, width and zero padding.
            Num(Operand, Conv, u32, bool),
            /// A string, its width, left-justified.
            PaddedStr(Operand, u32, bool),
        }
        let mut parts = Vec::new();
        if let (PrintKind::Sprintf, Some(f)) = (kind, format) {
            let pieces = crate::format::parse(f).map_err(|e| Diagnostic::semantic_error(e, span))?;
            let mut values = args.iter();
            for p in pieces {
                match p {
                    Piece::Text(t) => parts.push(Part::Text(t)),
                    Piece::Conv(spec) => {
                        use crate::format::Count;
                        let f = spec.flags;
                        let simple_flags = !f.left && !f.plus && !f.space && !f.alt;
                        let width = match spec.width {
                            None => Some(0),
                            Some(Count::Fixed(w)) if w <= 22 => Some(w),
                            _ => None,
                        };
                        let Some((v, _)) = values.next() else { break };
                        match (spec.conv, width, spec.precision) {
                            (Conv::Str, Some(0), None) if simple_flags && !f.zero => parts.push(Part::Str(v.clone())),
                            // `%Ns`, `%-Ns`: padded with spaces.
                            (Conv::Str, _, None)
                                if !f.plus && !f.space && !f.alt && !f.zero && spec.width.is_some() =>
                            {
                                let Some(Count::Fixed(w)) = spec.width else {
                                    return Err(not_yet("sprintf with a `*` width in kernel handlers", span));
                                };
                                if w >= self.s {
                                    return Err(not_yet(
                                        "sprintf widths past a string's size in kernel handlers",
                                        span,
                                    ));
                                }
                                parts.push(Part::PaddedStr(v.clone(), w, f.left));
                            }
                            (
                                c @ (Conv::Signed
                                | Conv::Unsigned
                                | Conv::Hex
                                | Conv::HexUpper
                                | Conv::Octal
                                | Conv::Char),
                                Some(w),
                                None,
                            ) if simple_flags && (c != Conv::Char || w == 0) => {
                                parts.push(Part::Num(v.clone(), c, w, f.zero))
                            }
                            // `%p`: 0x and 16 hex digits.
                            (Conv::Pointer, Some(0), None) if simple_flags => {
                                parts.push(Part::Text(b"0x".to_vec()));
                                parts.push(Part::Num(v.clone(), Conv::Hex, 16, true));
                            }
                            _ => {
                                return Err(not_yet(
                                    "sprintf conversions with these flags, widths or precisions in kernel handlers",
                                    span,
                                ));
                            }
                        }
                    }
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
        let build = self.tmp[1];
        self.emit(Insn::store_imm(Size::DW, Reg::FP, LEN_SLOT, 0));
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
                    self.store_literal(Reg::R8, self.tmp[0] as i32, &spaces, None);
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
                    self.emit(Insn::jump_imm(Cond::Le, Reg::R1, width as i32, 1));
                    self.emit(Insn::mov64_imm(Reg::R1, width as i32));
                    self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 1));
                    self.emit(Insn::mov64_imm(Reg::R1, 0));
                    self.scratch_addr(Reg::R3, self.tmp[0]);
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
            }
        }
        let off = self.str_off(dst)?;
        self.scratch_addr(Reg::R1, off);
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.scratch_addr(Reg::R3, build);
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        Ok(())
    }

    /// Appends the string at r3 to the text being built at `build`, whose
    /// length is in LEN_SLOT; truncates at a string's size.
    pub(super) fn append(&mut self, build: u32) {
        let (lo, hi, done) = (self.label(), self.label(), self.label());
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, LEN_SLOT));
        self.jump_imm_to(Cond::Sge, Reg::R1, 0, lo);
        self.emit(Insn::mov64_imm(Reg::R1, 0));
        self.bind(lo);
        self.jump_imm_to(Cond::Sle, Reg::R1, self.s as i32 - 1, hi);
        self.emit(Insn::mov64_imm(Reg::R1, self.s as i32 - 1));
        self.bind(hi);
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R1));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R8));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, build as i32));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        self.jump_imm_to(Cond::Sle, Reg::R0, 1, done);
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R0, 1));
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, LEN_SLOT));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R0));
        self.emit(Insn::store(Size::DW, Reg::FP, LEN_SLOT, Reg::R1));
        self.bind(done);
    }

    /// r3 = the address of r1's text in `conv` (decimal, unsigned, hex,
    /// octal, or the character), written right to left at the end of the
    /// first temporary (24 bytes suffice for 64 bits).
    pub(super) fn digits(&mut self, conv: crate::format::Conv, width: u32, zero: bool) {
        use crate::format::Conv;
        let t = self.tmp[0] as i32;
        let end = t + 24;
        self.emit(Insn::store_imm(Size::B, Reg::R8, end as i16, 0));
        if conv == Conv::Char {
            self.emit(Insn::store(Size::B, Reg::R8, (end - 1) as i16, Reg::R1));
            self.scratch_addr(Reg::R3, (end - 1) as u32);
            return;
        }
        let (base, upper) = match conv {
            Conv::Hex => (16, false),
            Conv::HexUpper => (16, true),
            Conv::Octal => (8, false),
            _ => (10, false),
        };
        // r4: negative (signed decimal only); r1: the magnitude.
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        if conv == Conv::Signed {
            self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 2));
            self.emit(Insn::mov64_imm(Reg::R4, 1));
            self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
        }
        // r3: where the next digit goes; 22 digits at most (octal).
        self.scratch_addr(Reg::R3, end as u32);
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
        self.scratch_addr(Reg::R1, off);
        match limit {
            Some(n) => {
                // n + 1 bytes with the NUL, within [1, string size].
                self.load(Reg::R2, n, span)?;
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
                self.emit(Insn::jump_imm(Cond::Sge, Reg::R2, 1, 1));
                self.emit(Insn::mov64_imm(Reg::R2, 1));
                self.emit(Insn::jump_imm(Cond::Sle, Reg::R2, self.s as i32, 1));
                self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
            }
            None => self.emit(Insn::mov64_imm(Reg::R2, self.s as i32)),
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
                self.fail(Ok(&format!("{what} string copy fault")), span)?;
            }
        }
        self.bind(ok);
        Ok(())
    }
}
