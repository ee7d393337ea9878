//! The probe's context: the arguments of the probed function
//! (`int_arg(n)` and its family), `returnval()`, `is_return()`,
//! `cpuid()` (read by [`crate::bpf::codegen::context`]), and what the
//! program knows of its point: `pp()`, `probe_type()`, `probefunc()`,
//! `probemod()`, and
//! `target()` (`-x PID`); the registers the probe interrupted:
//! `addr()`, `uaddr()`, `user_mode()`, `registers_valid()`.

use super::{Call, Row};
use crate::bpf::abi::{HELPER_CURRENT_TASK_BTF, HELPER_GET_FUNC_IP, HELPER_PROBE_READ_KERNEL, HELPER_TASK_PT_REGS};
use crate::bpf::codegen::facts::Ctx;
use crate::bpf::codegen::{Gen, VALUE_SLOT, not_yet};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::Operand;

pub(super) const ROWS: &[Row] = &[
    Row {
        names: &[
            "int_arg",
            "s32_arg",
            "uint_arg",
            "u32_arg",
            "long_arg",
            "longlong_arg",
            "s64_arg",
            "ulong_arg",
            "ulonglong_arg",
            "pointer_arg",
            "u64_arg",
        ],
        result: true,
        args: (1, 1),
        lower: read_context,
    },
    Row { names: &["returnval", "is_return", "cpuid"], result: true, args: (0, 0), lower: read_context },
    Row { names: &["pp"], result: true, args: (0, 0), lower: pp },
    Row { names: &["probe_type"], result: true, args: (0, 0), lower: probe_type },
    Row { names: &["probefunc", "ppfunc"], result: true, args: (0, 0), lower: probefunc },
    Row { names: &["probemod"], result: true, args: (0, 0), lower: probemod },
    Row { names: &["target"], result: true, args: (0, 0), lower: target },
    Row { names: &["addr"], result: true, args: (0, 0), lower: addr },
    Row { names: &["uaddr"], result: true, args: (0, 0), lower: uaddr },
    Row { names: &["user_mode"], result: true, args: (0, 0), lower: user_mode },
    Row { names: &["registers_valid"], result: true, args: (0, 0), lower: registers_valid },
];

/// `pt_regs.ip` and `pt_regs.cs` (x86_64).
const REGS_IP: i16 = 128;
const REGS_CS: i16 = 136;

/// Whether the program's point is in user space (a uprobe or USDT mark).
fn user_point(g: &Gen<'_>) -> bool {
    g.facts.point.starts_with("process")
}

/// The interrupted instruction: the registers' `ip` (kprobes, uprobes,
/// perf events), the probed function's address in an fentry or fexit
/// program, else 0 (tracepoints have no registers).
fn addr(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    match g.facts.ctx {
        Ctx::Regs | Ctx::PerfRegs => g.ctx_u64(Reg::R1, REGS_IP),
        Ctx::RawArgs if g.facts.typed_ctx && g.facts.point.starts_with("kernel.function") => {
            g.emit(Insn::mov64_reg(Reg::R1, Reg::R6));
            g.emit(Insn::call(HELPER_GET_FUNC_IP));
            g.emit(Insn::mov64_reg(Reg::R1, Reg::R0));
        }
        _ => g.emit(Insn::mov64_imm(Reg::R1, 0)),
    }
    g.store(c.dst()?, Reg::R1, c.span)
}

/// The user-space instruction the current task was at: a uprobe's own
/// registers, else the task's saved user registers (0 for a kernel
/// thread, whose are zero).
fn uaddr(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    if g.facts.ctx == Ctx::Regs && user_point(g) {
        g.ctx_u64(Reg::R1, REGS_IP);
        return g.store(c.dst()?, Reg::R1, c.span);
    }
    g.emit(Insn::call(HELPER_CURRENT_TASK_BTF));
    g.emit(Insn::mov64_reg(Reg::R1, Reg::R0));
    g.emit(Insn::call(HELPER_TASK_PT_REGS));
    g.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
    g.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(REGS_IP)));
    g.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
    g.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
    g.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
    g.emit(Insn::mov64_imm(Reg::R2, 8));
    g.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
    g.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
    g.store(c.dst()?, Reg::R1, c.span)
}

/// 1 where the probe interrupted user code: uprobes always, perf events
/// when the saved code segment is user mode's, kernel probes and
/// tracepoints never.
fn user_mode(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    match g.facts.ctx {
        Ctx::PerfRegs => {
            g.ctx_u64(Reg::R2, REGS_CS);
            g.emit(Insn::alu64_imm(AluOp::And, Reg::R2, 3));
            g.emit(Insn::mov64_imm(Reg::R1, 0));
            g.emit(Insn::jump_imm(Cond::Ne, Reg::R2, 3, 1));
            g.emit(Insn::mov64_imm(Reg::R1, 1));
        }
        _ => g.emit(Insn::mov64_imm(Reg::R1, i32::from(user_point(g)))),
    }
    g.store(c.dst()?, Reg::R1, c.span)
}

/// 1 where the probe has the interrupted registers.
fn registers_valid(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let valid = matches!(g.facts.ctx, Ctx::Regs | Ctx::PerfRegs);
    g.emit(Insn::mov64_imm(Reg::R1, i32::from(valid)));
    g.store(c.dst()?, Reg::R1, c.span)
}

fn read_context(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.context_intrinsic(c.dst, c.name, c.args, c.span)
        .unwrap_or_else(|| Err(not_yet(&format!("{}() in kernel handlers", c.name), c.span)))
}

fn pp(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let p = Operand::Str(g.facts.point.clone().into_bytes());
    g.set_str(c.dst()?, &p)
}

fn probe_type(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let t = crate::ir::probe_type::probe_type(&g.facts.point);
    g.set_str(c.dst()?, &Operand::Str(t.as_bytes().to_vec()))
}

fn probefunc(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let p = Operand::Str(g.facts.func.clone().into_bytes());
    g.set_str(c.dst()?, &p)
}

fn probemod(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let m = Operand::Str(g.facts.module.clone().into_bytes());
    g.set_str(c.dst()?, &m)
}

fn target(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.emit(crate::bpf::insn::Insn::load(Size::DW, Reg::R1, Reg::R7, g.layout.target_offset as i16));
    g.store(c.dst()?, Reg::R1, c.span)
}
