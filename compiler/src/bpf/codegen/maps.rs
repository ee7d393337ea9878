//! Globals, arrays and statistics in kernel handlers: keys built in the
//! scratch record, hash-map reads and writes (in place after a read of
//! the same key), statistics records and their extractors summed over
//! every CPU, and the `@entry` record.

use super::{ENTRY_SLOT, Gen, KEY_SLOT, LEN_SLOT, MAX_CPUS, VALUE_SLOT, map_name, not_yet, overflow_message};
use crate::bpf::abi::{
    HELPER_LOOKUP_PERCPU, HELPER_MAP_LOOKUP, HELPER_MAP_UPDATE, HELPER_PID_TGID, HELPER_PROBE_READ_KERNEL,
    HELPER_PROBE_READ_KERNEL_STR, HELPER_RINGBUF_SUBMIT, NOEXIST,
};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::bpf::records;
use crate::bpf::records::RecordKind;
use crate::diag::Diagnostic;
use crate::ir::{GlobalId, InstKind, Module, Operand, StatOp, Ty, VarId};
use crate::layout::{HistLayout, MapLayout, STAT_FIELDS, ValueLayout};
use crate::source::Span;

impl Gen<'_> {
    pub(super) fn global_slot(&self, g: GlobalId, span: Span) -> Result<crate::layout::Slot, Diagnostic> {
        self.layout.scalar(g).ok_or_else(|| Diagnostic::internal("pass 3: not a global scalar").at(span, ""))
    }

    pub(super) fn map_layout(&self, g: GlobalId, span: Span) -> Result<MapLayout, Diagnostic> {
        self.layout.map(g).cloned().ok_or_else(|| Diagnostic::internal("pass 3: not an array").at(span, ""))
    }

    /// `@count(s)` and the other extractors: every CPU's record, read
    /// with `bpf_map_lookup_percpu_elem`, added up (`@variance`: see
    /// [`super::variance`]).
    pub(super) fn stat_get(
        &mut self,
        dst: VarId,
        stat: GlobalId,
        keys: &[Operand],
        op: crate::parse::ast::StatOp,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let ml = self.map_layout(stat, span)?;
        self.build_key(&ml, keys, span)?;
        let name = map_name(self.m, stat);
        self.stat_extract(&name, op, !ml.keys.is_empty(), ml.shift, span)?;
        self.store(dst, Reg::R1, span)
    }

    /// `print(@hist_*(s[keys]))`: every CPU's record of the statistic in
    /// a record, which the runtime combines and draws as the user side
    /// does, in its place among the output; an array element's key
    /// record follows them (for `--format json`).
    pub(super) fn hist_print(&mut self, stat: GlobalId, keys: &[Operand], span: Span) -> Result<(), Diagnostic> {
        let ml = self.map_layout(stat, span)?;
        self.build_key(&ml, keys, span)?;
        let name = map_name(self.m, stat);
        let cpus = if self.facts.task.cpus == 0 { MAX_CPUS } else { self.facts.task.cpus.min(MAX_CPUS) };
        let stride = ml.value_size.div_ceil(8) * 8;
        let first = records::HEADER + 8;
        let key_bytes = if ml.keys.is_empty() { 0 } else { ml.key_size };
        let size = first + cpus * stride + key_bytes;
        if size > self.facts.ringbuf / 4 {
            return Err(not_yet("printing a histogram this large on this many CPUs in kernel handlers", span));
        }
        let tag = self.record(RecordKind::HistPrint { stat: stat.0 });
        let done = self.reserve_record(tag, size);
        self.emit(Insn::store_imm(Size::DW, Reg::R9, records::HEADER as i16, cpus as i32));
        let cpu_at = LEN_SLOT;
        self.emit(Insn::store_imm(Size::DW, Reg::FP, cpu_at, 0));
        let (top, empty, next, out) = (self.label(), self.label(), self.label(), self.label());
        self.bind(top);
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::FP, cpu_at));
        self.jump_imm_to(Cond::Ge, Reg::R4, cpus as i32, out);
        self.map_load(Reg::R1, &name);
        self.scratch_addr(Reg::R2, self.frame.key);
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R4));
        self.emit(Insn::call(HELPER_LOOKUP_PERCPU));
        // r1 = this CPU's place in the record.
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, cpu_at));
        self.emit(Insn::alu64_imm(AluOp::Mul, Reg::R1, stride as i32));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R9));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, first as i32));
        self.jump_imm_to(Cond::Eq, Reg::R0, 0, empty);
        self.emit(Insn::mov64_imm(Reg::R2, ml.value_size as i32));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
        self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
        self.jump_to(next);
        self.bind(empty);
        self.emit(Insn::store_imm(Size::DW, Reg::R1, 0, 0));
        self.bind(next);
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::FP, cpu_at));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R4, 1));
        self.emit(Insn::store(Size::DW, Reg::FP, cpu_at, Reg::R4));
        self.jump_to(top);
        self.bind(out);
        if key_bytes > 0 {
            self.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
            self.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, (first + cpus * stride) as i32));
            self.emit(Insn::mov64_imm(Reg::R2, key_bytes as i32));
            self.scratch_addr(Reg::R3, self.frame.key);
            self.emit(Insn::call(HELPER_PROBE_READ_KERNEL));
        }
        self.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
        self.emit(Insn::mov64_imm(Reg::R2, 0));
        self.emit(Insn::call(HELPER_RINGBUF_SUBMIT));
        self.bind(done);
        Ok(())
    }

    /// r1 = extractor `op` of the statistic of map `name` under the key in
    /// the key area, summed over every CPU (`keyed`: an array's element).
    /// Uses r9.
    pub(super) fn stat_extract(
        &mut self,
        name: &str,
        op: crate::parse::ast::StatOp,
        keyed: bool,
        shift: u32,
        span: Span,
    ) -> Result<(), Diagnostic> {
        use crate::parse::ast::StatOp;
        if op == StatOp::Variance {
            return self.stat_variance(name, keyed, shift, span);
        }
        // LEN_SLOT: count; VALUE_SLOT: sum; r9: min or max.
        self.emit(Insn::store_imm(Size::DW, Reg::FP, LEN_SLOT, 0));
        self.emit(Insn::store_imm(Size::DW, Reg::FP, VALUE_SLOT, 0));
        self.emit(Insn::mov64_imm(Reg::R9, 0));
        self.each_cpu_record(name, Reg::R0, |g| {
            // min or max: the first CPU with values sets it.
            let keep = g.label();
            let field = if op == StatOp::Min { 16 } else { 24 };
            g.emit(Insn::load(Size::DW, Reg::R2, Reg::R0, field));
            g.emit(Insn::load(Size::DW, Reg::R3, Reg::FP, LEN_SLOT));
            let take = g.label();
            g.jump_imm_to(Cond::Eq, Reg::R3, 0, take);
            let better = if op == StatOp::Min { Cond::Sge } else { Cond::Sle };
            g.jump_reg_to(better, Reg::R2, Reg::R9, keep);
            g.bind(take);
            g.emit(Insn::mov64_reg(Reg::R9, Reg::R2));
            g.bind(keep);
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R1));
            g.emit(Insn::store(Size::DW, Reg::FP, LEN_SLOT, Reg::R3));
            g.emit(Insn::load(Size::DW, Reg::R2, Reg::R0, 8));
            g.emit(Insn::load(Size::DW, Reg::R3, Reg::FP, VALUE_SLOT));
            g.emit(Insn::alu64_reg(AluOp::Add, Reg::R3, Reg::R2));
            g.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, Reg::R3));
            Ok(())
        })?;
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
            StatOp::Variance => {}
        }
        Ok(())
    }

    /// Runs `body` for each CPU's record of the key in the key area that
    /// holds values: the record in `record` (r0 or r9), its count in r1.
    /// The CPU counts in KEY_SLOT (free once the entry's lookups are
    /// done), on the stack where the verifier sees its bound; the loop
    /// stops at the first CPU without a record, or at the kernel's
    /// possible CPUs (at most `MAX_CPUS`).
    pub(super) fn each_cpu_record(
        &mut self,
        name: &str,
        record: Reg,
        body: impl FnOnce(&mut Self) -> Result<(), Diagnostic>,
    ) -> Result<(), Diagnostic> {
        let cpu_at = KEY_SLOT;
        let (top, next, done) = (self.label(), self.label(), self.label());
        self.emit(Insn::store_imm(Size::DW, Reg::FP, cpu_at, 0));
        self.bind(top);
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::FP, cpu_at));
        let cpus = if self.facts.task.cpus == 0 { MAX_CPUS } else { self.facts.task.cpus.min(MAX_CPUS) };
        self.jump_imm_to(Cond::Ge, Reg::R4, cpus as i32, done);
        self.map_load(Reg::R1, name);
        self.scratch_addr(Reg::R2, self.frame.key);
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R4));
        self.emit(Insn::call(HELPER_LOOKUP_PERCPU));
        // No record: the key has none, or there are no more CPUs.
        self.jump_imm_to(Cond::Eq, Reg::R0, 0, done);
        if record != Reg::R0 {
            self.emit(Insn::mov64_reg(record, Reg::R0));
        }
        self.emit(Insn::load(Size::DW, Reg::R1, record, 0));
        self.jump_imm_to(Cond::Eq, Reg::R1, 0, next);
        body(self)?;
        self.bind(next);
        self.emit(Insn::load(Size::DW, Reg::R4, Reg::FP, cpu_at));
        self.emit(Insn::alu64_imm(AluOp::Add, Reg::R4, 1));
        self.emit(Insn::store(Size::DW, Reg::FP, cpu_at, Reg::R4));
        self.jump_to(top);
        self.bind(done);
        Ok(())
    }

    /// r0 = this thread's `@entry` record, or 0; the key (its pid_tgid)
    /// is left in the key area.
    pub(super) fn entry_lookup(&mut self, map: &str) {
        self.emit(Insn::call(HELPER_PID_TGID));
        self.emit(Insn::store(Size::DW, Reg::R8, self.frame.key as i16, Reg::R0));
        self.map_load(Reg::R1, map);
        self.scratch_addr(Reg::R2, self.frame.key);
        self.emit(Insn::call(HELPER_MAP_LOOKUP));
    }

    pub(super) fn entry_slot(&self, slot: u32, span: Span) -> Result<(String, u32, Ty), Diagnostic> {
        let e = self
            .facts
            .entry
            .as_ref()
            .ok_or_else(|| Diagnostic::internal("pass 3: @entry without its record").at(span, ""))?;
        let (off, ty) = e.slots.get(slot as usize).copied().unwrap_or((0, Ty::Long));
        Ok((e.map.clone(), off, ty))
    }

    /// `@entry` at the entry: the value into this thread's record.
    pub(super) fn entry_save(&mut self, slot: u32, value: &Operand, span: Span) -> Result<(), Diagnostic> {
        let (map, off, ty) = self.entry_slot(slot, span)?;
        let have = self.label();
        self.entry_lookup(&map);
        self.jump_imm_to(Cond::Ne, Reg::R0, 0, have);
        self.array_value("zeros");
        self.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
        self.map_load(Reg::R1, &map);
        self.scratch_addr(Reg::R2, self.frame.key);
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::call(HELPER_MAP_UPDATE));
        self.map_load(Reg::R1, &map);
        self.scratch_addr(Reg::R2, self.frame.key);
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
    pub(super) fn entry_load(&mut self, dst: VarId, slot: u32, span: Span) -> Result<(), Diagnostic> {
        let (map, off, ty) = self.entry_slot(slot, span)?;
        self.entry_lookup(&map);
        self.read_found(dst, ty, off, span)
    }

    /// `dst` = the value at `off` in the entry r0 found, or 0 or "" when
    /// r0 is null.
    pub(super) fn read_found(&mut self, dst: VarId, ty: Ty, off: u32, span: Span) -> Result<(), Diagnostic> {
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
                self.emit(Insn::mov64_imm(Reg::R2, self.frame.s as i32));
                self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
            }
        }
        self.bind(done);
        Ok(())
    }

    /// Writes a key record in the scratch record's key area: longs as
    /// they are, strings NUL-padded.
    pub(super) fn build_key(&mut self, ml: &MapLayout, keys: &[Operand], span: Span) -> Result<(), Diagnostic> {
        if ml.keys.is_empty() {
            self.emit(Insn::store_imm(Size::DW, Reg::R8, self.frame.key as i16, 0));
            return Ok(());
        }
        let keys: Vec<Option<Operand>> = keys.iter().cloned().map(Some).collect();
        self.write_keys(self.frame.key, ml, &keys, span)
    }

    /// Writes the given keys (`None`: leave that one) of a key record at
    /// `base` in the scratch record.
    pub(super) fn write_keys(
        &mut self,
        base: u32,
        ml: &MapLayout,
        keys: &[Option<Operand>],
        span: Span,
    ) -> Result<(), Diagnostic> {
        for (k, slot) in keys.iter().zip(&ml.keys) {
            let Some(k) = k else { continue };
            let at = (base + slot.offset) as i32;
            match slot.ty {
                Ty::Long => {
                    self.load(Reg::R1, k, span)?;
                    self.emit(Insn::store(Size::DW, Reg::R8, at as i16, Reg::R1));
                }
                Ty::Str => {
                    if let Operand::Str(bytes) = k {
                        let bytes = bytes.clone();
                        self.store_literal(Reg::R8, at, &bytes, Some(slot.size));
                        continue;
                    }
                    if let Operand::Var(v) = k
                        && self.copy_comm_key(*v, at, slot.size)?
                    {
                        continue;
                    }
                    for i in 0..slot.size / 8 {
                        self.emit(Insn::store_imm(Size::DW, Reg::R8, (at + 8 * i as i32) as i16, 0));
                    }
                    self.str_ptr(Reg::R3, k, 0)?;
                    self.scratch_addr(Reg::R1, at as u32);
                    self.emit(Insn::mov64_imm(Reg::R2, slot.size as i32));
                    self.emit(Insn::call(HELPER_PROBE_READ_KERNEL_STR));
                }
            }
        }
        Ok(())
    }

    /// A process name ([`super::frame::comm_strings`]) as a string key of
    /// `size` bytes at `at`: its 16 bytes copied as two words, the rest
    /// zeroed. False (nothing written) where `v` is not one or the key
    /// is narrower.
    fn copy_comm_key(&mut self, v: VarId, at: i32, size: u32) -> Result<bool, Diagnostic> {
        if !self.frame.comm.get(v.0 as usize).copied().unwrap_or(false) || size < 16 {
            return Ok(false);
        }
        let from = self.str_off(v)?;
        let (Ok(from), Ok(to), Ok(end)) = (i16::try_from(from), i16::try_from(at), i16::try_from(at + size as i32))
        else {
            return Ok(false);
        };
        for word in [0, 8] {
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, from + word));
            self.emit(Insn::store(Size::DW, Reg::R8, to + word, Reg::R1));
        }
        for off in (to + 16..end).step_by(8) {
            self.emit(Insn::store_imm(Size::DW, Reg::R8, off, 0));
        }
        Ok(true)
    }

    /// r0 = the entry of the key in the key area, or 0.
    pub(super) fn lookup(&mut self, map: GlobalId) {
        let name = map_name(self.m, map);
        self.map_load(Reg::R1, &name);
        self.scratch_addr(Reg::R2, self.frame.key);
        self.emit(Insn::call(HELPER_MAP_LOOKUP));
    }

    pub(super) fn map_get(
        &mut self,
        dst: VarId,
        map: GlobalId,
        keys: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
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

    pub(super) fn map_set(
        &mut self,
        map: GlobalId,
        keys: &[Operand],
        value: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
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
        self.scratch_addr(Reg::R2, self.frame.key);
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

    pub(super) fn stat_add(
        &mut self,
        stat: GlobalId,
        keys: &[Operand],
        value: &Operand,
        span: Span,
    ) -> Result<(), Diagnostic> {
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
        self.scratch_addr(Reg::R2, self.frame.key);
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
        // The running mean and squared differences serve `@variance`
        // only (their divisions are most of the update): kept where the
        // script asks for it. With a `@variance` bit shift, they are of
        // `vs = v << shift`.
        let variance = variance_used(self.m, stat);
        let shift = ml.shift.min(63) as i32;
        if variance {
            // r3 = delta = (vs - avg_s) as a 32-bit int, sign-extended.
            self.emit(Insn::load(Size::DW, Reg::R4, Reg::R0, 32));
            self.emit(Insn::mov64_reg(Reg::R3, Reg::R1));
            if shift != 0 {
                self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R3, shift));
            }
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
            // avg_s += r5; m2 += delta * (vs - avg_s).
            self.emit(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R5));
            self.emit(Insn::store(Size::DW, Reg::R0, 32, Reg::R4));
            self.emit(Insn::mov64_reg(Reg::R5, Reg::R1));
            if shift != 0 {
                self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R5, shift));
            }
            self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R5, Reg::R4));
            self.emit(Insn::alu64_reg(AluOp::Mul, Reg::R5, Reg::R3));
            self.emit(Insn::load(Size::DW, Reg::R4, Reg::R0, 40));
            self.emit(Insn::alu64_reg(AluOp::Add, Reg::R4, Reg::R5));
            self.emit(Insn::store(Size::DW, Reg::R0, 40, Reg::R4));
        }
        self.jump_to(updated);
        self.bind(first);
        self.emit(Insn::store(Size::DW, Reg::R0, 16, Reg::R1));
        self.emit(Insn::store(Size::DW, Reg::R0, 24, Reg::R1));
        if variance {
            if shift != 0 {
                self.emit(Insn::mov64_reg(Reg::R3, Reg::R1));
                self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R3, shift));
                self.emit(Insn::store(Size::DW, Reg::R0, 32, Reg::R3));
            } else {
                self.emit(Insn::store(Size::DW, Reg::R0, 32, Reg::R1));
            }
            self.emit(Insn::store_imm(Size::DW, Reg::R0, 40, 0));
        }
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
    pub(super) fn log_bucket(&mut self) {
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

/// Whether any handler or function of `m`, in either placement, reads
/// `@variance` of statistic `g` (or sorts a `foreach` on it).
fn variance_used(m: &Module, g: GlobalId) -> bool {
    m.functions.iter().flat_map(|f| &f.blocks).flat_map(|b| &b.insts).any(|i| {
        matches!(&i.kind,
            InstKind::StatGet { stat, op: StatOp::Variance, .. } if *stat == g)
            || matches!(&i.kind,
                InstKind::IterStart { map, aggregate: Some(StatOp::Variance), .. } if *map == g)
    })
}
