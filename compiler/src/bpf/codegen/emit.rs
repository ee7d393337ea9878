//! The code a generator writes: instructions, labels and the jumps to
//! them, the loads of maps' addresses, and where each script line's code
//! starts.
//!
//! In: instructions appended in order, labels bound to the next slot,
//! jumps to labels bound before or after them. Out: through
//! [`Emitter::resolve`], the instructions with every jump's offset set.
//! Invariants: a jump's offset is its label's slot less its own slot less
//! one (jumps out of the 16-bit range are refused, never truncated); the
//! map loads and line starts are slots of the instructions written.

use super::Gen;
use crate::bpf::elf::RODATA;
use crate::bpf::insn::{Cond, Insn, Reg};
use crate::diag::Diagnostic;
use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Label(pub(super) usize);

/// The code written so far.
#[derive(Default)]
pub(super) struct Emitter {
    pub(super) insns: Vec<Insn>,
    /// Each load of a map's address: its slot and the map.
    pub(super) map_loads: Vec<(usize, String)>,
    /// Each label's slot, once bound.
    pub(super) labels: Vec<Option<usize>>,
    /// The jumps to labels: the jump's slot and its label.
    pub(super) fixups: Vec<(usize, Label)>,
    /// The slot where each script line's code starts.
    pub(super) lines: Vec<(usize, Span)>,
}

impl Emitter {
    pub(super) fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    pub(super) fn bind(&mut self, l: Label) {
        if let Some(slot) = self.labels.get_mut(l.0) {
            *slot = Some(self.insns.len());
        }
    }

    pub(super) fn jump_to(&mut self, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jump(0));
    }

    pub(super) fn jump_imm_to(&mut self, cond: Cond, reg: Reg, imm: i32, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jump_imm(cond, reg, imm, 0));
    }

    pub(super) fn jump_reg_to(&mut self, cond: Cond, a: Reg, b: Reg, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.insns.push(Insn::jump_reg(cond, a, b, 0));
    }

    pub(super) fn emit(&mut self, i: Insn) {
        self.insns.push(i);
    }

    pub(super) fn emit2(&mut self, i: [Insn; 2]) {
        self.insns.extend(i);
    }

    /// `reg` = the address of byte `offset` of the read-only data.
    pub(super) fn rodata_load(&mut self, reg: Reg, offset: u32) {
        self.map_loads.push((self.insns.len(), RODATA.to_string()));
        self.emit2(Insn::ld_rodata(reg, offset));
    }

    pub(super) fn map_load(&mut self, reg: Reg, name: &str) {
        self.map_loads.push((self.insns.len(), name.to_string()));
        self.emit2(Insn::ld_map_fd(reg, 0));
    }

    /// Sets each jump's offset to its label's slot.
    pub(super) fn resolve(&mut self, span: Span) -> Result<(), Diagnostic> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let to = self.labels.get(l.0).copied().flatten().unwrap_or(0);
            let off = to as i64 - at as i64 - 1;
            let off = i16::try_from(off).map_err(|_| super::not_yet("handlers this long", span))?;
            if let Some(insn) = self.insns.get_mut(at) {
                insn.off = off;
            }
        }
        Ok(())
    }
}

/// The generator writes through its emitter.
impl Gen<'_> {
    pub(super) fn label(&mut self) -> Label {
        self.e.label()
    }

    pub(super) fn bind(&mut self, l: Label) {
        self.e.bind(l);
    }

    pub(super) fn jump_to(&mut self, l: Label) {
        self.e.jump_to(l);
    }

    pub(super) fn jump_imm_to(&mut self, cond: Cond, reg: Reg, imm: i32, l: Label) {
        self.e.jump_imm_to(cond, reg, imm, l);
    }

    pub(super) fn jump_reg_to(&mut self, cond: Cond, a: Reg, b: Reg, l: Label) {
        self.e.jump_reg_to(cond, a, b, l);
    }

    pub(super) fn emit(&mut self, i: Insn) {
        self.e.emit(i);
    }

    pub(super) fn emit2(&mut self, i: [Insn; 2]) {
        self.e.emit2(i);
    }

    pub(super) fn rodata_load(&mut self, reg: Reg, offset: u32) {
        self.e.rodata_load(reg, offset);
    }

    pub(super) fn map_load(&mut self, reg: Reg, name: &str) {
        self.e.map_load(reg, name);
    }
}
