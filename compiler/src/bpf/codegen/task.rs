//! The intrinsics that read a task's fields: the current task's
//! (`ppid()`, `pexecname()`, `pgrp()`, `sid()`, `euid()`, ...) and any
//! task's (`task_parent(t)`, `task_execname(t)`, `task_pid(t)`, ...). Each
//! follows pointers from the task by the byte offsets the kernel's BTF
//! gives (`KernelFacts::of` looks them up), reading with
//! `bpf_probe_read_kernel`, so a bad task pointer reads as 0.

use super::{Gen, KernelFacts, VALUE_SLOT, not_yet};
use crate::bpf::abi::{HELPER_CURRENT_TASK, HELPER_PROBE_READ_KERNEL_STR};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::{Operand, VarId};
use crate::source::Span;

/// `enum pid_type`'s values, fixed since Linux 4.19 (before, `struct
/// signal_struct` had no `pids`, and these intrinsics are refused).
const PIDTYPE_PGID: u32 = 2;
const PIDTYPE_SID: u32 = 3;
/// `MAX_RT_PRIO`: `task_prio()` is the priority above it, `task_nice()`
/// the static one above `MAX_RT_PRIO + 20`.
const MAX_RT_PRIO: i32 = 100;

/// The intrinsics of this file, for `KernelFacts::of`: scripts that call
/// none of them do without the offsets (and the BTF read that finds them).
pub(super) fn reads_task(name: &str) -> bool {
    matches!(
        name,
        "ppid"
            | "euid"
            | "egid"
            | "pexecname"
            | "pgrp"
            | "sid"
            | "ns_ppid"
            | "ns_pgrp"
            | "ns_sid"
            | "ns_euid"
            | "ns_egid"
            | "task_parent"
            | "task_execname"
            | "task_pid"
            | "task_tid"
            | "task_uid"
            | "task_gid"
            | "task_euid"
            | "task_egid"
            | "task_prio"
            | "task_nice"
            | "task_state"
            | "task_cpu"
    ) || name.strip_prefix("task_ns_").is_some_and(|rest| reads_task(&format!("task_{rest}")))
}

/// Where a field is: the pointers to follow from the task (byte offsets),
/// then the field's offset, size and signedness.
struct Path {
    follow: Vec<u32>,
    at: u32,
    size: u32,
    signed: bool,
}

impl Gen<'_> {
    /// One of these intrinsics, or `None` for the others.
    pub(super) fn task_intrinsic(
        &mut self,
        dst: Option<VarId>,
        name: &str,
        args: &[Operand],
        span: Span,
    ) -> Option<Result<(), Diagnostic>> {
        let dst = dst?;
        let (task, field) = match (name, args) {
            ("task_current", []) => {
                self.emit(Insn::call(HELPER_CURRENT_TASK));
                return Some(self.store(dst, Reg::R0, span));
            }
            (_, []) => (None, name),
            (_, [t]) if name.starts_with("task_") => (Some(t), name.trim_start_matches("task_")),
            _ => return None,
        };
        let t = self.facts.task;
        let pids = |kind: u32| {
            let signal = t.signal?;
            let slot = t.signal_pids? + 8 * kind;
            Some((vec![signal, slot, t.pid_numbers? + t.upid_nr?], 4, true))
        };
        // (pointers to follow then the field, size, signed); `None`: the
        // BTF lacks a member.
        let found: Option<(Vec<u32>, u32, bool)> = match (task.is_some(), field) {
            (false, "ppid") => t.real_parent.zip(t.tgid).map(|(p, f)| (vec![p, f], 4, true)),
            (false, "pexecname") => t.real_parent.zip(t.comm).map(|(p, f)| (vec![p, f], 0, false)),
            (false, "pgrp") => pids(PIDTYPE_PGID),
            (false, "sid") => pids(PIDTYPE_SID),
            (false, "euid") | (true, "euid") => t.cred.zip(t.euid).map(|(c, f)| (vec![c, f], 4, false)),
            (false, "egid") | (true, "egid") => t.cred.zip(t.egid).map(|(c, f)| (vec![c, f], 4, false)),
            (true, "uid") => t.cred.zip(t.uid).map(|(c, f)| (vec![c, f], 4, false)),
            (true, "gid") => t.cred.zip(t.gid).map(|(c, f)| (vec![c, f], 4, false)),
            (true, "parent") => t.real_parent.map(|p| (vec![p], 8, false)),
            (true, "execname") => t.comm.map(|f| (vec![f], 0, false)),
            (true, "pid") => t.tgid.map(|f| (vec![f], 4, true)),
            (true, "tid") => t.pid.map(|f| (vec![f], 4, true)),
            (true, "prio") => t.prio.map(|f| (vec![f], 4, true)),
            (true, "nice") => t.static_prio.map(|f| (vec![f], 4, true)),
            (true, "state") => t.state.map(|(f, size)| (vec![f], size, size == 8)),
            (true, "cpu") => t.cpu.map(|f| (vec![f], 4, false)),
            _ => return None,
        };
        Some(match found {
            Some((mut follow, size, signed)) => {
                let at = follow.pop().unwrap_or(0);
                self.read_task(dst, task, &Path { follow, at, size, signed }, field, span)
            }
            None => Err(not_yet(&format!("{name}() on a kernel whose BTF lacks the task's fields it reads"), span)),
        })
    }

    /// Reads `path` from the task (`task`, or the current one) into `dst`:
    /// a long, or with size 0 the task's name (16 bytes).
    fn read_task(
        &mut self,
        dst: VarId,
        task: Option<&Operand>,
        path: &Path,
        field: &str,
        span: Span,
    ) -> Result<(), Diagnostic> {
        match task {
            Some(t) => self.load(Reg::R9, t, span)?,
            None => {
                self.emit(Insn::call(HELPER_CURRENT_TASK));
                self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
            }
        }
        for &off in &path.follow {
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, off as i32));
            self.read_kernel(8);
            self.emit(Insn::load(Size::DW, Reg::R9, Reg::FP, VALUE_SLOT));
        }
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, path.at as i32));
        if path.size == 0 {
            // The name: at most 16 bytes with its NUL, "" if unreadable.
            let off = self.str_off(dst)?;
            self.scratch_addr(Reg::R1, off);
            self.emit(Insn::mov64_imm(Reg::R2, 16.min(self.frame.s as i32)));
            self.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
            self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
            let ok = self.label();
            self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
            self.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
            self.bind(ok);
            return Ok(());
        }
        self.read_kernel(path.size);
        let width = Size::of_bytes(path.size).unwrap_or(Size::DW);
        self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
        self.sign_extend(Reg::R1, path.size, path.signed);
        match field {
            "prio" => self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R1, MAX_RT_PRIO)),
            "nice" => self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R1, MAX_RT_PRIO + 20)),
            _ => {}
        }
        self.store(dst, Reg::R1, span)
    }
}

