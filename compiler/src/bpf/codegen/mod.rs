//! From the IR to eBPF: kernel-placed handlers become programs.
//!
//! Registers: r6 holds the context, r7 the globals record (the value of
//! the `globals` array map, looked up once per event), r8 the per-CPU
//! scratch record where strings and map keys live (strings do not fit the
//! 512-byte stack), r9 the record being written to the ring buffer.
//! Every long variable has a stack slot, every string variable a place in
//! the scratch record; register allocation comes later. Output, `exit()`
//! and runtime errors are records in the `events` ring buffer (see
//! [`super::records`]). What the generator does not translate yet is
//! refused at the instruction's script line, never guessed.

use super::abi::*;
use super::btf::MapDef;
use super::elf::Program;
use super::insn::{AluOp, Cond, Insn, Reg, Size};
use super::records::{self, RecordArg, RecordKind};
use crate::diag::Diagnostic;
use crate::elab::Placement;
use crate::elab::points::ProbeKind;
use crate::elab::sdt::{SdtArg, SdtLoc};
use crate::ir::{
    BinOp, Block, BlockId, Catch, Function, GlobalId, Inst, InstKind, Module, Operand, Terminator, Ty, UnOp, VarId,
};
use crate::layout::{HistLayout, Layout, MapLayout, STAT_FIELDS, ValueLayout};
use crate::parse::ast::{CompareOp, PrintKind};
use crate::source::Span;

mod atomic;
mod budget;
mod context;
pub mod dispatch;
mod fault;
mod foreach;
mod frame;
mod intrinsics;
mod loops;
mod maps;
pub mod rawtp;
mod regex;
mod search;
mod sprintf;
mod strings;
mod target;
mod task;
mod text;
mod variance;

/// The most CPUs whose statistics records an extractor adds up: the
/// verifier follows the loop over them to its bound.
const MAX_CPUS: u32 = 64;

/// The most stack a program may use.
const STACK: i32 = 512;
/// Stack slots: the zero key of array lookups, a long value for map
/// updates, a length kept across a helper call, the back-edge counter.
const KEY_SLOT: i16 = -8;
const VALUE_SLOT: i16 = -16;
const LEN_SLOT: i16 = -24;
const LOOP_SLOT: i16 = -32;
/// The entry a map read found (or 0), for the write of the same key that
/// follows it (`a[k]++`): it then stores in place.
const ENTRY_SLOT: i16 = -40;
const FIRST_VAR_SLOT: i32 = -48;

/// The map of the object's read-only data (see [`super::elf::RODATA`]).
pub use super::elf::RODATA;

