//! Checks a module's internal consistency: every variable, block, global
//! and function an instruction names exists, and operands have the types
//! the instruction needs. Run after lowering in tests and debug builds; a
//! failure is a compiler bug.

use super::{BinOp, Function, GlobalKind, InstKind, Module, Operand, Terminator, Ty};

pub fn verify(m: &Module) -> Result<(), String> {
    for (i, f) in m.functions.iter().enumerate() {
        verify_function(m, f).map_err(|e| format!("function #{i} ({}): {e}", f.name))?;
    }
    for h in &m.handlers {
        if m.function(h.func).is_none() {
            return Err(format!("handler of probe {} names no function", h.probe));
        }
    }
    Ok(())
}

fn ty_of(f: &Function, o: &Operand) -> Result<Ty, String> {
    Ok(match o {
        Operand::Long(_) => Ty::Long,
        Operand::Str(_) => Ty::Str,
        Operand::Var(v) => f.var(*v).ok_or_else(|| format!("no variable %{}", v.0))?.ty,
    })
}

fn want(f: &Function, o: &Operand, t: Ty, what: &str) -> Result<(), String> {
    let got = ty_of(f, o)?;
    if got == t { Ok(()) } else { Err(format!("{what}: {} where {} is needed", got.name(), t.name())) }
}

fn dst_ty(f: &Function, v: super::VarId) -> Result<Ty, String> {
    Ok(f.var(v).ok_or_else(|| format!("no variable %{}", v.0))?.ty)
}

fn keys_match(m: &Module, f: &Function, g: super::GlobalId, keys: &[Operand], stats: bool) -> Result<Ty, String> {
    let global = m.global(g).ok_or_else(|| format!("no global @{}", g.0))?;
    let (key_tys, value) = match &global.kind {
        GlobalKind::Array { keys, value } if !stats => (keys, *value),
        GlobalKind::Stats { keys } if stats => (keys, Ty::Long),
        GlobalKind::Scalar(t) if !stats && keys.is_empty() => return Ok(*t),
        _ => return Err(format!("@{} ({}) used as the wrong kind of global", g.0, global.name)),
    };
    if key_tys.len() != keys.len() {
        return Err(format!("@{} takes {} keys, given {}", g.0, key_tys.len(), keys.len()));
    }
    for (k, t) in keys.iter().zip(key_tys) {
        want(f, k, *t, "a key")?;
    }
    Ok(value)
}

/// Keys of an array or statistic, some possibly `*`.
fn slice_match(m: &Module, f: &Function, g: super::GlobalId, keys: &[Option<Operand>]) -> Result<(), String> {
    let global = m.global(g).ok_or_else(|| format!("no global @{}", g.0))?;
    let key_tys = match &global.kind {
        GlobalKind::Array { keys, .. } | GlobalKind::Stats { keys } => keys,
        GlobalKind::Scalar(_) => return Err(format!("@{} ({}) is not an array", g.0, global.name)),
    };
    if key_tys.len() != keys.len() {
        return Err(format!("@{} takes {} keys, given {}", g.0, key_tys.len(), keys.len()));
    }
    for (k, t) in keys.iter().zip(key_tys) {
        if let Some(k) = k {
            want(f, k, *t, "a key")?;
        }
    }
    Ok(())
}

fn check_hist(f: &Function, hist: &super::Hist) -> Result<(), String> {
    if let super::Hist::Linear { lo, hi, step } = hist {
        for o in [lo, hi, step] {
            want(f, o, Ty::Long, "a histogram bound")?;
        }
    }
    Ok(())
}

