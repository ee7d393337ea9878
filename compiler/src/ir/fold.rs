//! Literal strings forwarded to where they are read, for kernel-placed
//! handlers after inlining.
//!
//! A string variable written once, with a literal, at the start of a
//! handler (`name = "openat"` in a syscall alias's body) costs the eBPF
//! program a copy into the scratch record per write and per read (a
//! `bpf_probe_read_kernel_str` each). Where the literal is known to be
//! what every read sees, the reads take the literal itself (a map key
//! then becomes a few immediate stores) and the write goes once nothing
//! reads the variable.
//!
//! "Known to be what every read sees": the variable's only write is a
//! copy of a literal in the entry block (which nothing jumps back to),
//! nothing in that block reads the variable before it, and nothing before
//! it in that block can fail into a `catch` that might read it.
//! Intrinsic arguments and target-variable operands keep their variable:
//! their code may need the string's place.

use std::cell::RefCell;

use super::{Catch, Function, InstKind, Operand, Terminator, Ty, VarId};
use crate::ir::inline::rename_kind;

/// Forwards literal strings in `f` until nothing more changes.
pub fn forward_literal_strings(f: &mut Function) {
    // Each round forwards one link of a chain (`t = "x"; name = t`).
    for _ in 0..8 {
        let found = candidates(f);
        if found.is_empty() {
            return;
        }
        for (v, lit) in &found {
            substitute(f, *v, lit);
        }
        drop_unread_copies(f);
    }
}

/// How often each variable is written, by variable.
fn write_counts(f: &Function) -> Vec<u32> {
    let counts = RefCell::new(vec![0u32; f.vars.len()]);
    let bump = |v: VarId, n: u32| {
        if let Some(c) = counts.borrow_mut().get_mut(v.0 as usize) {
            *c = c.saturating_add(n);
        }
    };
    for &p in &f.params {
        bump(p, 2);
    }
    for b in &f.blocks {
        if let Some(Catch { message: Some(m), .. }) = b.on_error {
            bump(m, 2);
        }
        for i in &b.insts {
            rename_kind(
                &i.kind,
                &|v| {
                    if let Some(c) = counts.borrow_mut().get_mut(v.0 as usize) {
                        *c = c.saturating_add(1);
                    }
                    v
                },
                &|o| o.clone(),
            );
        }
    }
    counts.into_inner()
}

/// Whether `kind` reads `v` as an operand.
fn reads(kind: &InstKind, v: VarId) -> bool {
    let seen = RefCell::new(false);
    rename_kind(kind, &|w| w, &|o| {
        if *o == Operand::Var(v) {
            *seen.borrow_mut() = true;
        }
        o.clone()
    });
    seen.into_inner()
}

fn term_reads(t: &Terminator, v: VarId) -> bool {
    match t {
        Terminator::Branch { cond: o, .. } | Terminator::Return(Some(o)) | Terminator::Error(o) => {
            *o == Operand::Var(v)
        }
        _ => false,
    }
}

/// The string variables whose every read may take their literal.
fn candidates(f: &Function) -> Vec<(VarId, Vec<u8>)> {
    let Some(entry) = f.blocks.first() else { return Vec::new() };
    let jumped_to = f.blocks.iter().any(|b| {
        b.on_error.is_some_and(|c| c.block.0 == 0)
            || match &b.term {
                Terminator::Jump(t) => t.0 == 0,
                Terminator::Branch { then, otherwise, .. } => then.0 == 0 || otherwise.0 == 0,
                _ => false,
            }
    });
    if jumped_to {
        return Vec::new();
    }
    let writes = write_counts(f);
    let mut out = Vec::new();
    for (k, inst) in entry.insts.iter().enumerate() {
        let InstKind::Copy { dst, src: Operand::Str(lit) } = &inst.kind else { continue };
        let v = *dst;
        if writes.get(v.0 as usize) != Some(&1) || f.var(v).map(|d| d.ty) != Some(Ty::Str) {
            continue;
        }
        let before = entry.insts.get(..k).unwrap_or_default();
        if before.iter().any(|i| reads(&i.kind, v)) {
            continue;
        }
        if entry.on_error.is_some() && before.iter().any(|i| !matches!(i.kind, InstKind::Copy { .. })) {
            continue;
        }
        out.push((v, lit.clone()));
    }
    out
}

/// Every read of `v` that may take a literal takes `lit`.
fn substitute(f: &mut Function, v: VarId, lit: &[u8]) {
    for b in &mut f.blocks {
        for i in &mut b.insts {
            if matches!(i.kind, InstKind::Intrinsic { .. } | InstKind::Target { .. }) || !reads(&i.kind, v) {
                continue;
            }
            i.kind = rename_kind(&i.kind, &|w| w, &|o| {
                if *o == Operand::Var(v) { Operand::Str(lit.to_vec()) } else { o.clone() }
            });
        }
    }
}

