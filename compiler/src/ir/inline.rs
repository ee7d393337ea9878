//! Inlining of script-function calls, for kernel-placed handlers: eBPF
//! programs here are one function each, so a call becomes a copy of the
//! callee's blocks (each overload in turn, `next` moving to the next one).
//! A function that calls itself, directly or not, cannot be inlined: the
//! kernel has no recursion to offer, and the script gets a clear error.

use super::{Block, BlockId, Catch, Function, Inst, InstKind, Module, Operand, Terminator, VarId};
use crate::diag::Diagnostic;

/// How deep calls may nest before inlining gives up.
const MAX_DEPTH: usize = 32;

/// `f` with every call replaced by the callee's code.
pub fn inline_calls(m: &Module, f: &Function) -> Result<Function, Diagnostic> {
    let mut out = f.clone();
    // (block, the chain of functions inlined to reach it)
    let mut stacks: Vec<Vec<super::FuncId>> = vec![Vec::new(); out.blocks.len()];
    let mut b = 0;
    while b < out.blocks.len() {
        let call =
            out.blocks.get(b).and_then(|blk| blk.insts.iter().position(|i| matches!(i.kind, InstKind::Call { .. })));
        let Some(at) = call else {
            b += 1;
            continue;
        };
        let stack = stacks.get(b).cloned().unwrap_or_default();
        let Some(block) = out.blocks.get_mut(b) else { break };
        let rest: Vec<Inst> = block.insts.split_off(at + 1);
        let Some(Inst { kind: InstKind::Call { dst, overloads, args }, span }) = block.insts.pop() else { break };
        let term = std::mem::replace(&mut block.term, Terminator::Return(None));
        let term_span = block.term_span;
        let on_error = block.on_error;
        for o in &overloads {
            if stack.contains(o) || *o == func_id(m, f).unwrap_or(super::FuncId(u32::MAX)) {
                let name = m.function(*o).map_or("?", |g| g.name.as_str());
                return Err(Diagnostic::semantic_error(
                    format!("function '{name}' calls itself; a kernel-placed handler cannot recurse"),
                    span,
                ));
            }
        }
        if stack.len() >= MAX_DEPTH {
            return Err(Diagnostic::semantic_error("calls nest too deeply for a kernel-placed handler", span));
        }
        // Each overload's copy, then the continuation.
        let mut entries = Vec::new();
        let mut copies = Vec::new();
        let mut var_bases = Vec::new();
        for &o in &overloads {
            let Some(callee) = m.function(o) else {
                return Err(Diagnostic::internal(format!("pass 3: no function {}", o.0)));
            };
            let var_base = out.vars.len() as u32;
            var_bases.push(var_base);
            out.vars.extend(callee.vars.iter().cloned());
            let block_base = out.blocks.len() as u32 + copies.iter().map(|c: &Vec<Block>| c.len() as u32).sum::<u32>();
            entries.push(BlockId(block_base));
            copies.push(rename(callee, var_base, block_base, on_error));
        }
        let mut next_block = out.blocks.len() as u32;
        for c in &copies {
            next_block += c.len() as u32;
        }
        let cont = BlockId(next_block);
        // The call's block: the arguments into the first overload's
        // parameters, then into it.
        let mut entry_insts = Vec::new();
        for (k, (&o, copy)) in overloads.iter().zip(copies.iter_mut()).enumerate() {
            let Some(callee) = m.function(o) else { continue };
            let var_base = var_bases.get(k).copied().unwrap_or(0);
            let params: Vec<VarId> = callee.params.iter().map(|p| VarId(p.0 + var_base)).collect();
            // Returns go to the continuation with the value; `next` to
            // the next overload (or fails after the last).
            let next = entries.get(k + 1).copied();
            for blk in copy.iter_mut() {
                match std::mem::replace(&mut blk.term, Terminator::Return(None)) {
                    Terminator::Return(v) => {
                        if let (Some(d), Some(v)) = (dst, v) {
                            blk.insts.push(Inst { kind: InstKind::Copy { dst: d, src: v }, span: blk.term_span });
                        }
                        blk.term = Terminator::Jump(cont);
                    }
                    Terminator::Next => {
                        blk.term = match next {
                            Some(n) => {
                                let Some(next_callee) = overloads.get(k + 1).and_then(|o| m.function(*o)) else {
                                    return Err(Diagnostic::internal("pass 3: a missing overload"));
                                };
                                let nb = var_bases.get(k + 1).copied().unwrap_or(0);
                                for (p, a) in next_callee.params.iter().zip(&args) {
                                    blk.insts.push(Inst {
                                        kind: InstKind::Copy { dst: VarId(p.0 + nb), src: a.clone() },
                                        span,
                                    });
                                }
                                Terminator::Jump(n)
                            }
                            None => Terminator::Error(Operand::Str(b"all functions exhausted".to_vec())),
                        };
                    }
                    other => blk.term = other,
                }
            }
            if k == 0 {
                for (p, a) in params.iter().zip(&args) {
                    entry_insts.push(Inst { kind: InstKind::Copy { dst: *p, src: a.clone() }, span });
                }
            }
        }
        if let Some(block) = out.blocks.get_mut(b) {
            block.insts.extend(entry_insts);
            block.term = Terminator::Jump(entries.first().copied().unwrap_or(cont));
        }
        let mut inner = stack.clone();
        inner.extend(overloads.iter().copied());
        for c in copies {
            for blk in c {
                out.blocks.push(blk);
                stacks.push(inner.clone());
            }
        }
        out.blocks.push(Block { insts: rest, term, term_span, on_error });
        stacks.push(stack);
        // The call's block is done; the copies and the continuation come
        // in their turn.
        b += 1;
    }
    Ok(out)
}