/// The ring buffer's size when `-s` does not set it.
pub const DEFAULT_RINGBUF: u32 = 1 << 21;
/// Its size when the kernel's handlers print nothing.
pub const QUIET_RINGBUF: u32 = 1 << 16;

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
    pub fn of(kernel: &crate::kernel::Kernel, m: &Module) -> KernelFacts {
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
pub fn fentry_args(
    kernel: &crate::kernel::Kernel,
    program: &crate::elab::Program,
) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
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

/// The programs and maps of a module's kernel-placed handlers.
pub struct Output {
    pub programs: Vec<Program>,
    pub maps: Vec<MapDef>,
    /// For each program: the slot where each script line's code starts.
    pub lines: Vec<Vec<(usize, Span)>>,
    /// What each record tag means.
    pub records: Vec<RecordKind>,
    /// For each program: the handler (index of its derived probe) and
    /// point it serves.
    pub points: Vec<(usize, usize)>,
    /// For each program: the one that does the same through the other
    /// mechanism (the fentry or fexit program of a kernel function and
    /// its kprobe); the runtime attaches one of the two.
    pub alt: Vec<Option<usize>>,
    /// The object's read-only data (`.rodata`).
    pub rodata: Vec<u8>,
    /// For each program: its part in a syscall dispatcher, if any
    /// ([`dispatch::plan`] fills it).
    pub dispatch: Vec<Option<dispatch::Dispatch>>,
    /// For each program: a tracepoint handler whose code does not depend
    /// on its context ([`rawtp::context_free`]).
    pub context_free: Vec<bool>,
}

/// The script span the instruction at `slot` of a program came from.
pub fn span_of(lines: &[(usize, Span)], slot: usize) -> Option<Span> {
    lines.iter().take_while(|(s, _)| *s <= slot).last().map(|(_, span)| *span)
}

/// stap's error for a full array: it names the declared size, or
/// MAXMAPENTRIES.
pub fn overflow_message(m: &Module, g: GlobalId) -> String {
    array_overflow(m.global(g).and_then(|gl| gl.size))
}

/// A full array refusing a new key: `size` is its declared size
/// (`global a[100]`), `None` when it has the default.
pub fn array_overflow(size: Option<u64>) -> String {
    match size {
        Some(n) => format!("Array overflow, check size limit ({n})"),
        None => "Array overflow, check MAXMAPENTRIES".to_string(),
    }
}

/// The map of a global array or statistic.
pub fn map_name(m: &Module, g: GlobalId) -> String {
    m.global(g).map_or_else(|| format!("g{}", g.0), |gl| crate::bpf::mapmem::kernel_name(g.0, &gl.name))
}

/// The section a point's program goes in, as loaders read it: the
/// program type, and the attach point where the section names it.
fn section(kind: &ProbeKind) -> Option<String> {
    Some(match kind {
        ProbeKind::Tracepoint { tp } => format!("tracepoint/{}/{}", tp.system, tp.name),
        ProbeKind::KernelFunction { func, ret: false, .. } => format!("kprobe/{}", func.name),
        ProbeKind::KernelFunction { func, ret: true, .. } => format!("kretprobe/{}", func.name),
        ProbeKind::KernelStatement { .. } => "kprobe".to_string(),
        ProbeKind::Uprobe { ret: false, .. } | ProbeKind::Usdt { .. } => "uprobe".to_string(),
        ProbeKind::Uprobe { ret: true, .. } => "uretprobe".to_string(),
        ProbeKind::Perf { .. } | ProbeKind::Profile => "perf_event".to_string(),
        ProbeKind::Lsm { hook } => format!("lsm/{hook}"),
        _ => return None,
    })
}

fn not_yet(what: &str, span: Span) -> Diagnostic {
    Diagnostic::semantic_error(format!("the eBPF back end does not translate {what} yet"), span)
}

/// The maps every object has, and those of the script's arrays.
fn maps(m: &Module, layout: &Layout, scratch: u32, ringbuf: u32, zeros: u32) -> Vec<MapDef> {
    let mut out = vec![
        MapDef {
            name: "globals".into(),
            map_type: MAP_ARRAY,
            key_size: 4,
            value_size: layout.globals_size.max(8),
            max_entries: 1,
            flags: F_MMAPABLE,
        },
        MapDef {
            name: "events".into(),
            map_type: MAP_RINGBUF,
            key_size: 0,
            value_size: 0,
            max_entries: ringbuf,
            flags: 0,
        },
    ];
    if scratch > 0 {
        out.push(MapDef {
            name: "scratch".into(),
            map_type: MAP_PERCPU_ARRAY,
            key_size: 4,
            value_size: scratch,
            max_entries: 1,
            flags: 0,
        });
    }
    let mut zeros = zeros;
    for (i, g) in layout.maps.iter().enumerate() {
        let Some(ml) = g else { continue };
        let stat = matches!(ml.value, ValueLayout::Stat(_));
        if stat {
            zeros = zeros.max(ml.value_size);
        }
        let map_type = match (stat, ml.wrap) {
            (false, false) => MAP_HASH,
            (false, true) => MAP_LRU_HASH,
            (true, false) => MAP_PERCPU_HASH,
            (true, true) => MAP_LRU_PERCPU_HASH,
        };
        let mut def = MapDef {
            name: map_name(m, GlobalId(i as u32)),
            map_type,
            key_size: ml.key_size,
            value_size: ml.value_size,
            max_entries: ml.max_entries,
            flags: 0,
        };
        // A large hash map takes its entries' memory as they come, not
        // all when it is created (LRU maps are always preallocated).
        if !ml.wrap && crate::bpf::mapmem::bytes(&def, 1) > crate::bpf::mapmem::PREALLOC_LIMIT {
            def.flags = crate::bpf::mapmem::F_NO_PREALLOC;
        }
        out.push(def);
    }
    if zeros > 0 {
        out.push(MapDef {
            name: "zeros".into(),
            map_type: MAP_ARRAY,
            key_size: 4,
            value_size: zeros,
            max_entries: 1,
            flags: 0,
        });
    }
    out
}

/// Generates a program per point of each kernel-placed handler.
pub fn generate(
    m: &Module,
    program: &crate::elab::Program,
    layout: &Layout,
    ringbuf: u32,
    task: KernelFacts,
    fentry: &std::collections::BTreeMap<String, usize>,
) -> Result<Output, Diagnostic> {
    let mut out = Output {
        programs: Vec::new(),
        maps: Vec::new(),
        lines: Vec::new(),
        records: Vec::new(),
        points: Vec::new(),
        alt: Vec::new(),
        rodata: Vec::new(),
        dispatch: Vec::new(),
        context_free: Vec::new(),
    };
    let mut scratch = 0;
    let mut extra_maps = Vec::new();
    let mut zeros = 0;
    let mut fe_next = 0;
    let mut tokens = false;
    for h in &m.handlers {
        let Some(f) = m.function(h.func) else { continue };
        if f.placement != Placement::Kernel {
            continue;
        }
        let Some(probe) = program.probes.get(h.probe) else { continue };
        let functions = probe.points.iter().filter(|p| matches!(p.kind, ProbeKind::KernelFunction { .. })).count();
        if functions as u64 > layout.limits.max_function_probes {
            return Err(Diagnostic::semantic_error(
                format!(
                    "this probe matches {functions} kernel functions; stp attaches at most {} per probe",
                    layout.limits.max_function_probes
                ),
                probe.span,
            )
            .with_help("narrow the pattern, or raise the limit with -D MAXFUNCTIONPROBES=N"));
        }
        // `@entry`: the values its entry function keeps, per thread.
        let entry = m
            .handlers
            .iter()
            .find(|e| e.at_entry && e.probe == h.probe)
            .and_then(|e| m.function(e.func))
            .map(|ef| EntryLayout::of(ef, layout, format!("entry_{}", h.probe)));
        if let (Some(e), false) = (&entry, h.at_entry) {
            zeros = zeros.max(e.size);
            extra_maps.push(MapDef {
                name: e.map.clone(),
                map_type: MAP_LRU_HASH,
                key_size: 8,
                value_size: e.size,
                max_entries: layout.limits.max_map_entries,
                flags: 0,
            });
        }
        let inlined = crate::ir::inline::inline_calls(m, f)?;
        let f = &inlined;
        tokens |= search::uses_tokenize(f);
        let raw = uses_args(f);
        // Whether the handler could run as a raw tracepoint: decided at
        // its first tracepoint.
        let mut free: Option<bool> = None;
        for (i, point) in probe.points.iter().enumerate() {
            // (The syscall events are not tracepoints: never raw.)
            if let ProbeKind::Tracepoint { tp } = &point.kind
                && tp.system != "syscalls"
                && !raw
                && !h.at_entry
                && free.is_none()
            {
                free = Some(rawtp::context_free(m, f, layout, task, &point.name));
            }
            let ctx = match &point.kind {
                // An LSM program's context is its hook's arguments, as u64s.
                ProbeKind::Tracepoint { .. } if raw => Ctx::RawArgs,
                ProbeKind::Lsm { .. } => Ctx::RawArgs,
                ProbeKind::Tracepoint { .. } => Ctx::Record,
                ProbeKind::KernelFunction { .. }
                | ProbeKind::KernelStatement { .. }
                | ProbeKind::Uprobe { .. }
                | ProbeKind::Usdt { .. } => Ctx::Regs,
                _ => Ctx::Other,
            };
            // A kernel function with a BTF prototype also gets an fentry
            // (or fexit) program, its arguments in a u64 array; the
            // runtime attaches it where the kernel allows, else the
            // kprobe.
            let mut variants = Vec::new();
            if let ProbeKind::KernelFunction { func, ret, .. } = &point.kind
                && func.module.is_none()
                && let Some(&n) = fentry.get(&func.name)
            {
                let ret_slot = (*ret && !h.at_entry).then(|| i16::try_from(8 * n).ok()).flatten();
                variants.push((Ctx::RawArgs, ret_slot, true));
            }
            // A tracepoint read through its BTF arguments also gets a BTF
            // tracepoint (tp_btf), the same u64 array; the runtime
            // attaches it where the kernel allows tracing programs, else
            // the raw tracepoint.
            if let ProbeKind::Tracepoint { .. } = &point.kind
                && raw
            {
                variants.push((Ctx::RawArgs, None, true));
            }
            variants.push((ctx, None, false));
            let first = out.programs.len();
            for &(ctx, ret_slot, is_fentry) in &variants {
                let mut g = Gen::new(m, f, layout, &mut out.records, ctx);
                g.task = task;
                g.ret_slot = ret_slot;
                g.typed_ctx = is_fentry || matches!(point.kind, ProbeKind::Lsm { .. });
                g.point = point.name.clone();
                g.func = match &point.kind {
                    ProbeKind::KernelFunction { func, .. } => func.name.clone(),
                    ProbeKind::Uprobe { symbol, .. } => symbol.clone(),
                    _ => String::new(),
                };
                g.module = match &point.kind {
                    ProbeKind::KernelFunction { func, .. } => func.module.clone().unwrap_or_else(|| "kernel".into()),
                    _ => String::new(),
                };
                g.sdt = sdt_args(&point.kind);
                g.entry = entry.clone();
                g.ringbuf = ringbuf;
                g.fe_next = fe_next;
                g.rodata_base = out.rodata.len() as u32;
                let mut code = g.function()?;
                out.rodata.extend(std::mem::take(&mut code.rodata));
                scratch = scratch.max(code.scratch);
                fe_next += code.maps.len() as u32;
                extra_maps.extend(std::mem::take(&mut code.maps));
                let section = match &point.kind {
                    ProbeKind::KernelFunction { func, ret, .. } if is_fentry => {
                        let kind = if *ret && !h.at_entry { "fexit" } else { "fentry" };
                        Some(format!("{kind}/{}", func.name))
                    }
                    ProbeKind::Tracepoint { tp } if raw && is_fentry => Some(format!("tp_btf/{}", tp.name)),
                    ProbeKind::Tracepoint { tp } if raw => Some(format!("raw_tracepoint/{}", tp.name)),
                    // The entry function runs where the probed function starts.
                    ProbeKind::KernelFunction { func, ret: true, .. } if h.at_entry => {
                        Some(format!("kprobe/{}", func.name))
                    }
                    ProbeKind::Uprobe { ret: true, .. } if h.at_entry => Some("uprobe".to_string()),
                    _ if h.at_entry => return Err(not_yet("@entry on this kind of probe", probe.span)),
                    kind => section(kind),
                };
                let Some(section) = section else {
                    return Err(not_yet(&format!("probes on {}", point.name), probe.span));
                };
                let mut name =
                    if h.at_entry { format!("probe_{}_{i}_entry", h.probe) } else { format!("probe_{}_{i}", h.probe) };
                if is_fentry {
                    name.push_str(if matches!(point.kind, ProbeKind::Tracepoint { .. }) { "_btf" } else { "_fentry" });
                }
                let callbacks = code.callbacks;
                let code = super::regalloc::Code { insns: code.insns, map_loads: code.map_loads, lines: code.lines };
                // Loop callbacks read and write the program's variable slots
                // through its frame pointer, which the allocator cannot follow.
                let code = if loops::loops(f).is_empty() {
                    super::regalloc::allocate(code, FIRST_VAR_SLOT as i16)
                } else {
                    code
                };
                let code = super::regalloc::drop_unreachable(code);
                let (insns, map_loads, lines, funcs) = link(code, callbacks, &name, probe.span)?;
                out.programs.push(Program { name, section, insns, map_loads, funcs });
                out.lines.push(lines);
                out.points.push((h.probe, i));
                out.alt.push(None);
                out.context_free.push(!is_fentry && free == Some(true));
            }
            if variants.len() == 2 {
                if let Some(a) = out.alt.get_mut(first) {
                    *a = Some(first + 1);
                }
                if let Some(a) = out.alt.get_mut(first + 1) {
                    *a = Some(first);
                }
            }
        }
    }
    // Handlers that print nothing send only exit(), errors and warnings:
    // a small buffer holds them (its pages are resident from the start).
    let prints = out.records.iter().any(|r| {
        matches!(
            r,
            RecordKind::Print { .. }
                | RecordKind::Backtrace { .. }
                | RecordKind::HistPrint { .. }
                | RecordKind::PrintStack
        )
    });
    let ringbuf = if prints { ringbuf } else { ringbuf.min(QUIET_RINGBUF) };
    out.maps = maps(m, layout, scratch, ringbuf, zeros);
    out.maps.extend(extra_maps);
    if tokens {
        // `tokenize`'s string and position, kept per CPU between calls.
        out.maps.push(MapDef {
            name: search::TOKENS.into(),
            map_type: MAP_PERCPU_ARRAY,
            key_size: 4,
            value_size: search::TOKEN_TEXT + layout.size_of(Ty::Str),
            max_entries: 1,
            flags: 0,
        });
    }
    Ok(out)
}

/// A program's code with its callbacks after it, each load of a
/// callback's address (its index until now) made relative; the map
/// loads and line starts of the callbacks follow them.
#[allow(clippy::type_complexity)]
fn link(
    main: super::regalloc::Code,
    callbacks: Vec<Code>,
    name: &str,
    span: Span,
) -> Result<(Vec<Insn>, Vec<(usize, String)>, Vec<(usize, Span)>, Vec<(usize, String)>), Diagnostic> {
    let super::regalloc::Code { mut insns, mut map_loads, mut lines } = main;
    // The order loaders link them in: each where it is first loaded,
    // depth first, from the program's code on.
    let loads = |code: &[Insn]| -> Vec<usize> {
        code.iter()
            .filter(|i| i.is_wide() && i.src == super::insn::PSEUDO_FUNC)
            .filter_map(|i| usize::try_from(i.imm).ok())
            .collect()
    };
    let mut order: Vec<usize> = Vec::new();
    fn visit(k: usize, callbacks: &[Code], order: &mut Vec<usize>, loads: &dyn Fn(&[Insn]) -> Vec<usize>) {
        if order.contains(&k) {
            return;
        }
        order.push(k);
        if let Some(cb) = callbacks.get(k) {
            for next in loads(&cb.insns) {
                visit(next, callbacks, order, loads);
            }
        }
    }
    for k in loads(&insns) {
        visit(k, &callbacks, &mut order, &loads);
    }
    // Callbacks nothing loads are dropped (there are none).
    let mut starts = vec![None; callbacks.len()];
    let mut funcs = Vec::new();
    let mut callbacks: Vec<Option<Code>> = callbacks.into_iter().map(Some).collect();
    for &k in &order {
        let Some(cb) = callbacks.get_mut(k).and_then(Option::take) else { continue };
        let cb = super::regalloc::drop_unreachable(super::regalloc::Code {
            insns: cb.insns,
            map_loads: cb.map_loads,
            lines: cb.lines,
        });
        let start = insns.len();
        if let Some(s) = starts.get_mut(k) {
            *s = Some(start);
        }
        funcs.push((start, format!("{name}_cb{}", funcs.len())));
        insns.extend(cb.insns);
        map_loads.extend(cb.map_loads.into_iter().map(|(s, m)| (s + start, m)));
        lines.extend(cb.lines.into_iter().map(|(s, sp)| (s + start, sp)));
    }
    for at in 0..insns.len() {
        let Some(insn) = insns.get(at) else { continue };
        if !(insn.is_wide() && insn.src == super::insn::PSEUDO_FUNC) {
            continue;
        }
        let Some(target) = usize::try_from(insn.imm).ok().and_then(|k| starts.get(k).copied().flatten()) else {
            return Err(Diagnostic::internal("pass 3: a load of a callback that does not exist").at(span, ""));
        };
        let rel = i32::try_from(target as i64 - at as i64 - 1).map_err(|_| not_yet("handlers this long", span))?;
        if let Some(insn) = insns.get_mut(at) {
            insn.imm = rel;
        }
    }
    Ok((insns, map_loads, lines, funcs))
}

/// Where a return probe's `@entry` values are kept: a record per thread
/// (keyed by its pid_tgid), a slot per value.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EntryLayout {
    map: String,
    slots: Vec<(u32, Ty)>,
    size: u32,
}

