//! Reads of kernel and user memory: `kernel_string()` and
//! `user_string()` with their variants (read by
//! [`crate::bpf::codegen::strings`]), `kernel_long()` and the other
//! integer reads, `user_*_error()`; a fault is a runtime error naming the
//! address. Writes of user memory (`set_user_*()`, guru mode) go
//! through `bpf_probe_write_user`, a fault being stap's error; writes of
//! kernel memory (`set_kernel_*()`) are refused: eBPF programs cannot
//! write kernel memory.

use super::{ANY, Call, Row};
use crate::bpf::abi::{HELPER_PROBE_READ_KERNEL, HELPER_PROBE_READ_USER, HELPER_PROBE_WRITE_USER};
use crate::bpf::codegen::{Gen, VALUE_SLOT};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;

pub(super) const ROWS: &[Row] = &[
    Row {
        names: &["kernel_string", "kernel_string2", "user_string", "user_string2", "kernel_string_n", "user_string_n"],
        result: true,
        args: (1, usize::MAX),
        lower: string,
    },
    Row {
        names: &[
            "kernel_long",
            "kernel_int",
            "kernel_short",
            "kernel_char",
            "kernel_pointer",
            "user_long_error",
            "user_ulong_error",
            "user_int_error",
            "user_short_error",
            "user_ushort_error",
            "user_char_error",
            "user_uint8_error",
            "user_uint16_error",
            "user_uint32_error",
            "user_int8_error",
            "user_int16_error",
            "user_int32_error",
            "user_int64_error",
            "user_uint64_error",
        ],
        result: true,
        args: (1, 1),
        lower: integer,
    },
    Row {
        names: &[
            "set_kernel_long",
            "set_kernel_int",
            "set_kernel_short",
            "set_kernel_char",
            "set_kernel_pointer",
            "set_kernel_string",
            "set_kernel_string_n",
        ],
        result: false,
        args: ANY,
        lower: refuse_write,
    },
    Row {
        names: &["set_user_long", "set_user_int", "set_user_short", "set_user_char", "set_user_pointer"],
        result: false,
        args: (2, 2),
        lower: write_user_integer,
    },
    Row { names: &["set_user_string"], result: false, args: (2, 2), lower: write_user_string },
    Row { names: &["set_user_string_n"], result: false, args: (3, 3), lower: write_user_string },
];

fn string(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let rest = c.args.get(1..).unwrap_or_default();
    g.read_string(c.dst()?, c.name, c.arg(0)?, rest, c.span)
}

fn integer(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let (name, span) = (c.name, c.span);
    let (dst, addr) = (c.dst()?, c.arg(0)?);
    let base = name.trim_start_matches("kernel_").trim_start_matches("user_").trim_end_matches("_error");
    let (size, signed) = match base {
        "long" | "ulong" | "pointer" | "int64" | "uint64" => (8, true),
        "int" | "int32" => (4, true),
        "uint32" => (4, false),
        "short" | "int16" => (2, true),
        "ushort" | "uint16" => (2, false),
        "char" | "int8" => (1, true),
        _ => (1, false),
    };
    let user = name.starts_with("user_");
    g.load(Reg::R3, addr, span)?;
    // The address stays in r9 for the fault's message.
    g.emit(Insn::mov64_reg(Reg::R9, Reg::R3));
    g.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
    g.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
    g.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
    g.emit(Insn::mov64_imm(Reg::R2, size));
    g.emit(Insn::call(if user { HELPER_PROBE_READ_USER } else { HELPER_PROBE_READ_KERNEL }));
    let what = if user { "user" } else { "kernel" };
    let kind = match (name, size) {
        ("kernel_pointer", _) => "pointer",
        (_, 8) => "long",
        (_, 4) => "int",
        (_, 2) => "short",
        _ => "char",
    };
    let message = format!("{what} {kind} copy fault at {} [man error::fault]", crate::bpf::codegen::fault::ADDR);
    g.check_fault(&message, Reg::R9, span)?;
    let width = Size::of_bytes(size as u32).unwrap_or(Size::DW);
    g.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
    g.sign_extend(Reg::R1, size as u32, signed);
    g.store(dst, Reg::R1, span)
}

fn refuse_write(_: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    Err(Diagnostic::semantic_error(
        format!("{}() is not available in kernel handlers: eBPF programs cannot write kernel memory", c.name),
        c.span,
    ))
}

/// `set_user_long(addr, val)` and the narrower writes: the value's low
/// bytes, from the stack.
fn write_user_integer(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let (size, kind) = match c.name {
        "set_user_int" => (4, "int"),
        "set_user_short" => (2, "short"),
        "set_user_char" => (1, "char"),
        "set_user_pointer" => (8, "pointer"),
        _ => (8, "long"),
    };
    g.load(Reg::R1, c.arg(1)?, c.span)?;
    g.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R1));
    g.load(Reg::R1, c.arg(0)?, c.span)?;
    g.emit(Insn::mov64_reg(Reg::R9, Reg::R1));
    g.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    g.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(VALUE_SLOT)));
    g.emit(Insn::mov64_imm(Reg::R3, size));
    g.emit(Insn::call(HELPER_PROBE_WRITE_USER));
    let message = format!("user {kind} copy fault at {} [man error::fault]", crate::bpf::codegen::fault::ADDR);
    g.check_fault(&message, Reg::R9, c.span)
}

/// `set_user_string(addr, val)`: the string and its NUL;
/// `set_user_string_n(addr, n, val)`: at most `n` of its bytes, then a
/// NUL.
fn write_user_string(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let span = c.span;
    let message = format!("user string copy fault at {} [man error::fault]", crate::bpf::codegen::fault::ADDR);
    let val = c.arg(c.args.len() - 1)?;
    // r3 = the bytes to write before the NUL, at most the string's.
    g.string_length(Reg::R3, val)?;
    if c.args.len() == 3 {
        g.load(Reg::R2, c.arg(1)?, span)?;
        g.emit(Insn::jump_imm(Cond::Sge, Reg::R2, 0, 1));
        g.emit(Insn::mov64_imm(Reg::R2, 0));
        g.emit(Insn::jump_reg(Cond::Le, Reg::R3, Reg::R2, 1));
        g.emit(Insn::mov64_reg(Reg::R3, Reg::R2));
    }
    // Kept in the value slot across the calls.
    g.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R3));
    g.load(Reg::R9, c.arg(0)?, span)?;
    let nul = g.label();
    g.jump_imm_to(Cond::Sle, Reg::R3, 0, nul);
    g.emit(Insn::jump_imm(Cond::Le, Reg::R3, g.frame.s as i32 - 1, 1));
    g.emit(Insn::mov64_imm(Reg::R3, g.frame.s as i32 - 1));
    g.str_ptr(Reg::R2, val, 0)?;
    g.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
    g.emit(Insn::call(HELPER_PROBE_WRITE_USER));
    g.check_fault(&message, Reg::R9, span)?;
    g.bind(nul);
    // The NUL, after the bytes written.
    g.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
    g.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
    g.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R9));
    g.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
    g.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(VALUE_SLOT)));
    g.emit(Insn::mov64_imm(Reg::R3, 1));
    g.emit(Insn::call(HELPER_PROBE_WRITE_USER));
    g.check_fault(&message, Reg::R9, span)
}
