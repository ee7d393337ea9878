//! The kernel verifier's budget, checked before loading.
//!
//! The verifier walks a `while` or `for` loop turn by turn until its
//! counter (see `count_action`) reaches MAXACTION, unless the loop's
//! condition is one it can follow to the end (a counter compared with
//! constants). Each turn walks the whole body again: the counter differs
//! from turn to turn, so no state of one turn stands for another's. A
//! loop whose condition depends on data (a global, an array, a call, a
//! target variable) therefore costs at least MAXACTION times its body's
//! instructions; past the verifier's limit of a million, the kernel
//! would refuse the program after long seconds of work. Such a loop is
//! refused here, at its condition, with what to change. The estimate is
//! a floor (a turn costs the verifier more than its instructions: both
//! sides of its branches, the counter's check), so what passes here may
//! still be too much; what is refused here the kernel would refuse.
//! A loop "on a counter" is one a branch leaves on a comparison of
//! values that depend on no data, one of them changed in the loop.

use std::collections::BTreeSet;

use super::Gen;
use crate::diag::Diagnostic;
use crate::ir::{Function, InstKind, Operand, Terminator, VarId};

/// `BPF_COMPLEXITY_LIMIT_INSNS`: the most instructions the verifier
/// processes for one program.
const VERIFIER_LIMIT: u64 = 1_000_000;

impl Gen<'_> {
    /// Checks each loop of the blocks written so far (the code of block
    /// `b` runs from its label to the next written block's).
    pub(super) fn check_loop_budget(&self) -> Result<(), Diagnostic> {
        let f = self.f;
        let written: Vec<usize> =
            (0..f.blocks.len()).filter(|&b| self.emitted.get(b).copied().unwrap_or(false)).collect();
        let start = |b: usize| self.e.labels.get(b).copied().flatten();
        let mut size = vec![0u64; f.blocks.len()];
        for (k, &b) in written.iter().enumerate() {
            let end = written.get(k + 1).and_then(|&n| start(n)).unwrap_or(self.e.insns.len());
            if let (Some(s), Some(slot)) = (start(b), size.get_mut(b)) {
                *slot = end.saturating_sub(s) as u64;
            }
        }
        let headers: BTreeSet<u32> = self.frame.back_edges.iter().map(|&(_, h)| h).collect();
        for h in headers {
            let Some(block) = f.blocks.get(h as usize) else { continue };
            let body = loop_body(f, h, &self.frame.back_edges);
            // A loop ends where a branch leaves it: counted if one such
            // branch is on a counter.
            let leaves = body.iter().filter_map(|b| f.blocks.get(*b as usize)).filter_map(|b| match &b.term {
                Terminator::Branch { cond, then, otherwise }
                    if !body.contains(&then.0) || !body.contains(&otherwise.0) =>
                {
                    Some(cond)
                }
                _ => None,
            });
            if leaves.into_iter().any(|c| match c {
                Operand::Var(c) => counted(f, *c, &body),
                _ => false,
            }) {
                continue;
            }
            let turn: u64 = body.iter().filter_map(|&b| size.get(b as usize)).sum();
            let turns = self.layout.limits.max_action;
            if turns.saturating_mul(turn) > VERIFIER_LIMIT {
                return Err(Diagnostic::semantic_error(
                    format!(
                        "this loop is too large for the kernel's verifier: up to MAXACTION ({turns}) turns of \
                         {turn} eBPF instructions, past its limit of {VERIFIER_LIMIT}"
                    ),
                    block.term_span,
                )
                .with_help(format!(
                    "the verifier follows every turn of a loop whose end depends on data, and more than the \
                     body's instructions in each: it needs MAXACTION below {} (-D MAXACTION=N), or less work \
                     in the loop",
                    VERIFIER_LIMIT / turn.max(1)
                )));
            }
        }
        Ok(())
    }
}

/// The blocks of the loop at `header`: those that reach one of its
/// jumps back without passing through it, and itself.
fn loop_body(f: &Function, header: u32, back_edges: &BTreeSet<(u32, u32)>) -> BTreeSet<u32> {
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); f.blocks.len()];
    for (i, b) in f.blocks.iter().enumerate() {
        let mut succ: Vec<u32> = match &b.term {
            Terminator::Jump(t) => vec![t.0],
            Terminator::Branch { then, otherwise, .. } => vec![then.0, otherwise.0],
            _ => Vec::new(),
        };
        succ.extend(b.on_error.map(|c| c.block.0));
        for s in succ {
            if let Some(p) = preds.get_mut(s as usize) {
                p.push(i as u32);
            }
        }
    }
    let mut body = BTreeSet::from([header]);
    let mut work: Vec<u32> = back_edges.iter().filter(|&&(_, h)| h == header).map(|&(t, _)| t).collect();
    while let Some(b) = work.pop() {
        if body.insert(b) {
            work.extend(preds.get(b as usize).into_iter().flatten().copied());
        }
    }
    body
}

/// Whether the loop condition `c` is one the verifier follows to its
/// end: a comparison of values that depend on no data, one of them
/// changed in the loop's `body` (a counter).
fn counted(f: &Function, c: VarId, body: &BTreeSet<u32>) -> bool {
    let defs: Vec<&InstKind> =
        f.blocks.iter().flat_map(|b| &b.insts).map(|i| &i.kind).filter(|k| super::frame::defines(k, c)).collect();
    let changed_in_loop = |v: VarId| {
        body.iter()
            .filter_map(|b| f.blocks.get(*b as usize))
            .flat_map(|b| &b.insts)
            .any(|i| super::frame::defines(&i.kind, v))
    };
    !defs.is_empty()
        && defs.iter().all(|k| match k {
            InstKind::Compare { a, b, strings: false, .. } => {
                let vars: Vec<VarId> =
                    [a, b].into_iter().filter_map(|o| if let Operand::Var(x) = o { Some(*x) } else { None }).collect();
                vars.iter().all(|&x| !depends_on_data(f, x, &mut BTreeSet::new()))
                    && vars.iter().any(|&x| changed_in_loop(x))
            }
            InstKind::Copy { src: Operand::Var(x), .. } => counted(f, *x, body),
            _ => false,
        })
}

/// Whether a variable's value may come from data the verifier cannot
/// know (a global, an array, a call, the probe's context), through any
/// of its assignments in the function.
fn depends_on_data(f: &Function, v: VarId, seen: &mut BTreeSet<VarId>) -> bool {
    if !seen.insert(v) {
        return false;
    }
    let mut operands: Vec<VarId> = Vec::new();
    for inst in f.blocks.iter().flat_map(|b| &b.insts) {
        let inputs: Vec<&Operand> = match &inst.kind {
            InstKind::Copy { dst, src } if *dst == v => vec![src],
            InstKind::Unary { dst, a, .. } if *dst == v => vec![a],
            InstKind::Binary { dst, a, b, .. } | InstKind::Compare { dst, a, b, .. } if *dst == v => vec![a, b],
            InstKind::Copy { .. } | InstKind::Unary { .. } | InstKind::Binary { .. } | InstKind::Compare { .. } => {
                continue;
            }
            other => {
                if super::frame::defines(other, v) {
                    return true;
                }
                continue;
            }
        };
        operands.extend(inputs.into_iter().filter_map(|o| if let Operand::Var(x) = o { Some(*x) } else { None }));
    }
    operands.into_iter().any(|x| depends_on_data(f, x, seen))
}
