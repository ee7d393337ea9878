//! From the IR to eBPF: kernel-placed handlers become programs.
//!
//! This first generator gives every IR variable a stack slot and works
//! through r0-r5, one instruction at a time; register allocation comes
//! later. It translates long arithmetic, comparisons, control flow and
//! global scalars (one array map, `globals`, whose single value holds them
//! all). What it does not translate yet is refused at the instruction's
//! script line, never guessed.

use super::btf::MapDef;
use super::elf::Program;
use super::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::elab::Placement;
use crate::elab::points::ProbeKind;
use crate::ir::{BinOp, Function, GlobalKind, InstKind, Module, Operand, Terminator, Ty, UnOp, VarId};
use crate::parse::ast::CompareOp;
use crate::source::Span;

/// `BPF_MAP_TYPE_ARRAY`.
const MAP_ARRAY: u32 = 2;
/// `bpf_map_lookup_elem`.
const HELPER_MAP_LOOKUP: i32 = 1;
/// `bpf_ktime_get_ns`: CLOCK_MONOTONIC.
const HELPER_KTIME: i32 = 5;
/// `bpf_jiffies64`.
const HELPER_JIFFIES: i32 = 118;
/// `bpf_get_smp_processor_id`.
const HELPER_CPU: i32 = 8;
/// `bpf_get_current_pid_tgid`: tgid in the high half, pid in the low.
const HELPER_PID_TGID: i32 = 14;
/// `bpf_get_current_uid_gid`: gid in the high half, uid in the low.
const HELPER_UID_GID: i32 = 15;
/// The most stack a program may use.
const STACK: i32 = 512;
/// The stack slot `globals` lookups put their (zero) key in.
const KEY_SLOT: i16 = -8;

/// The programs and maps of a module's kernel-placed handlers.
pub struct Output {
    pub programs: Vec<Program>,
    pub maps: Vec<MapDef>,
    /// For each program: the slot where each script line's code starts.
    pub lines: Vec<Vec<(usize, Span)>>,
}

/// The script span the instruction at `slot` of a program came from.
pub fn span_of(lines: &[(usize, Span)], slot: usize) -> Option<Span> {
    lines.iter().take_while(|(s, _)| *s <= slot).last().map(|(_, span)| *span)
}

/// Where each global scalar lives in `globals`' value.
fn global_offsets(m: &Module) -> Vec<Option<u32>> {
    let mut at = 0;
    m.globals
        .iter()
        .map(|g| match g.kind {
            GlobalKind::Scalar(Ty::Long) => {
                let o = at;
                at += 8;
                Some(o)
            }
            _ => None,
        })
        .collect()
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

/// Generates a program per point of each kernel-placed handler.
pub fn generate(m: &Module, program: &crate::elab::Program) -> Result<Output, Diagnostic> {
    let offsets = global_offsets(m);
    let size = offsets.iter().flatten().count() as u32 * 8;
    let mut out = Output { programs: Vec::new(), maps: Vec::new(), lines: Vec::new() };
    for h in m.handlers.iter().filter(|h| !h.at_entry) {
        let Some(f) = m.function(h.func) else { continue };
        if f.placement != Placement::Kernel {
            continue;
        }
        let Some(probe) = program.probes.get(h.probe) else { continue };
        let (insns, map_loads, lines) = Gen::new(f, &offsets).function()?;
        for (i, point) in probe.points.iter().enumerate() {
            let Some(section) = section(&point.kind) else {
                return Err(not_yet(&format!("probes on {}", point.name), probe.span));
            };
            out.programs.push(Program {
                name: format!("probe_{}_{i}", h.probe),
                section,
                insns: insns.clone(),
                map_loads: map_loads.clone(),
            });
            out.lines.push(lines.clone());
        }
    }
    if size > 0 {
        out.maps.push(MapDef {
            name: "globals".into(),
            map_type: MAP_ARRAY,
            key_size: 4,
            value_size: size,
            max_entries: 1,
        });
    }
    Ok(out)
}

/// A program's instructions, its map loads (slot, map name) and where
/// each instruction's script line starts (slot, span).
type Code = (Vec<Insn>, Vec<(usize, String)>, Vec<(usize, Span)>);

struct Gen<'a> {
    f: &'a Function,
    offsets: &'a [Option<u32>],
    insns: Vec<Insn>,
    map_loads: Vec<(usize, String)>,
    /// Slot of each block's first instruction.
    starts: Vec<usize>,
    /// Jumps to patch: (slot of the jump, target block).
    fixups: Vec<(usize, u32)>,
    lines: Vec<(usize, Span)>,
}

