//! Stacks: `print_backtrace()` (the kernel stack's addresses in a record
//! the runtime prints with the kernel's symbols), `print_stack()` and
//! `print_syms()` of a stack string, `backtrace()` (the addresses as
//! hex text; `ubacktrace()` the user stack's), `__ustack_raw(n)` (a user
//! frame, for `ustack()`), and `symname()` and `symdata()` of an address, written by
//! the kernel's own `%ps`/`%pS` formats (`bpf_snprintf`).

use super::{Call, Row};
use crate::bpf::abi::{HELPER_GET_STACK, HELPER_RINGBUF_SUBMIT, HELPER_SNPRINTF};
use crate::bpf::codegen::{Gen, VALUE_SLOT};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::bpf::records::{self, RecordKind};
use crate::diag::Diagnostic;
use crate::ir::Ty;

pub(super) const ROWS: &[Row] = &[
    Row { names: &["print_backtrace"], result: false, args: (0, 0), lower: print_backtrace },
    Row { names: &["print_stack", "print_syms"], result: false, args: (1, 1), lower: print_stack },
    Row { names: &["backtrace", "ubacktrace"], result: true, args: (0, 0), lower: hex_backtrace },
    Row { names: &["__ustack_raw"], result: true, args: (1, 1), lower: ustack_raw },
    Row { names: &["symname", "symdata"], result: true, args: (1, 1), lower: symbol },
];

/// `symname(addr)`: the kernel's `%ps` of the address (the function's
/// name, else the address in hex); `symdata(addr)`: its `%pS`
/// (`vfs_read+0x5/0x3d0`, a module's with ` [ext4]`), with stap's
/// ` [kernel]` after a symbol of the kernel's own.
fn symbol(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let data = c.name == "symdata";
    let off = g.str_off(c.dst()?)?;
    let fmt: &[u8] = if data { b"%pS\0" } else { b"%ps\0" };
    let at = g.rodata_base + g.rodata.len() as u32;
    g.rodata.extend_from_slice(fmt);
    g.load(Reg::R1, c.arg(0)?, c.span)?;
    g.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R1));
    g.scratch_addr(Reg::R1, off);
    g.emit(Insn::mov64_imm(Reg::R2, g.frame.s as i32));
    g.rodata_load(Reg::R3, at);
    g.emit(Insn::mov64_reg(Reg::R4, Reg::FP));
    g.emit(Insn::alu64_imm(AluOp::Add, Reg::R4, i32::from(VALUE_SLOT)));
    g.emit(Insn::mov64_imm(Reg::R5, 8));
    g.emit(Insn::call(HELPER_SNPRINTF));
    let done = g.label();
    // An error leaves an empty string.
    let ok = g.label();
    g.jump_imm_to(Cond::Sgt, Reg::R0, 0, ok);
    g.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
    g.jump_to(done);
    g.bind(ok);
    if data {
        // r0: the text's length with its NUL. No module named at its end
        // (and room for one): the kernel's.
        const KERNEL: &[u8] = b" [kernel]\0";
        g.jump_imm_to(Cond::Slt, Reg::R0, 2, done);
        g.jump_imm_to(Cond::Sgt, Reg::R0, g.frame.s as i32 - KERNEL.len() as i32, done);
        // An address without a symbol prints as `0x...`.
        g.emit(Insn::load(Size::H, Reg::R2, Reg::R8, off as i16));
        g.jump_imm_to(Cond::Eq, Reg::R2, i32::from(u16::from_le_bytes(*b"0x")), done);
        g.scratch_addr(Reg::R1, off);
        g.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R0));
        g.emit(Insn::load(Size::B, Reg::R2, Reg::R1, -2));
        g.jump_imm_to(Cond::Eq, Reg::R2, i32::from(b']'), done);
        for (i, &b) in KERNEL.iter().enumerate() {
            g.emit(Insn::store_imm(Size::B, Reg::R1, i as i16 - 1, i32::from(b)));
        }
    }
    g.bind(done);
    Ok(())
}

fn print_backtrace(g: &mut Gen<'_>, _: &Call<'_>) -> Result<(), Diagnostic> {
    // The stack's addresses in a record, which the runtime prints with
    // the kernel's symbols.
    let frames = g.layout.limits.max_backtrace;
    let tag = g.record(RecordKind::Backtrace { frames });
    let done = g.reserve_record(tag, records::HEADER + 8 * (frames + 1));
    g.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    g.emit(Insn::mov64_reg(Reg::R2, Reg::R9));
    g.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, (records::HEADER + 8) as i32));
    g.emit(Insn::mov64_imm(Reg::R3, (8 * frames) as i32));
    g.emit(Insn::mov64_imm(Reg::R4, 0));
    g.emit(Insn::call(HELPER_GET_STACK));
    g.emit(Insn::store(Size::DW, Reg::R9, records::HEADER as i16, Reg::R0));
    g.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
    g.emit(Insn::mov64_imm(Reg::R2, 0));
    g.emit(Insn::call(HELPER_RINGBUF_SUBMIT));
    g.bind(done);
    Ok(())
}

