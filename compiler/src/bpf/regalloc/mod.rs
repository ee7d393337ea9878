//! Register allocation over a generated program's instructions.
//!
//! In: a program as the generator wrote it, where every long variable
//! lives in an 8-byte stack slot and each instruction loads its operands
//! from slots and stores its result to one. Out: the same program with
//! the slots that fit promoted to registers, stored values forwarded to
//! later loads, dead stores and dead computations removed, and jumps,
//! map loads and line starts renumbered to match.
//!
//! The pass only promotes a slot (at or below the first variable slot)
//! that the program touches with nothing but whole 8-byte loads and
//! stores from r10 and whose address never reaches a register; a slot
//! read before any path writes it stays on the stack. A slot goes to a
//! register only where that register is free over the whole live range
//! of the slot's value (a helper call clobbers r0-r5, so a value living
//! across one can only go to r6-r9, and only where the generator leaves
//! them unused). Values never move between registers and slots they were
//! not in, so the verifier sees pointers and scalars where it saw them
//! before. An instruction the pass does not know leaves the program as it
//! was.

mod flow;
mod peephole;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use flow::{FIRST_VIRTUAL, FP, Kind, Node, Regs, bit, members};

use super::insn::{Insn, Reg, Size};
use crate::source::Span;

/// A program's instructions with what points into them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Code {
    pub insns: Vec<Insn>,
    /// The slots that load a map, and the map.
    pub map_loads: Vec<(usize, String)>,
    /// The slot where each script line's code starts.
    pub lines: Vec<(usize, Span)>,
}

/// The registers variables may get: all but r10, where free.
const POOL: [u8; 10] = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0];

/// Allocates registers for the variable slots of `code` at or below
/// `first_var_slot`, then cleans up. Never fails: a program the pass
/// cannot follow comes back as it was.
pub fn allocate(code: Code, first_var_slot: i16) -> Code {
    let Some(nodes) = nodes_of(&code.insns) else { return code };
    let Some(plain) = plain_slots(&nodes) else { return code };
    let (vars, others): (Vec<i16>, Vec<i16>) = plain.into_iter().partition(|s| *s <= first_var_slot);
    let (mut nodes, spilled) = promote(nodes, &vars);
    // Slots the generator keeps for itself are not promoted, but their
    // stores and loads are cleaned up all the same.
    let stack: Vec<i16> = spilled.into_iter().chain(others).collect();
    peephole::run(&mut nodes, &stack);
    emit(&code, &nodes)
}

/// `code` without the instructions no path from its first reaches, which
/// the verifier refuses (a `catch` whose `try` cannot fail, code after
/// an `abort()`). Code the pass cannot follow comes back as it was.
pub fn drop_unreachable(code: Code) -> Code {
    let Some(mut nodes) = nodes_of(&code.insns) else { return code };
    let mut seen = vec![false; nodes.len()];
    let mut work = vec![0];
    while let Some(i) = work.pop() {
        match seen.get_mut(i) {
            Some(s) if !*s => *s = true,
            _ => continue,
        }
        work.extend(flow::succs(&nodes, i));
    }
    let gone: Vec<bool> = seen.iter().map(|s| !s).collect();
    if !peephole::delete(&mut nodes, &gone) {
        return code;
    }
    emit(&code, &nodes)
}

/// The nodes of an instruction stream; `None` if a jump leaves it or
/// lands inside a 64-bit load, or an instruction is one the pass does
/// not know.
fn nodes_of(insns: &[Insn]) -> Option<Vec<Node>> {
    let mut nodes = Vec::new();
    let mut node_at = vec![None; insns.len() + 1];
    let mut slot = 0;
    while let Some(insn) = insns.get(slot) {
        *node_at.get_mut(slot)? = Some(nodes.len());
        let mut node = Node { insn: *insn, hi: None, target: None, orig: slot };
        if insn.is_wide() {
            node.hi = Some(*insns.get(slot + 1)?);
        }
        node.kind()?;
        nodes.push(node);
        slot += if insn.is_wide() { 2 } else { 1 };
    }
    for node in &mut nodes {
        if matches!(node.kind(), Some(Kind::Goto | Kind::Branch)) {
            let to = node.orig as i64 + 1 + i64::from(node.insn.off);
            let to = usize::try_from(to).ok()?;
            node.target = Some((*node_at.get(to)?)?);
        }
    }
    Some(nodes)
}

/// The 8-aligned slots overlapping `[from, 0)`.
fn slots_above(from: i32) -> impl Iterator<Item = i16> {
    let first = from.div_euclid(8) * 8;
    (first..0).step_by(8).filter_map(|s| i16::try_from(s).ok())
}

/// The 8-aligned slots overlapping `[off, off + size)`.
fn slots_over(off: i32, size: u32) -> impl Iterator<Item = i16> {
    let first = off.div_euclid(8) * 8;
    (first..off + size as i32).step_by(8).filter_map(|s| i16::try_from(s).ok())
}

