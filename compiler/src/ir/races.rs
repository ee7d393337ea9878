//! Writes of globals in kernel handlers that are not atomic updates.
//!
//! Kernel handlers run on every CPU at once. An update pass 3 makes one
//! atomic step ([`InstKind::Update`]: `g++`, `g += e`, `g = g + e`, ...)
//! is exact; a write that follows a read of the same global in the same
//! function (`x = x * 2`, `if (x > max) max = x`, `s = s . "x"`) is
//! not: another CPU's update between the read and the write is lost.
//! SystemTap locks the globals a handler writes for the whole handler,
//! which eBPF cannot do across helper calls, so each such write gets a
//! warning. A read "precedes" a write when it comes before it in its
//! block or in a block from which the write's block is reachable.

use super::{BlockId, Function, GlobalId, InstKind, Module, Terminator};
use crate::diag::Diagnostic;
use crate::elab::Placement;
use crate::source::FileId;

/// Warnings at the writes of kernel-placed functions that write back a
/// global they read before, in the files `user` (the user's scripts:
/// the tapset library's own writes are its business).
pub fn unatomic_writes(m: &Module, user: &[FileId]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for f in m.functions.iter().filter(|f| f.placement == Placement::Kernel) {
        let reach = reachability(f);
        for (b, block) in f.blocks.iter().enumerate() {
            for (i, inst) in block.insts.iter().enumerate() {
                let Some(g) = written(&inst.kind) else { continue };
                if !user.contains(&inst.span.file) {
                    continue;
                }
                let before_here = block.insts.iter().take(i).any(|x| read(&x.kind) == Some(g));
                let before_elsewhere = f.blocks.iter().enumerate().any(|(a, other)| {
                    reach.get(a).and_then(|r| r.get(b)).copied().unwrap_or(false)
                        && other.insts.iter().any(|x| read(&x.kind) == Some(g))
                });
                if before_here || before_elsewhere {
                    let name = m.global(g).map_or("?", |g| g.name.as_str());
                    out.push(
                        Diagnostic::warning(format!(
                            "global '{name}' is read and written back, not updated atomically: \
                             an update by a handler on another CPU in between is lost"
                        ))
                        .at(inst.span, "written here")
                        .with_note(
                            "`++`, `--`, `+=`, `-=`, `|=`, `&=`, `^=` and `g = g + e` (with `-`, `|`, `&`, `^`) \
                             update atomically",
                        ),
                    );
                }
            }
        }
    }
    out
}

fn written(k: &InstKind) -> Option<GlobalId> {
    match k {
        InstKind::StoreGlobal { global, .. } | InstKind::MapSet { map: global, .. } => Some(*global),
        _ => None,
    }
}

fn read(k: &InstKind) -> Option<GlobalId> {
    match k {
        InstKind::LoadGlobal { global, .. } | InstKind::MapGet { map: global, .. } => Some(*global),
        _ => None,
    }
}

/// `r[a][b]`: a path of one or more edges leads from block `a` to `b`.
fn reachability(f: &Function) -> Vec<Vec<bool>> {
    let n = f.blocks.len();
    let succ = |b: usize| -> Vec<usize> {
        let Some(block) = f.blocks.get(b) else { return Vec::new() };
        let mut s: Vec<BlockId> = match &block.term {
            Terminator::Jump(t) => vec![*t],
            Terminator::Branch { then, otherwise, .. } => vec![*then, *otherwise],
            _ => Vec::new(),
        };
        s.extend(block.on_error.map(|c| c.block));
        s.into_iter().map(|t| t.0 as usize).collect()
    };
    (0..n)
        .map(|a| {
            let mut seen = vec![false; n];
            let mut work = succ(a);
            while let Some(b) = work.pop() {
                if let Some(s) = seen.get_mut(b)
                    && !*s
                {
                    *s = true;
                    work.extend(succ(b));
                }
            }
            seen
        })
        .collect()
}