/// The function's own id in the module, for direct recursion.
fn func_id(m: &Module, f: &Function) -> Option<super::FuncId> {
    m.functions.iter().position(|g| std::ptr::eq(g, f)).map(|i| super::FuncId(i as u32))
}

/// The callee's blocks with variables and blocks renumbered; errors in
/// blocks without a catch of their own go to the caller's.
fn rename(callee: &Function, var_base: u32, block_base: u32, on_error: Option<Catch>) -> Vec<Block> {
    let v = |x: VarId| VarId(x.0 + var_base);
    let o = |x: &Operand| match x {
        Operand::Var(x) => Operand::Var(v(*x)),
        other => other.clone(),
    };
    let bl = |x: BlockId| BlockId(x.0 + block_base);
    callee
        .blocks
        .iter()
        .map(|blk| Block {
            insts: blk.insts.iter().map(|i| Inst { kind: rename_kind(&i.kind, &v, &o), span: i.span }).collect(),
            term: match &blk.term {
                Terminator::Jump(t) => Terminator::Jump(bl(*t)),
                Terminator::Branch { cond, then, otherwise } => {
                    Terminator::Branch { cond: o(cond), then: bl(*then), otherwise: bl(*otherwise) }
                }
                Terminator::Return(x) => Terminator::Return(x.as_ref().map(o)),
                Terminator::Next => Terminator::Next,
                Terminator::Error(x) => Terminator::Error(o(x)),
            },
            term_span: blk.term_span,
            on_error: match blk.on_error {
                Some(c) => Some(Catch { block: bl(c.block), message: c.message.map(v) }),
                None => on_error,
            },
        })
        .collect()
}