/// The task's fields' offsets, from the kernel's BTF.
pub(super) fn task_facts(kernel: &crate::kernel::Kernel) -> KernelFacts {
    let at = |ty: &str, member: &str| {
        let t = kernel.find_type(ty, None)?;
        kernel.member(t, member).map(|m| m.bit_offset / 8)
    };
    let sized = |ty: &str, member: &str| {
        let t = kernel.find_type(ty, None)?;
        let m = kernel.member(t, member)?;
        Some((m.bit_offset / 8, kernel.type_size(m.ty)?))
    };
    KernelFacts {
        real_parent: at("task_struct", "real_parent"),
        tgid: at("task_struct", "tgid"),
        pid: at("task_struct", "pid"),
        comm: at("task_struct", "comm"),
        prio: at("task_struct", "prio"),
        static_prio: at("task_struct", "static_prio"),
        state: sized("task_struct", "__state").or_else(|| sized("task_struct", "state")),
        // In the task since 5.16 where the thread's information is in it;
        // in `struct thread_info` before (and on other architectures).
        cpu: at("task_struct", "cpu").or_else(|| Some(at("task_struct", "thread_info")? + at("thread_info", "cpu")?)),
        signal: at("task_struct", "signal"),
        signal_pids: at("signal_struct", "pids"),
        pid_numbers: at("pid", "numbers"),
        upid_nr: at("upid", "nr"),
        cred: at("task_struct", "cred"),
        uid: at("cred", "uid"),
        gid: at("cred", "gid"),
        euid: at("cred", "euid"),
        egid: at("cred", "egid"),
        initial_namespaces: initial_namespaces(kernel),
        hz: None,
        cpus: 0,
        user: 0,
    }
}

/// Whether stp runs in the kernel's first pid and user namespaces, where
/// the `ns_*` intrinsics read what the plain ones do (stap's default
/// namespace is its own). A kernel that is not the running one (a
/// snapshot) counts as seen from its first namespaces.
pub(super) fn initial_namespaces(kernel: &crate::kernel::Kernel) -> bool {
    if !matches!(kernel.source, crate::kernel::KernelSource::Live) {
        return true;
    }
    // PROC_PID_INIT_INO and PROC_USER_INIT_INO.
    let is = |path: &str, want: &str| std::fs::read_link(path).is_ok_and(|l| l.to_string_lossy() == want);
    is("/proc/self/ns/pid", "pid:[4026531836]") && is("/proc/self/ns/user", "user:[4026531837]")
}
