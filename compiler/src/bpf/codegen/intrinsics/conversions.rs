//! Numbers from and to text, and random numbers: `strtol()` (lowered by
//! [`crate::bpf::codegen::search`]), `isdigit()`, `randint()`.

use super::{Call, Row};
use crate::bpf::abi::HELPER_PRANDOM;
use crate::bpf::codegen::Gen;
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;

pub(super) const ROWS: &[Row] = &[
    Row { names: &["randint"], result: true, args: (1, 1), lower: randint },
    Row { names: &["isdigit"], result: true, args: (1, 1), lower: isdigit },
    Row { names: &["strtol"], result: true, args: (2, 2), lower: strtol },
];

fn randint(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let span = c.span;
    let dst = c.dst()?;
    // [0, n) for n in [1, 2^32): "range too wide" otherwise.
    g.load(Reg::R9, c.arg(0)?, span)?;
    let ok = g.label();
    let bad = g.label();
    g.jump_imm_to(Cond::Sle, Reg::R9, 0, bad);
    g.emit(Insn::mov64_imm(Reg::R1, 1));
    g.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, 32));
    g.jump_reg_to(Cond::Slt, Reg::R9, Reg::R1, ok);
    g.bind(bad);
    g.fail(Ok("range too wide"), span)?;
    g.bind(ok);
    g.emit(Insn::call(HELPER_PRANDOM));
    g.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
    g.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
    g.emit(Insn::alu64_reg(AluOp::Mod, Reg::R0, Reg::R9));
    g.store(dst, Reg::R0, span)
}

fn isdigit(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let dst = c.dst()?;
    g.str_ptr(Reg::R2, c.arg(0)?, 0)?;
    g.emit(Insn::load(Size::B, Reg::R1, Reg::R2, 0));
    g.emit(Insn::alu64_imm(AluOp::Sub, Reg::R1, i32::from(b'0')));
    // Unsigned: below '0' wraps above 9.
    g.emit(Insn::mov64_imm(Reg::R0, 0));
    g.emit(Insn::jump_imm(Cond::Gt, Reg::R1, 9, 1));
    g.emit(Insn::mov64_imm(Reg::R0, 1));
    g.store(dst, Reg::R0, c.span)
}

fn strtol(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.strtol(c.dst()?, c.arg(0)?, c.arg(1)?, c.span)
}
