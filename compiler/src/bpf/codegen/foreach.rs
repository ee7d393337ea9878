//! `foreach`, whole-array `delete` and `*` patterns in kernel handlers.
//!
//! Programs cannot walk a map's keys themselves; the kernel walks them
//! with `bpf_for_each_map_elem`, calling a callback subprogram per entry.
//! The callbacks here are small and fixed, and the script's code stays in
//! the program:
//!
//! - `foreach` copies the entries (those matching its slice) into a
//!   buffer of this CPU, an array map `fe{N}` with one record per CPU, and
//!   the loop then takes them from there, as the IR says: the entries as
//!   they were when the loop started. A sorted `foreach` keeps an order
//!   of the buffer's entries, in which each new entry is inserted by a
//!   `bpf_loop` step callback (stable: equal entries keep the order the
//!   kernel walked them in). A statistic's value is the extractor the
//!   loop sorts on or reads (`@count` unless it says), summed over every
//!   CPU.
//! - `delete a` and `delete a[k, *]` delete each matching entry from the
//!   callback, which the kernel allows for the entry in hand.
//! - `[k, *] in a` stops at the first match and says so through the
//!   caller's stack.
//!
//! A slice's or pattern's keys are written to the scratch record's
//! pattern area before the walk; the callback compares the keys given
//! with the entry's, word by word (string keys are NUL-padded).
//!
//! Buffer record: the count, the limit, then for a sorted loop the order
//! (a u16 per entry), then the entries: the key record, then the value.

use super::{Ctx, Gen, KEY_SLOT, Label, MAX_CPUS, VALUE_SLOT, map_name, not_yet};
use crate::bpf::abi::{
    HELPER_CPU, HELPER_FOR_EACH, HELPER_LOOP, HELPER_MAP_DELETE, HELPER_MAP_LOOKUP, HELPER_PROBE_READ_KERNEL,
    HELPER_PROBE_READ_KERNEL_STR, MAP_ARRAY,
};
use crate::bpf::btf::MapDef;
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::{Function, GlobalId, InstKind, Operand, Ty, VarId};
use crate::layout::{MapLayout, ValueLayout};
use crate::parse::ast::{Sort, SortBy, StatOp};
use crate::source::Span;

/// The stack a program with callbacks leaves them: the kernel counts the
/// frames of a call chain (program, walk callback, step callback)
/// against one limit, each rounded up to 32 bytes.
pub(super) const CALLBACK_STACK: i32 = 128;

/// The walk callback's frame: the value and context pointers it gets,
/// the buffer entry it writes, and where its insertion step leaves the
/// entry's place in the order.
const CB_VALUE: i16 = -48;
const CB_CTX: i16 = -56;
const CB_ENTRY: i16 = -64;
const CB_POS: i16 = -72;

/// The buffer record's header: count, limit.
const COUNT: i16 = 0;
const LIMIT: i16 = 8;
const ORDER: u32 = 16;

/// The largest array map value the kernel creates (`KMALLOC_MAX_SIZE`).
const MAX_BUFFER: u64 = 4 << 20;

/// Whether a function needs callbacks (and so leaves them stack and a
/// pattern area).
pub(super) fn uses_callbacks(f: &Function) -> bool {
    f.blocks.iter().flat_map(|b| &b.insts).any(|i| match &i.kind {
        InstKind::IterStart { .. } | InstKind::MapDelete { keys: None, .. } | InstKind::Regex { .. } => true,
        InstKind::MapDelete { keys: Some(keys), .. } => keys.iter().any(Option::is_none),
        InstKind::MapHas { keys, .. } => keys.iter().any(Option::is_none),
        _ => false,
    })
}

/// What a callback gets in its registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CallbackKind {
    /// `bpf_for_each_map_elem`: the map, the key, the value, the context.
    Walk,
    /// `bpf_loop`: the turn, the context.
    Step,
}