impl<'a> Gen<'a> {
    fn new(f: &'a Function, offsets: &'a [Option<u32>]) -> Gen<'a> {
        Gen {
            f,
            offsets,
            insns: Vec::new(),
            map_loads: Vec::new(),
            starts: Vec::new(),
            fixups: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// The stack slot of a variable: below the key slot, 8 bytes each.
    fn slot(&self, v: VarId, span: Span) -> Result<i16, Diagnostic> {
        let off = i64::from(v.0).saturating_mul(-8).saturating_sub(16);
        if off < i64::from(-STACK) {
            return Err(not_yet("handlers with this many values (the stack holds 62)", span));
        }
        match self.f.var(v) {
            Some(d) if d.ty == Ty::Long => Ok(off as i16),
            _ => Err(not_yet("strings in kernel handlers", span)),
        }
    }

    /// `reg = operand`.
    fn load(&mut self, reg: Reg, o: &Operand, span: Span) -> Result<(), Diagnostic> {
        match o {
            Operand::Long(n) => match i32::try_from(*n) {
                Ok(small) => self.insns.push(Insn::mov64_imm(reg, small)),
                Err(_) => self.insns.extend(Insn::ld_imm64(reg, *n as u64)),
            },
            Operand::Var(v) => {
                let s = self.slot(*v, span)?;
                self.insns.push(Insn::load(Size::DW, reg, Reg::FP, s));
            }
            Operand::Str(_) => return Err(not_yet("strings in kernel handlers", span)),
        }
        Ok(())
    }

    fn store(&mut self, v: VarId, reg: Reg, span: Span) -> Result<(), Diagnostic> {
        let s = self.slot(v, span)?;
        self.insns.push(Insn::store(Size::DW, Reg::FP, s, reg));
        Ok(())
    }

    /// r0 = the address of `globals`' value, or the program ends (the
    /// lookup of slot 0 of a one-entry array cannot fail, but the verifier
    /// wants the check). Done once, at entry, into r7.
    fn globals_value(&mut self) {
        self.map_loads.push((self.insns.len(), "globals".to_string()));
        self.insns.extend(Insn::ld_map_fd(Reg::R1, 0));
        self.insns.push(Insn::store_imm(Size::W, Reg::FP, KEY_SLOT, 0));
        self.insns.push(Insn::mov64_reg(Reg::R2, Reg::FP));
        self.insns.push(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(KEY_SLOT)));
        self.insns.push(Insn::call(HELPER_MAP_LOOKUP));
        self.insns.push(Insn::jump_imm(Cond::Ne, Reg::R0, 0, 2));
        self.insns.push(Insn::mov64_imm(Reg::R0, 0));
        self.insns.push(Insn::exit());
    }

    fn offset(&self, g: crate::ir::GlobalId, span: Span) -> Result<i16, Diagnostic> {
        match self.offsets.get(g.0 as usize).copied().flatten() {
            Some(o) => i16::try_from(o).map_err(|_| not_yet("this many globals", span)),
            None => Err(not_yet("arrays, statistics and string globals in kernel handlers", span)),
        }
    }

