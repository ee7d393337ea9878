//! The bodies of `foreach` loops in kernel handlers, run by `bpf_loop`.
//!
//! A loop whose turns the verifier cannot count (a `foreach` takes as
//! many as the array has entries) would have it follow every turn up to
//! MAXACTION, each with all the branches of the body: too much for it.
//! So a `foreach`'s head (taking the next entry) and body (the blocks the
//! body's first block dominates) become a callback that `bpf_loop` calls
//! once per turn; the verifier checks it once.
//!
//! The callback gets the caller's frame pointer as its context. It
//! copies in the long variables the loop uses (those live on the stack;
//! strings are in the shared scratch record) and copies them back out
//! when it returns. The caller keeps its context, globals and scratch
//! pointers in fixed slots of its frame, which the callback reads. How a
//! turn ends is its return value (0: next turn, 1: stop) and, when it
//! stops, a code in the caller's frame: 0 the loop is done (or `break`),
//! 1 the handler ends (`next`, an error, MAXACTION), 2 + N on to block N
//! of the caller (the `catch` of a `try` around the loop). MAXACTION
//! counts the turns by `bpf_loop`'s index. Loops inside the body nest the
//! same way.
//!
//! A function with such loops lays out its frame as: the fixed slots
//! below, then its variables.

use std::collections::BTreeSet;

use super::{Gen, Label, STACK, not_yet};
use crate::bpf::abi::HELPER_LOOP;
use crate::bpf::insn::{Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::{Block, Catch, Function, Inst, InstKind, Operand, Terminator, VarId};
use crate::source::Span;

/// In a callback: the caller's frame pointer.
const FRAME: i16 = -48;
/// The code a callback leaves on stopping (in the caller's frame).
const EXIT: i16 = -56;
/// In a callback: the turn (`bpf_loop`'s index).
const TURN: i16 = -64;
/// The context, globals and scratch pointers, for callbacks to read.
const CTX: i16 = -72;
const GLOBALS: i16 = -80;
const SCRATCH: i16 = -88;
/// The first variable slot of a function with `foreach` loops.
pub(super) const FIRST_SLOT: i32 = -96;

const DONE: i32 = 0;
const END_HANDLER: i32 = 1;
const TO_BLOCK: i32 = 2;

/// A `foreach` loop of a function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Loop {
    /// The block that takes the next entry, and where it goes.
    pub(super) head: u32,
    body: u32,
    exit: u32,
    /// The iteration variable.
    iter: VarId,
    /// The blocks the body's first block dominates.
    blocks: BTreeSet<u32>,
}

/// What a callback generator runs: the loop, and how its long variables
/// map between the caller's frame and its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Region {
    pub(super) lp: Loop,
    /// (caller's slot, own slot) of each value copied in and out.
    copies: Vec<(i16, i16)>,
}

fn successors(b: &Block) -> Vec<u32> {
    let mut out = match &b.term {
        Terminator::Jump(t) => vec![t.0],
        Terminator::Branch { then, otherwise, .. } => vec![then.0, otherwise.0],
        _ => Vec::new(),
    };
    if let Some(c) = b.on_error {
        out.push(c.block.0);
    }
    out
}

/// The blocks reachable from the entry without passing through `avoid`.
fn reach(f: &Function, avoid: Option<u32>) -> Vec<bool> {
    let mut seen = vec![false; f.blocks.len()];
    let mut work = vec![0u32];
    while let Some(b) = work.pop() {
        if Some(b) == avoid || seen.get(b as usize).copied().unwrap_or(true) {
            continue;
        }
        if let Some(s) = seen.get_mut(b as usize) {
            *s = true;
        }
        if let Some(block) = f.blocks.get(b as usize) {
            work.extend(successors(block));
        }
    }
    seen
}

/// The `foreach` loops of a function: a head holds the `IterNext` and
/// branches to the body or the exit.
pub(super) fn loops(f: &Function) -> Vec<Loop> {
    let all = reach(f, None);
    let mut out = Vec::new();
    for (i, b) in f.blocks.iter().enumerate() {
        let (
            Some(Inst { kind: InstKind::IterNext { iter, found, .. }, .. }),
            Terminator::Branch { cond, then, otherwise },
        ) = (b.insts.first(), &b.term)
        else {
            continue;
        };
        if *cond != Operand::Var(*found) || !all.get(i).copied().unwrap_or(false) {
            continue;
        }
        let without = reach(f, Some(then.0));
        let blocks = (0..f.blocks.len() as u32)
            .filter(|&k| {
                all.get(k as usize).copied().unwrap_or(false) && !without.get(k as usize).copied().unwrap_or(true)
            })
            .collect();
        out.push(Loop { head: i as u32, body: then.0, exit: otherwise.0, iter: *iter, blocks });
    }
    out
}

