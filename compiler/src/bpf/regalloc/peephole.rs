//! Clean-ups after allocation, repeated until nothing changes: no-op
//! moves go, copies are used in place of the register copied to, a load
//! from a slot whose value a register still holds becomes a move (or
//! nothing), stores to slots no path reads again and computations of
//! registers no path reads go, a value computed in one register only to
//! be moved to another is computed there directly, and jumps to the next
//! instruction go.
//!
//! Each step keeps the program's meaning on every path: what it deletes
//! has no effect but writing a register or slot that is not read again.

use super::flow::{self, FP, Kind, Node, Regs, bit};
use crate::bpf::insn::{ALU64, Insn, Reg, Size, X};

/// How many rounds at most (each round only shrinks the program).
const ROUNDS: usize = 16;
/// How far back a value's definition is looked for.
const REACH: usize = 64;

/// Cleans up `nodes`; `slots` are the variable slots left on the stack.
pub fn run(nodes: &mut Vec<Node>, slots: &[i16]) {
    for _ in 0..ROUNDS {
        let mut changed = remove_nops(nodes);
        changed |= propagate_copies(nodes);
        changed |= forward_stores(nodes, slots);
        changed |= dead_stores(nodes, slots);
        changed |= dead_code(nodes);
        changed |= retarget(nodes);
        changed |= remove_jumps_to_next(nodes);
        if !changed {
            break;
        }
    }
}

/// Deletes the nodes marked, pointing jumps to a deleted node at the
/// next node kept.
pub(super) fn delete(nodes: &mut Vec<Node>, gone: &[bool]) -> bool {
    if !gone.iter().any(|g| *g) {
        return false;
    }
    let mut new_index = Vec::with_capacity(nodes.len() + 1);
    let mut k = 0;
    for g in gone.iter().copied().chain(std::iter::repeat(false)).take(nodes.len() + 1) {
        new_index.push(k);
        if !g {
            k += 1;
        }
    }
    let mut kept = Vec::with_capacity(k);
    for (i, mut n) in nodes.drain(..).enumerate() {
        if gone.get(i).copied().unwrap_or(false) {
            continue;
        }
        n.target = n.target.and_then(|t| new_index.get(t).copied());
        kept.push(n);
    }
    *nodes = kept;
    true
}

fn remove_nops(nodes: &mut Vec<Node>) -> bool {
    let gone: Vec<bool> = nodes.iter().map(|n| n.as_move().is_some_and(|(d, s)| d == s)).collect();
    delete(nodes, &gone)
}

/// Jumps (taken or not) to the node after them.
fn remove_jumps_to_next(nodes: &mut Vec<Node>) -> bool {
    let gone: Vec<bool> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| matches!(n.kind(), Some(Kind::Goto | Kind::Branch)) && n.target == Some(i + 1))
        .collect();
    delete(nodes, &gone)
}

/// Within a block, reads of a register that holds a copy of another read
/// the original instead, and reads of a register that holds a constant
/// read the constant (for a branch, only where the register is not live
/// after it, so what the branch teaches the verifier is not lost).
fn propagate_copies(nodes: &mut [Node]) -> bool {
    let targets = flow::targets(nodes);
    let out = flow::live_out(nodes);
    let mut value: [Option<Held>; 16] = [None; 16];
    let mut changed = false;
    for (i, node) in nodes.iter_mut().enumerate() {
        if targets.get(i).copied().unwrap_or(true) {
            value = [None; 16];
        }
        let live = out.get(i).copied().unwrap_or(!0);
        changed |= substitute(node, &value, live);
        for d in flow::members(node.defs()) {
            for c in value.iter_mut() {
                if *c == Some(Held::Reg(d)) {
                    *c = None;
                }
            }
            if let Some(c) = value.get_mut(usize::from(d)) {
                *c = None;
            }
        }
        let i = node.insn;
        let held = match node.as_move() {
            Some((d, s)) if d != s && s != FP => Some((d, Held::Reg(s))),
            _ if i.code == ALU64 | 0xb0 && i.off == 0 => Some((i.dst, Held::Imm(i.imm))),
            _ => None,
        };
        if let Some((d, h)) = held
            && let Some(c) = value.get_mut(usize::from(d))
        {
            *c = Some(h);
        }
    }
    changed
}