/// Drops copies of literals into string variables nothing reads.
fn drop_unread_copies(f: &mut Function) {
    let unread = |f: &Function, v: VarId| {
        f.blocks.iter().all(|b| !term_reads(&b.term, v) && b.insts.iter().all(|i| !reads(&i.kind, v)))
    };
    let mut dead = Vec::new();
    for b in &f.blocks {
        for i in &b.insts {
            if let InstKind::Copy { dst, src: Operand::Str(_) } = &i.kind
                && f.var(*dst).map(|d| d.ty) == Some(Ty::Str)
                && unread(f, *dst)
            {
                dead.push(*dst);
            }
        }
    }
    if dead.is_empty() {
        return;
    }
    for b in &mut f.blocks {
        b.insts.retain(|i| !matches!(&i.kind, InstKind::Copy { dst, src: Operand::Str(_) } if dead.contains(dst)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Block, BlockId, Inst, VarDecl};
    use crate::source::Span;

    fn inst(kind: InstKind) -> Inst {
        Inst { kind, span: Span::default() }
    }

    fn func(blocks: Vec<Block>, vars: usize) -> Function {
        Function {
            name: "probe_0".into(),
            placement: crate::ir::Placement::Kernel,
            params: Vec::new(),
            ret: None,
            vars: (0..vars).map(|_| VarDecl { name: String::new(), ty: Ty::Str }).collect(),
            blocks,
            span: Span::default(),
        }
    }

    fn block(insts: Vec<InstKind>, term: Terminator) -> Block {
        Block { insts: insts.into_iter().map(inst).collect(), term, term_span: Span::default(), on_error: None }
    }

    fn key_of(f: &Function) -> Option<Operand> {
        f.blocks.iter().flat_map(|b| &b.insts).find_map(|i| match &i.kind {
            InstKind::Update { keys: Some(k), .. } => k.first().cloned(),
            _ => None,
        })
    }

    fn bump(key: VarId) -> InstKind {
        InstKind::Update {
            old: None,
            global: crate::ir::GlobalId(0),
            keys: Some(vec![Operand::Var(key)]),
            op: crate::ir::BinOp::Add,
            value: Operand::Long(1),
        }
    }

    #[test]
    fn a_chain_of_copies_reaches_the_key_and_goes() {
        let lit = Operand::Str(b"write".to_vec());
        let mut f = func(
            vec![block(
                vec![
                    InstKind::Copy { dst: VarId(1), src: lit.clone() },
                    InstKind::Copy { dst: VarId(0), src: Operand::Var(VarId(1)) },
                    bump(VarId(0)),
                ],
                Terminator::Return(None),
            )],
            2,
        );
        forward_literal_strings(&mut f);
        assert_eq!(key_of(&f), Some(lit));
        assert_eq!(f.blocks.first().map(|b| b.insts.len()), Some(1));
    }

    #[test]
    fn a_variable_written_twice_keeps_its_reads() {
        let mut f = func(
            vec![
                block(
                    vec![
                        InstKind::Copy { dst: VarId(0), src: Operand::Str(b"a".to_vec()) },
                        InstKind::Copy { dst: VarId(0), src: Operand::Str(b"b".to_vec()) },
                    ],
                    Terminator::Jump(BlockId(1)),
                ),
                block(vec![bump(VarId(0))], Terminator::Return(None)),
            ],
            1,
        );
        forward_literal_strings(&mut f);
        assert_eq!(key_of(&f), Some(Operand::Var(VarId(0))));
    }

    #[test]
    fn a_read_before_the_write_keeps_the_variable() {
        let mut f = func(
            vec![block(
                vec![
                    bump(VarId(0)),
                    InstKind::Copy { dst: VarId(0), src: Operand::Str(b"x".to_vec()) },
                    bump(VarId(0)),
                ],
                Terminator::Return(None),
            )],
            1,
        );
        forward_literal_strings(&mut f);
        assert_eq!(key_of(&f), Some(Operand::Var(VarId(0))));
    }

    #[test]
    fn a_write_outside_the_entry_block_is_not_forwarded() {
        let mut f = func(
            vec![
                block(
                    Vec::new(),
                    Terminator::Branch { cond: Operand::Long(1), then: BlockId(1), otherwise: BlockId(2) },
                ),
                block(
                    vec![InstKind::Copy { dst: VarId(0), src: Operand::Str(b"x".to_vec()) }],
                    Terminator::Jump(BlockId(2)),
                ),
                block(vec![bump(VarId(0))], Terminator::Return(None)),
            ],
            1,
        );
        forward_literal_strings(&mut f);
        assert_eq!(key_of(&f), Some(Operand::Var(VarId(0))));
    }

    #[test]
    fn intrinsic_arguments_keep_their_variable() {
        let mut f = func(
            vec![block(
                vec![
                    InstKind::Copy { dst: VarId(0), src: Operand::Str(b"x".to_vec()) },
                    InstKind::Intrinsic { dst: None, name: "strlen".into(), args: vec![Operand::Var(VarId(0))] },
                    bump(VarId(0)),
                ],
                Terminator::Return(None),
            )],
            1,
        );
        forward_literal_strings(&mut f);
        assert_eq!(key_of(&f), Some(Operand::Str(b"x".to_vec())));
        let first = f.blocks.first().and_then(|b| b.insts.first()).map(|i| i.kind.clone());
        assert!(matches!(first, Some(InstKind::Copy { dst: VarId(0), .. })), "the copy stays for the intrinsic");
    }
}
