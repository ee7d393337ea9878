//! Where a function's variables live: a place each, shared by variables
//! never live at the same time.
//!
//! Long variables live in 8-byte stack slots and strings in the scratch
//! record; the stack holds 512 bytes, so a handler with many temporaries
//! (every `printf` argument and every loop has some) must share them.
//! Liveness is computed over the blocks (with a `catch` a successor of
//! the blocks it covers); two variables of a type interfere where one is
//! written while the other is live, or both are named by one instruction
//! (the code of an instruction may write its result before it has read
//! every operand). Variables are then coloured in order, each taking the
//! lowest place none of its neighbours has.
//!
//! [`Frame`] holds the result for a generator: each variable's slot or
//! place, the temporaries, the map key area, the loops' counters and the
//! work area of the string intrinsics, all within the stack's 512 bytes
//! and the scratch record.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::{FIRST_VAR_SLOT, LOOP_SLOT, STACK, foreach, loops, search};
use crate::ir::{Block, Catch, Function, InstKind, Operand, Terminator, Ty, VarId};
use crate::layout::Layout;

/// The variables an instruction writes and reads.
fn defs_uses(kind: &InstKind) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let named = RefCell::new(BTreeSet::new());
    let read = RefCell::new(BTreeSet::new());
    crate::ir::inline::rename_kind(
        kind,
        &|v| {
            named.borrow_mut().insert(v.0);
            v
        },
        &|o| {
            if let Operand::Var(v) = o {
                read.borrow_mut().insert(v.0);
            }
            o.clone()
        },
    );
    let mut defs = named.into_inner();
    let mut uses = read.into_inner();
    // The iteration a `foreach` takes its next entry from is read too.
    if let InstKind::IterNext { iter, .. } = kind {
        uses.insert(iter.0);
        defs.remove(&iter.0);
        defs.insert(iter.0);
    }
    (defs, uses)
}

/// Whether an instruction writes variable `v`.
pub(super) fn defines(kind: &InstKind, v: VarId) -> bool {
    defs_uses(kind).0.contains(&v.0)
}

fn term_uses(t: &Terminator) -> Option<u32> {
    match t {
        Terminator::Branch { cond: Operand::Var(v), .. }
        | Terminator::Return(Some(Operand::Var(v)))
        | Terminator::Error(Operand::Var(v)) => Some(v.0),
        _ => None,
    }
}

fn successors(b: &Block) -> Vec<usize> {
    let mut out = match &b.term {
        Terminator::Jump(t) => vec![t.0 as usize],
        Terminator::Branch { then, otherwise, .. } => vec![then.0 as usize, otherwise.0 as usize],
        _ => Vec::new(),
    };
    if let Some(c) = b.on_error {
        out.push(c.block.0 as usize);
    }
    out
}

/// What is live at the end of a block's instructions: what its
/// successors (its catch among them, with the message it sets) need, and
/// what its terminator reads.
fn live_out(b: &Block, live_in: &[BTreeSet<u32>]) -> BTreeSet<u32> {
    let mut live: BTreeSet<u32> = successors(b).into_iter().filter_map(|s| live_in.get(s)).flatten().copied().collect();
    if let Some(Catch { message: Some(m), .. }) = b.on_error {
        live.insert(m.0);
    }
    live.extend(term_uses(&b.term));
    live
}

/// The variables live at each block's start, to a fixed point.
fn live_in(f: &Function) -> Vec<BTreeSet<u32>> {
    let blocks = &f.blocks;
    let mut live_in: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); blocks.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (i, b) in blocks.iter().enumerate().rev() {
            let mut live = live_out(b, &live_in);
            for inst in b.insts.iter().rev() {
                let (defs, uses) = defs_uses(&inst.kind);
                for d in &defs {
                    live.remove(d);
                }
                live.extend(uses);
            }
            if live_in.get(i) != Some(&live) {
                if let Some(slot) = live_in.get_mut(i) {
                    *slot = live;
                }
                changed = true;
            }
        }
    }
    live_in
}

/// The string variables that hold a process name as `execname()` wrote
/// it, NUL-padded to its 16 bytes (zeroed before `bpf_get_current_comm`,
/// which pads only on newer kernels), wherever they are read: every
/// write of one is `execname()`, and none is read before it is written
/// (nor is it a parameter or a `catch` message). A map key copies such a
/// name with two loads and stores, not a string copy.
pub(super) fn comm_strings(f: &Function) -> Vec<bool> {
    let n = f.vars.len();
    let mut comm: Vec<bool> = f.vars.iter().map(|d| d.ty == Ty::Str).collect();
    let mut written = vec![false; n];
    let clear = |v: u32, comm: &mut Vec<bool>| {
        if let Some(c) = comm.get_mut(v as usize) {
            *c = false;
        }
    };
    for p in &f.params {
        clear(p.0, &mut comm);
    }
    for b in &f.blocks {
        if let Some(Catch { message: Some(m), .. }) = b.on_error {
            clear(m.0, &mut comm);
        }
        for inst in &b.insts {
            let execname = matches!(&inst.kind, InstKind::Intrinsic { name, dst: Some(_), .. } if name == "execname");
            for d in defs_uses(&inst.kind).0 {
                if let Some(w) = written.get_mut(d as usize) {
                    *w = true;
                }
                if !execname {
                    clear(d, &mut comm);
                }
            }
        }
    }
    for v in live_in(f).first().into_iter().flatten() {
        clear(*v, &mut comm);
    }
    comm.iter().zip(&written).map(|(c, w)| *c && *w).collect()
}