fn verify_function(m: &Module, f: &Function) -> Result<(), String> {
    if f.blocks.is_empty() {
        return Err("no blocks".into());
    }
    let block_ok = |b: super::BlockId| {
        if f.block(b).is_some() { Ok(()) } else { Err(format!("jump to missing block b{}", b.0)) }
    };
    for (bi, b) in f.blocks.iter().enumerate() {
        if let Some(c) = b.on_error {
            block_ok(c.block)?;
            if let Some(m) = c.message {
                want(f, &Operand::Var(m), Ty::Str, "a caught message")?;
            }
        }
        for inst in &b.insts {
            check_inst(m, f, &inst.kind).map_err(|e| format!("b{bi}: {e}"))?;
        }
        match &b.term {
            Terminator::Jump(t) => block_ok(*t)?,
            Terminator::Branch { cond, then, otherwise } => {
                want(f, cond, Ty::Long, "a branch condition")?;
                block_ok(*then)?;
                block_ok(*otherwise)?;
            }
            Terminator::Return(v) => match (v, f.ret) {
                (None, None) => {}
                (Some(v), Some(t)) => want(f, v, t, "a returned value")?,
                (Some(_), None) => return Err(format!("b{bi}: returns a value from a function without a type")),
                (None, Some(_)) => return Err(format!("b{bi}: returns no value from a function with a type")),
            },
            Terminator::Next => {}
            Terminator::Error(msg) => want(f, msg, Ty::Str, "an error message")?,
        }
    }
    Ok(())
}