/// Rewrites the register operands of `node` that `value` knows.
fn substitute(node: &mut Node, value: &[Option<Held>; 16], live: Regs) -> bool {
    let i = node.insn;
    let known = |r: u8| value.get(usize::from(r)).copied().flatten();
    let reg_src = i.code & X != 0;
    match (node.kind(), known(i.src)) {
        (Some(Kind::Alu), Some(Held::Reg(s))) if reg_src => node.insn.src = s,
        (Some(Kind::Alu), Some(Held::Imm(imm))) if reg_src && takes_imm(&i, imm) => {
            node.insn.code &= !X;
            node.insn.src = 0;
            node.insn.imm = imm;
        }
        (Some(Kind::Store), Some(Held::Reg(s))) if node.stores_reg() => node.insn.src = s,
        (Some(Kind::Store), Some(Held::Imm(imm))) if node.stores_reg() => {
            node.insn = Insn::store_imm(size_of(&i), Reg(i.dst), i.off, imm);
        }
        (Some(Kind::Branch), _) => return substitute_branch(node, value, live),
        _ => return false,
    }
    true
}

fn substitute_branch(node: &mut Node, value: &[Option<Held>; 16], live: Regs) -> bool {
    let i = node.insn;
    let known = |r: u8| value.get(usize::from(r)).copied().flatten().filter(|_| live & bit(r) == 0);
    let mut changed = false;
    if let Some(Held::Reg(s)) = known(i.dst) {
        node.insn.dst = s;
        changed = true;
    }
    if i.code & X != 0 {
        match known(i.src) {
            Some(Held::Reg(s)) => node.insn.src = s,
            Some(Held::Imm(imm)) => {
                node.insn.code &= !X;
                node.insn.src = 0;
                node.insn.imm = imm;
            }
            None => return changed,
        }
        changed = true;
    }
    changed
}

/// Whether an arithmetic instruction with a register operand may take
/// `imm` in its place: not a division by zero nor an out of range shift,
/// which the verifier refuses as immediates.
fn takes_imm(i: &Insn, imm: i32) -> bool {
    let bits = if i.code & 0x07 == ALU64 { 64 } else { 32 };
    match i.code & 0xf0 {
        0x30 | 0x90 => imm != 0,
        0x60 | 0x70 | 0xc0 => (0..bits).contains(&imm),
        0xd0 => false,
        _ => i.off == 0,
    }
}

fn size_of(i: &Insn) -> Size {
    match i.code & 0x18 {
        0x00 => Size::W,
        0x08 => Size::H,
        0x10 => Size::B,
        _ => Size::DW,
    }
}

/// What a register or an immediate holds of a slot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Held {
    Reg(u8),
    Imm(i32),
}

/// Within a block, a load from a variable slot whose value a register
/// still holds becomes a move (or goes), and one whose value was stored
/// as an immediate becomes `r = imm`.
fn forward_stores(nodes: &mut Vec<Node>, slots: &[i16]) -> bool {
    let targets = flow::targets(nodes);
    let mut held: Vec<(i16, Held)> = Vec::new();
    let mut gone = vec![false; nodes.len()];
    let mut changed = false;
    for (i, node) in nodes.iter_mut().enumerate() {
        if targets.get(i).copied().unwrap_or(true) {
            held.clear();
        }
        let slot = node.access().filter(|(base, off, size)| *base == FP && *size == 8 && slots.contains(off));
        let mut now_holds = None;
        match (node.kind(), slot) {
            (Some(Kind::Load), Some((_, off, _))) => {
                let d = node.insn.dst;
                match held.iter().find(|(s, _)| *s == off).map(|(_, h)| *h) {
                    Some(Held::Reg(r)) if r == d => {
                        if let Some(g) = gone.get_mut(i) {
                            *g = true;
                        }
                    }
                    Some(Held::Reg(r)) => node.insn = Insn::mov64_reg(Reg(d), Reg(r)),
                    Some(Held::Imm(imm)) => node.insn = Insn::mov64_imm(Reg(d), imm),
                    None => {}
                }
                changed |= node.access().is_none() || gone.get(i).copied().unwrap_or(false);
                now_holds = Some((off, Held::Reg(d)));
            }
            (Some(Kind::Store), Some((_, off, _))) => {
                held.retain(|(s, _)| *s != off);
                let h = if node.stores_reg() { Held::Reg(node.insn.src) } else { Held::Imm(node.insn.imm) };
                held.push((off, h));
            }
            _ => {}
        }
        let defs = node.defs();
        held.retain(|(_, h)| !matches!(h, Held::Reg(r) if defs & bit(*r) != 0));
        if let Some((off, h)) = now_holds.filter(|_| !gone.get(i).copied().unwrap_or(false)) {
            held.retain(|(s, _)| *s != off);
            held.push((off, h));
        }
    }
    delete(nodes, &gone) || changed
}

