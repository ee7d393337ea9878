//! Strings: `isinstr()` (a short literal needle compared unrolled, else
//! the search of [`crate::bpf::codegen::search`]), `strpos()`,
//! `str_replace()`, `tokenize()`, `text_str()`, `string_quoted()`,
//! `text_strn()`, `strlen()`, `substr()` and `stringat()`.

use super::{Call, Row};
use crate::bpf::abi::HELPER_PROBE_READ_KERNEL_STR;
use crate::bpf::codegen::Gen;
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::Operand;

pub(super) const ROWS: &[Row] = &[
    Row { names: &["isinstr", "strpos"], result: true, args: (2, 2), lower: find },
    Row { names: &["str_replace"], result: true, args: (3, 3), lower: str_replace },
    Row { names: &["tokenize"], result: true, args: (2, 2), lower: tokenize },
    Row { names: &["text_str", "string_quoted"], result: true, args: (1, 1), lower: text_str },
    Row { names: &["text_strn"], result: true, args: (3, 3), lower: text_strn },
    Row { names: &["strlen"], result: true, args: (1, 1), lower: strlen },
    Row { names: &["substr"], result: true, args: (3, 3), lower: substr },
    Row { names: &["stringat"], result: true, args: (2, 2), lower: stringat },
];

/// `stringat(s, pos)`: the byte at `pos`, an error past the string's
/// ends (as the user side's).
fn stringat(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let (dst, s, pos) = (c.dst()?, c.arg(0)?, c.arg(1)?);
    g.string_length(Reg::R5, s)?;
    g.load(Reg::R3, pos, c.span)?;
    let (bad, read) = (g.label(), g.label());
    g.jump_imm_to(Cond::Slt, Reg::R3, 0, bad);
    g.jump_reg_to(Cond::Sge, Reg::R3, Reg::R5, bad);
    g.jump_imm_to(Cond::Sgt, Reg::R3, g.frame.s as i32 - 1, bad);
    g.jump_to(read);
    g.bind(bad);
    g.fail(Ok("Position out of range"), c.span)?;
    g.bind(read);
    // The string's place, then its byte at pos (below its size).
    g.emit(Insn::store(Size::DW, Reg::FP, crate::bpf::codegen::VALUE_SLOT, Reg::R3));
    g.str_ptr(Reg::R1, s, 0)?;
    g.emit(Insn::load(Size::DW, Reg::R3, Reg::FP, crate::bpf::codegen::VALUE_SLOT));
    g.emit(Insn::jump_imm(Cond::Sle, Reg::R3, g.frame.s as i32 - 1, 1));
    g.emit(Insn::mov64_imm(Reg::R3, 0));
    g.emit(Insn::jump_imm(Cond::Sge, Reg::R3, 0, 1));
    g.emit(Insn::mov64_imm(Reg::R3, 0));
    g.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R3));
    g.emit(Insn::load(Size::B, Reg::R1, Reg::R1, 0));
    g.store(dst, Reg::R1, c.span)
}

/// Whether `isinstr` compares this literal needle unrolled (else it runs
/// the search of [`crate::bpf::codegen::search`]).
pub(in crate::bpf::codegen) fn short_needle(needle: &[u8]) -> bool {
    needle.iter().take_while(|&&c| c != 0).count() <= 48
}

fn find(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let (dst, hay, needle) = (c.dst()?, c.arg(0)?, c.arg(1)?);
    match needle {
        Operand::Str(needle)
            if c.name == "isinstr"
                && short_needle(needle)
                && g.frame.s <= crate::bpf::codegen::strings::PLAIN_STRING_LOOPS =>
        {
            unrolled_isinstr(g, c, needle)
        }
        _ => g.find(dst, hay, needle, c.name == "strpos", c.span),
    }
}