impl EntryLayout {
    fn of(entry: &Function, layout: &Layout, map: String) -> EntryLayout {
        let mut tys: Vec<Option<Ty>> = Vec::new();
        for i in entry.blocks.iter().flat_map(|b| &b.insts) {
            if let InstKind::EntrySave { slot, value } = &i.kind {
                let ty = match value {
                    Operand::Long(_) => Ty::Long,
                    Operand::Str(_) => Ty::Str,
                    Operand::Var(v) => entry.var(*v).map_or(Ty::Long, |d| d.ty),
                };
                let at = *slot as usize;
                if tys.len() <= at {
                    tys.resize(at + 1, None);
                }
                if let Some(t) = tys.get_mut(at) {
                    *t = Some(ty);
                }
            }
        }
        let mut at = 0;
        let slots = tys
            .into_iter()
            .map(|t| {
                let ty = t.unwrap_or(Ty::Long);
                let o = at;
                at += layout.size_of(ty);
                (o, ty)
            })
            .collect();
        EntryLayout { map, slots, size: at.max(8) }
    }
}

/// The arguments of a USDT site, `None` for one stp cannot read (pass 2
/// refused any `$argN` naming it).
fn sdt_args(kind: &ProbeKind) -> Vec<Option<SdtArg>> {
    let ProbeKind::Usdt { args, .. } = kind else { return Vec::new() };
    crate::elab::sdt::split(args).into_iter().map(|a| crate::elab::sdt::parse(a).ok()).collect()
}

struct Code {
    insns: Vec<Insn>,
    map_loads: Vec<(usize, String)>,
    lines: Vec<(usize, Span)>,
    scratch: u32,
    /// The callback subprograms, in the order they go after the code;
    /// a load of one's address has its index as the offset until then.
    callbacks: Vec<Code>,
    /// The maps the code adds (`foreach` buffers).
    maps: Vec<MapDef>,
    /// The read-only data it adds, from its generator's `rodata_base`.
    rodata: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Label(usize);

/// What a program's context is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    /// A tracepoint's record (tracefs format).
    Record,
    /// A raw tracepoint's arguments, as u64s.
    RawArgs,
    /// `struct pt_regs` (kprobes, uprobes).
    Regs,
    Other,
}