fn print_stack(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let tag = g.record(RecordKind::PrintStack);
    g.write_record(tag, &[(c.arg(0)?.clone(), Ty::Str)], c.span)
}

/// `bpf_get_stack`'s flag for the user stack.
const USER_STACK: i32 = 1 << 8;

/// `backtrace()`: the kernel stack's addresses in hex, `0x` and 16
/// digits each, separated by spaces, as many whole ones as a string
/// holds (at most MAXBACKTRACE); `ubacktrace()`: the user stack's. The
/// frames go to the second temporary; the text is written at constant
/// places, unrolled.
fn hex_backtrace(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    const WIDTH: u32 = 19;
    let dst = c.dst()?;
    let frames = g.layout.limits.max_backtrace.min((g.frame.s - 1) / WIDTH);
    let off = g.str_off(dst)?;
    g.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
    if frames == 0 {
        return Ok(());
    }
    let buf = g.frame.tmp[1];
    g.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    g.scratch_addr(Reg::R2, buf);
    g.emit(Insn::mov64_imm(Reg::R3, (8 * frames) as i32));
    let user = c.name == "ubacktrace";
    g.emit(Insn::mov64_imm(Reg::R4, if user { USER_STACK } else { 0 }));
    g.emit(Insn::call(HELPER_GET_STACK));
    // r9 = the frames the helper wrote (none on an error).
    g.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
    g.emit(Insn::alu64_imm(AluOp::Arsh, Reg::R9, 3));
    let done = g.label();
    for i in 0..frames {
        let at = off + WIDTH * i;
        let (at16, digits) = (at as i16, (at + 2) as i16);
        g.jump_imm_to(Cond::Sle, Reg::R9, i as i32, done);
        g.emit(Insn::load(Size::DW, Reg::R3, Reg::R8, (buf + 8 * i) as i16));
        if user {
            // A user stack walked without frame pointers ends at a zero.
            g.jump_imm_to(Cond::Eq, Reg::R3, 0, done);
        }
        if i > 0 {
            g.emit(Insn::store_imm(Size::B, Reg::R8, at16 - 1, i32::from(b' ')));
        }
        g.emit(Insn::store_imm(Size::B, Reg::R8, at16, i32::from(b'0')));
        g.emit(Insn::store_imm(Size::B, Reg::R8, at16 + 1, i32::from(b'x')));
        for k in 0..16i16 {
            g.emit(Insn::mov64_reg(Reg::R1, Reg::R3));
            g.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 4 * (15 - i32::from(k))));
            g.emit(Insn::alu64_imm(AluOp::And, Reg::R1, 15));
            g.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(b'0')));
            g.emit(Insn::jump_imm(Cond::Le, Reg::R1, i32::from(b'9'), 1));
            g.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(b'a' - b'9' - 1)));
            g.emit(Insn::store(Size::B, Reg::R8, digits + k, Reg::R1));
        }
        g.emit(Insn::store_imm(Size::B, Reg::R8, digits + 16, 0));
    }
    g.bind(done);
    Ok(())
}

/// `__ustack_raw(n)`: the user stack's frame `n` (0: the interrupted
/// instruction), 0 past its end or past MAXBACKTRACE frames.
fn ustack_raw(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let frames = g.layout.limits.max_backtrace.min((g.frame.s * 2) / 8).max(1);
    let buf = g.frame.tmp[1];
    g.load(Reg::R9, c.arg(0)?, c.span)?;
    g.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
    g.scratch_addr(Reg::R2, buf);
    g.emit(Insn::mov64_imm(Reg::R3, (8 * frames) as i32));
    g.emit(Insn::mov64_imm(Reg::R4, USER_STACK));
    g.emit(Insn::call(HELPER_GET_STACK));
    // r0 = the frames written; n must be below them (and no zero frame,
    // where a walk without frame pointers ends, before it: stap's
    // unwinder reads no such frame).
    g.emit(Insn::alu64_imm(AluOp::Arsh, Reg::R0, 3));
    let counted = g.label();
    for i in 0..frames {
        g.jump_imm_to(Cond::Sle, Reg::R0, i as i32, counted);
        g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, (buf + 8 * i) as i16));
        g.emit(Insn::jump_imm(Cond::Ne, Reg::R1, 0, 1));
        g.emit(Insn::mov64_imm(Reg::R0, i as i32));
    }
    g.bind(counted);
    let (none, done) = (g.label(), g.label());
    g.jump_imm_to(Cond::Slt, Reg::R9, 0, none);
    g.jump_reg_to(Cond::Sge, Reg::R9, Reg::R0, none);
    g.jump_imm_to(Cond::Sge, Reg::R9, frames as i32, none);
    g.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R9, 3));
    g.scratch_addr(Reg::R1, buf);
    g.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R9));
    g.emit(Insn::load(Size::DW, Reg::R1, Reg::R1, 0));
    g.jump_to(done);
    g.bind(none);
    g.emit(Insn::mov64_imm(Reg::R1, 0));
    g.bind(done);
    g.store(c.dst()?, Reg::R1, c.span)
}
