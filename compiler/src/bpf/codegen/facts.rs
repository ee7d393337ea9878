//! What a program is generated for: the kernel's facts ([`KernelFacts`],
//! from the kernel model), the kernel functions that can have an fentry
//! program ([`fentry_args`]), and each program's own facts
//! ([`ProgramFacts`]: its context, probe point, function, USDT arguments,
//! `@entry` record, ring buffer).
//!
//! In: the kernel model and the module. Out: plain values the generator
//! reads; nothing here reads the machine, so a kernel snapshot compiles
//! as the kernel it describes.

use std::collections::BTreeMap;

use super::program::EntryLayout;
use super::{DEFAULT_RINGBUF, task};
use crate::elab::Placement;
use crate::elab::points::ProbeKind;
use crate::ir::{InstKind, Module};
use crate::kernel::Kernel;
use crate::userspace::sdt::SdtArg;

/// What the generated code needs to know of the kernel it runs on: where
/// the tasks' fields are (byte offsets from its BTF, for `ppid()`,
/// `task_execname(t)` and the other readers of [`task`]), whether stp sees
/// it from its first namespaces, how many CPUs it may have and the user
/// stp runs as: all from the kernel model, never from the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelFacts {
    pub real_parent: Option<u32>,
    pub tgid: Option<u32>,
    pub pid: Option<u32>,
    pub comm: Option<u32>,
    pub prio: Option<u32>,
    pub static_prio: Option<u32>,
    /// `__state` (or `state` before 5.14), and its size.
    pub state: Option<(u32, u32)>,
    pub cpu: Option<u32>,
    pub signal: Option<u32>,
    pub signal_pids: Option<u32>,
    pub pid_numbers: Option<u32>,
    pub upid_nr: Option<u32>,
    pub cred: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub euid: Option<u32>,
    pub egid: Option<u32>,
    /// stp runs in the first pid and user namespaces: `ns_pid()` is
    /// `pid()`, and so on.
    pub initial_namespaces: bool,
    /// `CONFIG_HZ`, for `HZ()`.
    pub hz: Option<u32>,
    /// The possible CPUs, whose statistics records an extractor adds up
    /// (0: unknown, then `MAX_CPUS`).
    pub cpus: u32,
    /// The user stp compiles for, whose tasks `is_myproc()` is true of.
    pub user: u32,
}

impl KernelFacts {
    /// What `m`'s kernel-placed handlers need: the task's offsets only
    /// when they read its fields (looking them up reads the kernel's
    /// BTF, which scripts without such reads do without).
    pub fn of(kernel: &Kernel, m: &Module) -> KernelFacts {
        let cpus = kernel.possible_cpus().map_or(0, |c| c.ids());
        let user = kernel.user();
        let calls = |f: fn(&str) -> bool| {
            m.functions.iter().filter(|f| f.placement == Placement::Kernel).any(|func| {
                func.blocks
                    .iter()
                    .flat_map(|b| &b.insts)
                    .any(|i| matches!(&i.kind, InstKind::Intrinsic { name, .. } if f(name)))
            })
        };
        let hz = || calls(|n| n == "HZ").then(|| kernel.config("CONFIG_HZ")?.parse().ok()).flatten();
        if !calls(task::reads_task) {
            let initial_namespaces = calls(|n| n.starts_with("ns_")) && task::initial_namespaces(kernel);
            return KernelFacts { cpus, user, initial_namespaces, hz: hz(), ..KernelFacts::default() };
        }
        KernelFacts { cpus, user, hz: hz(), ..task::task_facts(kernel) }
    }
}

/// The kernel functions probed that can have an fentry or fexit program:
/// those of vmlinux with a BTF prototype of at most six arguments of at
/// most 8 bytes each (each a u64 of the context), by name, with their
/// number of arguments.
pub(crate) fn fentry_args(kernel: &Kernel, program: &crate::elab::Program) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for point in program.probes.iter().flat_map(|p| &p.points) {
        let ProbeKind::KernelFunction { func, .. } = &point.kind else { continue };
        if func.module.is_some() || out.contains_key(&func.name) {
            continue;
        }
        let Some(proto) = kernel.function_proto(func) else { continue };
        let fits =
            proto.params.len() <= 6 && proto.params.iter().all(|(_, ty)| kernel.type_size(*ty).is_some_and(|s| s <= 8));
        if fits {
            out.insert(func.name.clone(), proto.params.len());
        }
    }
    out
}

/// What a program's context is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ctx {
    /// A tracepoint's record (tracefs format).
    Record,
    /// A raw tracepoint's arguments, as u64s.
    RawArgs,
    /// `struct pt_regs` (kprobes, uprobes).
    Regs,
    /// `struct bpf_perf_event_data`, which opens with the registers of
    /// the interrupted code (perf events, `timer.profile`).
    PerfRegs,
    Other,
}

/// What one program is for: its context, the probe point and function it
/// serves, and what its handler reads of them.
#[derive(Clone)]
pub(super) struct ProgramFacts {
    pub(super) ctx: Ctx,
    pub(super) task: KernelFacts,
    /// The probe point (`pp()`) and function (`probefunc()`) of the
    /// program.
    pub(super) point: String,
    pub(super) func: String,
    /// The module of the function probed, for `probemod()`.
    pub(super) module: String,
    /// The arguments of the USDT site the program is for.
    pub(super) sdt: Vec<Option<SdtArg>>,
    /// The `@entry` record of the probe, if it has one.
    pub(super) entry: Option<EntryLayout>,
    /// The ring buffer's size.
    pub(super) ringbuf: u32,
    /// Where `$return` is in an fexit program's context.
    pub(super) ret_slot: Option<i16>,
    /// A tracing program's context (fentry, fexit, tp_btf, LSM), whose
    /// pointer arguments the verifier types: see `Gen::ctx_u64`.
    pub(super) typed_ctx: bool,
    /// The program runs at a system call's entry tracepoint
    /// (`syscalls:sys_enter_NAME`, or the raw `sys_enter` record a
    /// dispatcher passes on, of the same layout): the call's arguments
    /// are the record's, 8 bytes each from offset 16, for `int_arg(n)`.
    pub(super) syscall_args: bool,
}

impl ProgramFacts {
    /// A program of context `ctx` that knows nothing else yet.
    pub(super) fn new(ctx: Ctx) -> ProgramFacts {
        ProgramFacts {
            ctx,
            task: KernelFacts::default(),
            point: String::new(),
            func: String::new(),
            module: String::new(),
            sdt: Vec::new(),
            entry: None,
            ringbuf: DEFAULT_RINGBUF,
            ret_slot: None,
            typed_ctx: false,
            syscall_args: false,
        }
    }
}
