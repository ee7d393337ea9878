//! One program for many syscall tracepoints.
//!
//! Attaching a tracepoint costs tens of milliseconds of kernel time, so a
//! script over hundreds of `syscalls:sys_enter_NAME` (or `sys_exit_NAME`)
//! tracepoints would spend half a minute attaching them and as long
//! detaching. When a script has at least `-D SYSCALL_DISPATCH_MIN`
//! (default [`DEFAULT_MIN`]) of them on one side, [`plan`] keeps each
//! point's program as it is (a tracepoint program reading the per-syscall
//! record) but, instead of attaching it, the runtime puts it in a
//! program array at its syscall number, and attaches one dispatcher on
//! `raw_syscalls:sys_enter` (or `sys_exit`) that tail-calls into the
//! array with the number of the call.
//!
//! Why this is exact:
//! - The per-syscall record as BPF sees it (`__syscall_nr` at 8, then each
//!   argument as 8 bytes from 16; `ret` at 16 on exit) has the layout of
//!   the raw record (`long id` at 8, `args[6]` from 16; `ret` at 16), and
//!   both carry the same values (the call's registers). [`plan`] checks
//!   both formats field by field; a point whose format does not fit keeps
//!   its own tracepoint, as does one whose number stp does not know
//!   ([`crate::kernel::syscall_nr`]).
//! - The per-syscall events ignore compat (ia32) calls: the kernel's
//!   `ftrace_syscall_enter`/`perf_syscall_enter` drop a call when
//!   `in_32bit_syscall()`, i.e. the task's `thread_info.status` has
//!   `TS_COMPAT`, or the number has the x32 bit. The dispatcher drops the
//!   same calls: it reads the status through the task's BTF pointer and offsets, and a
//!   number with the x32 bit is past the table.
//! - A handler's `pp()`, `probefunc()` and target variables are those of
//!   its own point's program, unchanged.
//!
//! Several probes on one syscall: a program array slot holds one program
//! and a tail call does not return, so the second program of a number
//! goes in a second array with a dispatcher of its own (a layer). A layer
//! with fewer than `min` points is not worth a program that runs on every
//! system call: its points keep their own tracepoints.

use super::Output;
use crate::bpf::abi::{HELPER_CURRENT_TASK_BTF, HELPER_TAIL_CALL, MAP_PROG_ARRAY};
use crate::bpf::btf::MapDef;
use crate::bpf::elf::Program;
use crate::bpf::insn::{Cond, Insn, Reg, Size};
use crate::elab::points::ProbeKind;
use crate::kernel::{Kernel, TpField, Tracepoint, syscall_nr};

/// The fewest syscall tracepoints of one side that go through a
/// dispatcher (the limits' default lives with them, in the layout).
pub use crate::layout::SYSCALL_DISPATCH_MIN as DEFAULT_MIN;

/// `TS_COMPAT` of x86's `thread_info.status`: a 32-bit call is running.
const TS_COMPAT: i32 = 0x0002;

/// What a program has to do with a dispatcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// A handler: not attached, but put in the program array `map` at the
    /// syscall's number `nr`.
    Handler { map: String, nr: u32 },
    /// A dispatcher, attached to `raw_syscalls:NAME`.
    Dispatcher { tracepoint: String },
}

/// The side of a syscall tracepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Enter,
    Exit,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Enter => "sys_enter",
            Side::Exit => "sys_exit",
        }
    }
}

/// The side and syscall name of a `syscalls:sys_enter_NAME` point.
fn syscall_point(tp: &Tracepoint) -> Option<(Side, &str)> {
    if tp.system != "syscalls" {
        return None;
    }
    if let Some(name) = tp.name.strip_prefix("sys_enter_") {
        return Some((Side::Enter, name));
    }
    tp.name.strip_prefix("sys_exit_").map(|name| (Side::Exit, name))
}

fn field_at(f: &TpField, name: Option<&str>, offset: u32, size: u32) -> bool {
    name.is_none_or(|n| f.name == n) && f.offset == offset && f.size == size && !f.data_loc
}

/// Whether a per-syscall record reads as the raw one: `__syscall_nr` at
/// 8, then the arguments at 16, 24, ... (8 bytes each), or `ret` at 16.
fn fits(side: Side, fields: &[TpField]) -> bool {
    let Some((nr, rest)) = fields.split_first() else { return false };
    if !field_at(nr, Some("__syscall_nr"), 8, 4) {
        return false;
    }
    match side {
        Side::Enter => rest.len() <= 6 && rest.iter().enumerate().all(|(i, f)| field_at(f, None, 16 + 8 * i as u32, 8)),
        Side::Exit => matches!(rest, [ret] if field_at(ret, Some("ret"), 16, 8)),
    }
}

/// Whether the raw tracepoint's record is as the dispatcher reads it.
fn raw_fits(kernel: &Kernel, side: Side) -> bool {
    let tp = Tracepoint { system: "raw_syscalls".into(), name: side.name().into() };
    let Ok(fields) = kernel.tracepoint_fields(&tp) else { return false };
    let second = match side {
        Side::Enter => ("args", 48),
        Side::Exit => ("ret", 8),
    };
    matches!(fields.as_slice(), [id, rest] if field_at(id, Some("id"), 8, 8) && field_at(rest, Some(second.0), 16, second.1))
}