/// Pairs (read, write) of a block's instructions where a map write
/// follows a read of the same key (`a[k]++`, `a[k] += v`) with nothing
/// between them that touches the key area or changes a key: the write
/// can store in the entry the read found.
fn fused_updates(insts: &[Inst]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (j, set) in insts.iter().enumerate() {
        let InstKind::MapSet { map, keys, .. } = &set.kind else { continue };
        for i in (0..j).rev() {
            let Some(inst) = insts.get(i) else { break };
            match &inst.kind {
                InstKind::MapGet { map: m, keys: k, .. } if m == map && k == keys => {
                    out.push((i, j));
                    break;
                }
                InstKind::Copy { dst, .. }
                | InstKind::Unary { dst, .. }
                | InstKind::Binary { dst, .. }
                | InstKind::Compare { dst, .. }
                | InstKind::Concat { dst, .. }
                | InstKind::LoadGlobal { dst, .. }
                | InstKind::Target { dst, .. }
                | InstKind::Print { dst: Some(dst), .. }
                | InstKind::Intrinsic { dst: Some(dst), .. }
                    if !keys.contains(&Operand::Var(*dst)) => {}
                InstKind::StoreGlobal { .. } | InstKind::Intrinsic { dst: None, .. } => {}
                _ => break,
            }
        }
    }
    out
}

/// The blocks a path from the entry reaches (through jumps, branches
/// and catches).
fn reachable(f: &Function) -> Vec<bool> {
    let mut seen = vec![false; f.blocks.len()];
    let mut work = vec![0usize];
    while let Some(b) = work.pop() {
        let Some(block) = f.blocks.get(b) else { continue };
        if seen.get(b).copied().unwrap_or(true) {
            continue;
        }
        if let Some(s) = seen.get_mut(b) {
            *s = true;
        }
        match &block.term {
            Terminator::Jump(t) => work.push(t.0 as usize),
            Terminator::Branch { then, otherwise, .. } => work.extend([then.0 as usize, otherwise.0 as usize]),
            _ => {}
        }
        if let Some(c) = block.on_error {
            work.push(c.block.0 as usize);
        }
    }
    seen
}

/// Whether a handler reads a tracepoint's arguments through BTF (then it
/// runs as a raw tracepoint) rather than its record's fields.
fn uses_args(f: &Function) -> bool {
    f.blocks.iter().flat_map(|b| &b.insts).any(|i| {
        matches!(&i.kind, InstKind::Target { resolved, .. }
            if matches!(resolved.base, crate::elab::target::Base::Arg { .. }))
    })
}

struct Gen<'a> {
    m: &'a Module,
    f: &'a Function,
    layout: &'a Layout,
    records: &'a mut Vec<RecordKind>,
    insns: Vec<Insn>,
    map_loads: Vec<(usize, String)>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
    lines: Vec<(usize, Span)>,
    /// Each long variable's stack slot.
    slots: Vec<Option<i16>>,
    /// Each string variable's offset in the scratch record.
    strs: Vec<Option<u32>>,
    /// Two scratch strings for literals and building, then the map key.
    tmp: [u32; 2],
    key: u32,
    scratch: u32,
    /// The size of a string.
    s: u32,
    /// The catch of the block being generated.
    on_error: Option<crate::ir::Catch>,
    ctx: Ctx,
    task: KernelFacts,
    /// The probe point (`pp()`) and function (`probefunc()`) of the
    /// program.
    point: String,
    func: String,
    /// The module of the function probed, for `probemod()`.
    module: String,
    /// The arguments of the USDT site the program is for.
    sdt: Vec<Option<SdtArg>>,
    /// The `@entry` record of the probe, if it has one.
    entry: Option<EntryLayout>,
    /// This map read keeps its entry in ENTRY_SLOT; this map write
    /// stores there when the read found one (the key area still holds
    /// its key).
    keep_entry: bool,
    in_place: bool,
    /// The ring buffer's size.
    ringbuf: u32,
    /// Where a `foreach` slice or a `*` pattern's keys are, in the
    /// scratch record (0: the function has none).
    pattern: u32,
    /// The work area of the string intrinsics and extractors that keep
    /// state in the scratch record (0: the function has none); see
    /// [`search`].
    work: u32,
    /// Whether the work area has its two strings.
    work_strings: bool,
    /// In a callback of [`Gen::string_loop`]: r6 is its context.
    in_string_loop: bool,
    /// The runs of padding bytes in the read-only data, by byte.
    fills: Vec<(u8, u32)>,
    /// The callbacks generated so far, by index (see [`Code::callbacks`]);
    /// a callback's own callbacks follow it. `cb_base` is the index of
    /// the first one this generator makes.
    callbacks: Vec<Option<Code>>,
    cb_base: usize,
    /// The `foreach` buffers made so far, named `fe{N}` from `fe_next`.
    buffers: Vec<MapDef>,
    fe_next: u32,
    /// The buffer of each `foreach` started, by its iteration variable.
    iters: Vec<(VarId, foreach::Buffer)>,
    /// Each loop's header block and the slot counting its turns.
    loops: Vec<(u32, Option<i16>)>,
    /// The jumps back to a block that dominates the jump: (from, to).
    back_edges: std::collections::BTreeSet<(u32, u32)>,
    /// The function's `foreach` loops, which run through callbacks.
    fe_loops: Vec<loops::Loop>,
    /// In a loop's callback: the loop, and the values it copies.
    region: Option<loops::Region>,
    /// The blocks this generator writes.
    emitted: Vec<bool>,
    /// Stubs that leave for blocks it does not write.
    stubs: Vec<(Label, u32)>,
    /// Where `$return` is in an fexit program's context.
    ret_slot: Option<i16>,
    /// A tracing program's context (fentry, fexit, tp_btf, LSM), whose
    /// pointer arguments the verifier types: see [`Gen::ctx_u64`].
    typed_ctx: bool,
    /// The read-only data this generator adds, and where it starts in
    /// the object's.
    rodata: Vec<u8>,
    rodata_base: u32,
}