fn check_inst(m: &Module, f: &Function, k: &InstKind) -> Result<(), String> {
    match k {
        InstKind::Copy { dst, src } => want(f, src, dst_ty(f, *dst)?, "a copy")?,
        InstKind::Unary { dst, a, .. } => {
            want(f, a, Ty::Long, "an operand")?;
            want(f, &Operand::Var(*dst), Ty::Long, "a result")?;
        }
        InstKind::Binary { dst, a, b, .. } => {
            want(f, a, Ty::Long, "an operand")?;
            want(f, b, Ty::Long, "an operand")?;
            want(f, &Operand::Var(*dst), Ty::Long, "a result")?;
        }
        InstKind::Compare { dst, a, b, strings, .. } => {
            let t = if *strings { Ty::Str } else { Ty::Long };
            want(f, a, t, "a compared value")?;
            want(f, b, t, "a compared value")?;
            want(f, &Operand::Var(*dst), Ty::Long, "a result")?;
        }
        InstKind::Concat { dst, a, b } => {
            want(f, a, Ty::Str, "a concatenated value")?;
            want(f, b, Ty::Str, "a concatenated value")?;
            want(f, &Operand::Var(*dst), Ty::Str, "a result")?;
        }
        InstKind::Regex { dst, a, .. } => {
            want(f, a, Ty::Str, "a matched value")?;
            want(f, &Operand::Var(*dst), Ty::Long, "a result")?;
        }
        InstKind::LoadGlobal { dst, global } => {
            let t = keys_match(m, f, *global, &[], false)?;
            want(f, &Operand::Var(*dst), t, "a loaded global")?;
        }
        InstKind::StoreGlobal { global, src } => {
            let t = keys_match(m, f, *global, &[], false)?;
            want(f, src, t, "a stored global")?;
        }
        InstKind::MapGet { dst, map, keys } => {
            let t = keys_match(m, f, *map, keys, false)?;
            want(f, &Operand::Var(*dst), t, "a map value")?;
        }
        InstKind::MapSet { map, keys, value } => {
            let t = keys_match(m, f, *map, keys, false)?;
            want(f, value, t, "a map value")?;
        }
        InstKind::Update { old, global, keys, op, value } => {
            let t = keys_match(m, f, *global, keys.as_deref().unwrap_or_default(), false)?;
            if t != Ty::Long
                || keys.is_some() != m.global(*global).is_some_and(|g| matches!(g.kind, GlobalKind::Array { .. }))
            {
                return Err(format!("an update of @{} that is not a long", global.0));
            }
            if !matches!(op, BinOp::Add | BinOp::Sub | BinOp::Or | BinOp::And | BinOp::Xor) {
                return Err(format!("an update of @{} by {op:?}", global.0));
            }
            want(f, value, Ty::Long, "an update's operand")?;
            if let Some(o) = old {
                want(f, &Operand::Var(*o), Ty::Long, "an updated value")?;
            }
        }
        InstKind::MapDelete { map, keys } => match keys {
            Some(keys) => slice_match(m, f, *map, keys)?,
            None if m.global(*map).is_none() => return Err(format!("no global @{}", map.0)),
            None => {}
        },
        InstKind::MapHas { dst, map, keys } => {
            slice_match(m, f, *map, keys)?;
            want(f, &Operand::Var(*dst), Ty::Long, "a result")?;
        }
        InstKind::StatAdd { stat, keys, value } => {
            keys_match(m, f, *stat, keys, true)?;
            want(f, value, Ty::Long, "a statistic's value")?;
        }
        InstKind::StatGet { dst, stat, keys, .. } => {
            keys_match(m, f, *stat, keys, true)?;
            want(f, &Operand::Var(*dst), Ty::Long, "a result")?;
        }
        InstKind::Target { dst, operands, .. } => {
            for o in operands {
                want(f, o, Ty::Long, "a target operand")?;
            }
            dst_ty(f, *dst)?;
        }
        InstKind::Intrinsic { dst, args, .. } => {
            for a in args {
                ty_of(f, a)?;
            }
            if let Some(d) = dst {
                dst_ty(f, *d)?;
            }
        }
        InstKind::Call { dst, overloads, args } => {
            for id in overloads {
                let callee = m.function(*id).ok_or_else(|| format!("call of missing function #{}", id.0))?;
                if callee.params.len() != args.len() {
                    return Err(format!("call of #{} with {} arguments for {}", id.0, args.len(), callee.params.len()));
                }
                for (a, p) in args.iter().zip(&callee.params) {
                    want(f, a, dst_ty(callee, *p)?, "an argument")?;
                }
                if callee.placement != f.placement {
                    return Err(format!("call of #{} across placements", id.0));
                }
            }
            if let Some(d) = dst {
                dst_ty(f, *d)?;
            }
        }
        InstKind::IterStart { iter, map, limit, slice, .. } => {
            let global = m.global(*map).ok_or_else(|| format!("no global @{}", map.0))?;
            let key_tys = match &global.kind {
                GlobalKind::Array { keys, .. } | GlobalKind::Stats { keys } => keys,
                GlobalKind::Scalar(_) => return Err(format!("iteration over scalar @{}", map.0)),
            };
            if !slice.is_empty() && slice.len() != key_tys.len() {
                return Err(format!("a slice of {} keys over @{} with {}", slice.len(), map.0, key_tys.len()));
            }
            for (k, t) in slice.iter().zip(key_tys) {
                if let Some(k) = k {
                    want(f, k, *t, "a slice key")?;
                }
            }
            if let Some(l) = limit {
                want(f, l, Ty::Long, "a limit")?;
            }
            want(f, &Operand::Var(*iter), Ty::Long, "an iterator")?;
        }
        InstKind::IterNext { iter, map, found, keys, value } => {
            want(f, &Operand::Var(*iter), Ty::Long, "an iterator")?;
            want(f, &Operand::Var(*found), Ty::Long, "a result")?;
            let global = m.global(*map).ok_or_else(|| format!("no global @{}", map.0))?;
            let (key_tys, value_ty) = match &global.kind {
                GlobalKind::Array { keys, value } => (keys, *value),
                GlobalKind::Stats { keys } => (keys, Ty::Long),
                GlobalKind::Scalar(_) => return Err(format!("iteration over scalar @{}", map.0)),
            };
            if keys.len() != key_tys.len() {
                return Err(format!("{} keys taken from @{} with {}", keys.len(), map.0, key_tys.len()));
            }
            for (k, t) in keys.iter().zip(key_tys) {
                want(f, &Operand::Var(*k), *t, "an iteration key")?;
            }
            if let Some(v) = value {
                want(f, &Operand::Var(*v), value_ty, "an iteration value")?;
            }
        }
        InstKind::HistPrint { stat, keys, hist } => {
            keys_match(m, f, *stat, keys, true)?;
            check_hist(f, hist)?;
        }
        InstKind::HistBucket { dst, stat, keys, hist, index } => {
            keys_match(m, f, *stat, keys, true)?;
            check_hist(f, hist)?;
            want(f, index, Ty::Long, "a bucket index")?;
            want(f, &Operand::Var(*dst), Ty::Long, "a result")?;
        }
        InstKind::EntrySave { value, .. } => {
            ty_of(f, value)?;
        }
        InstKind::EntryLoad { dst, .. } => {
            dst_ty(f, *dst)?;
        }
        InstKind::Print { dst, delimiter, args, .. } => {
            if let Some(d) = delimiter {
                want(f, d, Ty::Str, "a delimiter")?;
            }
            for (a, t) in args {
                want(f, a, *t, "a printed value")?;
            }
            if let Some(d) = dst {
                want(f, &Operand::Var(*d), Ty::Str, "printed text")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elab::Placement;
    use crate::ir::{BinOp, Block, BlockId, Function, Global, GlobalId, Inst, VarDecl, VarId};
    use crate::source::Span;

    fn function(insts: Vec<InstKind>, term: Terminator) -> Function {
        Function {
            name: "f".into(),
            placement: Placement::User,
            params: Vec::new(),
            ret: None,
            vars: vec![VarDecl { name: "n".into(), ty: Ty::Long }, VarDecl { name: "s".into(), ty: Ty::Str }],
            blocks: vec![Block {
                insts: insts.into_iter().map(|kind| Inst { kind, span: Span::DUMMY }).collect(),
                term,
                term_span: Span::DUMMY,
                on_error: None,
            }],
            span: Span::DUMMY,
        }
    }

    fn module(f: Function) -> Module {
        Module {
            globals: vec![Global {
                name: "a".into(),
                kind: GlobalKind::Array { keys: vec![Ty::Str], value: Ty::Long },
                size: None,
                wrap: false,
                init: None,
            }],
            functions: vec![f],
            handlers: Vec::new(),
        }
    }

    #[test]
    fn accepts_a_consistent_function() {
        let ok = function(
            vec![
                InstKind::Binary { dst: VarId(0), op: BinOp::Add, a: Operand::Long(1), b: Operand::Var(VarId(0)) },
                InstKind::MapSet {
                    map: GlobalId(0),
                    keys: vec![Operand::Var(VarId(1))],
                    value: Operand::Var(VarId(0)),
                },
            ],
            Terminator::Return(None),
        );
        assert_eq!(verify(&module(ok)), Ok(()));
    }

    #[test]
    fn finds_what_is_wrong() {
        let cases = [
            (
                function(
                    vec![InstKind::Binary {
                        dst: VarId(0),
                        op: BinOp::Add,
                        a: Operand::Var(VarId(1)),
                        b: Operand::Long(1),
                    }],
                    Terminator::Return(None),
                ),
                "an operand: string where long is needed",
            ),
            (
                function(
                    vec![InstKind::MapSet { map: GlobalId(0), keys: vec![Operand::Long(1)], value: Operand::Long(2) }],
                    Terminator::Return(None),
                ),
                "a key: long where string is needed",
            ),
            (function(Vec::new(), Terminator::Jump(BlockId(7))), "jump to missing block b7"),
            (
                function(vec![InstKind::Copy { dst: VarId(9), src: Operand::Long(1) }], Terminator::Return(None)),
                "no variable %9",
            ),
            (
                function(Vec::new(), Terminator::Return(Some(Operand::Long(1)))),
                "returns a value from a function without a type",
            ),
        ];
        for (f, want) in cases {
            let got = verify(&module(f)).expect_err(want);
            assert!(got.contains(want), "{got} should say {want}");
        }
    }
}
