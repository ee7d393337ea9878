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

use super::btf::MapDef;
use super::elf::Program;
use super::insn::{AluOp, Cond, Insn, Reg, Size};
use super::records::{self, RecordArg, RecordKind};
use crate::diag::Diagnostic;
use crate::elab::Placement;
use crate::elab::points::ProbeKind;
use crate::elab::sdt::{SdtArg, SdtLoc};
use crate::ir::{
    BinOp, Block, BlockId, Function, GlobalId, Inst, InstKind, Module, Operand, Terminator, Ty, UnOp, VarId,
};
use crate::layout::{HistLayout, Layout, MapLayout, STAT_FIELDS, ValueLayout};
use crate::parse::ast::{CompareOp, PrintKind};
use crate::source::Span;

const MAP_HASH: u32 = 1;
const MAP_ARRAY: u32 = 2;
const MAP_PERCPU_HASH: u32 = 5;
const MAP_PERCPU_ARRAY: u32 = 6;
const MAP_LRU_HASH: u32 = 9;
const MAP_LRU_PERCPU_HASH: u32 = 10;
const MAP_RINGBUF: u32 = 27;
/// `BPF_F_MMAPABLE`: user space maps the globals record.
const F_MMAPABLE: u32 = 1 << 10;
/// `BPF_NOEXIST`.
const NOEXIST: i32 = 1;

const HELPER_MAP_LOOKUP: i32 = 1;
const HELPER_MAP_UPDATE: i32 = 2;
const HELPER_MAP_DELETE: i32 = 3;
/// `bpf_ktime_get_ns`: CLOCK_MONOTONIC.
const HELPER_KTIME: i32 = 5;
const HELPER_CPU: i32 = 8;
/// `bpf_get_current_pid_tgid`: tgid in the high half, pid in the low.
const HELPER_PID_TGID: i32 = 14;
/// `bpf_get_current_uid_gid`: gid in the high half, uid in the low.
const HELPER_UID_GID: i32 = 15;
const HELPER_COMM: i32 = 16;
const HELPER_CURRENT_TASK: i32 = 35;
const HELPER_PROBE_READ_USER: i32 = 112;
const HELPER_PROBE_READ_KERNEL: i32 = 113;
const HELPER_PROBE_READ_USER_STR: i32 = 114;
const HELPER_PROBE_READ_KERNEL_STR: i32 = 115;
const HELPER_JIFFIES: i32 = 118;
const HELPER_RINGBUF_RESERVE: i32 = 131;
/// `bpf_map_lookup_percpu_elem` (Linux 6.0).
const HELPER_LOOKUP_PERCPU: i32 = 195;
/// The most CPUs whose statistics records an extractor adds up: the
/// verifier follows the loop over them to its bound.
const MAX_CPUS: u32 = 64;
const HELPER_RINGBUF_SUBMIT: i32 = 132;
const HELPER_RINGBUF_QUERY: i32 = 134;
/// `bpf_ringbuf_query`'s question: the bytes not yet consumed.
const RB_AVAIL_DATA: i32 = 0;
/// `bpf_ringbuf_submit` flags.
const RB_NO_WAKEUP: i32 = 1;
const RB_FORCE_WAKEUP: i32 = 2;

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

/// The ring buffer's size when `-s` does not set it.
pub const DEFAULT_RINGBUF: u32 = 1 << 22;

/// What the generated code needs to know of the kernel it runs on: where
/// the current task's fields are (byte offsets from its BTF), for
/// `ppid()`, `euid()` and `egid()`, and how many CPUs it may have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelFacts {
    pub real_parent: Option<u32>,
    pub tgid: Option<u32>,
    pub cred: Option<u32>,
    pub euid: Option<u32>,
    pub egid: Option<u32>,
    /// The possible CPUs, whose statistics records an extractor adds up
    /// (0: unknown, then `MAX_CPUS`).
    pub cpus: u32,
}