impl<'a> Gen<'a> {
    fn new(m: &'a Module, f: &'a Function, layout: &'a Layout, records: &'a mut Vec<RecordKind>, ctx: Ctx) -> Gen<'a> {
        let s = layout.size_of(Ty::Str);
        // A function with callbacks leaves them room on the stack: the
        // kernel counts every frame of a call chain against one limit.
        let callbacks = foreach::uses_callbacks(f);
        let stack = if callbacks { STACK - foreach::CALLBACK_STACK } else { STACK };
        let fe_loops = loops::loops(f);
        let mut next_slot = if fe_loops.is_empty() { FIRST_VAR_SLOT } else { loops::FIRST_SLOT };
        // Strings never live together share a place; longs too when the
        // stack would not hold one each (a slot of its own is what the
        // register allocator promotes best), or when the allocator does
        // not run (functions with `foreach` loops, whose callbacks share
        // the stack's limit).
        let shared = frame::places(f);
        let n_longs = f.vars.iter().filter(|v| v.ty == Ty::Long).count() as i32;
        let own_slots = fe_loops.is_empty() && next_slot - 8 * n_longs >= -stack;
        let mut k = 0;
        let places: Vec<u32> = f
            .vars
            .iter()
            .zip(&shared)
            .map(|(v, &p)| match v.ty {
                Ty::Long if own_slots => {
                    k += 1;
                    k - 1
                }
                _ => p,
            })
            .collect();
        let mut slots = Vec::new();
        let mut strs = Vec::new();
        let (mut longs, mut strings) = (0, 0);
        for (v, &p) in f.vars.iter().zip(&places) {
            match v.ty {
                Ty::Long => {
                    let at = next_slot - 8 * p as i32;
                    slots.push((at >= -stack).then_some(at as i16));
                    strs.push(None);
                    longs = longs.max(p + 1);
                }
                Ty::Str => {
                    slots.push(None);
                    strs.push(Some(p * s));
                    strings = strings.max(p + 1);
                }
            }
        }
        next_slot -= 8 * longs as i32;
        let next_str = strings * s;
        let tmp = [next_str, next_str + s];
        // A counter per loop (the target of a jump back): each bounds its
        // loop for the verifier, and dies when the loop is done, so the
        // verifier need not follow the code after a loop once per turn
        // the loop may have taken.
        let back_edges = frame::back_edges(f);
        let mut headers: Vec<u32> = back_edges.iter().map(|&(_, h)| h).collect();
        headers.sort_unstable();
        headers.dedup();
        let mut loops = Vec::new();
        for (k, h) in headers.into_iter().enumerate() {
            if k == 0 {
                loops.push((h, Some(LOOP_SLOT)));
            } else {
                loops.push((h, (next_slot >= -stack).then_some(next_slot as i16)));
                next_slot -= 8;
            }
        }
        // The second temporary is where text is built: a copy of up to a
        // string's size may start anywhere in its first string, so it has
        // room for two (the verifier checks the largest offset with the
        // largest size).
        let key = next_str + 3 * s;
        let max_key = layout.maps.iter().flatten().map(|ml| ml.key_size).max().unwrap_or(0);
        let after_keys = key + max_key.max(8) + if callbacks { max_key.max(8) } else { 0 };
        let work_needed = search::work_needed(f, s);
        let work = if work_needed.is_some() { after_keys } else { 0 };
        Gen {
            m,
            f,
            layout,
            records,
            insns: Vec::new(),
            map_loads: Vec::new(),
            labels: Vec::new(),
            fixups: Vec::new(),
            lines: Vec::new(),
            slots,
            strs,
            tmp,
            key,
            scratch: match work_needed {
                Some(strings) => work + search::work_size(s, strings),
                None => after_keys,
            },
            pattern: if callbacks { key + max_key.max(8) } else { 0 },
            work,
            work_strings: work_needed == Some(true),
            in_string_loop: false,
            fills: Vec::new(),
            callbacks: Vec::new(),
            cb_base: 0,
            buffers: Vec::new(),
            fe_next: 0,
            iters: Vec::new(),
            loops,
            back_edges,
            fe_loops,
            region: None,
            emitted: Vec::new(),
            stubs: Vec::new(),
            ret_slot: None,
            typed_ctx: false,
            rodata: Vec::new(),
            rodata_base: 0,
            s,
            on_error: None,
            ctx,
            task: KernelFacts::default(),
            point: String::new(),
            func: String::new(),
            module: String::new(),
            sdt: Vec::new(),
            entry: None,
            keep_entry: false,
            in_place: false,
            ringbuf: DEFAULT_RINGBUF,
        }
    }

    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn bind(&mut self, l: Label) {
        if let Some(slot) = self.labels.get_mut(l.0) {
            *slot = Some(self.insns.len());
        }
    }

    fn jump_to(&mut self, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jump(0));
    }

    fn jump_imm_to(&mut self, cond: Cond, reg: Reg, imm: i32, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jump_imm(cond, reg, imm, 0));
    }

    fn jump_reg_to(&mut self, cond: Cond, a: Reg, b: Reg, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jump_reg(cond, a, b, 0));
    }

    fn emit(&mut self, i: Insn) {
        self.insns.push(i);
    }

    fn emit2(&mut self, i: [Insn; 2]) {
        self.insns.extend(i);
    }

    fn slot(&self, v: VarId, span: Span) -> Result<i16, Diagnostic> {
        self.slots
            .get(v.0 as usize)
            .copied()
            .flatten()
            .ok_or_else(|| not_yet("handlers with this many values (the stack holds 59)", span))
    }

    fn str_off(&self, v: VarId) -> Result<u32, Diagnostic> {
        self.strs
            .get(v.0 as usize)
            .copied()
            .flatten()
            .ok_or_else(|| Diagnostic::internal(format!("pass 3: {} is not a string variable", v.0)))
    }

    /// `reg = operand` for a long.
    fn load(&mut self, reg: Reg, o: &Operand, span: Span) -> Result<(), Diagnostic> {
        match o {
            Operand::Long(n) => self.mov_imm(reg, *n),
            Operand::Var(v) => {
                let s = self.slot(*v, span)?;
                self.emit(Insn::load(Size::DW, reg, Reg::FP, s));
            }
            Operand::Str(_) => return Err(Diagnostic::internal("pass 3: a string where a long is needed")),
        }
        Ok(())
    }

    fn mov_imm(&mut self, reg: Reg, n: i64) {
        match i32::try_from(n) {
            Ok(small) => self.emit(Insn::mov64_imm(reg, small)),
            Err(_) => self.emit2(Insn::ld_imm64(reg, n as u64)),
        }
    }

    fn store(&mut self, v: VarId, reg: Reg, span: Span) -> Result<(), Diagnostic> {
        let s = self.slot(v, span)?;
        self.emit(Insn::store(Size::DW, Reg::FP, s, reg));
        Ok(())
    }

    /// `reg = r8 + off`: an address in the scratch record.
    fn scratch_addr(&mut self, reg: Reg, off: u32) {
        self.emit(Insn::mov64_reg(reg, Reg::R8));
        if off > 0 {
            self.emit(Insn::alu64_imm(AluOp::Add, reg, off as i32));
        }
    }

    /// Writes a literal string (truncated, NUL-terminated) at `base + off`.
    fn store_literal(&mut self, base: Reg, off: i32, bytes: &[u8], pad_to: Option<u32>) {
        let max = pad_to.map_or(self.s, |p| p.min(self.s)) as usize - 1;
        let mut b: Vec<u8> = bytes.iter().copied().take(max).take_while(|&c| c != 0).collect();
        b.push(0);
        let total = pad_to.map_or(b.len(), |p| (p as usize).max(b.len()));
        b.resize(total.div_ceil(8) * 8, 0);
        for (i, chunk) in b.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let v = u64::from_le_bytes(word);
            let at = (off + 8 * i as i32) as i16;
            if v == 0 {
                self.emit(Insn::store_imm(Size::DW, base, at, 0));
            } else {
                // r0: free here, unlike the argument registers.
                self.emit2(Insn::ld_imm64(Reg::R0, v));
                self.emit(Insn::store(Size::DW, base, at, Reg::R0));
            }
        }
    }

    /// `reg` = the address of a string operand (a literal is first
    /// written to temporary `which`).
    fn str_ptr(&mut self, reg: Reg, o: &Operand, which: usize) -> Result<(), Diagnostic> {
        match o {
            Operand::Var(v) => {
                let off = self.str_off(*v)?;
                self.scratch_addr(reg, off);
            }
            Operand::Str(bytes) => {
                let off = self.tmp.get(which).copied().unwrap_or(0);
                let bytes = bytes.clone();
                self.store_literal(Reg::R8, off as i32, &bytes, None);
                self.scratch_addr(reg, off);
            }
            Operand::Long(_) => return Err(Diagnostic::internal("pass 3: a long where a string is needed")),
        }
        Ok(())
    }

    /// Copies a string operand to `dst_reg + 0` (a pointer register other
    /// than r1-r3), at most a string's size.
    fn copy_str_to(&mut self, dst: Reg, o: &Operand) -> Result<(), Diagnostic> {
        if let Operand::Str(bytes) = o {
            let bytes = bytes.clone();
            self.store_literal(dst, 0, &bytes, None);
            return Ok(());
        }
        self.str_ptr(Reg::R3, o, 0)?;
        self.emit(Insn::mov64_reg(Reg::R1, dst));
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        Ok(())
    }

    fn set_str(&mut self, dst: VarId, o: &Operand) -> Result<(), Diagnostic> {
        if *o == Operand::Var(dst) {
            return Ok(());
        }
        let off = self.str_off(dst)?;
        self.scratch_addr(Reg::R9, off);
        self.copy_str_to(Reg::R9, o)
    }

    /// `reg` = the address of byte `offset` of the read-only data.
    fn rodata_load(&mut self, reg: Reg, offset: u32) {
        self.map_loads.push((self.insns.len(), RODATA.to_string()));
        self.emit2(Insn::ld_rodata(reg, offset));
    }

    fn map_load(&mut self, reg: Reg, name: &str) {
        self.map_loads.push((self.insns.len(), name.to_string()));
        self.emit2(Insn::ld_map_fd(reg, 0));
    }

    /// r0 = the value of slot 0 of an array map, or the program ends.
    fn array_value(&mut self, name: &str) {
        self.map_load(Reg::R1, name);
        self.emit(Insn::store_imm(Size::W, Reg::FP, KEY_SLOT, 0));
        self.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(KEY_SLOT)));
        self.emit(Insn::call(HELPER_MAP_LOOKUP));
        self.emit(Insn::jump_imm(Cond::Ne, Reg::R0, 0, 2));
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.emit(Insn::exit());
    }

    fn record(&mut self, kind: RecordKind) -> u32 {
        if let Some(i) = self.records.iter().position(|r| *r == kind) {
            return i as u32;
        }
        self.records.push(kind);
        self.records.len() as u32 - 1
    }

    /// Writes a record to the ring buffer: its tag, then each value. A
    /// full buffer drops it (the runtime counts what was lost from the
    /// buffer's positions).
    /// r9 = a record of `size` bytes reserved in the ring buffer, its tag
    /// written; when the buffer is full, the loss is counted and the code
    /// goes to the label returned, which the caller binds after its submit.
    fn reserve_record(&mut self, tag: u32, size: u32) -> Label {
        let done = self.label();
        self.map_load(Reg::R1, "events");
        self.emit(Insn::mov64_imm(Reg::R2, size as i32));
        self.emit(Insn::mov64_imm(Reg::R3, 0));
        self.emit(Insn::call(HELPER_RINGBUF_RESERVE));
        let reserved = self.label();
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, reserved);
        // Full: count the loss, for the report at exit.
        self.emit(Insn::mov64_imm(Reg::R1, 1));
        self.emit(Insn::atomic_add(Size::DW, Reg::R7, self.layout.lost_offset as i16, Reg::R1));
        self.jump_to(done);
        self.bind(reserved);
        self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
        self.emit(Insn::store_imm(Size::DW, Reg::R9, 0, tag as i32));
        done
    }

    fn write_record(&mut self, tag: u32, values: &[(Operand, Ty)], span: Span) -> Result<(), Diagnostic> {
        let carried: Vec<Ty> = values.iter().map(|v| v.1).collect();
        let (offs, size) = records::offsets(&carried, self.layout);
        let done = self.reserve_record(tag, size);
        for ((o, ty), off) in values.iter().zip(offs) {
            let off16 = i16::try_from(off).map_err(|_| not_yet("records this large", span))?;
            match ty {
                Ty::Long => {
                    self.load(Reg::R1, o, span)?;
                    self.emit(Insn::store(Size::DW, Reg::R9, off16, Reg::R1));
                }
                Ty::Str => {
                    if let Operand::Str(bytes) = o {
                        let bytes = bytes.clone();
                        self.store_literal(Reg::R9, i32::from(off16), &bytes, None);
                    } else {
                        self.str_ptr(Reg::R3, o, 0)?;
                        self.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
                        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, off as i32));
                        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
                        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
                    }
                }
            }
        }
        // Output wakes the reader only once the buffer is an eighth full
        // (it polls often anyway); exit(), errors and warnings at once.
        let urgent = !matches!(self.records.get(tag as usize), Some(RecordKind::Print { .. }));
        if urgent {
            self.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
            self.emit(Insn::mov64_imm(Reg::R2, RB_FORCE_WAKEUP));
        } else {
            self.map_load(Reg::R1, "events");
            self.emit(Insn::mov64_imm(Reg::R2, RB_AVAIL_DATA));
            self.emit(Insn::call(HELPER_RINGBUF_QUERY));
            self.emit(Insn::mov64_imm(Reg::R2, RB_NO_WAKEUP));
            self.emit(Insn::jump_imm(Cond::Le, Reg::R0, (self.ringbuf / 8) as i32, 1));
            self.emit(Insn::mov64_imm(Reg::R2, RB_FORCE_WAKEUP));
            self.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
        }
        self.emit(Insn::call(HELPER_RINGBUF_SUBMIT));
        self.bind(done);
        Ok(())
    }

    /// A runtime error: to the block's catch (with the message), or an
    /// error record and the end of the handler.
    fn fail(&mut self, message: Result<&str, &Operand>, span: Span) -> Result<(), Diagnostic> {
        if let Some(c) = self.on_error {
            if let Some(var) = c.message {
                let text = match message {
                    Ok(m) => Operand::Str(m.as_bytes().to_vec()),
                    Err(o) => o.clone(),
                };
                self.set_str(var, &text)?;
            }
            let l = self.block_label(c.block.0);
            self.jump_to(l);
            return Ok(());
        }
        match message {
            Ok(m) => {
                let tag = self.record(RecordKind::Error { message: Some(m.to_string()), span });
                self.write_record(tag, &[], span)?;
            }
            Err(o) => {
                let tag = self.record(RecordKind::Error { message: None, span });
                self.write_record(tag, &[(o.clone(), Ty::Str)], span)?;
            }
        }
        self.end_handler();
        Ok(())
    }

    fn uses(&self, pred: impl Fn(&InstKind) -> bool) -> bool {
        self.f.blocks.iter().flat_map(|b| &b.insts).any(|i| pred(&i.kind))
    }

    fn function(mut self) -> Result<Code, Diagnostic> {
        let f = self.f;
        // Offsets into the scratch and globals records are 16-bit
        // displacements in the instructions.
        let limit = i16::MAX as u32;
        if self.scratch + self.s > limit || self.layout.globals_size > limit {
            return Err(not_yet("this many strings at this MAXSTRINGLEN (past 32 KiB of values)", f.span));
        }
        for _ in &f.blocks {
            self.label();
        }
        self.emit(Insn::mov64_reg(Reg::R6, Reg::R1));
        self.array_value("globals");
        self.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
        // Once the script is ending, handlers do nothing.
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R7, self.layout.exit_offset as i16));
        self.emit(Insn::jump_imm(Cond::Eq, Reg::R1, 0, 2));
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.emit(Insn::exit());
        let strings = f.vars.iter().any(|v| v.ty == Ty::Str)
            || self.uses(|k| {
                matches!(
                    k,
                    InstKind::MapGet { .. }
                        | InstKind::MapSet { .. }
                        | InstKind::Update { keys: Some(_), .. }
                        | InstKind::MapHas { .. }
                        | InstKind::MapDelete { .. }
                        | InstKind::StatAdd { .. }
                        | InstKind::StatGet { .. }
                        | InstKind::EntrySave { .. }
                        | InstKind::EntryLoad { .. }
                        | InstKind::IterStart { .. }
                        | InstKind::IterNext { .. }
                        | InstKind::Print { .. }
                )
            })
            || f.blocks.iter().any(|b| matches!(b.term, Terminator::Error(_)));
        if strings {
            self.array_value("scratch");
            self.emit(Insn::mov64_reg(Reg::R8, Reg::R0));
        } else {
            self.scratch = 0;
        }
        if !self.fe_loops.is_empty() {
            self.keep_pointers();
        }
        self.emit(Insn::store_imm(Size::DW, Reg::FP, LOOP_SLOT, 0));
        for (_, slot) in self.loops.clone().into_iter().skip(1) {
            let slot = slot.ok_or_else(|| not_yet("handlers with this many values (the stack holds 59)", f.span))?;
            self.emit(Insn::store_imm(Size::DW, Reg::FP, slot, 0));
        }
        // The verifier refuses code no path reaches.
        let reachable = reachable(f);
        self.emitted = self.emitted_blocks(&reachable);
        for (index, b) in f.blocks.iter().enumerate() {
            if !self.emitted.get(index).copied().unwrap_or(false) {
                continue;
            }
            self.bind(Label(index));
            self.block(index, b)?;
        }
        self.check_loop_budget()?;
        let span = f.span;
        self.write_stubs(span)?;
        self.finish(span)
    }

    /// Resolves the jumps, and hands over the code with its callbacks.
    fn finish(mut self, span: Span) -> Result<Code, Diagnostic> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let to = self.labels.get(l.0).copied().flatten().unwrap_or(0);
            let off = to as i64 - at as i64 - 1;
            let off = i16::try_from(off).map_err(|_| not_yet("handlers this long", span))?;
            if let Some(insn) = self.insns.get_mut(at) {
                insn.off = off;
            }
        }
        let callbacks = self
            .callbacks
            .into_iter()
            .collect::<Option<Vec<Code>>>()
            .ok_or_else(|| Diagnostic::internal("pass 3: a callback was never finished"))?;
        Ok(Code {
            insns: self.insns,
            map_loads: self.map_loads,
            lines: self.lines,
            scratch: self.scratch,
            callbacks,
            maps: self.buffers,
            rodata: self.rodata,
        })
    }

    fn block(&mut self, index: usize, b: &Block) -> Result<(), Diagnostic> {
        self.on_error = b.on_error;
        let next = index as u32 + 1;
        let fused = fused_updates(&b.insts);
        for (k, i) in b.insts.iter().enumerate() {
            self.lines.push((self.insns.len(), i.span));
            self.keep_entry = fused.iter().any(|&(get, _)| get == k);
            self.in_place = fused.iter().any(|&(_, set)| set == k);
            self.inst(i)?;
        }
        self.keep_entry = false;
        self.in_place = false;
        self.lines.push((self.insns.len(), b.term_span));
        // A jump back is a loop's next turn: counted against MAXACTION,
        // which also bounds the loop for the verifier.
        let back = |t: BlockId| self.back_edges.contains(&(index as u32, t.0));
        let targets: Vec<BlockId> = match &b.term {
            Terminator::Jump(t) => vec![*t],
            Terminator::Branch { then, otherwise, .. } => vec![*then, *otherwise],
            _ => Vec::new(),
        };
        let own_head = self.region.as_ref().map(|r| r.lp.head);
        if let Some(header) = targets.into_iter().find(|t| back(*t))
            && Some(header.0) != own_head
        {
            self.count_action(header.0, b.term_span)?;
        }
        let falls_to = |g: &Self, t: BlockId| t.0 == next && g.emitted.get(t.0 as usize).copied().unwrap_or(false);
        match &b.term {
            Terminator::Jump(t) if falls_to(self, *t) => {}
            Terminator::Jump(t) => {
                let l = self.block_label(t.0);
                self.jump_to(l);
            }
            Terminator::Branch { cond, then, otherwise } => {
                self.load(Reg::R1, cond, b.term_span)?;
                let l = self.block_label(then.0);
                self.jump_imm_to(Cond::Ne, Reg::R1, 0, l);
                if !falls_to(self, *otherwise) {
                    let l = self.block_label(otherwise.0);
                    self.jump_to(l);
                }
            }
            Terminator::Return(_) | Terminator::Next => self.end_handler(),
            Terminator::Error(msg) => {
                let msg = msg.clone();
                self.fail(Err(&msg), b.term_span)?;
            }
        }
        Ok(())
    }

    /// A turn of the loop at block `header`: counted against MAXACTION.
    fn count_action(&mut self, header: u32, span: Span) -> Result<(), Diagnostic> {
        let slot = self.loops.iter().find(|(h, _)| *h == header).and_then(|(_, s)| *s).unwrap_or(LOOP_SLOT);
        let ok = self.label();
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, slot));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        self.emit(Insn::store(Size::DW, Reg::FP, slot, Reg::R1));
        let max = i32::try_from(self.layout.limits.max_action).unwrap_or(i32::MAX);
        self.jump_imm_to(Cond::Le, Reg::R1, max, ok);
        self.action_exceeded(span)?;
        self.bind(ok);
        Ok(())
    }

    /// MAXACTION exceeded: an error, and the end of the handler.
    fn action_exceeded(&mut self, span: Span) -> Result<(), Diagnostic> {
        let msg = "MAXACTION exceeded".to_string();
        let tag = self.record(RecordKind::Error { message: Some(msg), span });
        self.write_record(tag, &[], span)?;
        self.end_handler();
        Ok(())
    }

    fn inst(&mut self, inst: &Inst) -> Result<(), Diagnostic> {
        let span = inst.span;
        match &inst.kind {
            InstKind::Copy { dst, src } => match self.f.var(*dst).map(|d| d.ty) {
                Some(Ty::Str) => self.set_str(*dst, src)?,
                _ => {
                    self.load(Reg::R1, src, span)?;
                    self.store(*dst, Reg::R1, span)?;
                }
            },
            InstKind::Unary { dst, op, a } => {
                self.load(Reg::R1, a, span)?;
                match op {
                    UnOp::Neg => self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0)),
                    UnOp::BitNot => self.emit(Insn::alu64_imm(AluOp::Xor, Reg::R1, -1)),
                    UnOp::Not => {
                        self.emit(Insn::mov64_imm(Reg::R2, 1));
                        self.emit(Insn::jump_imm(Cond::Eq, Reg::R1, 0, 1));
                        self.emit(Insn::mov64_imm(Reg::R2, 0));
                        self.emit(Insn::mov64_reg(Reg::R1, Reg::R2));
                    }
                }
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::Binary { dst, op: op @ (BinOp::Div | BinOp::Mod), a, b } => {
                self.load(Reg::R1, a, span)?;
                self.load(Reg::R2, b, span)?;
                let ok = self.label();
                self.jump_imm_to(Cond::Ne, Reg::R2, 0, ok);
                self.fail(Ok("division by 0"), span)?;
                self.bind(ok);
                self.signed_divide(*op == BinOp::Mod);
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::Binary { dst, op, a, b } => {
                let op = match op {
                    BinOp::Add => AluOp::Add,
                    BinOp::Sub => AluOp::Sub,
                    BinOp::Mul => AluOp::Mul,
                    BinOp::Shl => AluOp::Lsh,
                    BinOp::Shr => AluOp::Arsh,
                    BinOp::And => AluOp::And,
                    BinOp::Or => AluOp::Or,
                    BinOp::Xor => AluOp::Xor,
                    BinOp::Div | BinOp::Mod => AluOp::Div,
                };
                self.load(Reg::R1, a, span)?;
                self.load(Reg::R2, b, span)?;
                self.emit(Insn::alu64_reg(op, Reg::R1, Reg::R2));
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::Compare { dst, op, a, b, strings: false } => {
                let cond = match op {
                    CompareOp::Eq => Cond::Eq,
                    CompareOp::Ne => Cond::Ne,
                    CompareOp::Lt => Cond::Slt,
                    CompareOp::Le => Cond::Sle,
                    CompareOp::Gt => Cond::Sgt,
                    CompareOp::Ge => Cond::Sge,
                };
                self.load(Reg::R1, a, span)?;
                self.load(Reg::R2, b, span)?;
                self.emit(Insn::mov64_imm(Reg::R0, 1));
                self.emit(Insn::jump_reg(cond, Reg::R1, Reg::R2, 1));
                self.emit(Insn::mov64_imm(Reg::R0, 0));
                self.store(*dst, Reg::R0, span)?;
            }
            InstKind::Compare { dst, op, a, b, strings: true } => self.compare_strings(*dst, *op, a, b, span)?,
            InstKind::Regex { dst, a, pattern, negated } => self.regex(*dst, a, pattern, *negated, span)?,
            InstKind::Concat { dst, a, b } => self.concat(*dst, a, b)?,
            InstKind::Intrinsic { dst, name, args } => self.intrinsic(*dst, name, args, span)?,
            InstKind::Target { dst, resolved, operands } => self.target(*dst, resolved, operands, span)?,
            InstKind::LoadGlobal { dst, global } => {
                let slot = self.global_slot(*global, span)?;
                match slot.ty {
                    Ty::Long => {
                        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R7, slot.offset as i16));
                        self.store(*dst, Reg::R1, span)?;
                    }
                    Ty::Str => {
                        let off = self.str_off(*dst)?;
                        self.scratch_addr(Reg::R1, off);
                        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
                        self.emit(Insn::mov64_reg(Reg::R3, Reg::R7));
                        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, slot.offset as i32));
                        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
                    }
                }
            }
            InstKind::StoreGlobal { global, src } => {
                let slot = self.global_slot(*global, span)?;
                match slot.ty {
                    Ty::Long => {
                        self.load(Reg::R1, src, span)?;
                        self.emit(Insn::store(Size::DW, Reg::R7, slot.offset as i16, Reg::R1));
                    }
                    Ty::Str => {
                        self.emit(Insn::mov64_reg(Reg::R9, Reg::R7));
                        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, slot.offset as i32));
                        self.copy_str_to(Reg::R9, src)?;
                    }
                }
            }
            InstKind::MapGet { dst, map, keys } => self.map_get(*dst, *map, keys, span)?,
            InstKind::MapSet { map, keys, value } => self.map_set(*map, keys, value, span)?,
            InstKind::Update { old, global, keys, op, value } => {
                self.update(*old, *global, keys.as_deref(), *op, value, span)?
            }
            InstKind::MapHas { dst, map, keys } => {
                let Some(keys) = keys.iter().cloned().collect::<Option<Vec<Operand>>>() else {
                    return self.has_matching(*dst, *map, keys, span);
                };
                let ml = self.map_layout(*map, span)?;
                self.build_key(&ml, &keys, span)?;
                self.lookup(*map);
                self.emit(Insn::mov64_imm(Reg::R1, 1));
                self.emit(Insn::jump_imm(Cond::Ne, Reg::R0, 0, 1));
                self.emit(Insn::mov64_imm(Reg::R1, 0));
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::MapDelete { map, keys: None } => self.delete_matching(*map, None, span)?,
            InstKind::MapDelete { map, keys: Some(keys) } => {
                let Some(keys) = keys.iter().cloned().collect::<Option<Vec<Operand>>>() else {
                    return self.delete_matching(*map, Some(keys), span);
                };
                let ml = self.map_layout(*map, span)?;
                self.build_key(&ml, &keys, span)?;
                let name = map_name(self.m, *map);
                self.map_load(Reg::R1, &name);
                self.scratch_addr(Reg::R2, self.key);
                self.emit(Insn::call(HELPER_MAP_DELETE));
            }
            InstKind::IterStart { iter, map, sort, aggregate, limit, slice } => {
                self.iter_start(*iter, *map, *sort, *aggregate, limit.as_ref(), slice, span)?
            }
            InstKind::IterNext { iter, found, keys, value, .. } => self.iter_next(*iter, *found, keys, *value, span)?,
            InstKind::StatAdd { stat, keys, value } => self.stat_add(*stat, keys, value, span)?,
            InstKind::StatGet { dst, stat, keys, op } => self.stat_get(*dst, *stat, keys, *op, span)?,
            InstKind::HistPrint { stat, keys, .. } => self.hist_print(*stat, keys, span)?,
            InstKind::EntrySave { slot, value } => self.entry_save(*slot, value, span)?,
            InstKind::EntryLoad { dst, slot } => self.entry_load(*dst, *slot, span)?,
            InstKind::Print { dst: Some(dst), kind, format, delimiter, args } => {
                self.sprint(*dst, *kind, format.as_deref(), delimiter.as_ref(), args, span)?;
            }
            InstKind::Print { dst: None, kind, format, delimiter, args } => {
                let delimiter = match delimiter {
                    None => None,
                    Some(Operand::Str(d)) => Some(d.clone()),
                    Some(_) => return Err(not_yet("printd with a computed delimiter in kernel handlers", span)),
                };
                let mut rargs = Vec::new();
                let mut values = Vec::new();
                for (o, ty) in args {
                    match o {
                        Operand::Long(n) => rargs.push(RecordArg::Long(*n)),
                        Operand::Str(s) => rargs.push(RecordArg::Str(s.clone())),
                        Operand::Var(_) => {
                            rargs.push(RecordArg::Value(*ty));
                            values.push((o.clone(), *ty));
                        }
                    }
                }
                let tag =
                    self.record(RecordKind::Print { kind: *kind, format: format.clone(), delimiter, args: rargs });
                self.write_record(tag, &values, span)?;
            }
            other => {
                let what = match other {
                    InstKind::Print { .. } => "sprintf and sprint",
                    InstKind::StatGet { .. } | InstKind::HistBucket { .. } => "statistics extractors",
                    InstKind::Call { .. } => "function calls",
                    _ => "@entry",
                };
                return Err(not_yet(&format!("{what} in kernel handlers"), span));
            }
        }
        Ok(())
    }

    /// r1 = r1 / r2 (or r1 % r2) with stap's signed semantics; r2 is not
    /// zero. eBPF's division is unsigned: divide the magnitudes and give
    /// the quotient the sign of the operands' product, the remainder the
    /// dividend's sign.
    fn signed_divide(&mut self, rem: bool) {
        // r3: dividend negative, r4: divisor negative.
        self.emit(Insn::mov64_imm(Reg::R3, 0));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 2));
        self.emit(Insn::mov64_imm(Reg::R3, 1));
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R2, 0, 2));
        self.emit(Insn::mov64_imm(Reg::R4, 1));
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R2, 0));
        if rem {
            self.emit(Insn::alu64_reg(AluOp::Mod, Reg::R1, Reg::R2));
            self.emit(Insn::jump_imm(Cond::Eq, Reg::R3, 0, 1));
        } else {
            self.emit(Insn::alu64_reg(AluOp::Div, Reg::R1, Reg::R2));
            self.emit(Insn::alu64_reg(AluOp::Xor, Reg::R3, Reg::R4));
            self.emit(Insn::jump_imm(Cond::Eq, Reg::R3, 0, 1));
        }
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
    }
}