/// One `foreach`'s buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Buffer {
    name: String,
    /// The array walked.
    map: GlobalId,
    /// Entries it holds: as many as the array.
    cap: u32,
    sort: Option<Sort>,
    entries_at: u32,
    /// The size of an entry.
    entry: u32,
    /// Where an entry's value is and its type, when it keeps one.
    value: Option<(u32, Ty)>,
    /// For a statistic: the extractor the value holds.
    stat: Option<StatOp>,
}

impl Buffer {
    pub(super) fn cap(&self) -> u32 {
        self.cap
    }
}

impl Gen<'_> {
    /// Makes a callback: its frame is set up as `kind` says, then `body`
    /// writes it; falling off its end returns 0 (go on). Returns its
    /// index, for [`Insn::ld_func`].
    pub(super) fn callback(
        &mut self,
        kind: CallbackKind,
        span: Span,
        body: impl FnOnce(&mut Gen<'_>) -> Result<(), Diagnostic>,
    ) -> Result<i32, Diagnostic> {
        let index = self.cb_base + self.callbacks.len();
        self.callbacks.push(None);
        let mut g = Gen::new(self.m, self.f, self.layout, self.records, Ctx::Other);
        g.facts.task = self.facts.task;
        g.facts.ringbuf = self.facts.ringbuf;
        g.cb_base = index + 1;
        g.rodata_base = self.rodata_base + self.rodata.len() as u32;
        g.e.lines.push((0, span));
        match kind {
            CallbackKind::Walk => {
                g.emit(Insn::mov64_reg(Reg::R6, Reg::R2));
                g.emit(Insn::store(Size::DW, Reg::FP, CB_VALUE, Reg::R3));
                g.emit(Insn::store(Size::DW, Reg::FP, CB_CTX, Reg::R4));
                g.array_value("globals");
                g.emit(Insn::mov64_reg(Reg::R7, Reg::R0));
                g.array_value("scratch");
                g.emit(Insn::mov64_reg(Reg::R8, Reg::R0));
            }
            CallbackKind::Step => {
                g.emit(Insn::mov64_reg(Reg::R6, Reg::R2));
                g.emit(Insn::mov64_reg(Reg::R7, Reg::R1));
            }
        }
        body(&mut g)?;
        g.emit(Insn::mov64_imm(Reg::R0, 0));
        g.emit(Insn::exit());
        let mut code = g.finish(span)?;
        let nested = std::mem::take(&mut code.callbacks);
        self.rodata.extend(std::mem::take(&mut code.rodata));
        if let Some(slot) = self.callbacks.get_mut(index - self.cb_base) {
            *slot = Some(code);
        }
        self.callbacks.extend(nested.into_iter().map(Some));
        i32::try_from(index).map_err(|_| not_yet("this many callbacks", span))
    }

    /// `return 1`: the walk or the loop stops.
    fn stop(&mut self) {
        self.emit(Insn::mov64_imm(Reg::R0, 1));
        self.emit(Insn::exit());
    }

    /// Walks `map` with callback `cb`, its context the caller's stack
    /// slot `ctx`, if any.
    fn walk(&mut self, map: &str, cb: i32, ctx: Option<i16>) {
        self.map_load(Reg::R1, map);
        self.emit2(Insn::ld_func(Reg::R2, cb));
        match ctx {
            Some(slot) => {
                self.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
                self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(slot)));
            }
            None => self.emit(Insn::mov64_imm(Reg::R3, 0)),
        }
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::call(HELPER_FOR_EACH));
    }

    /// r0 = this CPU's record of array map `name` (one record per CPU),
    /// or 0.
    fn this_cpus(&mut self, name: &str) {
        self.emit(Insn::call(HELPER_CPU));
        self.emit(Insn::store(Size::W, Reg::FP, KEY_SLOT, Reg::R0));
        self.map_load(Reg::R1, name);
        self.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(KEY_SLOT)));
        self.emit(Insn::call(HELPER_MAP_LOOKUP));
    }

    /// In a callback: r9 = this CPU's record of buffer `name`, or the
    /// callback stops.
    fn buffer_or_stop(&mut self, name: &str) {
        let found = self.label();
        self.this_cpus(name);
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, found);
        self.stop();
        self.bind(found);
        self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
    }

    /// In a walk callback: on to `skip` unless the entry's key (r6)
    /// matches the pattern's given keys.
    fn match_pattern(&mut self, ml: &MapLayout, pattern: &[Option<Operand>], skip: Label) {
        for (k, slot) in pattern.iter().zip(&ml.keys) {
            if k.is_none() {
                continue;
            }
            let words = slot.size / 8;
            for w in 0..words {
                let at = slot.offset + 8 * w;
                self.emit(Insn::load(Size::DW, Reg::R1, Reg::R6, at as i16));
                self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, (self.frame.pattern + at) as i16));
                self.jump_reg_to(Cond::Ne, Reg::R1, Reg::R2, skip);
            }
        }
    }

    /// Writes the given keys of a pattern to the pattern area.
    fn write_pattern(&mut self, ml: &MapLayout, pattern: &[Option<Operand>], span: Span) -> Result<(), Diagnostic> {
        if pattern.iter().any(Option::is_some) {
            self.write_keys(self.frame.pattern, ml, pattern, span)?;
        }
        Ok(())
    }

    /// `delete a`, `delete a[k, *]`: every matching entry goes.
    pub(super) fn delete_matching(
        &mut self,
        map: GlobalId,
        pattern: Option<&[Option<Operand>]>,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let ml = self.map_layout(map, span)?;
        let name = map_name(self.m, map);
        if ml.keys.is_empty() {
            // A statistic without keys has one record.
            self.build_key(&ml, &[], span)?;
            self.map_load(Reg::R1, &name);
            self.scratch_addr(Reg::R2, self.frame.key);
            self.emit(Insn::call(HELPER_MAP_DELETE));
            return Ok(());
        }
        let pattern = pattern.map(<[Option<Operand>]>::to_vec).unwrap_or_default();
        self.write_pattern(&ml, &pattern, span)?;
        let cb = self.callback(CallbackKind::Walk, span, |g| {
            let skip = g.label();
            g.match_pattern(&ml, &pattern, skip);
            g.map_load(Reg::R1, &name);
            g.emit(Insn::mov64_reg(Reg::R2, Reg::R6));
            g.emit(Insn::call(HELPER_MAP_DELETE));
            g.bind(skip);
            Ok(())
        })?;
        self.walk(&map_name(self.m, map), cb, None);
        Ok(())
    }

    /// `[k, *] in a`: 1 if an entry matches.
    pub(super) fn has_matching(
        &mut self,
        dst: VarId,
        map: GlobalId,
        pattern: &[Option<Operand>],
        span: Span,
    ) -> Result<(), Diagnostic> {
        let ml = self.map_layout(map, span)?;
        self.write_pattern(&ml, pattern, span)?;
        let pattern = pattern.to_vec();
        let cb = self.callback(CallbackKind::Walk, span, |g| {
            let skip = g.label();
            g.match_pattern(&ml, &pattern, skip);
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, CB_CTX));
            g.emit(Insn::store_imm(Size::DW, Reg::R1, 0, 1));
            g.stop();
            g.bind(skip);
            Ok(())
        })?;
        self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
        self.walk(&map_name(self.m, map), cb, Some(VALUE_SLOT));
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
        self.store(dst, Reg::R1, span)
    }

    /// The buffer of a `foreach` over `map`, a new map of the object.
    fn buffer(
        &mut self,
        map: GlobalId,
        sort: Option<Sort>,
        aggregate: Option<StatOp>,
        wants_value: bool,
        span: Span,
    ) -> Result<Buffer, Diagnostic> {
        let ml = self.map_layout(map, span)?;
        let by_value = sort.is_some_and(|s| s.by == SortBy::Value);
        let (value, stat) = match ml.value {
            ValueLayout::Long => (Some(Ty::Long), None),
            ValueLayout::Str => (Some(Ty::Str), None),
            ValueLayout::Stat(_) if wants_value || by_value => {
                (Some(Ty::Long), Some(aggregate.unwrap_or(StatOp::Count)))
            }
            ValueLayout::Stat(_) => (None, None),
        };
        let cap = ml.max_entries;
        let value_size = value.map_or(0, |t| self.layout.size_of(t));
        let entry = ml.key_size.div_ceil(8) * 8 + value_size;
        let entries_at = if sort.is_some() { ORDER + (2 * cap).div_ceil(8) * 8 } else { ORDER };
        let size = u64::from(entries_at) + u64::from(cap) * u64::from(entry);
        if size > MAX_BUFFER || cap > u32::from(u16::MAX) {
            return Err(not_yet(
                &format!("foreach over an array of {cap} entries of {entry} bytes (past the 4 MiB a buffer may have)"),
                span,
            ));
        }
        let name = format!("fe{}", self.fe_next + self.buffers.len() as u32);
        let cpus = if self.facts.task.cpus == 0 { MAX_CPUS } else { self.facts.task.cpus };
        self.buffers.push(MapDef {
            name: name.clone(),
            map_type: MAP_ARRAY,
            key_size: 4,
            value_size: size as u32,
            max_entries: cpus,
            flags: 0,
        });
        Ok(Buffer {
            name,
            map,
            cap,
            sort,
            entries_at,
            entry,
            value: value.map(|t| (ml.key_size.div_ceil(8) * 8, t)),
            stat,
        })
    }

    /// Where an entry's sort field is and its type.
    /// Where an entry's sort field is, its type and its bytes.
    fn sort_field(&self, ml: &MapLayout, b: &Buffer, sort: Sort) -> Option<(u32, Ty, u32)> {
        match sort.by {
            SortBy::Value => b.value.map(|(at, ty)| (at, ty, self.layout.size_of(ty))),
            SortBy::Key(i) => ml.keys.get(i).map(|k| (k.offset, k.ty, k.size)),
        }
    }

    /// `foreach` starts: the matching entries are copied to the buffer,
    /// in order if sorted, at most `limit` of them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn iter_start(
        &mut self,
        iter: VarId,
        map: GlobalId,
        sort: Option<Sort>,
        aggregate: Option<StatOp>,
        limit: Option<&Operand>,
        slice: &[Option<Operand>],
        span: Span,
    ) -> Result<(), Diagnostic> {
        let ml = self.map_layout(map, span)?;
        let wants_value = self
            .f
            .blocks
            .iter()
            .flat_map(|b| &b.insts)
            .any(|i| matches!(&i.kind, InstKind::IterNext { iter: it, value: Some(_), .. } if *it == iter));
        let b = self.buffer(map, sort, aggregate, wants_value, span)?;
        let name = map_name(self.m, map);
        self.write_pattern(&ml, slice, span)?;
        // The count starts at 0, the limit at the most there can be.
        let ready = self.label();
        self.this_cpus(&b.name);
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, ready);
        self.emit(Insn::mov64_imm(Reg::R1, 0));
        self.store(iter, Reg::R1, span)?;
        let done = self.label();
        self.jump_to(done);
        self.bind(ready);
        self.emit(Insn::store_imm(Size::DW, Reg::R0, COUNT, 0));
        match limit {
            Some(l) => {
                self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
                self.load(Reg::R1, l, span)?;
                self.emit(Insn::store(Size::DW, Reg::R9, LIMIT, Reg::R1));
            }
            None => self.emit(Insn::store_imm(Size::DW, Reg::R0, LIMIT, i32::MAX)),
        }
        let pattern = slice.to_vec();
        let step = match sort {
            Some(s) => {
                let (field, ty, size) = self.sort_field(&ml, &b, s).ok_or_else(|| {
                    Diagnostic::internal("pass 3: foreach sorts on what its entries lack").at(span, "")
                })?;
                let b2 = b.clone();
                Some(self.callback(CallbackKind::Step, span, |g| g.insertion_step(&b2, (field, ty, size), s))?)
            }
            None => None,
        };
        let cb = self.callback(CallbackKind::Walk, span, |g| g.collect(&ml, &b, &name, &pattern, step, span))?;
        self.walk(&name, cb, None);
        // Sorted, the limit applies once every entry is in order.
        if sort.is_some() && limit.is_some() {
            self.this_cpus(&b.name);
            let kept = self.label();
            self.jump_imm_to(Cond::Eq, Reg::R0, 0, kept);
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::R0, COUNT));
            self.emit(Insn::load(Size::DW, Reg::R2, Reg::R0, LIMIT));
            self.jump_reg_to(Cond::Sle, Reg::R1, Reg::R2, kept);
            let positive = self.label();
            self.jump_imm_to(Cond::Sge, Reg::R2, 0, positive);
            self.emit(Insn::mov64_imm(Reg::R2, 0));
            self.bind(positive);
            self.emit(Insn::store(Size::DW, Reg::R0, COUNT, Reg::R2));
            self.bind(kept);
        }
        self.emit(Insn::mov64_imm(Reg::R1, 0));
        self.store(iter, Reg::R1, span)?;
        self.bind(done);
        self.iters.push((iter, b));
        Ok(())
    }

    /// The walk callback of a `foreach`: a matching entry goes into the
    /// buffer (r9), in its place in the order if sorted.
    fn collect(
        &mut self,
        ml: &MapLayout,
        b: &Buffer,
        map: &str,
        pattern: &[Option<Operand>],
        step: Option<i32>,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let skip = self.label();
        self.match_pattern(ml, pattern, skip);
        self.buffer_or_stop(&b.name);
        let room = self.label();
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, COUNT));
        self.jump_imm_to(Cond::Lt, Reg::R1, b.cap as i32, room);
        self.stop();
        self.bind(room);
        if b.sort.is_none() {
            // Unsorted, the walk stops at the limit.
            let under = self.label();
            self.emit(Insn::load(Size::DW, Reg::R2, Reg::R9, LIMIT));
            self.jump_reg_to(Cond::Slt, Reg::R1, Reg::R2, under);
            self.stop();
            self.bind(under);
        }
        self.emit(Insn::alu64_imm(AluOp::Mul, Reg::R1, b.entry as i32));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, b.entries_at as i32));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R9));
        self.emit(Insn::store(Size::DW, Reg::FP, CB_ENTRY, Reg::R1));
        self.emit(Insn::mov64_imm(Reg::R2, ml.key_size as i32));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R6));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
        if let Some((at, ty)) = b.value {
            match (b.stat, ty) {
                (Some(op), _) => {
                    // The statistic's extractor, over every CPU.
                    self.scratch_addr(Reg::R1, self.frame.key);
                    self.emit(Insn::mov64_imm(Reg::R2, ml.key_size as i32));
                    self.emit(Insn::mov64_reg(Reg::R3, Reg::R6));
                    self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
                    self.stat_extract(map, op, true, ml.shift, span)?;
                    self.emit(Insn::load(Size::DW, Reg::R2, Reg::FP, CB_ENTRY));
                    self.emit(Insn::store(Size::DW, Reg::R2, at as i16, Reg::R1));
                }
                (None, Ty::Long) => {
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, CB_VALUE));
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::R1, 0));
                    self.emit(Insn::load(Size::DW, Reg::R2, Reg::FP, CB_ENTRY));
                    self.emit(Insn::store(Size::DW, Reg::R2, at as i16, Reg::R1));
                }
                (None, Ty::Str) => {
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, CB_ENTRY));
                    self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, at as i32));
                    self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
                    self.emit(Insn::load(Size::DW, Reg::R3, Reg::FP, CB_VALUE));
                    self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
                }
            }
        }
        // The buffer again: the helpers above took the registers.
        self.buffer_or_stop(&b.name);
        if let Some(step) = step {
            // The new entry's place: after the last entry that does not
            // come after it, found by steps from the end.
            self.emit(Insn::store_imm(Size::DW, Reg::FP, CB_POS, 0));
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, COUNT));
            self.emit2(Insn::ld_func(Reg::R2, step));
            self.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, i32::from(CB_POS)));
            self.emit(Insn::mov64_imm(Reg::R4, 0));
            self.emit(Insn::call(HELPER_LOOP));
            self.buffer_or_stop(&b.name);
            let placed = self.label();
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, CB_POS));
            self.jump_imm_to(Cond::Ge, Reg::R1, b.cap as i32, placed);
            self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, 1));
            self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R9));
            self.emit(Insn::load(Size::DW, Reg::R2, Reg::R9, COUNT));
            self.emit(Insn::store(Size::H, Reg::R1, ORDER as i16, Reg::R2));
            self.bind(placed);
        }
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, COUNT));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        self.emit(Insn::store(Size::DW, Reg::R9, COUNT, Reg::R1));
        self.bind(skip);
        Ok(())
    }

    /// A `bpf_loop` step of the insertion of the buffer's newest entry
    /// (index: the count) into the order: turn `i` looks at place
    /// `count - 1 - i`. An entry the new one comes before moves up one
    /// place; otherwise the new one's place is the one after, left in
    /// the context (r6), and the loop stops.
    fn insertion_step(&mut self, b: &Buffer, (field, ty, size): (u32, Ty, u32), sort: Sort) -> Result<(), Diagnostic> {
        self.buffer_or_stop(&b.name);
        // r5 = count (the new entry), r4 = j = count - 1 - i.
        self.emit(Insn::load(Size::DW, Reg::R5, Reg::R9, COUNT));
        let ok = self.label();
        self.jump_imm_to(Cond::Lt, Reg::R5, b.cap as i32, ok);
        self.stop();
        self.bind(ok);
        self.emit(Insn::mov64_reg(Reg::R4, Reg::R5));
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R4, 1));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R4, Reg::R7));
        let ok = self.label();
        self.jump_imm_to(Cond::Lt, Reg::R4, b.cap as i32 - 1, ok);
        self.stop();
        self.bind(ok);
        // r3 = order[j], the entry there.
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R4));
        self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R3, 1));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R9));
        self.emit(Insn::load(Size::H, Reg::R3, Reg::R3, ORDER as i16));
        let ok = self.label();
        self.jump_imm_to(Cond::Lt, Reg::R3, b.cap as i32, ok);
        self.stop();
        self.bind(ok);
        // r1 = the new entry's field, r2 = the other's.
        let entry = |g: &mut Gen<'_>, reg: Reg, index: Reg| {
            g.emit(Insn::mov64_reg(reg, index));
            g.emit(Insn::alu64_imm(AluOp::Mul, reg, b.entry as i32));
            g.emit(Insn::alu64_imm(AluOp::Add, reg, (b.entries_at + field) as i32));
            g.emit(Insn::alu64_reg(AluOp::Add, reg, Reg::R9));
        };
        entry(self, Reg::R1, Reg::R5);
        entry(self, Reg::R2, Reg::R3);
        let (before, after) = (self.label(), self.label());
        let words = if ty == Ty::Str { size / 8 } else { 1 };
        for w in 0..words {
            let at = (8 * w) as i16;
            self.emit(Insn::load(Size::DW, Reg::R0, Reg::R1, at));
            let mine = Reg::R0;
            // r8 is free in a step callback.
            self.emit(Insn::load(Size::DW, Reg::R8, Reg::R2, at));
            let (less, greater) = if ty == Ty::Str {
                self.emit(Insn::to_be64(Reg::R0));
                self.emit(Insn::to_be64(Reg::R8));
                (Cond::Lt, Cond::Gt)
            } else {
                (Cond::Slt, Cond::Sgt)
            };
            let (first, second) = if sort.descending { (greater, less) } else { (less, greater) };
            self.jump_reg_to(first, mine, Reg::R8, before);
            self.jump_reg_to(second, mine, Reg::R8, after);
        }
        // Equal: the new entry stays after.
        self.bind(after);
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R4, 1));
        self.emit(Insn::store(Size::DW, Reg::R6, 0, Reg::R4));
        self.stop();
        self.bind(before);
        // order[j + 1] = order[j].
        self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R4, 1));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R9));
        self.emit(Insn::store(Size::H, Reg::R4, (ORDER + 2) as i16, Reg::R3));
        Ok(())
    }

    /// The next entry of a `foreach`, from its buffer.
    pub(super) fn iter_next(
        &mut self,
        iter: VarId,
        found: VarId,
        keys: &[VarId],
        value: Option<VarId>,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let Some(b) = self.iters.iter().rev().find(|(v, _)| *v == iter).map(|(_, b)| b.clone()) else {
            return Err(Diagnostic::internal("pass 3: foreach takes an entry before it starts").at(span, ""));
        };
        let (end, done) = (self.label(), self.label());
        self.this_cpus(&b.name);
        self.jump_imm_to(Cond::Eq, Reg::R0, 0, end);
        self.emit(Insn::mov64_reg(Reg::R9, Reg::R0));
        // In the loop's callback, the entry is the turn's: a number the
        // verifier does not know, so it checks the callback once.
        let turn = self.loop_turn(iter);
        match turn {
            Some(slot) => self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, slot)),
            None => self.load(Reg::R1, &Operand::Var(iter), span)?,
        }
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R9, COUNT));
        self.jump_reg_to(Cond::Ge, Reg::R1, Reg::R2, end);
        self.jump_imm_to(Cond::Ge, Reg::R1, b.cap as i32, end);
        if b.sort.is_some() {
            self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, 1));
            self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R9));
            self.emit(Insn::load(Size::H, Reg::R1, Reg::R1, ORDER as i16));
            self.jump_imm_to(Cond::Ge, Reg::R1, b.cap as i32, end);
        }
        self.emit(Insn::alu64_imm(AluOp::Mul, Reg::R1, b.entry as i32));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, b.entries_at as i32));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R9, Reg::R1));
        for (var, at, ty) in self.iter_fields(&b, keys, value, span)? {
            match ty {
                Ty::Long => {
                    self.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, at as i16));
                    self.store(var, Reg::R1, span)?;
                }
                Ty::Str => {
                    let d = self.str_off(var)?;
                    self.scratch_addr(Reg::R1, d);
                    self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
                    self.emit(Insn::mov64_reg(Reg::R3, Reg::R9));
                    self.emit(Insn::alu64_imm(AluOp::Add, Reg::R3, at as i32));
                    self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
                }
            }
        }
        if turn.is_none() {
            self.load(Reg::R1, &Operand::Var(iter), span)?;
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
            self.store(iter, Reg::R1, span)?;
        }
        self.emit(Insn::mov64_imm(Reg::R1, 1));
        self.store(found, Reg::R1, span)?;
        self.jump_to(done);
        self.bind(end);
        self.emit(Insn::mov64_imm(Reg::R1, 0));
        self.store(found, Reg::R1, span)?;
        self.bind(done);
        Ok(())
    }

    /// The variables an entry sets, with where their values are in it.
    fn iter_fields(
        &self,
        b: &Buffer,
        keys: &[VarId],
        value: Option<VarId>,
        span: Span,
    ) -> Result<Vec<(VarId, u32, Ty)>, Diagnostic> {
        let ml = self.map_layout(b.map, span)?;
        let mut out: Vec<(VarId, u32, Ty)> = keys.iter().zip(&ml.keys).map(|(v, k)| (*v, k.offset, k.ty)).collect();
        if let Some(v) = value {
            let (at, ty) = b
                .value
                .ok_or_else(|| Diagnostic::internal("pass 3: foreach reads a value it did not keep").at(span, ""))?;
            out.push((v, at, ty));
        }
        Ok(out)
    }
}