/// A place for each variable (its colour), by variable; places count
/// separately for longs and strings.
pub(super) fn places(f: &Function) -> Vec<u32> {
    let n = f.vars.len();
    let blocks = &f.blocks;
    let live_in = live_in(f);
    // Interference.
    let mut with: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); n];
    let mut add = |a: u32, b: u32| {
        if a != b {
            if let Some(s) = with.get_mut(a as usize) {
                s.insert(b);
            }
            if let Some(s) = with.get_mut(b as usize) {
                s.insert(a);
            }
        }
    };
    // What is live where the function starts was never written: it keeps
    // a place of its own.
    if let Some(entry) = live_in.first() {
        for &a in entry {
            for &b in entry {
                add(a, b);
            }
        }
    }
    for b in blocks {
        let mut live = live_out(b, &live_in);
        for inst in b.insts.iter().rev() {
            let (defs, uses) = defs_uses(&inst.kind);
            for &d in &defs {
                for &l in &live {
                    add(d, l);
                }
                for &u in uses.iter().chain(&defs) {
                    add(d, u);
                }
            }
            for d in &defs {
                live.remove(d);
            }
            live.extend(uses);
        }
        // Whatever is live here is live together (block entry).
        let here: Vec<u32> = live.into_iter().collect();
        for &a in &here {
            for &b in &here {
                add(a, b);
            }
        }
    }
    let ty = |v: u32| f.vars.get(v as usize).map(|d| d.ty);
    let mut place: Vec<Option<u32>> = vec![None; n];
    for v in 0..n as u32 {
        let taken: BTreeSet<u32> = with
            .get(v as usize)
            .into_iter()
            .flatten()
            .filter(|w| ty(**w) == ty(v))
            .filter_map(|w| place.get(*w as usize).copied().flatten())
            .collect();
        let p = (0..).find(|p| !taken.contains(p)).unwrap_or(0);
        if let Some(slot) = place.get_mut(v as usize) {
            *slot = Some(p);
        }
    }
    place.into_iter().map(|p| p.unwrap_or(0)).collect()
}

/// The blocks reachable from the entry without passing through `avoid`.
fn reach(f: &Function, avoid: Option<usize>) -> Vec<bool> {
    let mut seen = vec![false; f.blocks.len()];
    let mut work = vec![0usize];
    while let Some(b) = work.pop() {
        if Some(b) == avoid || seen.get(b).copied().unwrap_or(true) {
            continue;
        }
        if let Some(s) = seen.get_mut(b) {
            *s = true;
        }
        if let Some(block) = f.blocks.get(b) {
            work.extend(successors(block));
        }
    }
    seen
}

/// The jumps of reachable blocks back to a block that dominates them
/// (every path from the entry to the jump passes through its target):
/// the turns of loops. A jump to an earlier block that is not one (the
/// code after an `if` that the lowering placed before it) is not
/// counted.
pub(super) fn back_edges(f: &Function) -> BTreeSet<(u32, u32)> {
    let all = reach(f, None);
    let mut out = BTreeSet::new();
    for (i, b) in f.blocks.iter().enumerate() {
        if !all.get(i).copied().unwrap_or(false) {
            continue;
        }
        let targets = match &b.term {
            Terminator::Jump(t) => vec![t.0 as usize],
            Terminator::Branch { then, otherwise, .. } => vec![then.0 as usize, otherwise.0 as usize],
            _ => Vec::new(),
        };
        for t in targets.into_iter().filter(|&t| t <= i) {
            if t == i || !reach(f, Some(t)).get(i).copied().unwrap_or(true) {
                out.insert((i as u32, t as u32));
            }
        }
    }
    out
}

/// Where a function's values live: each long variable's stack slot, each
/// string variable's place in the scratch record, the temporaries and map
/// key after them, the loops' counters and the work area.
pub(super) struct Frame {
    /// Each long variable's stack slot.
    pub(super) slots: Vec<Option<i16>>,
    /// Each string variable's offset in the scratch record.
    pub(super) strs: Vec<Option<u32>>,
    /// Two scratch strings for literals and building, then the map key.
    pub(super) tmp: [u32; 2],
    pub(super) key: u32,
    pub(super) scratch: u32,
    /// The size of a string.
    pub(super) s: u32,
    /// Where a `foreach` slice or a `*` pattern's keys are, in the
    /// scratch record (0: the function has none).
    pub(super) pattern: u32,
    /// The work area of the string intrinsics and extractors that keep
    /// state in the scratch record (0: the function has none); see
    /// [`search`].
    pub(super) work: u32,
    /// Whether the work area has its two strings.
    pub(super) work_strings: bool,
    /// Each loop's header block and the slot counting its turns.
    pub(super) loops: Vec<(u32, Option<i16>)>,
    /// The jumps back to a block that dominates the jump: (from, to).
    pub(super) back_edges: BTreeSet<(u32, u32)>,
    /// The function's `foreach` loops, which run through callbacks.
    pub(super) fe_loops: Vec<loops::Loop>,
    /// By variable: a process name NUL-padded to 16 bytes ([`comm_strings`]).
    pub(super) comm: Vec<bool>,
}

impl Frame {
    /// The places of `f`'s values.
    pub(super) fn new(f: &Function, layout: &Layout) -> Frame {
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
        let shared = places(f);
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
        let back_edges = back_edges(f);
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
        Frame {
            slots,
            strs,
            tmp,
            key,
            scratch: match work_needed {
                Some(strings) => work + search::work_size(s, strings),
                None => after_keys,
            },
            s,
            pattern: if callbacks { key + max_key.max(8) } else { 0 },
            work,
            work_strings: work_needed == Some(true),
            loops,
            back_edges,
            fe_loops,
            comm: if s >= 16 { comm_strings(f) } else { vec![false; f.vars.len()] },
        }
    }
}