impl KernelFacts {
    /// What `m`'s kernel-placed handlers need: the task's offsets only
    /// when they read its fields (looking them up reads the kernel's
    /// BTF, which scripts without such reads do without).
    pub fn of(kernel: &crate::kernel::Kernel, m: &Module) -> KernelFacts {
        let cpus =
            if matches!(kernel.source, crate::kernel::KernelSource::Live) { possible_cpus().unwrap_or(0) } else { 0 };
        let reads_task = m.functions.iter().filter(|f| f.placement == Placement::Kernel).any(|f| {
            f.blocks.iter().flat_map(|b| &b.insts).any(
                |i| matches!(&i.kind, InstKind::Intrinsic { name, .. } if matches!(name.as_str(), "ppid" | "euid" | "egid")),
            )
        });
        if !reads_task {
            return KernelFacts { cpus, ..KernelFacts::default() };
        }
        let at = |ty: &str, member: &str| {
            let t = kernel.find_type(ty, None)?;
            kernel.member(t, member).map(|m| m.bit_offset / 8)
        };
        KernelFacts {
            real_parent: at("task_struct", "real_parent"),
            tgid: at("task_struct", "tgid"),
            cred: at("task_struct", "cred"),
            euid: at("cred", "euid"),
            egid: at("cred", "egid"),
            cpus: if matches!(kernel.source, crate::kernel::KernelSource::Live) {
                possible_cpus().unwrap_or(0)
            } else {
                0
            },
        }
    }
}

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`,
/// ranges like `0-3,8`).
fn possible_cpus() -> Option<u32> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").ok()?;
    let mut highest = 0;
    for part in text.trim().split(',') {
        let last = part.rsplit('-').next()?;
        highest = highest.max(last.trim().parse::<u32>().ok()?);
    }
    Some(highest + 1)
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
    m.global(g).map_or_else(|| format!("g{}", g.0), |gl| format!("g_{}", gl.name))
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
        out.push(MapDef {
            name: map_name(m, GlobalId(i as u32)),
            map_type,
            key_size: ml.key_size,
            value_size: ml.value_size,
            max_entries: ml.max_entries,
            flags: 0,
        });
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
) -> Result<Output, Diagnostic> {
    let mut out =
        Output { programs: Vec::new(), maps: Vec::new(), lines: Vec::new(), records: Vec::new(), points: Vec::new() };
    let mut scratch = 0;
    let mut extra_maps = Vec::new();
    let mut zeros = 0;
    for h in &m.handlers {
        let Some(f) = m.function(h.func) else { continue };
        if f.placement != Placement::Kernel {
            continue;
        }
        let Some(probe) = program.probes.get(h.probe) else { continue };
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
        let raw = uses_args(f);
        for (i, point) in probe.points.iter().enumerate() {
            let ctx = match &point.kind {
                ProbeKind::Tracepoint { .. } if raw => Ctx::RawArgs,
                ProbeKind::Tracepoint { .. } => Ctx::Record,
                ProbeKind::KernelFunction { .. }
                | ProbeKind::KernelStatement { .. }
                | ProbeKind::Uprobe { .. }
                | ProbeKind::Usdt { .. } => Ctx::Regs,
                _ => Ctx::Other,
            };
            let mut g = Gen::new(m, f, layout, &mut out.records, ctx);
            g.task = task;
            g.point = point.name.clone();
            g.func = match &point.kind {
                ProbeKind::KernelFunction { func, .. } => func.name.clone(),
                ProbeKind::Uprobe { symbol, .. } => symbol.clone(),
                _ => String::new(),
            };
            g.sdt = sdt_args(&point.kind);
            g.entry = entry.clone();
            g.ringbuf = ringbuf;
            let code = g.function()?;
            scratch = scratch.max(code.scratch);
            let section = match &point.kind {
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
            let code = super::regalloc::allocate(
                super::regalloc::Code { insns: code.insns, map_loads: code.map_loads, lines: code.lines },
                FIRST_VAR_SLOT as i16,
            );
            out.programs.push(Program {
                name: if h.at_entry {
                    format!("probe_{}_{i}_entry", h.probe)
                } else {
                    format!("probe_{}_{i}", h.probe)
                },
                section,
                insns: code.insns,
                map_loads: code.map_loads,
            });
            out.lines.push(code.lines);
            out.points.push((h.probe, i));
        }
    }
    out.maps = maps(m, layout, scratch, ringbuf, zeros);
    out.maps.extend(extra_maps);
    Ok(out)
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
}

impl<'a> Gen<'a> {
    fn new(m: &'a Module, f: &'a Function, layout: &'a Layout, records: &'a mut Vec<RecordKind>, ctx: Ctx) -> Gen<'a> {
        let s = layout.size_of(Ty::Str);
        let mut next_slot = FIRST_VAR_SLOT;
        let mut next_str = 0;
        let mut slots = Vec::new();
        let mut strs = Vec::new();
        for v in &f.vars {
            match v.ty {
                Ty::Long => {
                    slots.push((next_slot >= -STACK).then_some(next_slot as i16));
                    next_slot -= 8;
                    strs.push(None);
                }
                Ty::Str => {
                    slots.push(None);
                    strs.push(Some(next_str));
                    next_str += s;
                }
            }
        }
        let tmp = [next_str, next_str + s];
        // The second temporary is where text is built: a copy of up to a
        // string's size may start anywhere in its first string, so it has
        // room for two (the verifier checks the largest offset with the
        // largest size).
        let key = next_str + 3 * s;
        let max_key = layout.maps.iter().flatten().map(|ml| ml.key_size).max().unwrap_or(0);
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
            scratch: key + max_key.max(8),
            s,
            on_error: None,
            ctx,
            task: KernelFacts::default(),
            point: String::new(),
            func: String::new(),
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
        let max = self.s as usize - 1;
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
    fn write_record(&mut self, tag: u32, values: &[(Operand, Ty)], span: Span) -> Result<(), Diagnostic> {
        let carried: Vec<Ty> = values.iter().map(|v| v.1).collect();
        let (offs, size) = records::offsets(&carried, self.layout);
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
            self.jump_to(Label(c.block.0 as usize));
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
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.emit(Insn::exit());
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
        let strings = f.vars.iter().any(|v| v.ty == Ty::Str)
            || self.uses(|k| {
                matches!(
                    k,
                    InstKind::MapGet { .. }
                        | InstKind::MapSet { .. }
                        | InstKind::MapHas { .. }
                        | InstKind::MapDelete { .. }
                        | InstKind::StatAdd { .. }
                        | InstKind::StatGet { .. }
                        | InstKind::EntrySave { .. }
                        | InstKind::EntryLoad { .. }
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
        self.emit(Insn::store_imm(Size::DW, Reg::FP, LOOP_SLOT, 0));
        // The verifier refuses code no path reaches.
        let reachable = reachable(f);
        for (index, b) in f.blocks.iter().enumerate() {
            if !reachable.get(index).copied().unwrap_or(false) {
                continue;
            }
            self.bind(Label(index));
            self.block(index, b)?;
        }
        for (at, l) in std::mem::take(&mut self.fixups) {
            let to = self.labels.get(l.0).copied().flatten().unwrap_or(0);
            let off = to as i64 - at as i64 - 1;
            let off = i16::try_from(off).map_err(|_| not_yet("handlers this long", f.span))?;
            if let Some(insn) = self.insns.get_mut(at) {
                insn.off = off;
            }
        }
        Ok(Code { insns: self.insns, map_loads: self.map_loads, lines: self.lines, scratch: self.scratch })
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
        let back = |t: BlockId| t.0 as usize <= index;
        let targets: Vec<BlockId> = match &b.term {
            Terminator::Jump(t) => vec![*t],
            Terminator::Branch { then, otherwise, .. } => vec![*then, *otherwise],
            _ => Vec::new(),
        };
        if targets.iter().any(|t| back(*t)) {
            self.count_action(b.term_span)?;
        }
        match &b.term {
            Terminator::Jump(t) if t.0 == next => {}
            Terminator::Jump(t) => self.jump_to(Label(t.0 as usize)),
            Terminator::Branch { cond, then, otherwise } => {
                self.load(Reg::R1, cond, b.term_span)?;
                self.jump_imm_to(Cond::Ne, Reg::R1, 0, Label(then.0 as usize));
                if otherwise.0 != next {
                    self.jump_to(Label(otherwise.0 as usize));
                }
            }
            Terminator::Return(_) | Terminator::Next => {
                self.emit(Insn::mov64_imm(Reg::R0, 0));
                self.emit(Insn::exit());
            }
            Terminator::Error(msg) => {
                let msg = msg.clone();
                self.fail(Err(&msg), b.term_span)?;
            }
        }
        Ok(())
    }

    fn count_action(&mut self, span: Span) -> Result<(), Diagnostic> {
        let ok = self.label();
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, LOOP_SLOT));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        self.emit(Insn::store(Size::DW, Reg::FP, LOOP_SLOT, Reg::R1));
        let max = i32::try_from(self.layout.limits.max_action).unwrap_or(i32::MAX);
        self.jump_imm_to(Cond::Le, Reg::R1, max, ok);
        let msg = "MAXACTION exceeded".to_string();
        let tag = self.record(RecordKind::Error { message: Some(msg), span });
        self.write_record(tag, &[], span)?;
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.emit(Insn::exit());
        self.bind(ok);
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
            InstKind::MapHas { dst, map, keys } => {
                let Some(keys) = keys.iter().cloned().collect::<Option<Vec<Operand>>>() else {
                    return Err(not_yet("`*` in array membership tests in kernel handlers", span));
                };
                let ml = self.map_layout(*map, span)?;
                self.build_key(&ml, &keys, span)?;
                self.lookup(*map);
                self.emit(Insn::mov64_imm(Reg::R1, 1));
                self.emit(Insn::jump_imm(Cond::Ne, Reg::R0, 0, 1));
                self.emit(Insn::mov64_imm(Reg::R1, 0));
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::MapDelete { map, keys: Some(keys) } => {
                let Some(keys) = keys.iter().cloned().collect::<Option<Vec<Operand>>>() else {
                    return Err(not_yet("`*` in delete in kernel handlers", span));
                };
                let ml = self.map_layout(*map, span)?;
                self.build_key(&ml, &keys, span)?;
                let name = map_name(self.m, *map);
                self.map_load(Reg::R1, &name);
                self.scratch_addr(Reg::R2, self.key);
                self.emit(Insn::call(HELPER_MAP_DELETE));
            }
            InstKind::StatAdd { stat, keys, value } => self.stat_add(*stat, keys, value, span)?,
            InstKind::StatGet { dst, stat, keys, op } if *op != crate::parse::ast::StatOp::Variance => {
                self.stat_get(*dst, *stat, keys, *op, span)?
            }
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
                    InstKind::Regex { .. } => "regular expressions",
                    InstKind::Print { .. } => "sprintf and sprint",
                    InstKind::MapDelete { .. } | InstKind::IterStart { .. } | InstKind::IterNext { .. } => {
                        "foreach and whole-array delete"
                    }
                    InstKind::StatGet { .. } | InstKind::HistPrint { .. } | InstKind::HistBucket { .. } => {
                        "statistics extractors"
                    }
                    InstKind::Call { .. } => "function calls",
                    _ => "@entry",
                };
                return Err(not_yet(&format!("{what} in kernel handlers"), span));
            }
        }
        Ok(())
    }

    /// A target variable: the walk pass 2 resolved, from the context.
    /// The address in hand is kept in r9; memory other than the
    /// tracepoint record is read with `bpf_probe_read_kernel`.
    fn target(
        &mut self,
        dst: VarId,
        r: &crate::elab::target::Resolved,
        operands: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
        use crate::elab::target::{Base, Load, Step};
        // Index operands follow a cast's address.
        let shift = usize::from(matches!(r.base, Base::Cast));
        let index = |op: usize| operands.get(op + shift);
        // The fast path: a field of the tracepoint record at a constant
        // offset, read directly from the context.
        if let Base::Field(field) = &r.base {
            let mut offset = i64::from(field.offset);
            let mut constant = true;
            for st in &r.steps {
                match st {
                    Step::Offset(n) => offset += i64::from(*n),
                    Step::Index { op, elem_size } => match index(*op) {
                        Some(Operand::Long(i)) => offset += i * i64::from(*elem_size),
                        _ => constant = false,
                    },
                    Step::LoadPointer => constant = false,
                }
            }
            if let (true, Load::Int { size, signed }, Ok(off)) = (constant, &r.load, i16::try_from(offset))
                && let Some(width) = Size::of_bytes(*size)
            {
                self.emit(Insn::load(width, Reg::R1, Reg::R6, off));
                self.sign_extend(Reg::R1, *size, *signed);
                return self.store(dst, Reg::R1, span);
            }
        }
        // r9 = the base value.
        match &r.base {
            Base::Field(field) => {
                self.emit(Insn::mov64_reg(Reg::R9, Reg::R6));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, field.offset as i32));
                if matches!(r.load, Load::DataLoc) {
                    // (offset, length) of a string elsewhere in the record.
                    self.emit(Insn::load(Size::W, Reg::R1, Reg::R6, field.offset as i16));
                    self.emit(Insn::alu64_imm(AluOp::And, Reg::R1, 0xffff));
                    self.emit(Insn::mov64_reg(Reg::R9, Reg::R6));
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R9, Reg::R1));
                }
            }
            Base::Arg { index, .. } => match self.arg_slot(*index) {
                Some(off) => self.emit(Insn::load(Size::DW, Reg::R9, Reg::R6, off)),
                None => return Err(not_yet("this argument in kernel handlers", span)),
            },
            Base::Return => match self.return_slot() {
                Some(off) => self.emit(Insn::load(Size::DW, Reg::R9, Reg::R6, off)),
                None => return Err(not_yet("$return here", span)),
            },
            Base::Cast => {
                let Some(addr) = operands.first() else {
                    return Err(Diagnostic::internal("pass 3: @cast without its address"));
                };
                self.load(Reg::R9, addr, span)?;
            }
            Base::Context(_) => return Err(not_yet("$$vars and $$parms in kernel handlers", span)),
            Base::SdtArg { index } => return self.sdt_arg(dst, *index, span),
        }
        for st in &r.steps {
            match st {
                Step::Offset(n) => self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, *n as i32)),
                Step::LoadPointer => {
                    self.read_kernel(8);
                    self.emit(Insn::load(Size::DW, Reg::R9, Reg::FP, VALUE_SLOT));
                }
                Step::Index { op, elem_size } => {
                    let Some(i) = index(*op) else {
                        return Err(Diagnostic::internal("pass 3: an index without its operand"));
                    };
                    self.load(Reg::R1, i, span)?;
                    self.emit(Insn::alu64_imm(AluOp::Mul, Reg::R1, *elem_size as i32));
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R9, Reg::R1));
                }
            }
        }
        match &r.load {
            Load::Value => self.store(dst, Reg::R9, span),
            Load::Address => self.store(dst, Reg::R9, span),
            Load::Int { size, signed } => {
                let Some(width) = Size::of_bytes(*size) else { return Err(not_yet("integers of this size", span)) };
                self.read_kernel(*size);
                self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
                self.sign_extend(Reg::R1, *size, *signed);
                self.store(dst, Reg::R1, span)
            }
            Load::Bitfield { size, bit_offset, bits, signed } => {
                let Some(width) = Size::of_bytes(*size) else { return Err(not_yet("bitfields of this size", span)) };
                self.read_kernel(*size);
                self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
                // Move the field to the top, then back down.
                let up = 64 - (*bit_offset + *bits) as i32;
                self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, up));
                let op = if *signed { AluOp::Arsh } else { AluOp::Rsh };
                self.emit(Insn::alu64_imm(op, Reg::R1, 64 - *bits as i32));
                self.store(dst, Reg::R1, span)
            }
            Load::CharArray { .. } | Load::DataLoc => {
                let limit = match r.load {
                    Load::CharArray { len } => (len + 1).min(self.s),
                    _ => self.s,
                };
                let off = self.str_off(dst)?;
                self.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
                self.scratch_addr(Reg::R1, off);
                self.emit(Insn::mov64_imm(Reg::R2, limit as i32));
                self.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
                self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
                Ok(())
            }
            Load::Pretty { .. } | Load::Aggregate => Err(not_yet("printing whole structures in kernel handlers", span)),
        }
    }

    /// `$argN` of a USDT mark, as this site's note says: a constant, a
    /// register of the probed task's `pt_regs`, or user memory at an
    /// address made of registers and a displacement. The value is cut to
    /// the argument's size and extended by its sign.
    fn sdt_arg(&mut self, dst: VarId, index: usize, span: Span) -> Result<(), Diagnostic> {
        let Some(arg) = self.sdt.get(index).cloned().flatten() else {
            return Err(Diagnostic::internal("pass 3: a USDT argument this site does not have").at(span, ""));
        };
        let cut = 64 - 8 * arg.size.min(8) as i32;
        match arg.loc {
            SdtLoc::Const(v) => {
                let v = if cut == 0 {
                    v
                } else if arg.signed {
                    (v << cut) >> cut
                } else {
                    ((v as u64) << cut >> cut) as i64
                };
                self.mov_imm(Reg::R1, v);
            }
            SdtLoc::Reg(r) => {
                self.emit(Insn::load(Size::DW, Reg::R1, Reg::R6, r.offset));
                if r.shift != 0 {
                    self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R1, i32::from(r.shift)));
                }
                if cut != 0 {
                    self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, cut));
                    self.emit(Insn::alu64_imm(if arg.signed { AluOp::Arsh } else { AluOp::Rsh }, Reg::R1, cut));
                }
            }
            SdtLoc::Mem { base, index: scaled, disp } => {
                match base {
                    Some(b) => self.emit(Insn::load(Size::DW, Reg::R9, Reg::R6, b.offset)),
                    None => self.emit(Insn::mov64_imm(Reg::R9, 0)),
                }
                if let Some((i, scale)) = scaled {
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::R6, i.offset));
                    if scale > 1 {
                        self.emit(Insn::alu64_imm(AluOp::Mul, Reg::R1, i32::from(scale)));
                    }
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R9, Reg::R1));
                }
                if disp != 0 {
                    self.mov_imm(Reg::R1, disp);
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R9, Reg::R1));
                }
                let width = Size::of_bytes(arg.size).unwrap_or(Size::DW);
                self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
                self.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
                self.emit(Insn::mov64_imm(Reg::R2, arg.size as i32));
                self.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
                self.emit(Insn::call(HELPER_PROBE_READ_USER));
                let ok = self.label();
                self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
                self.fail(Ok(&format!("user {}-byte copy fault reading $arg{}", arg.size, index + 1)), span)?;
                self.bind(ok);
                self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
                self.sign_extend(Reg::R1, arg.size, arg.signed);
            }
        }
        self.store(dst, Reg::R1, span)
    }

    /// `*(size *)VALUE_SLOT = *(size *)r9`, the slot zeroed first (a
    /// fault leaves 0).
    fn read_kernel(&mut self, size: u32) {
        self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
        self.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
        self.emit(Insn::mov64_imm(Reg::R2, size as i32));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
    }

    fn sign_extend(&mut self, reg: Reg, size: u32, signed: bool) {
        if signed && size < 8 {
            let shift = 64 - 8 * size as i32;
            self.emit(Insn::alu64_imm(AluOp::Lsh, reg, shift));
            self.emit(Insn::alu64_imm(AluOp::Arsh, reg, shift));
        }
    }

    /// Where argument `i` is in the context: a raw tracepoint's u64
    /// array, or (kprobes) the x86-64 calling convention's registers in
    /// `struct pt_regs`.
    fn arg_slot(&self, i: usize) -> Option<i16> {
        match self.ctx {
            Ctx::RawArgs => i16::try_from(8 * i).ok(),
            Ctx::Regs => [112, 104, 96, 88, 72, 64].get(i).copied(),
            Ctx::Record | Ctx::Other => None,
        }
    }

    fn return_slot(&self) -> Option<i16> {
        (self.ctx == Ctx::Regs).then_some(80)
    }

    fn global_slot(&self, g: GlobalId, span: Span) -> Result<crate::layout::Slot, Diagnostic> {
        self.layout.scalar(g).ok_or_else(|| Diagnostic::internal("pass 3: not a global scalar").at(span, ""))
    }

    fn map_layout(&self, g: GlobalId, span: Span) -> Result<MapLayout, Diagnostic> {
        self.layout.map(g).cloned().ok_or_else(|| Diagnostic::internal("pass 3: not an array").at(span, ""))
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

    /// Compares two strings byte by byte (bytes as unsigned, as strcmp).
    fn compare_strings(
        &mut self,
        dst: VarId,
        op: CompareOp,
        a: &Operand,
        b: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
        self.str_ptr(Reg::R1, a, 0)?;
        self.str_ptr(Reg::R2, b, 1)?;
        let (top, differ, equal, done) = (self.label(), self.label(), self.label(), self.label());
        self.emit(Insn::mov64_imm(Reg::R3, 0));
        self.bind(top);
        self.jump_imm_to(Cond::Ge, Reg::R3, self.s as i32, equal);
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R1, 0));
        self.emit(Insn::load(Size::B, Reg::R5, Reg::R2, 0));
        self.jump_reg_to(Cond::Ne, Reg::R4, Reg::R5, differ);
        self.jump_imm_to(Cond::Eq, Reg::R4, 0, equal);
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, 1));
        self.jump_to(top);
        self.bind(equal);
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::mov64_imm(Reg::R5, 0));
        self.bind(differ);
        let cond = match op {
            CompareOp::Eq => Cond::Eq,
            CompareOp::Ne => Cond::Ne,
            CompareOp::Lt => Cond::Lt,
            CompareOp::Le => Cond::Le,
            CompareOp::Gt => Cond::Gt,
            CompareOp::Ge => Cond::Ge,
        };
        self.emit(Insn::mov64_imm(Reg::R0, 1));
        self.jump_reg_to(cond, Reg::R4, Reg::R5, done);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.bind(done);
        self.store(dst, Reg::R0, span)
    }

    /// `dst = a . b`, truncated to a string's size: built in the second
    /// temporary, then copied.
    fn concat(&mut self, dst: VarId, a: &Operand, b: &Operand) -> Result<(), Diagnostic> {
        let build = self.tmp[1];
        // a: its length (with the NUL) is what the copy returns.
        self.str_ptr(Reg::R3, a, 0)?;
        self.scratch_addr(Reg::R1, build);
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        // n = the length without the NUL, within [0, s - 1].
        let (nonneg, inrange) = (self.label(), self.label());
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R0, 1));
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, nonneg);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.bind(nonneg);
        self.jump_imm_to(Cond::Le, Reg::R0, self.s as i32 - 1, inrange);
        self.emit(Insn::mov64_imm(Reg::R0, self.s as i32 - 1));
        self.bind(inrange);
        self.emit(Insn::store(Size::DW, Reg::FP, LEN_SLOT, Reg::R0));
        // b, after it: a literal goes to the first temporary first.
        self.str_ptr(Reg::R3, b, 0)?;
        self.emit(Insn::load(Size::DW, Reg::R0, Reg::FP, LEN_SLOT));
        // The verifier needs the bounds again after the reload.
        let (lo, hi) = (self.label(), self.label());
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, lo);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.bind(lo);
        self.jump_imm_to(Cond::Le, Reg::R0, self.s as i32 - 1, hi);
        self.emit(Insn::mov64_imm(Reg::R0, self.s as i32 - 1));
        self.bind(hi);
        self.scratch_addr(Reg::R1, build);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R0));
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R0));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        let off = self.str_off(dst)?;
        self.scratch_addr(Reg::R1, off);
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.scratch_addr(Reg::R3, build);
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        Ok(())
    }

    fn intrinsic(&mut self, dst: Option<VarId>, name: &str, args: &[Operand], span: Span) -> Result<(), Diagnostic> {
        match (name, dst, args) {
            ("exit", _, []) => {
                let tag = self.record(RecordKind::Exit);
                self.write_record(tag, &[], span)
            }
            ("execname", Some(dst), []) => {
                let off = self.str_off(dst)?;
                self.scratch_addr(Reg::R1, off);
                self.emit(Insn::mov64_imm(Reg::R2, 16));
                self.emit(Insn::call(HELPER_COMM));
                Ok(())
            }
            (
                "kernel_string" | "kernel_string2" | "user_string" | "user_string2" | "kernel_string_n"
                | "user_string_n",
                Some(dst),
                [addr, rest @ ..],
            ) => self.read_string(dst, name, addr, rest, span),
            (
                "kernel_long" | "kernel_int" | "kernel_short" | "kernel_char" | "kernel_pointer" | "user_long"
                | "user_int" | "user_short" | "user_char" | "user_uint8" | "user_uint16" | "user_uint32" | "user_int8"
                | "user_int16" | "user_int32" | "user_int64" | "user_uint64",
                Some(dst),
                [addr],
            ) => {
                let (size, signed) = match name.trim_start_matches("kernel_").trim_start_matches("user_") {
                    "long" | "pointer" | "int64" | "uint64" => (8, true),
                    "int" | "int32" => (4, true),
                    "uint32" => (4, false),
                    "short" | "int16" => (2, true),
                    "uint16" => (2, false),
                    "char" | "int8" => (1, true),
                    _ => (1, false),
                };
                let user = name.starts_with("user_");
                self.load(Reg::R3, addr, span)?;
                self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
                self.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
                self.emit(Insn::mov64_imm(Reg::R2, size));
                self.emit(Insn::call(if user { HELPER_PROBE_READ_USER } else { HELPER_PROBE_READ_KERNEL }));
                let ok = self.label();
                self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
                let what = if user { "user" } else { "kernel" };
                let kind = match size {
                    8 => "long",
                    4 => "int",
                    2 => "short",
                    _ => "char",
                };
                self.fail(Ok(&format!("{what} {kind} copy fault")), span)?;
                self.bind(ok);
                let width = Size::of_bytes(size as u32).unwrap_or(Size::DW);
                self.emit(Insn::load(width, Reg::R1, Reg::FP, VALUE_SLOT));
                self.sign_extend(Reg::R1, size as u32, signed);
                self.store(dst, Reg::R1, span)
            }
            ("pp", Some(dst), []) => {
                let p = Operand::Str(self.point.clone().into_bytes());
                self.set_str(dst, &p)
            }
            ("probefunc" | "ppfunc", Some(dst), []) => {
                let p = Operand::Str(self.func.clone().into_bytes());
                self.set_str(dst, &p)
            }
            ("ppid" | "euid" | "egid", Some(dst), []) => {
                let t = self.task;
                let path = match name {
                    "ppid" => t.real_parent.zip(t.tgid),
                    "euid" => t.cred.zip(t.euid),
                    _ => t.cred.zip(t.egid),
                };
                let Some((first, second)) = path else {
                    return Err(not_yet(&format!("{name}() on a kernel without task_struct in its BTF"), span));
                };
                self.emit(Insn::call(HELPER_CURRENT_TASK));
                self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, first as i32));
                self.read_kernel(8);
                self.emit(Insn::load(Size::DW, Reg::R9, Reg::FP, VALUE_SLOT));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, second as i32));
                self.read_kernel(4);
                self.emit(Insn::load(Size::W, Reg::R1, Reg::FP, VALUE_SLOT));
                self.store(dst, Reg::R1, span)
            }
            ("gettimeofday_s" | "gettimeofday_ms" | "gettimeofday_us" | "gettimeofday_ns", Some(dst), []) => {
                self.emit(Insn::call(HELPER_KTIME));
                self.emit(Insn::load(Size::DW, Reg::R1, Reg::R7, self.layout.realtime_offset as i16));
                self.emit(Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R1));
                let div = match name {
                    "gettimeofday_s" => 1_000_000_000,
                    "gettimeofday_ms" => 1_000_000,
                    "gettimeofday_us" => 1_000,
                    _ => 1,
                };
                if div > 1 {
                    self.emit(Insn::alu64_imm(AluOp::Div, Reg::R0, div));
                }
                self.store(dst, Reg::R0, span)
            }
            ("local_clock_ns" | "cpu_clock_ns", Some(dst), _) => {
                self.emit(Insn::call(HELPER_KTIME));
                self.store(dst, Reg::R0, span)
            }
            ("local_clock_us" | "local_clock_ms" | "local_clock_s", Some(dst), []) => {
                self.emit(Insn::call(HELPER_KTIME));
                let div = match name {
                    "local_clock_s" => 1_000_000_000,
                    "local_clock_ms" => 1_000_000,
                    _ => 1_000,
                };
                self.emit(Insn::alu64_imm(AluOp::Div, Reg::R0, div));
                self.store(dst, Reg::R0, span)
            }
            ("isinstr", Some(dst), [hay, Operand::Str(needle)]) => {
                // A literal needle: compared byte by byte, unrolled, at
                // each position of the haystack (a loop the verifier can
                // follow).
                let needle: Vec<u8> = needle.iter().copied().take_while(|&c| c != 0).collect();
                if needle.len() > 48 {
                    return Err(not_yet("isinstr with a needle over 48 bytes in kernel handlers", span));
                }
                let (top, next, found, done) = (self.label(), self.label(), self.label(), self.label());
                self.emit(Insn::mov64_imm(Reg::R0, 1));
                if !needle.is_empty() {
                    self.str_ptr(Reg::R1, hay, 0)?;
                    let last = self.s as i32 - needle.len() as i32;
                    self.emit(Insn::mov64_imm(Reg::R5, 0));
                    self.bind(top);
                    self.emit(Insn::mov64_imm(Reg::R0, 0));
                    self.jump_imm_to(Cond::Sgt, Reg::R5, last, done);
                    self.emit(Insn::load(Size::B, Reg::R4, Reg::R1, 0));
                    self.jump_imm_to(Cond::Eq, Reg::R4, 0, done);
                    for (j, &c) in needle.iter().enumerate() {
                        self.emit(Insn::load(Size::B, Reg::R4, Reg::R1, j as i16));
                        self.jump_imm_to(Cond::Ne, Reg::R4, i32::from(c), next);
                    }
                    self.jump_to(found);
                    self.bind(next);
                    self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
                    self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
                    self.jump_to(top);
                    self.bind(found);
                    self.emit(Insn::mov64_imm(Reg::R0, 1));
                }
                self.bind(done);
                self.store(dst, Reg::R0, span)
            }
            ("strlen", Some(dst), [s]) => {
                self.string_length(Reg::R3, s)?;
                self.store(dst, Reg::R3, span)
            }
            ("substr", Some(dst), [src, start, length]) => {
                // The source's length, in r5.
                self.string_length(Reg::R5, src)?;
                let (empty, done) = (self.label(), self.label());
                // start in [0, len), n = min(length, len - start) > 0.
                self.load(Reg::R3, start, span)?;
                self.jump_imm_to(Cond::Slt, Reg::R3, 0, empty);
                self.jump_reg_to(Cond::Sge, Reg::R3, Reg::R5, empty);
                self.load(Reg::R2, length, span)?;
                self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R5, Reg::R3));
                self.emit(Insn::jump_reg(Cond::Sle, Reg::R2, Reg::R5, 1));
                self.emit(Insn::mov64_reg(Reg::R2, Reg::R5));
                self.jump_imm_to(Cond::Sle, Reg::R2, 0, empty);
                self.jump_imm_to(Cond::Sgt, Reg::R3, self.s as i32 - 1, empty);
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
                self.emit(Insn::jump_imm(Cond::Sle, Reg::R2, self.s as i32, 1));
                self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
                // r3 = the source + start.
                self.emit(Insn::mov64_reg(Reg::R4, Reg::R3));
                self.str_ptr(Reg::R3, src, 0)?;
                self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R4));
                let off = self.str_off(dst)?;
                self.scratch_addr(Reg::R1, off);
                self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
                self.jump_to(done);
                self.bind(empty);
                self.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
                self.bind(done);
                Ok(())
            }
            ("warn", _, [msg]) => {
                let tag = self.record(RecordKind::Warn);
                self.write_record(tag, &[(msg.clone(), Ty::Str)], span)
            }
            ("log", _, [msg]) => {
                let tag = self.record(RecordKind::Print {
                    kind: PrintKind::Println,
                    format: None,
                    delimiter: None,
                    args: vec![RecordArg::Value(Ty::Str)],
                });
                self.write_record(tag, &[(msg.clone(), Ty::Str)], span)
            }
            ("abort", _, []) => {
                let tag = self.record(RecordKind::Abort);
                self.write_record(tag, &[], span)?;
                self.emit(Insn::mov64_imm(Reg::R0, 0));
                self.emit(Insn::exit());
                // What follows is unreachable; give it a block of its own.
                Ok(())
            }
            ("target", Some(dst), []) => {
                self.emit(Insn::load(Size::DW, Reg::R1, Reg::R7, self.layout.target_offset as i16));
                self.store(dst, Reg::R1, span)
            }
            (_, Some(dst), []) => {
                // (helper, take the high half)
                let (helper, high) = match name {
                    "pid" => (HELPER_PID_TGID, true),
                    "tid" => (HELPER_PID_TGID, false),
                    "uid" => (HELPER_UID_GID, false),
                    "gid" => (HELPER_UID_GID, true),
                    "cpu" => (HELPER_CPU, false),
                    "ktime_get_ns" => (HELPER_KTIME, false),
                    "jiffies" => (HELPER_JIFFIES, false),
                    _ => return Err(not_yet(&format!("{name}() in kernel handlers"), span)),
                };
                self.emit(Insn::call(helper));
                if high {
                    self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                } else if matches!(helper, HELPER_PID_TGID | HELPER_UID_GID) {
                    // The low half: shift it up and back down.
                    self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
                    self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                }
                self.store(dst, Reg::R0, span)
            }
            _ => Err(not_yet(&format!("{name}() in kernel handlers"), span)),
        }
    }

    /// `@count(s)` and the other extractors but `@variance`: every CPU's
    /// record, read with `bpf_map_lookup_percpu_elem`, added up.
    fn stat_get(
        &mut self,
        dst: VarId,
        stat: GlobalId,
        keys: &[Operand],
        op: crate::parse::ast::StatOp,
        span: Span,
    ) -> Result<(), Diagnostic> {
        use crate::parse::ast::StatOp;
        let ml = self.map_layout(stat, span)?;
        self.build_key(&ml, keys, span)?;
        let name = map_name(self.m, stat);
        // LEN_SLOT: count; VALUE_SLOT: sum; r9: min or max; KEY_SLOT
        // (free once the entry's lookups are done) the CPU, on the stack
        // where the verifier sees its bound.
        let cpu_at = KEY_SLOT;
        self.emit(Insn::store_imm(Size::DW, Reg::FP, LEN_SLOT, 0));
        self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
        self.emit(Insn::mov64_imm(Reg::R9, 0));
        self.emit(Insn::store_imm(Size::DW, Reg::FP, cpu_at, 0));
        let (top, next, done) = (self.label(), self.label(), self.label());
        self.bind(top);
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::FP, cpu_at));
        let cpus = if self.task.cpus == 0 { MAX_CPUS } else { self.task.cpus.min(MAX_CPUS) };
        self.jump_imm_to(Cond::Ge, Reg::R4, cpus as i32, done);
        self.map_load(Reg::R1, &name);
        self.scratch_addr(Reg::R2, self.key);
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R4));
        self.emit(Insn::call(HELPER_LOOKUP_PERCPU));
        // No record: the key has none, or there are no more CPUs.
        self.jump_imm_to(Cond::Eq, Reg::R0, 0, done);
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R0, 0));
        self.jump_imm_to(Cond::Eq, Reg::R1, 0, next);
        // min or max: the first CPU with values sets it.
        let keep = self.label();
        let field = if op == StatOp::Min { 16 } else { 24 };
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R0, field));
        self.emit(Insn::load(Size::DW, Reg::R3, Reg::FP, LEN_SLOT));
        let take = self.label();
        self.jump_imm_to(Cond::Eq, Reg::R3, 0, take);
        let better = if op == StatOp::Min { Cond::Sge } else { Cond::Sle };
        self.jump_reg_to(better, Reg::R2, Reg::R9, keep);
        self.bind(take);
        self.emit(Insn::mov64_reg(Reg::R9, Reg::R2));
        self.bind(keep);
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
        self.emit(Insn::store(Size::DW, Reg::FP, LEN_SLOT, Reg::R3));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R0, 8));
        self.emit(Insn::load(Size::DW, Reg::R3, Reg::FP, VALUE_SLOT));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R2));
        self.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R3));
        self.bind(next);
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::FP, cpu_at));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R4, 1));
        self.emit(Insn::store(Size::DW, Reg::FP, cpu_at, Reg::R4));
        self.jump_to(top);
        self.bind(done);
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, LEN_SLOT));
        match op {
            StatOp::Count => {}
            StatOp::Sum => self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT)),
            StatOp::Min | StatOp::Max | StatOp::Avg => {
                // Of an empty statistic: an error, as stap's.
                let ok = self.label();
                self.jump_imm_to(Cond::Ne, Reg::R1, 0, ok);
                self.fail(Ok("empty aggregate"), span)?;
                self.bind(ok);
                if op == StatOp::Avg {
                    self.emit(Insn::mov64_reg(Reg::R2, Reg::R1));
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
                    self.signed_divide(false);
                } else {
                    self.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
                }
            }
            StatOp::Variance => return Err(not_yet("@variance in kernel handlers", span)),
        }
        self.store(dst, Reg::R1, span)
    }

    /// r0 = this thread's `@entry` record, or 0; the key (its pid_tgid)
    /// is left in the key area.
    fn entry_lookup(&mut self, map: &str) {
        self.emit(Insn::call(HELPER_PID_TGID));
        self.emit(Insn::store(Size::DW, Reg::R8, self.key as i16, Reg::R0));
        self.map_load(Reg::R1, map);
        self.scratch_addr(Reg::R2, self.key);
        self.emit(Insn::call(HELPER_MAP_LOOKUP));
    }

    fn entry_slot(&self, slot: u32, span: Span) -> Result<(String, u32, Ty), Diagnostic> {
        let e = self
            .entry
            .as_ref()
            .ok_or_else(|| Diagnostic::internal("pass 3: @entry without its record").at(span, ""))?;
        let (off, ty) = e.slots.get(slot as usize).copied().unwrap_or((0, Ty::Long));
        Ok((e.map.clone(), off, ty))
    }

    /// `@entry` at the entry: the value into this thread's record.
    fn entry_save(&mut self, slot: u32, value: &Operand, span: Span) -> Result<(), Diagnostic> {
        let (map, off, ty) = self.entry_slot(slot, span)?;
        let have = self.label();
        self.entry_lookup(&map);
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, have);
        self.array_value("zeros");
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
        self.map_load(Reg::R1, &map);
        self.scratch_addr(Reg::R2, self.key);
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::call(HELPER_MAP_UPDATE));
        self.map_load(Reg::R1, &map);
        self.scratch_addr(Reg::R2, self.key);
        self.emit(Insn::call(HELPER_MAP_LOOKUP));
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, have);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.emit(Insn::exit());
        self.bind(have);
        self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
        match ty {
            Ty::Long => {
                self.load(Reg::R1, value, span)?;
                let off = i16::try_from(off).map_err(|_| not_yet("records this large", span))?;
                self.emit(Insn::store(Size::DW, Reg::R9, off, Reg::R1));
            }
            Ty::Str => {
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R9, off as i32));
                self.copy_str_to(Reg::R9, value)?;
            }
        }
        Ok(())
    }

    /// `@entry` at the return: what the entry kept, or 0 or "".
    fn entry_load(&mut self, dst: VarId, slot: u32, span: Span) -> Result<(), Diagnostic> {
        let (map, off, ty) = self.entry_slot(slot, span)?;
        self.entry_lookup(&map);
        self.read_found(dst, ty, off, span)
    }

    /// `dst` = the value at `off` in the entry r0 found, or 0 or "" when
    /// r0 is null.
    fn read_found(&mut self, dst: VarId, ty: Ty, off: u32, span: Span) -> Result<(), Diagnostic> {
        let off16 = i16::try_from(off).map_err(|_| not_yet("records this large", span))?;
        let (found, done) = (self.label(), self.label());
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, found);
        match ty {
            Ty::Long => {
                self.emit(Insn::mov64_imm(Reg::R1, 0));
                self.store(dst, Reg::R1, span)?;
                self.jump_to(done);
                self.bind(found);
                self.emit(Insn::load(Size::DW, Reg::R1, Reg::R0, off16));
                self.store(dst, Reg::R1, span)?;
            }
            Ty::Str => {
                let d = self.str_off(dst)?;
                self.emit(Insn::store_imm(Size::B, Reg::R8, d as i16, 0));
                self.jump_to(done);
                self.bind(found);
                self.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
                if off > 0 {
                    self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(off16)));
                }
                self.scratch_addr(Reg::R1, d);
                self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
                self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
            }
        }
        self.bind(done);
        Ok(())
    }

    /// `len` = the length of a string operand (at most a string's size
    /// less its NUL), counted byte by byte; uses r1 and r4.
    fn string_length(&mut self, len: Reg, o: &Operand) -> Result<(), Diagnostic> {
        self.str_ptr(Reg::R1, o, 0)?;
        let (top, done) = (self.label(), self.label());
        self.emit(Insn::mov64_imm(len, 0));
        self.bind(top);
        self.jump_imm_to(Cond::Ge, len, self.s as i32 - 1, done);
        self.emit(Insn::load(Size::B, Reg::R4, Reg::R1, 0));
        self.jump_imm_to(Cond::Eq, Reg::R4, 0, done);
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        self.emit(Insn::alu64_imm(AluOp::Add, len, 1));
        self.jump_to(top);
        self.bind(done);
        Ok(())
    }

    /// `sprintf` and the `sprint` family: the text is built in the second
    /// temporary, its length kept in LEN_SLOT, each piece appended with a
    /// bounded string copy. Conversions without width or flags: `%d %i
    /// %u %x %X %o %s %c %%`.
    fn sprint(
        &mut self,
        dst: VarId,
        kind: PrintKind,
        format: Option<&[u8]>,
        delimiter: Option<&Operand>,
        args: &[(Operand, Ty)],
        span: Span,
    ) -> Result<(), Diagnostic> {
        use crate::format::{Conv, Piece};
        // What to append, in order.
        enum Part {
            Text(Vec<u8>),
            Str(Operand),
            /// A number, its conversion, width and zero padding.
            Num(Operand, Conv, u32, bool),
            /// A string, its width, left-justified.
            PaddedStr(Operand, u32, bool),
        }
        let mut parts = Vec::new();
        if let (PrintKind::Sprintf, Some(f)) = (kind, format) {
            let pieces = crate::format::parse(f).map_err(|e| Diagnostic::semantic_error(e, span))?;
            let mut values = args.iter();
            for p in pieces {
                match p {
                    Piece::Text(t) => parts.push(Part::Text(t)),
                    Piece::Conv(spec) => {
                        use crate::format::Count;
                        let f = spec.flags;
                        let simple_flags = !f.left && !f.plus && !f.space && !f.alt;
                        let width = match spec.width {
                            None => Some(0),
                            Some(Count::Fixed(w)) if w <= 22 => Some(w),
                            _ => None,
                        };
                        let Some((v, _)) = values.next() else { break };
                        match (spec.conv, width, spec.precision) {
                            (Conv::Str, Some(0), None) if simple_flags && !f.zero => parts.push(Part::Str(v.clone())),
                            // `%Ns`, `%-Ns`: padded with spaces.
                            (Conv::Str, _, None)
                                if !f.plus && !f.space && !f.alt && !f.zero && spec.width.is_some() =>
                            {
                                let Some(Count::Fixed(w)) = spec.width else {
                                    return Err(not_yet("sprintf with a `*` width in kernel handlers", span));
                                };
                                if w >= self.s {
                                    return Err(not_yet(
                                        "sprintf widths past a string's size in kernel handlers",
                                        span,
                                    ));
                                }
                                parts.push(Part::PaddedStr(v.clone(), w, f.left));
                            }
                            (
                                c @ (Conv::Signed
                                | Conv::Unsigned
                                | Conv::Hex
                                | Conv::HexUpper
                                | Conv::Octal
                                | Conv::Char),
                                Some(w),
                                None,
                            ) if simple_flags && (c != Conv::Char || w == 0) => {
                                parts.push(Part::Num(v.clone(), c, w, f.zero))
                            }
                            // `%p`: 0x and 16 hex digits.
                            (Conv::Pointer, Some(0), None) if simple_flags => {
                                parts.push(Part::Text(b"0x".to_vec()));
                                parts.push(Part::Num(v.clone(), Conv::Hex, 16, true));
                            }
                            _ => {
                                return Err(not_yet(
                                    "sprintf conversions with these flags, widths or precisions in kernel handlers",
                                    span,
                                ));
                            }
                        }
                    }
                }
            }
        } else {
            let delimited = matches!(kind, PrintKind::Sprintd | PrintKind::Sprintdln);
            for (i, (v, ty)) in args.iter().enumerate() {
                if i > 0 && delimited {
                    match delimiter {
                        Some(Operand::Str(d)) => parts.push(Part::Text(d.clone())),
                        Some(d) => parts.push(Part::Str(d.clone())),
                        None => {}
                    }
                }
                parts.push(match ty {
                    Ty::Long => Part::Num(v.clone(), Conv::Signed, 0, false),
                    Ty::Str => Part::Str(v.clone()),
                });
            }
            if matches!(kind, PrintKind::Sprintln | PrintKind::Sprintdln) {
                parts.push(Part::Text(b"\n".to_vec()));
            }
        }
        let build = self.tmp[1];
        self.emit(Insn::store_imm(Size::DW, Reg::FP, LEN_SLOT, 0));
        self.emit(Insn::store_imm(Size::B, Reg::R8, build as i16, 0));
        for part in parts {
            match part {
                Part::Text(t) if t.is_empty() => {}
                Part::Text(t) => {
                    let o = Operand::Str(t);
                    self.str_ptr(Reg::R3, &o, 0)?;
                    self.append(build);
                }
                Part::Str(o) => {
                    self.str_ptr(Reg::R3, &o, 0)?;
                    self.append(build);
                }
                Part::PaddedStr(o, width, left) => {
                    // Its length in VALUE_SLOT, then the spaces it lacks:
                    // the tail of `width` spaces written in the first
                    // temporary.
                    self.string_length(Reg::R3, &o)?;
                    self.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R3));
                    if left {
                        self.str_ptr(Reg::R3, &o, 0)?;
                        self.append(build);
                    }
                    let spaces = vec![b' '; width as usize];
                    self.store_literal(Reg::R8, self.tmp[0] as i32, &spaces, None);
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
                    self.emit(Insn::jump_imm(Cond::Le, Reg::R1, width as i32, 1));
                    self.emit(Insn::mov64_imm(Reg::R1, width as i32));
                    self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 1));
                    self.emit(Insn::mov64_imm(Reg::R1, 0));
                    self.scratch_addr(Reg::R3, self.tmp[0]);
                    self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
                    self.append(build);
                    if !left {
                        self.str_ptr(Reg::R3, &o, 0)?;
                        self.append(build);
                    }
                }
                Part::Num(o, conv, width, zero) => {
                    self.load(Reg::R1, &o, span)?;
                    self.digits(conv, width, zero);
                    self.append(build);
                }
            }
        }
        let off = self.str_off(dst)?;
        self.scratch_addr(Reg::R1, off);
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.scratch_addr(Reg::R3, build);
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        Ok(())
    }

    /// Appends the string at r3 to the text being built at `build`, whose
    /// length is in LEN_SLOT; truncates at a string's size.
    fn append(&mut self, build: u32) {
        let (lo, hi, done) = (self.label(), self.label(), self.label());
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, LEN_SLOT));
        self.jump_imm_to(Cond::Sge, Reg::R1, 0, lo);
        self.emit(Insn::mov64_imm(Reg::R1, 0));
        self.bind(lo);
        self.jump_imm_to(Cond::Sle, Reg::R1, self.s as i32 - 1, hi);
        self.emit(Insn::mov64_imm(Reg::R1, self.s as i32 - 1));
        self.bind(hi);
        self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R1));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R8));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, build as i32));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
        self.jump_imm_to(Cond::Sle, Reg::R0, 1, done);
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R0, 1));
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, LEN_SLOT));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R0));
        self.emit(Insn::store(Size::DW, Reg::FP, LEN_SLOT, Reg::R1));
        self.bind(done);
    }

    /// r3 = the address of r1's text in `conv` (decimal, unsigned, hex,
    /// octal, or the character), written right to left at the end of the
    /// first temporary (24 bytes suffice for 64 bits).
    fn digits(&mut self, conv: crate::format::Conv, width: u32, zero: bool) {
        use crate::format::Conv;
        let t = self.tmp[0] as i32;
        let end = t + 24;
        self.emit(Insn::store_imm(Size::B, Reg::R8, end as i16, 0));
        if conv == Conv::Char {
            self.emit(Insn::store(Size::B, Reg::R8, (end - 1) as i16, Reg::R1));
            self.scratch_addr(Reg::R3, (end - 1) as u32);
            return;
        }
        let (base, upper) = match conv {
            Conv::Hex => (16, false),
            Conv::HexUpper => (16, true),
            Conv::Octal => (8, false),
            _ => (10, false),
        };
        // r4: negative (signed decimal only); r1: the magnitude.
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        if conv == Conv::Signed {
            self.emit(Insn::jump_imm(Cond::Sge, Reg::R1, 0, 2));
            self.emit(Insn::mov64_imm(Reg::R4, 1));
            self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0));
        }
        // r3: where the next digit goes; 22 digits at most (octal).
        self.scratch_addr(Reg::R3, end as u32);
        let (top, done) = (self.label(), self.label());
        self.emit(Insn::mov64_imm(Reg::R5, 0));
        self.bind(top);
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R3, 1));
        self.emit(Insn::mov64_reg(Reg::R2, Reg::R1));
        self.emit(Insn::alu64_imm(AluOp::Mod, Reg::R2, base));
        // 0-9, then a-f (or A-F).
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(b'0')));
        self.emit(Insn::jump_imm(Cond::Le, Reg::R2, i32::from(b'9'), 1));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, if upper { 7 } else { 39 }));
        self.emit(Insn::store(Size::B, Reg::R3, 0, Reg::R2));
        self.emit(Insn::alu64_imm(AluOp::Div, Reg::R1, base));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
        self.jump_imm_to(Cond::Eq, Reg::R1, 0, done);
        self.jump_imm_to(Cond::Lt, Reg::R5, 22, top);
        self.bind(done);
        let width = width.min(22) as i32;
        // Zero padding goes between the sign and the digits.
        if zero && width > 0 {
            let (top, padded) = (self.label(), self.label());
            self.emit(Insn::mov64_imm(Reg::R0, width));
            self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R0, Reg::R4));
            self.bind(top);
            self.jump_reg_to(Cond::Sge, Reg::R5, Reg::R0, padded);
            self.jump_imm_to(Cond::Sge, Reg::R5, 22, padded);
            self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R3, 1));
            self.emit(Insn::store_imm(Size::B, Reg::R3, 0, i32::from(b'0')));
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
            self.jump_to(top);
            self.bind(padded);
        }
        self.emit(Insn::jump_imm(Cond::Eq, Reg::R4, 0, 3));
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R3, 1));
        self.emit(Insn::store_imm(Size::B, Reg::R3, 0, i32::from(b'-')));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
        if !zero && width > 0 {
            let (top, padded) = (self.label(), self.label());
            self.bind(top);
            self.jump_imm_to(Cond::Sge, Reg::R5, width, padded);
            self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R3, 1));
            self.emit(Insn::store_imm(Size::B, Reg::R3, 0, i32::from(b' ')));
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R5, 1));
            self.jump_to(top);
            self.bind(padded);
        }
    }

    /// `kernel_string(addr)` and its kin: a NUL-terminated string read
    /// from kernel or user memory, at most `n` bytes (and a string's
    /// size); a fault is an error, or the fallback string given.
    fn read_string(
        &mut self,
        dst: VarId,
        name: &str,
        addr: &Operand,
        rest: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
        let user = name.starts_with("user_");
        let (limit, fallback) = match (name.ends_with("_n"), rest) {
            (true, [n, ..]) => (Some(n), rest.get(1)),
            (_, _) => (None, rest.first()),
        };
        let off = self.str_off(dst)?;
        self.emit(Insn::store_imm(Size::B, Reg::R8, off as i16, 0));
        self.load(Reg::R3, addr, span)?;
        self.scratch_addr(Reg::R1, off);
        match limit {
            Some(n) => {
                // n + 1 bytes with the NUL, within [1, string size].
                self.load(Reg::R2, n, span)?;
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
                self.emit(Insn::jump_imm(Cond::Sge, Reg::R2, 1, 1));
                self.emit(Insn::mov64_imm(Reg::R2, 1));
                self.emit(Insn::jump_imm(Cond::Sle, Reg::R2, self.s as i32, 1));
                self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
            }
            None => self.emit(Insn::mov64_imm(Reg::R2, self.s as i32)),
        }
        self.emit(Insn::call(if user { HELPER_PROBE_READ_USER_STR } else { HELPER_PROBE_READ_KERNEL_STR }));
        let ok = self.label();
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
        match fallback {
            Some(f) => {
                let f = f.clone();
                self.set_str(dst, &f)?;
            }
            None => {
                let what = if user { "user" } else { "kernel" };
                self.fail(Ok(&format!("{what} string copy fault")), span)?;
            }
        }
        self.bind(ok);
        Ok(())
    }

    /// Writes a key record in the scratch record's key area: longs as
    /// they are, strings NUL-padded.
    fn build_key(&mut self, ml: &MapLayout, keys: &[Operand], span: Span) -> Result<(), Diagnostic> {
        if ml.keys.is_empty() {
            self.emit(Insn::store_imm(Size::DW, Reg::R8, self.key as i16, 0));
            return Ok(());
        }
        for (k, slot) in keys.iter().zip(&ml.keys) {
            let at = (self.key + slot.offset) as i32;
            match slot.ty {
                Ty::Long => {
                    self.load(Reg::R1, k, span)?;
                    self.emit(Insn::store(Size::DW, Reg::R8, at as i16, Reg::R1));
                }
                Ty::Str => {
                    if let Operand::Str(bytes) = k {
                        let bytes = bytes.clone();
                        self.store_literal(Reg::R8, at, &bytes, Some(self.s));
                        continue;
                    }
                    for i in 0..self.s / 8 {
                        self.emit(Insn::store_imm(Size::DW, Reg::R8, (at + 8 * i as i32) as i16, 0));
                    }
                    self.str_ptr(Reg::R3, k, 0)?;
                    self.scratch_addr(Reg::R1, at as u32);
                    self.emit(Insn::mov64_imm(Reg::R2, self.s as i32));
                    self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
                }
            }
        }
        Ok(())
    }

    /// r0 = the entry of the key in the key area, or 0.
    fn lookup(&mut self, map: GlobalId) {
        let name = map_name(self.m, map);
        self.map_load(Reg::R1, &name);
        self.scratch_addr(Reg::R2, self.key);
        self.emit(Insn::call(HELPER_MAP_LOOKUP));
    }

    fn map_get(&mut self, dst: VarId, map: GlobalId, keys: &[Operand], span: Span) -> Result<(), Diagnostic> {
        let ml = self.map_layout(map, span)?;
        self.build_key(&ml, keys, span)?;
        self.lookup(map);
        if self.keep_entry {
            self.emit(Insn::store(Size::DW, Reg::FP, ENTRY_SLOT, Reg::R0));
        }
        let ty = match ml.value {
            ValueLayout::Long => Ty::Long,
            ValueLayout::Str => Ty::Str,
            ValueLayout::Stat(_) => return Err(Diagnostic::internal("pass 3: a statistic read as an array")),
        };
        self.read_found(dst, ty, 0, span)
    }

    fn map_set(&mut self, map: GlobalId, keys: &[Operand], value: &Operand, span: Span) -> Result<(), Diagnostic> {
        let ml = self.map_layout(map, span)?;
        let done = self.label();
        if self.in_place {
            // The read before found the entry: store in it. Else the key
            // area still holds the key.
            let insert = self.label();
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, ENTRY_SLOT));
            self.jump_imm_to(Cond::Eq, Reg::R1, 0, insert);
            match ml.value {
                ValueLayout::Long => {
                    self.emit(Insn::mov64_reg(Reg::R9, Reg::R1));
                    self.load(Reg::R1, value, span)?;
                    self.emit(Insn::store(Size::DW, Reg::R9, 0, Reg::R1));
                }
                _ => {
                    self.emit(Insn::mov64_reg(Reg::R9, Reg::R1));
                    self.copy_str_to(Reg::R9, value)?;
                }
            }
            self.jump_to(done);
            self.bind(insert);
        } else {
            self.build_key(&ml, keys, span)?;
        }
        // r3 = the value's address.
        match ml.value {
            ValueLayout::Long => {
                self.load(Reg::R1, value, span)?;
                self.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R1));
                self.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(VALUE_SLOT)));
            }
            ValueLayout::Str => self.str_ptr(Reg::R3, value, 0)?,
            ValueLayout::Stat(_) => return Err(Diagnostic::internal("pass 3: a statistic written as an array")),
        }
        let name = map_name(self.m, map);
        self.map_load(Reg::R1, &name);
        self.scratch_addr(Reg::R2, self.key);
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::call(HELPER_MAP_UPDATE));
        let ok = self.label();
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
        let msg = overflow_message(self.m, map);
        self.fail(Ok(&msg), span)?;
        self.bind(ok);
        self.bind(done);
        Ok(())
    }

    fn stat_add(&mut self, stat: GlobalId, keys: &[Operand], value: &Operand, span: Span) -> Result<(), Diagnostic> {
        let ml = self.map_layout(stat, span)?;
        let ValueLayout::Stat(hist) = ml.value else {
            return Err(Diagnostic::internal("pass 3: an array used as a statistic"));
        };
        self.build_key(&ml, keys, span)?;
        self.load(Reg::R1, value, span)?;
        self.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R1));
        let (have, ok) = (self.label(), self.label());
        self.lookup(stat);
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, have);
        // A new key: insert a zero record, then find it.
        self.array_value("zeros");
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
        let name = map_name(self.m, stat);
        self.map_load(Reg::R1, &name);
        self.scratch_addr(Reg::R2, self.key);
        self.emit(Insn::mov64_imm(Reg::R4, NOEXIST));
        self.emit(Insn::call(HELPER_MAP_UPDATE));
        // -EEXIST: another CPU inserted it first.
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
        self.jump_imm_to(Cond::Eq, Reg::R0, -17, ok);
        let msg = overflow_message(self.m, stat);
        self.fail(Ok(&msg), span)?;
        self.bind(ok);
        self.lookup(stat);
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, have);
        self.emit(Insn::mov64_imm(Reg::R0, 0));
        self.emit(Insn::exit());
        self.bind(have);
        // r0: the record (this CPU's); r1: the value. The update is
        // stap's (see `STAT_FIELDS`): count, sum, min, max, then the
        // running mean and sum of squared differences.
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
        let (first, updated) = (self.label(), self.label());
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R0, 0));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
        self.emit(Insn::store(Size::DW, Reg::R0, 0, Reg::R2));
        self.emit(Insn::load(Size::DW, Reg::R3, Reg::R0, 8));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
        self.emit(Insn::store(Size::DW, Reg::R0, 8, Reg::R3));
        self.jump_imm_to(Cond::Eq, Reg::R2, 1, first);
        self.emit(Insn::load(Size::DW, Reg::R3, Reg::R0, 16));
        self.emit(Insn::jump_reg(Cond::Sle, Reg::R3, Reg::R1, 1));
        self.emit(Insn::store(Size::DW, Reg::R0, 16, Reg::R1));
        self.emit(Insn::load(Size::DW, Reg::R3, Reg::R0, 24));
        self.emit(Insn::jump_reg(Cond::Sge, Reg::R3, Reg::R1, 1));
        self.emit(Insn::store(Size::DW, Reg::R0, 24, Reg::R1));
        // r3 = delta = (v - avg_s) as a 32-bit int, sign-extended.
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::R0, 32));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R1));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R3, Reg::R4));
        self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R3, 32));
        self.emit(Insn::alu64_imm(AluOp::Arsh, Reg::R3, 32));
        // r5 = delta / count, truncating towards zero.
        self.emit(Insn::mov64_reg(Reg::R5, Reg::R3));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R5, 0, 3));
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R5, 0));
        self.emit(Insn::alu64_reg(AluOp::Div, Reg::R5, Reg::R2));
        self.emit(Insn::jump(1));
        self.emit(Insn::alu64_reg(AluOp::Div, Reg::R5, Reg::R2));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R3, 0, 1));
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R5, 0));
        // avg_s += r5; m2 += delta * (v - avg_s).
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R5));
        self.emit(Insn::store(Size::DW, Reg::R0, 32, Reg::R4));
        self.emit(Insn::mov64_reg(Reg::R5, Reg::R1));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R5, Reg::R4));
        self.emit(Insn::alu64_reg(AluOp::Mul, Reg::R5, Reg::R3));
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::R0, 40));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R5));
        self.emit(Insn::store(Size::DW, Reg::R0, 40, Reg::R4));
        self.jump_to(updated);
        self.bind(first);
        self.emit(Insn::store(Size::DW, Reg::R0, 16, Reg::R1));
        self.emit(Insn::store(Size::DW, Reg::R0, 24, Reg::R1));
        self.emit(Insn::store(Size::DW, Reg::R0, 32, Reg::R1));
        self.emit(Insn::store_imm(Size::DW, Reg::R0, 40, 0));
        self.bind(updated);
        // The bucket, in r2.
        match hist {
            HistLayout::None => return Ok(()),
            HistLayout::Log => self.log_bucket(),
            HistLayout::Linear { lo, step, .. } => {
                // v - lo (wrapping): below zero the underflow bucket,
                // else an unsigned division by the step, plus one,
                // capped at the overflow bucket.
                let (under, done) = (self.label(), self.label());
                self.emit(Insn::mov64_reg(Reg::R2, Reg::R1));
                self.mov_imm(Reg::R3, lo);
                self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R3));
                self.jump_imm_to(Cond::Slt, Reg::R2, 0, under);
                self.mov_imm(Reg::R3, step);
                self.emit(Insn::alu64_reg(AluOp::Div, Reg::R2, Reg::R3));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, 1));
                let last = hist.buckets() as i32 - 1;
                self.jump_imm_to(Cond::Le, Reg::R2, last, done);
                self.emit(Insn::mov64_imm(Reg::R2, last));
                self.jump_to(done);
                self.bind(under);
                self.emit(Insn::mov64_imm(Reg::R2, 0));
                self.bind(done);
            }
        }
        // Bounds the verifier can see, then the count.
        let skip = self.label();
        self.jump_imm_to(Cond::Gt, Reg::R2, hist.buckets() as i32 - 1, skip);
        self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R2, 3));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R2));
        let first_bucket = (STAT_FIELDS * 8) as i16;
        self.emit(Insn::load(Size::DW, Reg::R3, Reg::R0, first_bucket));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, 1));
        self.emit(Insn::store(Size::DW, Reg::R0, first_bucket, Reg::R3));
        self.bind(skip);
        Ok(())
    }

    /// r2 = `log_bucket(r1)`: 64 plus or minus the bit length of |r1|,
    /// found by halving.
    fn log_bucket(&mut self) {
        // r3 = |r1|, r4 = its bit length.
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R1));
        self.emit(Insn::jump_imm(Cond::Sge, Reg::R3, 0, 1));
        self.emit(Insn::alu64_imm(AluOp::Neg, Reg::R3, 0));
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        for shift in [32, 16, 8, 4, 2, 1] {
            // if r3 >= 1 << shift { r3 >>= shift; r4 += shift }
            self.emit2(Insn::ld_imm64(Reg::R5, 1u64 << shift));
            self.emit(Insn::jump_reg(Cond::Lt, Reg::R3, Reg::R5, 2));
            self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R3, shift));
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R4, shift));
        }
        // r3 is now 0 or 1: the last bit.
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R3));
        self.emit(Insn::mov64_imm(Reg::R2, 64));
        self.emit(Insn::jump_imm(Cond::Slt, Reg::R1, 0, 2));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R2, Reg::R4));
        self.emit(Insn::jump(1));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R2, Reg::R4));
    }
}

