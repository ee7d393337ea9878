//! The current task and others': `execname()`, `pid()`, `tid()`,
//! `uid()`, `gid()`, `cpu()` (from helpers), `is_myproc()` (the user the
//! kernel model says stp runs as), and the task fields read through the
//! kernel's BTF (`ppid()`, `task_execname(t)`, ..., read by
//! [`crate::bpf::codegen::task`]).

use super::{Call, Row};
use crate::bpf::abi::{HELPER_COMM, HELPER_CPU, HELPER_PID_TGID, HELPER_UID_GID};
use crate::bpf::codegen::{Gen, not_yet};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;

pub(super) const ROWS: &[Row] = &[
    Row {
        names: &["task_current", "ppid", "pexecname", "pgrp", "sid", "euid", "egid"],
        result: true,
        args: (0, 0),
        lower: read_task,
    },
    Row {
        names: &[
            "task_euid",
            "task_egid",
            "task_uid",
            "task_gid",
            "task_parent",
            "task_execname",
            "task_pid",
            "task_tid",
            "task_prio",
            "task_nice",
            "task_state",
            "task_cpu",
        ],
        result: true,
        args: (1, 1),
        lower: read_task,
    },
    Row { names: &["execname"], result: true, args: (0, 0), lower: execname },
    Row { names: &["is_myproc"], result: true, args: (0, 0), lower: is_myproc },
    Row { names: &["pid", "tid", "uid", "gid", "cpu"], result: true, args: (0, 0), lower: from_helper },
];

fn read_task(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.task_intrinsic(c.dst, c.name, c.args, c.span)
        .unwrap_or_else(|| Err(not_yet(&format!("{}() in kernel handlers", c.name), c.span)))
}

fn execname(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let off = g.str_off(c.dst()?)?;
    // Zeroed first: older kernels (6.1 among them) copy the name with
    // `strscpy`, which leaves what follows its NUL as it was, and a name
    // used as a map key is copied as its whole 16 bytes
    // (`frame::comm_strings`).
    if let Ok(at) = i16::try_from(off) {
        for word in [0, 8] {
            g.emit(Insn::store_imm(Size::DW, Reg::R8, at + word, 0));
        }
    }
    g.scratch_addr(Reg::R1, off);
    g.emit(Insn::mov64_imm(Reg::R2, 16));
    g.emit(Insn::call(HELPER_COMM));
    Ok(())
}

fn is_myproc(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    // The current task's user is the one running stp.
    g.emit(Insn::call(HELPER_UID_GID));
    g.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
    g.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
    g.emit(Insn::mov64_imm(Reg::R1, 0));
    g.emit(Insn::jump_imm(Cond::Ne, Reg::R0, g.facts.task.user as i32, 1));
    g.emit(Insn::mov64_imm(Reg::R1, 1));
    g.store(c.dst()?, Reg::R1, c.span)
}

fn from_helper(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    // (helper, take the high half)
    let (helper, high) = match c.name {
        "pid" => (HELPER_PID_TGID, true),
        "tid" => (HELPER_PID_TGID, false),
        "uid" => (HELPER_UID_GID, false),
        "gid" => (HELPER_UID_GID, true),
        _ => (HELPER_CPU, false),
    };
    helper_value(g, c, helper, high)
}

/// The value a helper returns (its high half, or its low half of the
/// pid_tgid and uid_gid helpers).
pub(super) fn helper_value(g: &mut Gen<'_>, c: &Call<'_>, helper: i32, high: bool) -> Result<(), Diagnostic> {
    g.emit(Insn::call(helper));
    if high {
        g.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
    } else if matches!(helper, HELPER_PID_TGID | HELPER_UID_GID) {
        // The low half: shift it up and back down.
        g.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
        g.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
    }
    g.store(c.dst()?, Reg::R0, c.span)
}