/// The offset of `thread_info.status` in the task.
fn status_offset(kernel: &Kernel) -> Option<i16> {
    let task = kernel.find_type("task_struct", None)?;
    let ti = kernel.member(task, "thread_info")?;
    let info = kernel.find_type("thread_info", None)?;
    let status = kernel.member(info, "status")?;
    if kernel.type_size(status.ty)? != 4 {
        return None;
    }
    i16::try_from(ti.bit_offset / 8 + status.bit_offset / 8).ok()
}

/// Sends the syscall tracepoints of `out` through dispatchers where there
/// are at least `min` of them on a side (`min` 0: never). Fills
/// `out.dispatch`.
pub(crate) fn plan(out: &mut Output, program: &crate::elab::Program, kernel: &Kernel, min: u64) {
    out.dispatch = vec![None; out.programs.len()];
    if min == 0 || kernel.arch != "x86_64" {
        return;
    }
    // (program, side, number) of each candidate, in program order.
    let mut found: Vec<(usize, Side, u32)> = Vec::new();
    for (i, (&(probe, point), alt)) in out.points.iter().zip(&out.alt).enumerate() {
        let Some(pt) = program.probes.get(probe).and_then(|p| p.points.get(point)) else { continue };
        let ProbeKind::Tracepoint { tp } = &pt.kind else { continue };
        let is_plain =
            out.programs.get(i).is_some_and(|p| p.section == format!("tracepoint/{}/{}", tp.system, tp.name));
        if alt.is_some() || !is_plain {
            continue;
        }
        let Some((side, name)) = syscall_point(tp) else { continue };
        let Some(nr) = syscall_nr::number(name) else { continue };
        if kernel.tracepoint_fields(tp).is_ok_and(|f| fits(side, &f)) {
            found.push((i, side, nr));
        }
    }
    // The task's layout is read from BTF only where a dispatcher may be
    // built: indexing BTF costs more than the rest of a small compile.
    let enough = |side: Side| found.iter().filter(|f| f.1 == side).count() as u64 >= min;
    if !enough(Side::Enter) && !enough(Side::Exit) {
        return;
    }
    let Some(status) = status_offset(kernel) else { return };
    let count = syscall_nr::count();
    for side in [Side::Enter, Side::Exit] {
        let mine: Vec<(usize, u32)> = found.iter().filter(|f| f.1 == side).map(|f| (f.0, f.2)).collect();
        if (mine.len() as u64) < min || !raw_fits(kernel, side) {
            continue;
        }
        // Layers: the k-th program of a number goes in the k-th array.
        let mut layers: Vec<Vec<(usize, u32)>> = Vec::new();
        for &(i, nr) in &mine {
            let k = mine.iter().take_while(|&&(j, _)| j != i).filter(|&&(_, n)| n == nr).count();
            if layers.len() <= k {
                layers.resize(k + 1, Vec::new());
            }
            if let Some(l) = layers.get_mut(k) {
                l.push((i, nr));
            }
        }
        for (k, layer) in layers.iter().enumerate() {
            // Every dispatcher runs on every system call: one that would
            // serve fewer than `min` points leaves them their own
            // tracepoints (199 probes on one syscall are not 199
            // dispatchers).
            if (layer.len() as u64) < min {
                continue;
            }
            let map = format!("dispatch_{}_{k}", side.name());
            let Some(&(first, _)) = layer.first() else { continue };
            for &(i, nr) in layer {
                if let Some(d) = out.dispatch.get_mut(i) {
                    *d = Some(Dispatch::Handler { map: map.clone(), nr });
                }
            }
            let lo = layer.iter().map(|l| l.1).min().unwrap_or(0);
            let hi = layer.iter().map(|l| l.1).max().unwrap_or(0);
            out.maps.push(MapDef {
                name: map.clone(),
                map_type: MAP_PROG_ARRAY,
                key_size: 4,
                value_size: 4,
                max_entries: count,
                flags: 0,
            });
            let (insns, map_loads) = dispatcher(&map, lo, hi, status);
            out.programs.push(Program {
                name: map.clone(),
                section: format!("tracepoint/raw_syscalls/{}", side.name()),
                insns,
                map_loads,
                funcs: Vec::new(),
            });
            out.lines.push(Vec::new());
            // The dispatcher serves the points of its layer; it is named
            // after the first for line information.
            let served = out.points.get(first).copied().unwrap_or_default();
            out.points.push(served);
            out.alt.push(None);
            out.dispatch.push(Some(Dispatch::Dispatcher { tracepoint: side.name().to_string() }));
        }
    }
}