/// The variables a block names.
fn vars_of(b: &Block, out: &mut BTreeSet<VarId>) {
    let seen = std::cell::RefCell::new(BTreeSet::new());
    let var = |v: VarId| {
        seen.borrow_mut().insert(v);
        v
    };
    let op = |o: &Operand| {
        if let Operand::Var(v) = o {
            seen.borrow_mut().insert(*v);
        }
        o.clone()
    };
    for i in &b.insts {
        crate::ir::inline::rename_kind(&i.kind, &var, &op);
    }
    match &b.term {
        Terminator::Branch { cond, .. } => {
            op(cond);
        }
        Terminator::Return(Some(o)) | Terminator::Error(o) => {
            op(o);
        }
        _ => {}
    }
    if let Some(Catch { message: Some(m), .. }) = b.on_error {
        var(m);
    }
    out.extend(seen.into_inner());
}

impl Gen<'_> {
    /// Which blocks this generator writes: all reachable ones, less the
    /// heads and bodies of the loops it runs through callbacks (for a
    /// callback: those of its loop's body, less the loops inside).
    pub(super) fn emitted_blocks(&self, reachable: &[bool]) -> Vec<bool> {
        let mine = |k: u32| match &self.region {
            Some(r) => r.lp.blocks.contains(&k),
            None => reachable.get(k as usize).copied().unwrap_or(false),
        };
        let mut out: Vec<bool> = (0..self.f.blocks.len() as u32).map(mine).collect();
        for lp in &self.frame.fe_loops {
            if self.region.as_ref().is_some_and(|r| r.lp == *lp) || !mine(lp.head) && self.region.is_some() {
                continue;
            }
            if let Some(h) = out.get_mut(lp.head as usize) {
                *h = false;
            }
            for b in &lp.blocks {
                if let Some(e) = out.get_mut(*b as usize) {
                    *e = false;
                }
            }
        }
        out
    }

    /// In the callback of the loop over `iter`: the slot of the turn.
    pub(super) fn loop_turn(&self, iter: VarId) -> Option<i16> {
        self.region.as_ref().filter(|r| r.lp.iter == iter).map(|_| TURN)
    }

    /// The end of the handler: from the program, or (in a callback) a
    /// code for the caller, which ends it in turn.
    pub(super) fn end_handler(&mut self) {
        match self.region {
            None => {
                self.emit(Insn::mov64_imm(Reg::R0, 0));
                self.emit(Insn::exit());
            }
            Some(_) => self.stop_with(END_HANDLER),
        }
    }

    /// In a callback: copy the variables back, leave `code` in the
    /// caller's frame and stop.
    fn stop_with(&mut self, code: i32) {
        self.copy_out();
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, FRAME));
        self.emit(Insn::store_imm(Size::DW, Reg::R1, EXIT, code));
        self.emit(Insn::mov64_imm(Reg::R0, 1));
        self.emit(Insn::exit());
    }

    fn copy_out(&mut self) {
        let Some(r) = &self.region else { return };
        let copies = r.copies.clone();
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::FP, FRAME));
        for (theirs, mine) in copies {
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, mine));
            self.emit(Insn::store(Size::DW, Reg::R2, theirs, Reg::R1));
        }
    }

    /// The label a jump to block `t` takes: the block's own where this
    /// generator writes it, else a stub after the code that leaves for
    /// it (see [`Self::leave_to`]).
    pub(super) fn block_label(&mut self, t: u32) -> Label {
        if self.emitted.get(t as usize).copied().unwrap_or(false) {
            return Label(t as usize);
        }
        if let Some((l, _)) = self.stubs.iter().find(|(_, b)| *b == t) {
            return *l;
        }
        let l = self.label();
        self.stubs.push((l, t));
        l
    }

    /// Goes to block `t`, which this generator may not write: a loop's
    /// head runs the loop; in a callback, its own head is the next turn,
    /// its exit the loop's end, and any other block is the caller's.
    pub(super) fn leave_to(&mut self, t: u32, span: Span) -> Result<(), Diagnostic> {
        if let Some(lp) = self.frame.fe_loops.iter().find(|l| l.head == t).cloned()
            && self.region.as_ref().is_none_or(|r| r.lp != lp)
        {
            return self.run_loop(&lp, span);
        }
        let Some(r) = &self.region else {
            return Err(Diagnostic::internal(format!("pass 3: a jump to block {t}, which is not written")).at(span, ""));
        };
        if t == r.lp.head {
            self.copy_out();
            self.emit(Insn::mov64_imm(Reg::R0, 0));
            self.emit(Insn::exit());
        } else if t == r.lp.exit {
            self.stop_with(DONE);
        } else {
            let code = TO_BLOCK + i32::try_from(t).map_err(|_| not_yet("handlers this long", span))?;
            self.stop_with(code);
        }
        Ok(())
    }

    /// The stubs that leave for blocks this generator does not write.
    pub(super) fn write_stubs(&mut self, span: Span) -> Result<(), Diagnostic> {
        let mut done = 0;
        while let Some(&(l, t)) = self.stubs.get(done) {
            self.bind(l);
            self.leave_to(t, span)?;
            done += 1;
        }
        Ok(())
    }

    /// Keeps the context, globals and scratch pointers where callbacks
    /// read them.
    pub(super) fn keep_pointers(&mut self) {
        self.emit(Insn::store(Size::DW, Reg::FP, CTX, Reg::R6));
        self.emit(Insn::store(Size::DW, Reg::FP, GLOBALS, Reg::R7));
        self.emit(Insn::store(Size::DW, Reg::FP, SCRATCH, Reg::R8));
    }

    /// Runs loop `lp` through `bpf_loop` and goes where its callback
    /// says.
    pub(super) fn run_loop(&mut self, lp: &Loop, span: Span) -> Result<(), Diagnostic> {
        let cap = self
            .iters
            .iter()
            .rev()
            .find(|(v, _)| *v == lp.iter)
            .map(|(_, b)| b.cap())
            .ok_or_else(|| Diagnostic::internal("pass 3: foreach takes an entry before it starts").at(span, ""))?;
        let (cb, leaves) = self.loop_callback(lp, span)?;
        self.emit(Insn::store_imm(Size::DW, Reg::FP, EXIT, DONE));
        // One turn more than entries: the last finds none.
        self.emit(Insn::mov64_imm(Reg::R1, cap as i32 + 1));
        self.emit2(Insn::ld_func(Reg::R2, cb));
        self.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        self.emit(Insn::mov64_imm(Reg::R4, 0));
        self.emit(Insn::call(HELPER_LOOP));
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, EXIT));
        let handler_goes_on = self.label();
        self.jump_imm_to(Cond::Ne, Reg::R1, END_HANDLER, handler_goes_on);
        self.end_handler();
        self.bind(handler_goes_on);
        for t in leaves {
            let code = TO_BLOCK + t as i32;
            let l = self.block_label(t);
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, EXIT));
            self.jump_imm_to(Cond::Eq, Reg::R1, code, l);
        }
        let exit = self.block_label(lp.exit);
        self.jump_to(exit);
        Ok(())
    }

    /// The callback of loop `lp`, and the blocks outside it that it may
    /// leave for.
    fn loop_callback(&mut self, lp: &Loop, span: Span) -> Result<(i32, Vec<u32>), Diagnostic> {
        let index = self.cb_base + self.callbacks.len();
        self.callbacks.push(None);
        // The long values the loop touches, and the loop counters of the
        // plain loops inside it, get slots of their own.
        let mut vars = BTreeSet::new();
        for k in std::iter::once(lp.head).chain(lp.blocks.iter().copied()) {
            if let Some(b) = self.f.blocks.get(k as usize) {
                vars_of(b, &mut vars);
            }
        }
        // The body reads the probe's context as its handler does.
        let mut g = Gen::new(self.m, self.f, self.layout, self.records, self.facts.ctx);
        g.facts = self.facts.clone();
        let mut copies = Vec::new();
        let mut next = FIRST_SLOT;
        let mut slots = vec![None; self.f.vars.len()];
        for v in vars {
            let Some(theirs) = self.frame.slots.get(v.0 as usize).copied().flatten() else { continue };
            // Variables that share the caller's slot share one here.
            let mine = match copies.iter().find(|(t, _)| *t == theirs) {
                Some(&(_, m)) => m,
                None => {
                    let m = i16::try_from(next).map_err(|_| not_yet("loops with this many values", span))?;
                    copies.push((theirs, m));
                    next -= 8;
                    m
                }
            };
            if let Some(s) = slots.get_mut(v.0 as usize) {
                *s = Some(mine);
            }
        }
        // The plain loops inside count their turns afresh each turn (a
        // count carried from turn to turn would keep the verifier from
        // ever seeing two turns alike).
        let mut counters = Vec::new();
        let mut fresh = Vec::new();
        for (h, _) in &self.frame.loops {
            if !lp.blocks.contains(h) {
                continue;
            }
            let mine = i16::try_from(next).map_err(|_| not_yet("loops with this many values", span))?;
            counters.push((*h, Some(mine)));
            fresh.push(mine);
            next -= 8;
        }
        if next < -STACK / 2 {
            return Err(not_yet("foreach bodies with this many values", span));
        }
        g.frame.slots = slots;
        g.frame.loops = counters;
        g.cb_base = index + 1;
        g.iters = self.iters.clone();
        g.frame.fe_loops = self.frame.fe_loops.clone();
        g.fe_next = self.fe_next + self.buffers.len() as u32;
        g.rodata_base = self.rodata_base + self.rodata.len() as u32;
        g.region = Some(Region { lp: lp.clone(), copies: copies.clone() });
        for _ in &self.f.blocks {
            g.label();
        }
        g.emitted = g.emitted_blocks(&[]);
        g.e.lines.push((0, span));
        // The frame: the caller's pointers, then the values.
        g.emit(Insn::store(Size::DW, Reg::FP, FRAME, Reg::R2));
        g.emit(Insn::store(Size::DW, Reg::FP, TURN, Reg::R1));
        g.emit(Insn::load(Size::DW, Reg::R6, Reg::R2, CTX));
        g.emit(Insn::load(Size::DW, Reg::R7, Reg::R2, GLOBALS));
        g.emit(Insn::load(Size::DW, Reg::R8, Reg::R2, SCRATCH));
        g.keep_pointers();
        for (theirs, mine) in &copies {
            g.emit(Insn::load(Size::DW, Reg::R1, Reg::R2, *theirs));
            g.emit(Insn::store(Size::DW, Reg::FP, *mine, Reg::R1));
        }
        for mine in fresh {
            g.emit(Insn::store_imm(Size::DW, Reg::FP, mine, 0));
        }
        // MAXACTION: the turns of the loop.
        let ok = g.label();
        g.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, TURN));
        let max = i32::try_from(self.layout.limits.max_action).unwrap_or(i32::MAX);
        g.jump_imm_to(Cond::Le, Reg::R1, max, ok);
        g.action_exceeded(span)?;
        g.bind(ok);
        // The head, then the body.
        let head = self.f.blocks.get(lp.head as usize).ok_or_else(|| Diagnostic::internal("pass 3: no loop head"))?;
        for i in &head.insts {
            g.e.lines.push((g.e.insns.len(), i.span));
            g.inst(i)?;
        }
        if let Terminator::Branch { cond, .. } = &head.term {
            g.load(Reg::R1, cond, head.term_span)?;
            let body = g.block_label(lp.body);
            g.jump_imm_to(Cond::Ne, Reg::R1, 0, body);
            g.stop_with(DONE);
        }
        for (k, b) in self.f.blocks.iter().enumerate() {
            if g.emitted.get(k).copied().unwrap_or(false) {
                g.bind(Label(k));
                g.block(k, b)?;
            }
        }
        g.write_stubs(span)?;
        let leaves: Vec<u32> = g
            .stubs
            .iter()
            .map(|(_, t)| *t)
            .filter(|t| *t != lp.head && *t != lp.exit && !self.frame.fe_loops.iter().any(|l| l.head == *t))
            .collect();
        let fe_after = g.fe_next + g.buffers.len() as u32;
        let buffers = std::mem::take(&mut g.buffers);
        let mut code = g.finish(span)?;
        let nested = std::mem::take(&mut code.callbacks);
        self.rodata.extend(std::mem::take(&mut code.rodata));
        if let Some(slot) = self.callbacks.get_mut(index - self.cb_base) {
            *slot = Some(code);
        }
        self.callbacks.extend(nested.into_iter().map(Some));
        self.buffers.extend(buffers);
        debug_assert_eq!(self.fe_next + self.buffers.len() as u32, fe_after);
        Ok((i32::try_from(index).map_err(|_| not_yet("this many callbacks", span))?, leaves))
    }
}