/// The programs as `-p3` shows them.
pub fn print(out: &Output) -> String {
    if out.programs.is_empty() {
        return "(no kernel-placed handlers)\n".to_string();
    }
    let mut text = String::new();
    for (i, p) in out.programs.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        match out.dispatch.get(i).cloned().flatten() {
            Some(dispatch::Dispatch::Handler { map, nr }) => {
                text.push_str(&format!("{} /* {}, called from {map}[{nr}] */:\n", p.name, p.section));
            }
            _ => text.push_str(&format!("{} /* {} */:\n", p.name, p.section)),
        }
        let maps = |slot: usize| p.map_loads.iter().find(|(s, _)| *s == slot).map(|(_, m)| m.clone());
        // The subprograms under their names, numbered on from the code.
        for line in super::insn::disassemble(&p.insns, &helper_name, &maps).lines() {
            let slot = line.split(':').next().and_then(|n| n.parse::<usize>().ok());
            if let Some((_, name)) = p.funcs.iter().find(|(start, _)| Some(*start) == slot) {
                text.push_str(&format!("{name}:\n"));
            }
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// Whether a print kind writes to the output (rather than returning text).
pub fn prints(kind: PrintKind) -> bool {
    matches!(kind, PrintKind::Printf | PrintKind::Print | PrintKind::Println | PrintKind::Printd | PrintKind::Printdln)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    #[test]
    fn slots_map_to_the_line_their_code_starts_at() {
        let (a, b) = (Span::new(FileId(0), 0, 1), Span::new(FileId(0), 10, 11));
        let lines = [(0, a), (9, b)];
        assert_eq!(span_of(&lines, 0), Some(a));
        assert_eq!(span_of(&lines, 8), Some(a));
        assert_eq!(span_of(&lines, 9), Some(b));
        assert_eq!(span_of(&lines, 40), Some(b));
        assert_eq!(span_of(&[], 3), None);
    }
}