/// The slots touched only by whole 8-byte loads and stores from r10,
/// never by an address taken from r10: those that can live in registers.
/// `None` when the frame pointer is used in a way the pass cannot follow.
fn plain_slots(nodes: &[Node]) -> Option<Vec<i16>> {
    let targets = flow::targets(nodes);
    let mut plain = BTreeSet::new();
    let mut bad = BTreeSet::new();
    for (i, node) in nodes.iter().enumerate() {
        if let Some((FP, off, size)) = node.access() {
            if node.stores_reg() && node.insn.src == FP {
                return None;
            }
            if size == 8 && off % 8 == 0 && node.kind() != Some(Kind::Atomic) && node.insn.code & 0xe0 == 0x60 {
                plain.insert(off);
            } else {
                bad.extend(slots_over(i32::from(off), size));
            }
            continue;
        }
        if node.uses() & bit(FP) == 0 {
            continue;
        }
        // `rX = r10; rX += c`: an address handed on.
        let Some((reg, FP)) = node.as_move() else { return None };
        let (Some(add), Some(false)) = (nodes.get(i + 1), targets.get(i + 1).copied()) else { return None };
        let (r, c) = add.as_add_imm()?;
        if r != reg {
            return None;
        }
        bad.extend(slots_above(c));
        follow_address(nodes, &targets, i + 2, reg, c, &mut bad)?;
    }
    Some(plain.into_iter().filter(|s| *s < 0 && *s >= -512 && !bad.contains(s)).collect())
}

/// Follows an address `r10 + c` in `reg` from node `from` until it dies,
/// adding the slots it may reach to `bad`; `None` if it goes somewhere
/// the pass cannot follow (another register, memory, a join).
fn follow_address(
    nodes: &[Node],
    targets: &[bool],
    from: usize,
    reg: u8,
    c: i32,
    bad: &mut BTreeSet<i16>,
) -> Option<()> {
    for j in from..nodes.len() {
        let node = nodes.get(j)?;
        if targets.get(j).copied().unwrap_or(true) {
            return None;
        }
        if node.uses() & bit(reg) != 0 {
            match (node.kind()?, node.access()) {
                (Kind::Call, _) => {}
                (Kind::Load | Kind::Store | Kind::Atomic, Some((base, off, _)))
                    if base == reg && !(node.stores_reg() && node.insn.src == reg) =>
                {
                    bad.extend(slots_above(c + i32::from(off)));
                }
                _ => return None,
            }
        }
        if node.defs() & bit(reg) != 0 {
            return Some(());
        }
        if matches!(node.kind()?, Kind::Goto | Kind::Branch | Kind::Exit) {
            return None;
        }
    }
    None
}

/// Replaces the variable slots by virtual registers, colours them with
/// the physical registers free over their live ranges (most used first),
/// and turns those that did not fit back into stack accesses. Returns
/// the slots left on the stack.
fn promote(mut nodes: Vec<Node>, slots: &[i16]) -> (Vec<Node>, Vec<i16>) {
    let virt: BTreeMap<i16, u8> = slots.iter().zip(FIRST_VIRTUAL..128).map(|(s, v)| (*s, v)).collect();
    for node in &mut nodes {
        virtualize(node, &virt);
    }
    let out = flow::live_out(&nodes);
    let entry = nodes.first().zip(out.first()).map_or(0, |(n, o)| flow::live_in(n, *o));
    // Interference: a register written while another value is live.
    let mut adj = vec![0 as Regs; 128];
    for (node, live) in nodes.iter().zip(&out) {
        let mut live = *live;
        if let Some((_, src)) = node.as_move() {
            live &= !bit(src);
        }
        for d in members(node.defs()) {
            for l in members(live & !bit(d)) {
                if let Some(a) = adj.get_mut(usize::from(d)) {
                    *a |= bit(l);
                }
                if let Some(a) = adj.get_mut(usize::from(l)) {
                    *a |= bit(d);
                }
            }
        }
    }
    let weight = weights(&nodes);
    let mut order: Vec<(i16, u8)> = virt.iter().map(|(s, v)| (*s, *v)).collect();
    order.sort_by_key(|(s, v)| (std::cmp::Reverse(weight.get(usize::from(*v)).copied().unwrap_or(0)), *s));
    let mut assigned: BTreeMap<u8, u8> = BTreeMap::new();
    for &(_, v) in &order {
        if entry & bit(v) != 0 {
            continue;
        }
        let neighbours = adj.get(usize::from(v)).copied().unwrap_or(0);
        let mut taken = neighbours & ((1 << FIRST_VIRTUAL) - 1);
        for n in members(neighbours >> FIRST_VIRTUAL) {
            if let Some(r) = assigned.get(&(n + FIRST_VIRTUAL)) {
                taken |= bit(*r);
            }
        }
        let partners = move_partners(&nodes, v, &assigned);
        let choice = partners.iter().chain(&POOL).find(|r| **r < FIRST_VIRTUAL && **r != FP && taken & bit(**r) == 0);
        if let Some(r) = choice {
            assigned.insert(v, *r);
        }
    }
    let mut spilled = Vec::new();
    for (&s, &v) in &virt {
        match assigned.get(&v) {
            Some(&r) => nodes.iter_mut().for_each(|n| n.rename(v, r)),
            None => {
                spilled.push(s);
                nodes.iter_mut().for_each(|n| devirtualize(n, v, s));
            }
        }
    }
    (nodes, spilled)
}