/// A short literal needle: compared byte by byte, unrolled, at each
/// position of the haystack (a loop the verifier can follow).
fn unrolled_isinstr(g: &mut Gen<'_>, c: &Call<'_>, needle: &[u8]) -> Result<(), Diagnostic> {
    let (dst, hay) = (c.dst()?, c.arg(0)?);
    let needle: Vec<u8> = needle.iter().copied().take_while(|&c| c != 0).collect();
    let (top, next, found, done) = (g.label(), g.label(), g.label(), g.label());
    g.emit(Insn::mov64_imm(Reg::R0, 1));
    if !needle.is_empty() {
        g.str_ptr(Reg::R1, hay, 0)?;
        let last = g.frame.s as i32 - needle.len() as i32;
        g.emit(Insn::mov64_imm(Reg::R5, 0));
        g.bind(top);
        g.emit(Insn::mov64_imm(Reg::R0, 0));
        g.jump_imm_to(Cond::Sgt, Reg::R5, last, done);
        g.emit(Insn::load(Size::B, Reg::R4, Reg::R1, 0));
        g.jump_imm_to(Cond::Eq, Reg::R4, 0, done);
        for (j, &c) in needle.iter().enumerate() {
            g.emit(Insn::load(Size::B, Reg::R4, Reg::R1, j as i16));
            g.jump_imm_to(Cond::Ne, Reg::R4, i32::from(c), next);
        }
        g.jump_to(found);
        g.bind(next);
        g.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        g.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
        g.jump_to(top);
        g.bind(found);
        g.emit(Insn::mov64_imm(Reg::R0, 1));
    }
    g.bind(done);
    g.store(dst, Reg::R0, c.span)
}

fn str_replace(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.str_replace(c.dst()?, c.arg(0)?, c.arg(1)?, c.arg(2)?, c.span)
}

fn tokenize(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.tokenize(c.dst()?, c.arg(0)?, c.arg(1)?, c.span)
}

/// `text_str(s)` is `text_strn(s, 0, 0)`, `string_quoted(s)` is
/// `text_strn(s, 0, 1)`.
fn text_str(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let quoted = Operand::Long(i64::from(c.name == "string_quoted"));
    g.text_strn(c.dst()?, c.arg(0)?, &Operand::Long(0), &quoted, c.span)
}

fn text_strn(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.text_strn(c.dst()?, c.arg(0)?, c.arg(1)?, c.arg(2)?, c.span)
}

fn strlen(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.string_length(Reg::R3, c.arg(0)?)?;
    g.store(c.dst()?, Reg::R3, c.span)
}

fn substr(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let span = c.span;
    let (dst, src, start, length) = (c.dst()?, c.arg(0)?, c.arg(1)?, c.arg(2)?);
    // The source's length, in r5.
    g.string_length(Reg::R5, src)?;
    let (empty, done) = (g.label(), g.label());
    // start in [0, len), n = min(length, len - start) > 0.
    g.load(Reg::R3, start, span)?;
    g.jump_imm_to(Cond::Slt, Reg::R3, 0, empty);
    g.jump_reg_to(Cond::Sge, Reg::R3, Reg::R5, empty);
    g.load(Reg::R2, length, span)?;
    g.emit(Insn::alu64_reg(AluOp::Sub, Reg::R5, Reg::R3));
    g.emit(Insn::jump_reg(Cond::Sle, Reg::R2, Reg::R5, 1));
    g.emit(Insn::mov64_reg(Reg::R2, Reg::R5));
    g.jump_imm_to(Cond::Sle, Reg::R2, 0, empty);
    g.jump_imm_to(Cond::Sgt, Reg::R3, g.frame.s as i32 - 1, empty);
    g.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
    g.emit(Insn::jump_imm(Cond::Sle, Reg::R2, g.frame.s as i32, 1));
    g.emit(Insn::mov64_imm(Reg::R2, g.frame.s as i32));
    // r3 = the source + start.
    g.emit(Insn::mov64_reg(Reg::R4, Reg::R3));
    g.str_ptr(Reg::R3, src, 0)?;
    g.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R4));
    let off = g.str_off(dst)?;
    g.scratch_addr(Reg::R1, off);
    g.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
    g.jump_to(done);
    g.bind(empty);
    g.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
    g.bind(done);
    Ok(())
}
