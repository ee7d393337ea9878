//! String searches in kernel handlers: `isinstr` and `strpos` with any
//! needle, `str_replace` and `tokenize`; and the loop over a string's
//! positions that they and the conversions of [`super::text`] share.
//!
//! A search compares the needle at each position of the haystack: a loop
//! in a loop, whose every path the verifier would follow (MAXSTRINGLEN
//! squared of them). So both loops are `bpf_loop` callbacks, the outer a
//! turn per position, the inner (nested in it) a turn per byte of the
//! needle: the verifier checks each body once, whatever MAXSTRINGLEN is.
//! (An inner loop of plain jumps would have it follow every turn, and
//! keep a state per turn for later, until the program passes its limit
//! of 8192 kept states.) A callback finds the scratch record through a
//! pointer the program leaves in its frame, and uses no stack of its
//! own. What a turn hands to the next (a length, a position) lives in
//! the function's work area of the scratch record: a value read back from
//! a map is unknown to the verifier, so the turns before do not multiply
//! the paths it follows.
//!
//! Work area (only in functions that need one): `WORK_LONGS` longs of
//! state, the number area where `sprintf` writes numbers, then (where
//! literal operands or `%m` need them) two strings.

use super::foreach::CallbackKind;
use super::{Gen, KEY_SLOT, Label, VALUE_SLOT};
use crate::bpf::abi::{HELPER_LOOP, HELPER_PROBE_READ_KERNEL, HELPER_PROBE_READ_KERNEL_STR};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::{Function, InstKind, Operand, VarId};
use crate::parse::ast::{PrintKind, StatOp};
use crate::source::Span;

/// The longs at the start of the work area.
pub(super) const WORK_LONGS: u32 = 9;

/// The bytes of the work area's number area, which follows its longs.
pub(super) const NUMBER_AREA: u32 = 32;

/// The bytes of a work area, with its two strings of `s` bytes or
/// without.
pub(super) fn work_size(s: u32, strings: bool) -> u32 {
    WORK_LONGS * 8 + NUMBER_AREA + if strings { 2 * s } else { 0 }
}

/// The per-CPU record `tokenize` keeps between calls: the position it
/// goes on from (a string's size once the string is used up), then the
/// string.
pub(super) const TOKENS: &str = "tokenize";
const TOKEN_AT: i16 = 0;
pub(super) const TOKEN_TEXT: u32 = 8;

/// Whether a function needs a work area (`None`: no), and whether with
/// its strings.
pub(super) fn work_needed(f: &Function, s: u32) -> Option<bool> {
    let mut need = None;
    let plain = s <= super::strings::PLAIN_STRING_LOOPS;
    for i in f.blocks.iter().flat_map(|b| &b.insts) {
        let strings = match &i.kind {
            // Past plain loops, comparisons keep their verdict there.
            InstKind::Compare { strings: true, .. } if !plain => false,
            InstKind::Intrinsic { name, args, .. } => match (name.as_str(), args.as_slice()) {
                ("isinstr", [_, Operand::Str(n)]) if plain && super::intrinsics::short_needle(n) => continue,
                ("isinstr" | "strpos" | "str_replace" | "tokenize", _) => true,
                ("strtol" | "text_str" | "text_strn" | "string_quoted", _) => false,
                _ => continue,
            },
            InstKind::Print { dst: Some(_), kind, format, .. } => {
                *kind == PrintKind::Sprintf && format.as_deref().is_some_and(super::sprintf::reads_memory)
            }
            InstKind::StatGet { op: StatOp::Variance, .. }
            | InstKind::IterStart { aggregate: Some(StatOp::Variance), .. } => false,
            _ => continue,
        };
        need = Some(need.unwrap_or(false) || strings);
    }
    need
}

/// Whether a function calls `tokenize` (and so needs its record).
pub(super) fn uses_tokenize(f: &Function) -> bool {
    f.blocks
        .iter()
        .flat_map(|b| &b.insts)
        .any(|i| matches!(&i.kind, InstKind::Intrinsic { name, .. } if name == "tokenize"))
}