/// The dispatcher: the call's number from the raw record, the calls out
/// of `lo..=hi` and compat calls dropped, then a tail call into `map`.
fn dispatcher(map: &str, lo: u32, hi: u32, status: i16) -> (Vec<Insn>, Vec<(usize, String)>) {
    let mut code = vec![Insn::mov64_reg(Reg::R6, Reg::R1), Insn::load(Size::DW, Reg::R7, Reg::R6, 8)];
    // Jumps to the exit are patched once its place is known.
    let mut to_exit = Vec::new();
    if lo > 0 {
        to_exit.push(code.len());
        code.push(Insn::jump_imm(Cond::Lt, Reg::R7, lo as i32, 0));
    }
    // Unsigned: a negative number (no call) is past the table too.
    to_exit.push(code.len());
    code.push(Insn::jump_imm(Cond::Gt, Reg::R7, hi as i32, 0));
    // The task as a BTF pointer: its status is one load (the verifier
    // makes it a fault-safe read), not a helper call.
    code.push(Insn::call(HELPER_CURRENT_TASK_BTF));
    code.push(Insn::load(Size::W, Reg::R1, Reg::R0, status));
    to_exit.push(code.len());
    code.push(Insn::jump_imm(Cond::Set, Reg::R1, TS_COMPAT, 0));
    code.push(Insn::mov64_reg(Reg::R1, Reg::R6));
    let map_load = code.len();
    code.extend(Insn::ld_map_fd(Reg::R2, 0));
    code.push(Insn::mov64_reg(Reg::R3, Reg::R7));
    code.push(Insn::call(HELPER_TAIL_CALL));
    let exit = code.len();
    code.push(Insn::mov64_imm(Reg::R0, 0));
    code.push(Insn::exit());
    for j in to_exit {
        if let Some(insn) = code.get_mut(j) {
            insn.off = (exit - j - 1) as i16;
        }
    }
    (code, vec![(map_load, map.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, offset: u32, size: u32) -> TpField {
        TpField {
            name: name.into(),
            c_type: "long".into(),
            offset,
            size,
            signed: true,
            data_loc: false,
            array_len: None,
        }
    }

    #[test]
    fn per_syscall_records_fit_the_raw_layout() {
        let nr = field("__syscall_nr", 8, 4);
        let args = [nr.clone(), field("fd", 16, 8), field("buf", 24, 8), field("count", 32, 8)];
        assert!(fits(Side::Enter, &args));
        assert!(fits(Side::Enter, std::slice::from_ref(&nr)));
        assert!(fits(Side::Exit, &[nr.clone(), field("ret", 16, 8)]));
        // A field out of place, or one that is not an argument, does not.
        assert!(!fits(Side::Enter, &[nr.clone(), field("fd", 24, 8)]));
        assert!(!fits(Side::Enter, &[nr.clone(), field("fd", 16, 4)]));
        let mut loc = field("name", 16, 4);
        loc.data_loc = true;
        assert!(!fits(Side::Enter, &[nr.clone(), loc]));
        assert!(!fits(Side::Exit, &[nr.clone(), field("ret", 16, 8), field("x", 24, 8)]));
        assert!(!fits(Side::Enter, &[field("__syscall_nr", 8, 8)]));
    }

    #[test]
    fn syscall_points_are_told_by_their_names() {
        let tp = |s: &str, n: &str| Tracepoint { system: s.into(), name: n.into() };
        assert_eq!(syscall_point(&tp("syscalls", "sys_enter_read")), Some((Side::Enter, "read")));
        assert_eq!(syscall_point(&tp("syscalls", "sys_exit_newstat")), Some((Side::Exit, "newstat")));
        assert_eq!(syscall_point(&tp("sched", "sys_enter_read")), None);
        assert_eq!(syscall_point(&tp("syscalls", "other")), None);
    }

    /// The dispatcher drops calls out of range and compat calls before
    /// its tail call: every check jumps to the exit, and the test of the
    /// status is `TS_COMPAT` at the offset given.
    #[test]
    fn the_dispatcher_drops_compat_calls() {
        let (code, loads) = dispatcher("dispatch_sys_enter_0", 3, 300, 24);
        let exit = code.len() - 2;
        let jumps: Vec<(usize, &Insn)> = code.iter().enumerate().filter(|(_, i)| i.is_branch()).collect();
        assert_eq!(jumps.len(), 3);
        for (j, insn) in &jumps {
            assert_eq!(j + 1 + insn.off as usize, exit, "jump at {j}");
        }
        let compat = code.iter().position(|i| *i == Insn::jump_imm(Cond::Set, Reg::R1, TS_COMPAT, i.off)).unwrap();
        let tail = code.iter().position(|i| *i == Insn::call(HELPER_TAIL_CALL)).unwrap();
        assert!(compat < tail);
        assert!(code.contains(&Insn::call(HELPER_CURRENT_TASK_BTF)));
        assert!(code.contains(&Insn::load(Size::W, Reg::R1, Reg::R0, 24)));
        assert_eq!(loads, vec![(tail - 3, "dispatch_sys_enter_0".to_string())]);
        // Unsigned bounds: a negative number is past the table.
        assert!(code.contains(&Insn::jump_imm(Cond::Gt, Reg::R7, 300, code[3].off)));
        assert!(code.contains(&Insn::jump_imm(Cond::Lt, Reg::R7, 3, code[2].off)));
    }
}