/// A slot access as a move from or to the slot's virtual register.
fn virtualize(node: &mut Node, virt: &BTreeMap<i16, u8>) {
    let Some((FP, off, 8)) = node.access() else { return };
    let Some(&v) = virt.get(&off) else { return };
    node.insn = match node.kind() {
        Some(Kind::Load) => Insn::mov64_reg(Reg(node.insn.dst), Reg(v)),
        Some(Kind::Store) if node.stores_reg() => Insn::mov64_reg(Reg(v), Reg(node.insn.src)),
        Some(Kind::Store) => Insn::mov64_imm(Reg(v), node.insn.imm),
        _ => return,
    };
}

/// The moves of virtual register `v` back into accesses of slot `s`.
fn devirtualize(node: &mut Node, v: u8, s: i16) {
    let i = node.insn;
    if let Some((dst, src)) = node.as_move() {
        if src == v {
            node.insn = Insn::load(Size::DW, Reg(dst), Reg::FP, s);
        } else if dst == v {
            node.insn = Insn::store(Size::DW, Reg::FP, s, Reg(src));
        }
    } else if i.dst == v && i.code == Insn::mov64_imm(Reg(v), 0).code {
        node.insn = Insn::store_imm(Size::DW, Reg::FP, s, i.imm);
    }
}

/// Each register's uses and definitions, weighted by loop depth.
fn weights(nodes: &[Node]) -> Vec<u64> {
    let mut depth = vec![0u32; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if let Some(t) = node.target.filter(|t| *t <= i) {
            depth.iter_mut().take(i + 1).skip(t).for_each(|d| *d += 1);
        }
    }
    let mut w = vec![0u64; 128];
    for (node, d) in nodes.iter().zip(depth) {
        for r in members(node.uses() | node.defs()) {
            if let Some(x) = w.get_mut(usize::from(r)) {
                *x += 8u64.pow(d.min(5));
            }
        }
    }
    w
}

/// The registers that `v` is moved from or to, where known: giving `v`
/// one of them makes the move disappear.
fn move_partners(nodes: &[Node], v: u8, assigned: &BTreeMap<u8, u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for node in nodes {
        let Some((d, s)) = node.as_move() else { continue };
        let other = if d == v {
            s
        } else if s == v {
            d
        } else {
            continue;
        };
        let phys = if other >= FIRST_VIRTUAL { assigned.get(&other).copied() } else { Some(other) };
        if let Some(p) = phys.filter(|p| *p != FP && !out.contains(p)) {
            out.push(p);
        }
    }
    out
}

/// The program of `nodes`, with jumps, map loads and line starts of
/// `code` renumbered.
fn emit(code: &Code, nodes: &[Node]) -> Code {
    let mut new_slot = Vec::with_capacity(nodes.len() + 1);
    let mut at = 0;
    for n in nodes {
        new_slot.push(at);
        at += if n.hi.is_some() { 2 } else { 1 };
    }
    new_slot.push(at);
    let mut insns = Vec::with_capacity(at);
    for (i, n) in nodes.iter().enumerate() {
        let mut insn = n.insn;
        if let Some(t) = n.target {
            let from = new_slot.get(i).copied().unwrap_or(0) as i64;
            let to = new_slot.get(t).copied().unwrap_or(0) as i64;
            insn.off = i16::try_from(to - from - 1).unwrap_or(insn.off);
        }
        insns.push(insn);
        insns.extend(n.hi);
    }
    // An old slot goes to the first node kept at or after it.
    let slot_of = |old: usize| {
        let k = nodes.partition_point(|n| n.orig < old);
        new_slot.get(k).copied().unwrap_or(at)
    };
    let map_loads = code
        .map_loads
        .iter()
        .filter_map(|(s, m)| {
            nodes.iter().position(|n| n.orig == *s).and_then(|k| new_slot.get(k)).map(|k| (*k, m.clone()))
        })
        .collect();
    let lines = code.lines.iter().map(|(s, span)| (slot_of(*s), *span)).collect();
    Code { insns, map_loads, lines }
}