    fn function(mut self) -> Result<Code, Diagnostic> {
        let f = self.f;
        // The context (a tracepoint's record) stays in r6, which helper
        // calls preserve.
        self.insns.push(Insn::mov64_reg(Reg::R6, Reg::R1));
        // The globals' value stays in r7: one lookup per event.
        let uses_globals = f
            .blocks
            .iter()
            .flat_map(|b| &b.insts)
            .any(|i| matches!(i.kind, InstKind::LoadGlobal { .. } | InstKind::StoreGlobal { .. }));
        if uses_globals {
            self.globals_value();
            self.insns.push(Insn::mov64_reg(Reg::R7, Reg::R0));
        }
        for (index, b) in f.blocks.iter().enumerate() {
            let next = index as u32 + 1;
            self.starts.push(self.insns.len());
            if b.on_error.is_some() {
                return Err(not_yet("try/catch in kernel handlers", b.term_span));
            }
            for i in &b.insts {
                self.lines.push((self.insns.len(), i.span));
                self.inst(&i.kind, i.span)?;
            }
            self.lines.push((self.insns.len(), b.term_span));
            // A jump to the block that follows is falling through.
            match &b.term {
                Terminator::Jump(t) if t.0 == next => {}
                Terminator::Jump(t) => self.jump(t.0),
                Terminator::Branch { cond, then, otherwise } => {
                    self.load(Reg::R1, cond, b.term_span)?;
                    self.fixups.push((self.insns.len(), then.0));
                    self.insns.push(Insn::jump_imm(Cond::Ne, Reg::R1, 0, 0));
                    if otherwise.0 != next {
                        self.jump(otherwise.0);
                    }
                }
                Terminator::Return(_) | Terminator::Next => {
                    self.insns.push(Insn::mov64_imm(Reg::R0, 0));
                    self.insns.push(Insn::exit());
                }
                Terminator::Error(_) => return Err(not_yet("error() in kernel handlers", b.term_span)),
            }
        }
        for (at, target) in std::mem::take(&mut self.fixups) {
            let to = self.starts.get(target as usize).copied().unwrap_or(0);
            let off = to as i64 - at as i64 - 1;
            let off = i16::try_from(off).map_err(|_| not_yet("handlers this long", f.span))?;
            if let Some(insn) = self.insns.get_mut(at) {
                insn.off = off;
            }
        }
        Ok((self.insns, self.map_loads, self.lines))
    }

    fn jump(&mut self, target: u32) {
        self.fixups.push((self.insns.len(), target));
        self.insns.push(Insn::jump(0));
    }