/// The helper names `-p3` shows.
fn helper_name(h: i32) -> Option<&'static str> {
    Some(match h {
        HELPER_MAP_LOOKUP => "bpf_map_lookup_elem",
        HELPER_MAP_UPDATE => "bpf_map_update_elem",
        HELPER_MAP_DELETE => "bpf_map_delete_elem",
        HELPER_CPU => "bpf_get_smp_processor_id",
        HELPER_PID_TGID => "bpf_get_current_pid_tgid",
        HELPER_UID_GID => "bpf_get_current_uid_gid",
        HELPER_COMM => "bpf_get_current_comm",
        HELPER_CURRENT_TASK => "bpf_get_current_task",
        HELPER_KTIME => "bpf_ktime_get_ns",
        HELPER_JIFFIES => "bpf_jiffies64",
        HELPER_PROBE_READ_USER => "bpf_probe_read_user",
        HELPER_PROBE_READ_USER_STR => "bpf_probe_read_user_str",
        HELPER_PROBE_READ_KERNEL => "bpf_probe_read_kernel",
        HELPER_PROBE_READ_KERNEL_STR => "bpf_probe_read_kernel_str",
        HELPER_RINGBUF_RESERVE => "bpf_ringbuf_reserve",
        HELPER_RINGBUF_SUBMIT => "bpf_ringbuf_submit",
        HELPER_RINGBUF_QUERY => "bpf_ringbuf_query",
        HELPER_LOOKUP_PERCPU => "bpf_map_lookup_percpu_elem",
        _ => return None,
    })
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
        text.push_str(&format!("{} /* {} */:\n", p.name, p.section));
        let maps = |slot: usize| p.map_loads.iter().find(|(s, _)| *s == slot).map(|(_, m)| m.clone());
        text.push_str(&super::insn::disassemble(&p.insns, &helper_name, &maps));
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