impl Gen<'_> {
    /// The offset of long `k` of the work area.
    pub(super) fn w(&self, k: u32) -> i16 {
        debug_assert!(self.frame.work > 0 && k < WORK_LONGS, "the function has a work area");
        (self.frame.work + 8 * k) as i16
    }

    /// The offset of the work area's number area, where `sprintf`
    /// writes a number's text.
    pub(super) fn number_area(&self) -> u32 {
        self.frame.work + WORK_LONGS * 8
    }

    /// The offset of string `k` (0 or 1) of the work area.
    pub(super) fn work_str(&self, k: u32) -> u32 {
        debug_assert!(self.frame.work_strings && k < 2, "the function's work area has strings");
        self.frame.work + WORK_LONGS * 8 + NUMBER_AREA + k * self.frame.s
    }

    /// Where a string operand is in the scratch record: a variable's
    /// place, or `place`, where a literal is written.
    pub(super) fn str_place(&mut self, o: &Operand, place: u32) -> Result<u32, Diagnostic> {
        match o {
            Operand::Var(v) => self.str_off(*v),
            Operand::Str(bytes) => {
                let bytes = bytes.clone();
                self.store_literal(Reg::R8, place as i32, &bytes, None);
                Ok(place)
            }
            Operand::Long(_) => Err(Diagnostic::internal("pass 3: a long where a string is needed")),
        }
    }

    /// Copies the string at scratch offset `from` to string `dst`.
    pub(super) fn copy_scratch_str(&mut self, dst: VarId, from: u32) -> Result<(), Diagnostic> {
        let off = self.str_off(dst)?;
        self.scratch_addr(Reg::R1, off);
        self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
        self.scratch_addr(Reg::R3, from);
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        Ok(())
    }

    /// `reg = min(reg, max)`, compared unsigned: afterwards the verifier
    /// knows `reg` is in `[0, max]`.
    pub(super) fn clamp(&mut self, reg: Reg, max: i32) {
        self.emit(Insn::jump_imm(Cond::Le, reg, max, 1));
        self.emit(Insn::mov64_imm(reg, max));
    }

    /// Runs `body` through `bpf_loop`, once per turn `i < turns`. In the
    /// body r7 holds `i`, r8 the scratch record, and r9 (`with_r9`) what
    /// r9 holds here; the body ends the loop by jumping to `stop`, and
    /// goes on to the next turn by jumping to `next` (or falling off its
    /// end). Neither the body nor the code calling it in a loop's body
    /// use the stack: the context is the frame of the program (or of the
    /// loop callback) that started the outermost string loop, holding r8
    /// in KEY_SLOT and r9 in VALUE_SLOT.
    pub(super) fn string_loop(
        &mut self,
        turns: u32,
        with_r9: bool,
        span: Span,
        body: impl FnOnce(&mut Gen<'_>, Label, Label) -> Result<(), Diagnostic>,
    ) -> Result<(), Diagnostic> {
        if self.in_string_loop && with_r9 {
            // The context holds r9 only where the outermost loop put it.
            return Err(Diagnostic::internal("pass 3: a nested string loop wants r9").at(span, ""));
        }
        let cb = self.callback(CallbackKind::Step, span, |g| {
            g.in_string_loop = true;
            let (stop, next, turn) = (g.label(), g.label(), g.label());
            g.emit(Insn::load(Size::DW, Reg::R8, Reg::R6, 8));
            if with_r9 {
                g.emit(Insn::load(Size::DW, Reg::R9, Reg::R6, 0));
            }
            g.jump_imm_to(Cond::Lt, Reg::R7, turns as i32, turn);
            g.bind(stop);
            g.emit(Insn::mov64_imm(Reg::R0, 1));
            g.emit(Insn::exit());
            g.bind(turn);
            body(g, stop, next)?;
            g.bind(next);
            Ok(())
        })?;
        if self.in_string_loop {
            // r6: the context this loop got, which holds the same.
            self.emit(Insn::mov64_reg(Reg::R3, Reg::R6));
        } else {
            self.emit(Insn::store(Size::DW, Reg::FP, KEY_SLOT, Reg::R8));
            if with_r9 {
                self.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R9));
            }
            self.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(VALUE_SLOT)));
        }
        self.emit(Insn::mov64_imm(Reg::R1, turns as i32));
        self.emit2(Insn::ld_func(Reg::R2, cb));
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::call(HELPER_LOOP));
        Ok(())
    }

    /// In a [`Gen::string_loop`] turn: `reg` = byte `i` (r7) of the
    /// string at scratch offset `at`.
    pub(super) fn byte_at_turn(&mut self, reg: Reg, at: u32) {
        self.scratch_addr(reg, at);
        self.emit(Insn::alu64_reg(AluOp::Add, reg, Reg::R7));
        self.emit(Insn::load(Size::B, reg, reg, 0));
    }

    /// In a [`Gen::string_loop`] turn: whether the string at `needle`
    /// occurs in the one at `hay` at position `i` (r7). Goes to `matched`
    /// with its length in r2, or to `missed`. The comparison is a loop of
    /// its own, a turn per byte of the needle (see the module's doc);
    /// it keeps `i`, the verdict and the length in the last three work
    /// longs.
    fn match_at(&mut self, hay: u32, needle: u32, matched: Label, missed: Label, span: Span) -> Result<(), Diagnostic> {
        let (at, verdict, len) = (self.w(WORK_LONGS - 3), self.w(WORK_LONGS - 2), self.w(WORK_LONGS - 1));
        let s = self.frame.s as i32;
        self.emit(Insn::store(Size::DW, Reg::R8, at, Reg::R7));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, verdict, 0));
        self.string_loop(self.frame.s, false, span, |g, stop, next| {
            // r7: the byte of the needle; r4 that byte.
            let end = g.label();
            g.byte_at_turn(Reg::R4, needle);
            g.jump_imm_to(Cond::Eq, Reg::R4, 0, end);
            g.emit(Insn::load(Size::DW, Reg::R5, Reg::R8, at));
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R5, Reg::R7));
            g.jump_imm_to(Cond::Ge, Reg::R5, s, stop);
            g.scratch_addr(Reg::R3, hay);
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R5));
            g.emit(Insn::load(Size::B, Reg::R5, Reg::R3, 0));
            g.jump_reg_to(Cond::Ne, Reg::R5, Reg::R4, stop);
            g.jump_to(next);
            g.bind(end);
            g.emit(Insn::store_imm(Size::DW, Reg::R8, verdict, 1));
            g.emit(Insn::store(Size::DW, Reg::R8, len, Reg::R7));
            g.jump_to(stop);
            Ok(())
        })?;
        // r7 (callee-saved) is still `i`.
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, verdict));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, len));
        self.clamp(Reg::R2, s - 1);
        self.jump_imm_to(Cond::Eq, Reg::R1, 0, missed);
        self.jump_to(matched);
        Ok(())
    }

    /// For byte `c` (a register) and the bit set at scratch offset
    /// `set`: r3 = the address of its byte of the set, r4 = that byte,
    /// r5 = its bit's number in it.
    fn bit_of(&mut self, set: u32, c: Reg) {
        self.emit(Insn::mov64_reg(Reg::R5, c));
        self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R5, 3));
        self.scratch_addr(Reg::R3, set);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R5));
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R3, 0));
        self.emit(Insn::mov64_reg(Reg::R5, c));
        self.emit(Insn::alu64_imm(AluOp::And, Reg::R5, 7));
    }

    /// `isinstr(hay, needle)` (1 or 0), or with `position` `strpos(hay,
    /// needle)` (where the needle first occurs, or -1). An empty needle
    /// occurs at 0.
    pub(super) fn find(
        &mut self,
        dst: VarId,
        hay: &Operand,
        needle: &Operand,
        position: bool,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let h = self.str_place(hay, self.frame.tmp[0])?;
        let n = self.str_place(needle, self.work_str(0))?;
        let found = self.w(0);
        self.emit(Insn::store_imm(Size::DW, Reg::R8, found, -1));
        self.string_loop(self.frame.s, false, span, |g, stop, _| {
            let (matched, missed) = (g.label(), g.label());
            g.match_at(h, n, matched, missed, span)?;
            g.bind(matched);
            g.emit(Insn::store(Size::DW, Reg::R8, found, Reg::R7));
            g.jump_to(stop);
            g.bind(missed);
            // Past the haystack's end, no position is left.
            g.byte_at_turn(Reg::R1, h);
            g.jump_imm_to(Cond::Eq, Reg::R1, 0, stop);
            Ok(())
        })?;
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, found));
        if !position {
            self.emit(Insn::mov64_imm(Reg::R2, 1));
            self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 1));
            self.emit(Insn::mov64_imm(Reg::R2, 0));
            self.emit(Insn::mov64_reg(Reg::R1, Reg::R2));
        }
        self.store(dst, Reg::R1, span)
    }

    /// Appends the string at r3 to the text built at scratch offset
    /// `build`, whose length is work long `len`; truncates at a string's
    /// size. Uses r0-r5.
    pub(super) fn append_at(&mut self, build: u32, len: i16) {
        let s = self.frame.s as i32;
        let done = self.label();
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, len));
        self.clamp(Reg::R1, s - 1);
        self.emit(Insn::mov64_imm(Reg::R2, s));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R1));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R8));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, build as i32));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        self.jump_imm_to(Cond::Sle, Reg::R0, 1, done);
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R0, 1));
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, len));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R0));
        self.emit(Insn::store(Size::DW, Reg::R8, len, Reg::R1));
        self.bind(done);
    }

    /// `str_replace(hay, old, new)`: every `old` in `hay`, from the left
    /// and not overlapping, replaced by `new`; an empty `old` replaces
    /// nothing. Built in the second temporary, truncated at a string's
    /// size.
    pub(super) fn str_replace(
        &mut self,
        dst: VarId,
        hay: &Operand,
        old: &Operand,
        new: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let h = self.str_place(hay, self.frame.tmp[0])?;
        let o = self.str_place(old, self.work_str(0))?;
        let n = self.str_place(new, self.work_str(1))?;
        let build = self.frame.tmp[1];
        let s = self.frame.s as i32;
        // Work: the first position not yet replaced, the text's length.
        let (skip, len) = (self.w(0), self.w(1));
        let (search, done) = (self.label(), self.label());
        self.emit(Insn::load(Size::B, Reg::R1, Reg::R8, o as i16));
        self.jump_imm_to(Cond::Ne, Reg::R1, 0, search);
        self.copy_scratch_str(dst, h)?;
        self.jump_to(done);
        self.bind(search);
        self.emit(Insn::store_imm(Size::DW, Reg::R8, skip, 0));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, len, 0));
        self.string_loop(self.frame.s, false, span, |g, stop, next| {
            let (matched, missed) = (g.label(), g.label());
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, skip));
            g.jump_reg_to(Cond::Lt, Reg::R7, Reg::R1, next);
            g.byte_at_turn(Reg::R1, h);
            g.jump_imm_to(Cond::Eq, Reg::R1, 0, stop);
            g.match_at(h, o, matched, missed, span)?;
            g.bind(matched);
            // r2: the length of `old`; the text goes on after it.
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R7));
            g.emit(Insn::store(Size::DW, Reg::R8, skip, Reg::R2));
            g.scratch_addr(Reg::R3, n);
            g.append_at(build, len);
            g.jump_to(next);
            g.bind(missed);
            // The byte as it is, while there is room.
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, len));
            g.jump_imm_to(Cond::Ge, Reg::R1, s - 1, stop);
            g.byte_at_turn(Reg::R2, h);
            g.scratch_addr(Reg::R3, build);
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
            g.emit(Insn::store(Size::B, Reg::R3, 0, Reg::R2));
            g.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
            g.emit(Insn::store(Size::DW, Reg::R8, len, Reg::R1));
            Ok(())
        })?;
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, len));
        self.clamp(Reg::R1, s - 1);
        self.scratch_addr(Reg::R3, build);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
        self.emit(Insn::store_imm(Size::B, Reg::R3, 0, 0));
        self.copy_scratch_str(dst, build)?;
        self.bind(done);
        Ok(())
    }

    /// `tokenize(input, delim)`: a non-empty `input` replaces this CPU's
    /// kept string; then the next non-empty token of the kept string,
    /// delimited by any byte of `delim`, or "" when none is left.
    pub(super) fn tokenize(
        &mut self,
        dst: VarId,
        input: &Operand,
        delim: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let i = self.str_place(input, self.frame.tmp[0])?;
        let d = self.str_place(delim, self.work_str(0))?;
        let s = self.frame.s as i32;
        // Work: where the token found starts and ends.
        let (start, end) = (self.w(0), self.w(1));
        self.array_value(TOKENS);
        self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
        let kept = self.label();
        self.emit(Insn::load(Size::B, Reg::R1, Reg::R8, i as i16));
        self.jump_imm_to(Cond::Eq, Reg::R1, 0, kept);
        self.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, TOKEN_TEXT as i32));
        self.emit(Insn::mov64_imm(Reg::R2, s));
        self.scratch_addr(Reg::R3, i);
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        self.emit(Insn::store_imm(Size::DW, Reg::R9, TOKEN_AT, 0));
        self.bind(kept);
        self.emit(Insn::store_imm(Size::DW, Reg::R8, start, 0));
        self.emit(Insn::store_imm(Size::DW, Reg::R8, end, 0));
        // The delimiters, as a set of 256 bits in work longs 2 to 5.
        let set = self.frame.work + 16;
        for k in 0..4 {
            self.emit(Insn::store_imm(Size::DW, Reg::R8, (set + 8 * k) as i16, 0));
        }
        self.string_loop(self.frame.s, false, span, |g, stop, _| {
            g.byte_at_turn(Reg::R1, d);
            g.jump_imm_to(Cond::Eq, Reg::R1, 0, stop);
            g.bit_of(set, Reg::R1);
            g.emit(Insn::mov64_imm(Reg::R0, 1));
            g.emit(Insn::alu64_reg(AluOp::Lsh, Reg::R0, Reg::R5));
            g.emit(Insn::alu64_reg(AluOp::Or, Reg::R4, Reg::R0));
            g.emit(Insn::store(Size::B, Reg::R3, 0, Reg::R4));
            Ok(())
        })?;
        self.string_loop(self.frame.s, true, span, |g, stop, next| {
            let (delimiter, at_end, ends) = (g.label(), g.label(), g.label());
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, TOKEN_AT));
            g.jump_reg_to(Cond::Lt, Reg::R7, Reg::R1, next);
            // r1: the byte; is it NUL, or a delimiter?
            g.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R7));
            g.emit(Insn::load(Size::B, Reg::R1, Reg::R3, TOKEN_TEXT as i16));
            g.jump_imm_to(Cond::Eq, Reg::R1, 0, at_end);
            g.bit_of(set, Reg::R1);
            g.emit(Insn::alu64_reg(AluOp::Rsh, Reg::R4, Reg::R5));
            g.emit(Insn::alu64_imm(AluOp::And, Reg::R4, 1));
            g.jump_imm_to(Cond::Eq, Reg::R4, 0, next);
            g.jump_to(delimiter);
            // r0: where the next call goes on from.
            g.bind(at_end);
            g.emit(Insn::mov64_imm(Reg::R0, s));
            g.jump_to(ends);
            g.bind(delimiter);
            g.emit(Insn::mov64_reg(Reg::R0, Reg::R7));
            g.emit(Insn::alu64_imm(AluOp::Add, Reg::R0, 1));
            g.bind(ends);
            // A token ends here: returned if it is not empty, else
            // passed over.
            let empty = g.label();
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, TOKEN_AT));
            g.emit(Insn::store(Size::DW, Reg::R9, TOKEN_AT, Reg::R0));
            g.jump_reg_to(Cond::Ge, Reg::R1, Reg::R7, empty);
            g.emit(Insn::store(Size::DW, Reg::R8, start, Reg::R1));
            g.emit(Insn::store(Size::DW, Reg::R8, end, Reg::R7));
            g.jump_to(stop);
            g.bind(empty);
            g.jump_imm_to(Cond::Ge, Reg::R0, s, stop);
            Ok(())
        })?;
        // The token: [start, end) of the kept string.
        let off = self.str_off(dst)?;
        let (none, done) = (self.label(), self.label());
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, start));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, end));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R1));
        self.jump_imm_to(Cond::Sle, Reg::R2, 0, none);
        self.clamp(Reg::R1, s - 1);
        self.clamp(Reg::R2, s - 1);
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, TOKEN_TEXT as i32));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
        // r9: the length, kept across the call.
        self.emit(Insn::mov64_reg(Reg::R9, Reg::R2));
        self.scratch_addr(Reg::R1, off);
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
        self.scratch_addr(Reg::R1, off);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R9));
        self.emit(Insn::store_imm(Size::B, Reg::R1, 0, 0));
        self.jump_to(done);
        self.bind(none);
        self.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
        self.bind(done);
        Ok(())
    }
}
