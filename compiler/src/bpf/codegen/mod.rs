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
//!
//! In: the IR module, the layout and the kernel's facts. Out: an
//! [`Output`] (programs, maps, line starts, record table), through
//! [`crate::bpf::build`], the back end's entry. The parts: [`program`]
//! makes a program per point; a [`Gen`] writes one, through its
//! [`Emitter`] (instructions, labels, jumps), its [`Frame`] (where the
//! function's values live) and its [`ProgramFacts`] (what the program is
//! for, from [`facts`]); [`inst`] writes each IR instruction, and each
//! construct has its module (maps, strings, `foreach`, intrinsics,
//! target variables, ...). The ABI's constants are in [`super::abi`].
//! (`target.rs` still imports this module's names wholesale.)

use super::abi::*;
use super::btf::MapDef;
use super::elf::Program;
use super::insn::{AluOp, Cond, Insn, Reg, Size};
use super::records::{self, RecordKind};
use crate::diag::Diagnostic;
use crate::ir::{Block, BlockId, Function, GlobalId, Inst, InstKind, Module, Operand, Terminator, Ty, VarId};
use crate::layout::Layout;
use crate::parse::ast::PrintKind;
use crate::source::Span;
use emit::{Emitter, Label};
pub use facts::KernelFacts;
pub(crate) use facts::fentry_args;
use facts::{Ctx, ProgramFacts};
use frame::Frame;
pub(crate) use program::generate;

mod atomic;
mod budget;
mod context;
pub mod dispatch;
mod emit;
mod facts;
mod fault;
mod foreach;
mod frame;
mod inst;
mod intrinsics;
mod loops;
mod maps;
mod program;
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

fn not_yet(what: &str, span: Span) -> Diagnostic {
    Diagnostic::semantic_error(format!("the eBPF back end does not translate {what} yet"), span)
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

/// The generator of one program (or one callback of it): the code it
/// writes ([`Emitter`]), where the function's values live ([`Frame`]),
/// what the program is for ([`ProgramFacts`]), and the state of the walk
/// over the function's blocks.
struct Gen<'a> {
    m: &'a Module,
    f: &'a Function,
    layout: &'a Layout,
    records: &'a mut Vec<RecordKind>,
    /// The instructions, labels, jumps to resolve and line starts.
    e: Emitter,
    /// The stack slots, scratch places and work area of the function.
    frame: Frame,
    /// The probe point, context and kernel the program is for.
    facts: ProgramFacts,
    /// The catch of the block being generated.
    on_error: Option<crate::ir::Catch>,
    /// This map read keeps its entry in ENTRY_SLOT; this map write
    /// stores there when the read found one (the key area still holds
    /// its key).
    keep_entry: bool,
    in_place: bool,
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
    /// In a loop's callback: the loop, and the values it copies.
    region: Option<loops::Region>,
    /// The blocks this generator writes.
    emitted: Vec<bool>,
    /// Stubs that leave for blocks it does not write.
    stubs: Vec<(Label, u32)>,
    /// The read-only data this generator adds, and where it starts in
    /// the object's.
    rodata: Vec<u8>,
    rodata_base: u32,
}

impl<'a> Gen<'a> {
    fn new(m: &'a Module, f: &'a Function, layout: &'a Layout, records: &'a mut Vec<RecordKind>, ctx: Ctx) -> Gen<'a> {
        Gen {
            m,
            f,
            layout,
            records,
            e: Emitter::default(),
            frame: Frame::new(f, layout),
            facts: ProgramFacts::new(ctx),
            on_error: None,
            keep_entry: false,
            in_place: false,
            in_string_loop: false,
            fills: Vec::new(),
            callbacks: Vec::new(),
            cb_base: 0,
            buffers: Vec::new(),
            fe_next: 0,
            iters: Vec::new(),
            region: None,
            emitted: Vec::new(),
            stubs: Vec::new(),
            rodata: Vec::new(),
            rodata_base: 0,
        }
    }

    fn slot(&self, v: VarId, span: Span) -> Result<i16, Diagnostic> {
        self.frame
            .slots
            .get(v.0 as usize)
            .copied()
            .flatten()
            .ok_or_else(|| not_yet("handlers with this many values (the stack holds 59)", span))
    }

    fn str_off(&self, v: VarId) -> Result<u32, Diagnostic> {
        self.frame
            .strs
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
        let max = pad_to.map_or(self.frame.s, |p| p.min(self.frame.s)) as usize - 1;
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
                let off = self.frame.tmp.get(which).copied().unwrap_or(0);
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
        self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
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
                        self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
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
            self.emit(Insn::jump_imm(Cond::Le, Reg::R0, (self.facts.ringbuf / 8) as i32, 1));
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
        if self.frame.scratch + self.frame.s > limit || self.layout.globals_size > limit {
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
            || f.blocks.iter().any(|b| matches!(b.term, Terminator::Error(_)))
            // A literal string passed to an intrinsic is written there.
            || self.uses(|k| {
                matches!(k, InstKind::Intrinsic { args, .. } if args.iter().any(|a| matches!(a, Operand::Str(_))))
            });
        if strings {
            self.array_value("scratch");
            self.emit(Insn::mov64_reg(Reg::R8, Reg::R0));
        } else {
            self.frame.scratch = 0;
        }
        if !self.frame.fe_loops.is_empty() {
            self.keep_pointers();
        }
        self.emit(Insn::store_imm(Size::DW, Reg::FP, LOOP_SLOT, 0));
        for (_, slot) in self.frame.loops.clone().into_iter().skip(1) {
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
        self.e.resolve(span)?;
        let callbacks = self
            .callbacks
            .into_iter()
            .collect::<Option<Vec<Code>>>()
            .ok_or_else(|| Diagnostic::internal("pass 3: a callback was never finished"))?;
        Ok(Code {
            insns: self.e.insns,
            map_loads: self.e.map_loads,
            lines: self.e.lines,
            scratch: self.frame.scratch,
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
            self.e.lines.push((self.e.insns.len(), i.span));
            self.keep_entry = fused.iter().any(|&(get, _)| get == k);
            self.in_place = fused.iter().any(|&(_, set)| set == k);
            self.inst(i)?;
        }
        self.keep_entry = false;
        self.in_place = false;
        self.e.lines.push((self.e.insns.len(), b.term_span));
        // A jump back is a loop's next turn: counted against MAXACTION,
        // which also bounds the loop for the verifier.
        let back = |t: BlockId| self.frame.back_edges.contains(&(index as u32, t.0));
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
        let slot = self.frame.loops.iter().find(|(h, _)| *h == header).and_then(|(_, s)| *s).unwrap_or(LOOP_SLOT);
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
}

/// The programs as `-p3` shows them.
pub(crate) fn print(out: &Output) -> String {
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