    fn inst(&mut self, k: &InstKind, span: Span) -> Result<(), Diagnostic> {
        match k {
            InstKind::Copy { dst, src } => {
                self.load(Reg::R1, src, span)?;
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::Unary { dst, op, a } => {
                self.load(Reg::R1, a, span)?;
                match op {
                    UnOp::Neg => self.insns.push(Insn::alu64_imm(AluOp::Neg, Reg::R1, 0)),
                    UnOp::BitNot => self.insns.push(Insn::alu64_imm(AluOp::Xor, Reg::R1, -1)),
                    UnOp::Not => {
                        self.insns.push(Insn::mov64_imm(Reg::R2, 1));
                        self.insns.push(Insn::jump_imm(Cond::Eq, Reg::R1, 0, 1));
                        self.insns.push(Insn::mov64_imm(Reg::R2, 0));
                        self.insns.push(Insn::mov64_reg(Reg::R1, Reg::R2));
                    }
                }
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
                    // eBPF division is unsigned and never fails; stap's is
                    // signed and reports a zero divisor.
                    BinOp::Div | BinOp::Mod => return Err(not_yet("division in kernel handlers", span)),
                };
                self.load(Reg::R1, a, span)?;
                self.load(Reg::R2, b, span)?;
                self.insns.push(Insn::alu64_reg(op, Reg::R1, Reg::R2));
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
                self.insns.push(Insn::mov64_imm(Reg::R0, 1));
                self.insns.push(Insn::jump_reg(cond, Reg::R1, Reg::R2, 1));
                self.insns.push(Insn::mov64_imm(Reg::R0, 0));
                self.store(*dst, Reg::R0, span)?;
            }
            InstKind::Intrinsic { dst: Some(dst), name, args } if args.is_empty() => {
                // (helper, take the high half)
                let (helper, high) = match name.as_str() {
                    "pid" => (HELPER_PID_TGID, true),
                    "tid" => (HELPER_PID_TGID, false),
                    "uid" => (HELPER_UID_GID, false),
                    "gid" => (HELPER_UID_GID, true),
                    "cpu" => (HELPER_CPU, false),
                    "ktime_get_ns" => (HELPER_KTIME, false),
                    "jiffies" => (HELPER_JIFFIES, false),
                    _ => return Err(not_yet(&format!("{name}() in kernel handlers"), span)),
                };
                self.insns.push(Insn::call(helper));
                if high {
                    self.insns.push(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                } else if matches!(helper, HELPER_PID_TGID | HELPER_UID_GID) {
                    // The low half: shift it up and back down.
                    self.insns.push(Insn::alu64_imm(AluOp::Lsh, Reg::R0, 32));
                    self.insns.push(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
                }
                self.store(*dst, Reg::R0, span)?;
            }
            InstKind::Target { dst, resolved, operands } => {
                use crate::elab::target::{Base, Load};
                // A field of the tracepoint's record: at its offset from
                // the context.
                let (Base::Field(field), Load::Int { size, signed }, true) =
                    (&resolved.base, &resolved.load, resolved.steps.is_empty() && operands.is_empty())
                else {
                    return Err(not_yet("target variables other than fields of a tracepoint record", span));
                };
                let (Some(width), Ok(offset)) = (Size::of_bytes(*size), i16::try_from(field.offset)) else {
                    return Err(not_yet("target variables other than fields of a tracepoint record", span));
                };
                self.insns.push(Insn::load(width, Reg::R1, Reg::R6, offset));
                if *signed && *size < 8 {
                    let shift = 64 - 8 * *size as i32;
                    self.insns.push(Insn::alu64_imm(AluOp::Lsh, Reg::R1, shift));
                    self.insns.push(Insn::alu64_imm(AluOp::Arsh, Reg::R1, shift));
                }
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::LoadGlobal { dst, global } => {
                let off = self.offset(*global, span)?;
                self.insns.push(Insn::load(Size::DW, Reg::R1, Reg::R7, off));
                self.store(*dst, Reg::R1, span)?;
            }
            InstKind::StoreGlobal { global, src } => {
                let off = self.offset(*global, span)?;
                self.load(Reg::R1, src, span)?;
                self.insns.push(Insn::store(Size::DW, Reg::R7, off, Reg::R1));
            }
            other => {
                let what = match other {
                    InstKind::Compare { .. } | InstKind::Concat { .. } | InstKind::Regex { .. } => "strings",
                    InstKind::MapGet { .. }
                    | InstKind::MapSet { .. }
                    | InstKind::MapDelete { .. }
                    | InstKind::MapHas { .. }
                    | InstKind::IterStart { .. }
                    | InstKind::IterNext { .. } => "arrays",
                    InstKind::StatAdd { .. }
                    | InstKind::StatGet { .. }
                    | InstKind::HistPrint { .. }
                    | InstKind::HistBucket { .. } => "statistics",
                    InstKind::Intrinsic { .. } => "intrinsic functions",
                    InstKind::Call { .. } => "function calls",
                    InstKind::Print { .. } => "output",
                    _ => "@entry",
                };
                return Err(not_yet(&format!("{what} in kernel handlers"), span));
            }
        }
        Ok(())
    }
}

/// The programs as `-p3` shows them.
pub fn print(out: &Output) -> String {
    let names = |h: i32| match h {
        HELPER_MAP_LOOKUP => Some("bpf_map_lookup_elem"),
        HELPER_CPU => Some("bpf_get_smp_processor_id"),
        HELPER_PID_TGID => Some("bpf_get_current_pid_tgid"),
        HELPER_UID_GID => Some("bpf_get_current_uid_gid"),
        HELPER_KTIME => Some("bpf_ktime_get_ns"),
        HELPER_JIFFIES => Some("bpf_jiffies64"),
        _ => None,
    };
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
        text.push_str(&super::insn::disassemble(&p.insns, &names, &maps));
    }
    text
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