pub(crate) fn rename_kind(k: &InstKind, v: &dyn Fn(VarId) -> VarId, o: &dyn Fn(&Operand) -> Operand) -> InstKind {
    let os = |xs: &[Operand]| xs.iter().map(o).collect::<Vec<_>>();
    let oo = |xs: &[Option<Operand>]| xs.iter().map(|x| x.as_ref().map(o)).collect::<Vec<_>>();
    match k {
        InstKind::Copy { dst, src } => InstKind::Copy { dst: v(*dst), src: o(src) },
        InstKind::Unary { dst, op, a } => InstKind::Unary { dst: v(*dst), op: *op, a: o(a) },
        InstKind::Binary { dst, op, a, b } => InstKind::Binary { dst: v(*dst), op: *op, a: o(a), b: o(b) },
        InstKind::Compare { dst, op, a, b, strings } => {
            InstKind::Compare { dst: v(*dst), op: *op, a: o(a), b: o(b), strings: *strings }
        }
        InstKind::Concat { dst, a, b } => InstKind::Concat { dst: v(*dst), a: o(a), b: o(b) },
        InstKind::Regex { dst, a, pattern, negated } => {
            InstKind::Regex { dst: v(*dst), a: o(a), pattern: pattern.clone(), negated: *negated }
        }
        InstKind::LoadGlobal { dst, global } => InstKind::LoadGlobal { dst: v(*dst), global: *global },
        InstKind::StoreGlobal { global, src } => InstKind::StoreGlobal { global: *global, src: o(src) },
        InstKind::MapGet { dst, map, keys } => InstKind::MapGet { dst: v(*dst), map: *map, keys: os(keys) },
        InstKind::MapSet { map, keys, value } => InstKind::MapSet { map: *map, keys: os(keys), value: o(value) },
        InstKind::MapDelete { map, keys } => InstKind::MapDelete { map: *map, keys: keys.as_ref().map(|k| oo(k)) },
        InstKind::MapHas { dst, map, keys } => InstKind::MapHas { dst: v(*dst), map: *map, keys: oo(keys) },
        InstKind::Update { old, global, keys, op, value } => InstKind::Update {
            old: old.map(v),
            global: *global,
            keys: keys.as_ref().map(|k| os(k)),
            op: *op,
            value: o(value),
        },
        InstKind::StatAdd { stat, keys, value } => InstKind::StatAdd { stat: *stat, keys: os(keys), value: o(value) },
        InstKind::StatGet { dst, stat, keys, op, shift } => {
            InstKind::StatGet { dst: v(*dst), stat: *stat, keys: os(keys), op: *op, shift: *shift }
        }
        InstKind::Target { dst, resolved, operands } => {
            InstKind::Target { dst: v(*dst), resolved: resolved.clone(), operands: os(operands) }
        }
        InstKind::Intrinsic { dst, name, args } => {
            InstKind::Intrinsic { dst: dst.map(v), name: name.clone(), args: os(args) }
        }
        InstKind::Call { dst, overloads, args } => {
            InstKind::Call { dst: dst.map(v), overloads: overloads.clone(), args: os(args) }
        }
        InstKind::IterStart { iter, map, sort, aggregate, limit, slice } => InstKind::IterStart {
            iter: v(*iter),
            map: *map,
            sort: *sort,
            aggregate: *aggregate,
            limit: limit.as_ref().map(o),
            slice: oo(slice),
        },
        InstKind::IterNext { iter, map, found, keys, value } => InstKind::IterNext {
            iter: v(*iter),
            map: *map,
            found: v(*found),
            keys: keys.iter().map(|k| v(*k)).collect(),
            value: value.map(v),
        },
        InstKind::HistPrint { stat, keys, hist } => {
            InstKind::HistPrint { stat: *stat, keys: os(keys), hist: rename_hist(hist, o) }
        }
        InstKind::HistBucket { dst, stat, keys, hist, index } => InstKind::HistBucket {
            dst: v(*dst),
            stat: *stat,
            keys: os(keys),
            hist: rename_hist(hist, o),
            index: o(index),
        },
        InstKind::EntrySave { slot, value } => InstKind::EntrySave { slot: *slot, value: o(value) },
        InstKind::EntryLoad { dst, slot } => InstKind::EntryLoad { dst: v(*dst), slot: *slot },
        InstKind::Print { dst, kind, format, delimiter, args } => InstKind::Print {
            dst: dst.map(v),
            kind: *kind,
            format: format.clone(),
            delimiter: delimiter.as_ref().map(o),
            args: args.iter().map(|(a, t)| (o(a), *t)).collect(),
        },
    }
}

fn rename_hist(h: &super::Hist, o: &dyn Fn(&Operand) -> Operand) -> super::Hist {
    match h {
        super::Hist::Log => super::Hist::Log,
        super::Hist::Linear { lo, hi, step } => super::Hist::Linear { lo: o(lo), hi: o(hi), step: o(step) },
    }
}