/// Stores to variable slots that no path reads before the next store to
/// them or the end.
fn dead_stores(nodes: &mut Vec<Node>, slots: &[i16]) -> bool {
    if slots.is_empty() || slots.len() > 64 {
        return false;
    }
    let index = |node: &Node| -> Option<(usize, bool)> {
        let (base, off, size) = node.access()?;
        if base != FP || size != 8 {
            return None;
        }
        let k = slots.iter().position(|s| *s == off)?;
        Some((k, node.kind() == Some(Kind::Load)))
    };
    // Slot liveness, as a bit set of indices into `slots`.
    let n = nodes.len();
    let mut live_in = vec![0u64; n];
    let mut out = vec![0u64; n];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let o = flow::succs(nodes, i).fold(0, |acc, s| acc | live_in.get(s).copied().unwrap_or(0));
            let mut l = o;
            if let Some((k, load)) = nodes.get(i).and_then(index) {
                let b = 1u64.checked_shl(k as u32).unwrap_or(0);
                l = if load { l | b } else { l & !b };
            }
            if let (Some(oi), Some(li)) = (out.get_mut(i), live_in.get_mut(i))
                && (*oi != o || *li != l)
            {
                (*oi, *li) = (o, l);
                changed = true;
            }
        }
    }
    let gone: Vec<bool> = nodes
        .iter()
        .zip(&out)
        .map(|(node, o)| matches!(index(node), Some((k, false)) if o & 1u64.checked_shl(k as u32).unwrap_or(0) == 0))
        .collect();
    delete(nodes, &gone)
}

/// Computations whose result no path reads.
fn dead_code(nodes: &mut Vec<Node>) -> bool {
    let out = flow::live_out(nodes);
    let gone: Vec<bool> = nodes
        .iter()
        .zip(&out)
        .map(|(node, o)| node.is_pure() && node.defs() & !bit(FP) != 0 && node.defs() & o == 0)
        .collect();
    delete(nodes, &gone)
}

/// `t = ...; (uses of t); c = t` with `t` dead after, in a stretch of
/// code entered only at its start and left only at its end, and `c` not
/// otherwise named in it: compute in `c` directly.
fn retarget(nodes: &mut Vec<Node>) -> bool {
    let out = flow::live_out(nodes);
    let mut from_outside = vec![false; nodes.len()];
    let mut changed = false;
    let mut j = 0;
    while j < nodes.len() {
        let Some((c, t)) = nodes.get(j).and_then(Node::as_move) else {
            j += 1;
            continue;
        };
        if c == t || c == FP || t == FP || out.get(j).copied().unwrap_or(!0) & bit(t) != 0 {
            j += 1;
            continue;
        }
        let Some(i) = stretch_start(nodes, j, c, t) else {
            j += 1;
            continue;
        };
        // Single entry at `i`, single exit after `j`.
        from_outside.iter_mut().for_each(|f| *f = false);
        let mut closed = true;
        for (k, n) in nodes.iter().enumerate() {
            if let Some(to) = n.target {
                let inside = (i..j).contains(&k);
                if inside && !(i < to && to <= j) {
                    closed = false;
                }
                if !inside && i < to && to <= j {
                    closed = false;
                }
            }
        }
        if closed {
            for n in nodes.iter_mut().take(j + 1).skip(i) {
                n.rename(t, c);
            }
            changed = true;
        }
        j += 1;
    }
    if changed {
        remove_nops(nodes);
    }
    changed
}

/// The node that starts `t`'s value moved to `c` at node `j`: the last
/// one before `j` that sets all of `t`, with neither a call nor an exit
/// nor any mention of `c` after it (it may itself read `c`, as `t = c`).
fn stretch_start(nodes: &[Node], j: usize, c: u8, t: u8) -> Option<usize> {
    for i in (j.saturating_sub(REACH)..j).rev() {
        let n = nodes.get(i)?;
        if matches!(n.kind()?, Kind::Call | Kind::Exit | Kind::Atomic) {
            return None;
        }
        let named = n.uses() | n.defs();
        if n.defs() & bit(t) != 0 && n.defines_fresh() {
            let reads_c = named & bit(c) != 0;
            let ok = !reads_c || (n.insn.code == ALU64 | 0xb0 | X && n.insn.src == c);
            return ok.then_some(i);
        }
        if named & bit(c) != 0 {
            return None;
        }
    }
    None
}
