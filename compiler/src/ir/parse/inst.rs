//! One instruction of the IR text (its location comment taken off) read
//! back into an [`InstKind`]: the forms `print::inst` writes, told apart
//! by their first words.

use super::Res;
use super::cursor::Cursor;
use crate::ir::{BinOp, Function, GlobalId, Hist, InstKind, Operand, Ty, UnOp, VarId};
use crate::parse::ast::{CompareOp, PrintKind, Sort, SortBy, StatOp};
pub(super) fn binop(op: &str) -> Option<BinOp> {
    Some(match op {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Mod,
        "<<" => BinOp::Shl,
        ">>" => BinOp::Shr,
        "&" => BinOp::And,
        "|" => BinOp::Or,
        "^" => BinOp::Xor,
        _ => return None,
    })
}

pub(super) fn compare(op: &str) -> Option<CompareOp> {
    Some(match op {
        "==" => CompareOp::Eq,
        "!=" => CompareOp::Ne,
        "<" => CompareOp::Lt,
        "<=" => CompareOp::Le,
        ">" => CompareOp::Gt,
        ">=" => CompareOp::Ge,
        _ => return None,
    })
}

/// The type an operand has in `f`.
pub(super) fn ty_of(f: &Function, o: &Operand) -> Res<Ty> {
    match o {
        Operand::Long(_) => Ok(Ty::Long),
        Operand::Str(_) => Ok(Ty::Str),
        Operand::Var(v) => f.var(*v).map(|d| d.ty).ok_or_else(|| format!("no variable %{}", v.0)),
    }
}

/// One instruction (its location comment taken off).
pub(super) fn inst(f: &Function, text: &str) -> Res<InstKind> {
    let mut c = Cursor::new(text);
    let kind = if c.peek("%") {
        let dst = c.var()?;
        c.expect("=")?;
        value(f, &mut c, dst)?
    } else if c.eat_word("atomic") {
        update(&mut c, None)?
    } else if c.eat_word("store") {
        let global = c.global()?;
        c.expect(",")?;
        InstKind::StoreGlobal { global, src: c.operand()? }
    } else if c.eat_word("delete") {
        let map = c.global()?;
        let keys = if c.peek("[") { Some(c.slice()?) } else { None };
        InstKind::MapDelete { map, keys }
    } else if c.peek_word("print") && c.rest().starts_with("print @") {
        c.expect_word("print")?;
        let (stat, keys, hist) = hist(&mut c)?;
        InstKind::HistPrint { stat, keys, hist }
    } else if c.eat_word("entry") {
        c.expect("[")?;
        let slot = u32::try_from(c.number()?).map_err(|_| "a bad entry slot".to_string())?;
        c.expect("]")?;
        c.expect("=")?;
        InstKind::EntrySave { slot, value: c.operand()? }
    } else if c.eat_word("call") {
        call(&mut c, None)?
    } else if c.peek("@") {
        let map = c.global()?;
        let keys = if c.peek("[") { c.keys()? } else { Vec::new() };
        if c.eat("<<<") {
            InstKind::StatAdd { stat: map, keys, value: c.operand()? }
        } else {
            c.expect("=")?;
            InstKind::MapSet { map, keys, value: c.operand()? }
        }
    } else {
        let name = c.word()?;
        named_call(f, &mut c, name, None)?
    };
    c.end()?;
    Ok(kind)
}

/// What follows `%dst = `.
pub(super) fn value(f: &Function, c: &mut Cursor<'_>, dst: VarId) -> Res<InstKind> {
    let r = c.rest();
    if let Some(op) = [("-", UnOp::Neg), ("~", UnOp::BitNot), ("!", UnOp::Not)]
        .into_iter()
        .find_map(|(p, op)| r.strip_prefix(p).filter(|_| !r.starts_with("!=")).map(|_| op))
    {
        // `-4`, `!%1`: a unary operation (a negative constant is `copy -4`).
        let mut u = c.clone();
        u.bump(1);
        if let Ok(a) = u.operand()
            && u.at_end()
        {
            *c = u;
            return Ok(InstKind::Unary { dst, op, a });
        }
    }
    if c.peek_word("copy") && c.rest().starts_with("copy -") {
        c.expect_word("copy")?;
        return Ok(InstKind::Copy { dst, src: Operand::Long(c.number()?) });
    }
    if c.eat_word("load") {
        return Ok(InstKind::LoadGlobal { dst, global: c.global()? });
    }
    if c.eat_word("concat") {
        let a = c.operand()?;
        c.expect(",")?;
        return Ok(InstKind::Concat { dst, a, b: c.operand()? });
    }
    if c.eat_word("atomic") {
        return update(c, Some(dst));
    }
    if c.eat_word("call") {
        return call(c, Some(dst));
    }
    if c.eat_word("iterate") {
        return iterate(c, dst);
    }
    if c.eat_word("next") {
        let iter = c.var()?;
        c.expect("->")?;
        c.expect("[")?;
        let mut keys = Vec::new();
        while !c.eat("]") {
            if !keys.is_empty() {
                c.expect(",")?;
            }
            keys.push(c.var()?);
        }
        let value = if c.eat(",") {
            c.expect_word("value")?;
            Some(c.var()?)
        } else {
            None
        };
        return Ok(InstKind::IterNext { iter, map: GlobalId(u32::MAX), found: dst, keys, value });
    }
    // `target ...` reads a target variable; `target()` is the intrinsic.
    if c.peek_word("target") && !c.rest().starts_with("target(") {
        c.expect_word("target")?;
        return super::target::target(f, c, dst);
    }
    if c.peek_word("entry") && c.rest().starts_with("entry[") {
        c.expect_word("entry")?;
        c.expect("[")?;
        let slot = u32::try_from(c.number()?).map_err(|_| "a bad entry slot".to_string())?;
        c.expect("]")?;
        return Ok(InstKind::EntryLoad { dst, slot });
    }
    if c.peek("[") {
        let keys = c.slice()?;
        c.expect_word("in")?;
        return Ok(InstKind::MapHas { dst, map: c.global()?, keys });
    }
    if c.rest().starts_with("@hist_") {
        let (stat, keys, hist) = hist(c)?;
        c.expect("[")?;
        let index = c.operand()?;
        c.expect("]")?;
        return Ok(InstKind::HistBucket { dst, stat, keys, hist, index });
    }
    if c.peek("@") && !c.rest().starts_with("@0") && c.rest().chars().nth(1).is_some_and(|ch| ch.is_ascii_alphabetic())
    {
        c.expect("@")?;
        let name = c.word()?;
        let op = StatOp::from_name(&name).ok_or_else(|| format!("@{name} is no statistic"))?;
        c.expect("(")?;
        let stat = c.global()?;
        let keys = if c.peek("[") { c.keys()? } else { Vec::new() };
        let shift = if c.peek(",") {
            c.expect(",")?;
            match c.operand()? {
                Operand::Long(n) => u32::try_from(n).map_err(|_| format!("bad bit shift {n}"))?,
                _ => return Err("a bit shift must be a number".into()),
            }
        } else {
            0
        };
        c.expect(")")?;
        return Ok(InstKind::StatGet { dst, stat, keys, op, shift });
    }
    if c.peek("@") {
        let map = c.global()?;
        return Ok(InstKind::MapGet { dst, map, keys: c.keys()? });
    }
    if c.rest().starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_') {
        let name = c.word()?;
        return named_call(f, c, name, Some(dst));
    }
    let a = c.operand()?;
    if c.at_end() {
        return Ok(InstKind::Copy { dst, src: a });
    }
    if c.eat("=~") || c.peek("!~") {
        let negated = c.eat("!~");
        return Ok(InstKind::Regex { dst, a, pattern: c.string()?, negated });
    }
    let op = c.operator()?;
    let b = c.operand()?;
    if let Some(op) = compare(&op) {
        let strings = c.eat("(str)");
        return Ok(InstKind::Compare { dst, op, a, b, strings });
    }
    let op = binop(&op).ok_or_else(|| format!("`{op}` is no operator"))?;
    Ok(InstKind::Binary { dst, op, a, b })
}

/// `@3[k] += v` after `atomic`.
pub(super) fn update(c: &mut Cursor<'_>, old: Option<VarId>) -> Res<InstKind> {
    let global = c.global()?;
    let keys = if c.peek("[") { Some(c.keys()?) } else { None };
    let op = c.operator()?;
    let op = op.strip_suffix('=').and_then(binop).ok_or_else(|| format!("`{op}` is no update"))?;
    Ok(InstKind::Update { old, global, keys, op, value: c.operand()? })
}

/// `#1|#2(args)` after `call`.
pub(super) fn call(c: &mut Cursor<'_>, dst: Option<VarId>) -> Res<InstKind> {
    let mut overloads = vec![c.func()?];
    while c.eat("|") {
        overloads.push(c.func()?);
    }
    let args = c.args()?;
    Ok(InstKind::Call { dst, overloads, args })
}

/// `name(args)`: the print family, else an intrinsic.
pub(super) fn named_call(f: &Function, c: &mut Cursor<'_>, name: String, dst: Option<VarId>) -> Res<InstKind> {
    let mut args = c.args()?;
    let Some(kind) = PrintKind::from_name(&name) else { return Ok(InstKind::Intrinsic { dst, name, args }) };
    let (mut format, mut delimiter) = (None, None);
    match kind {
        PrintKind::Printf | PrintKind::Sprintf => match args.first() {
            Some(Operand::Str(s)) => {
                format = Some(s.clone());
                args.remove(0);
            }
            _ => return Err(format!("{name} without its format")),
        },
        PrintKind::Printd | PrintKind::Printdln | PrintKind::Sprintd | PrintKind::Sprintdln => {
            if args.is_empty() {
                return Err(format!("{name} without its delimiter"));
            }
            delimiter = Some(args.remove(0));
        }
        _ => {}
    }
    let args = args.into_iter().map(|a| ty_of(f, &a).map(|t| (a, t))).collect::<Res<Vec<_>>>()?;
    Ok(InstKind::Print { dst, kind, format, delimiter, args })
}

/// `@2[slice] sorted by key 1 descending limit %3` after `iterate`.
pub(super) fn iterate(c: &mut Cursor<'_>, iter: VarId) -> Res<InstKind> {
    let map = c.global()?;
    let slice = if c.peek("[") { c.slice()? } else { Vec::new() };
    let (mut sort, mut aggregate, mut limit) = (None, None, None);
    if c.eat_word("sorted") {
        c.expect_word("by")?;
        let by = if c.eat_word("key") {
            SortBy::Key(usize::try_from(c.number()?).map_err(|_| "a negative key".to_string())?)
        } else if c.eat_word("value") {
            SortBy::Value
        } else {
            c.expect("@")?;
            let name = c.word()?;
            aggregate = Some(StatOp::from_name(&name).ok_or_else(|| format!("@{name} is no statistic"))?);
            SortBy::Value
        };
        sort = Some(Sort { by, descending: c.eat_word("descending") });
    }
    if c.eat_word("limit") {
        limit = Some(c.operand()?);
    }
    Ok(InstKind::IterStart { iter, map, sort, aggregate, limit, slice })
}

/// `@hist_log(@2[k])`, `@hist_linear(@2[k], lo, hi, step)`.
pub(super) fn hist(c: &mut Cursor<'_>) -> Res<(GlobalId, Vec<Operand>, Hist)> {
    c.expect("@")?;
    let which = c.word()?;
    c.expect("(")?;
    let stat = c.global()?;
    let keys = if c.peek("[") { c.keys()? } else { Vec::new() };
    let hist = match which.as_str() {
        "hist_log" => Hist::Log,
        "hist_linear" => {
            c.expect(",")?;
            let lo = c.operand()?;
            c.expect(",")?;
            let hi = c.operand()?;
            c.expect(",")?;
            Hist::Linear { lo, hi, step: c.operand()? }
        }
        w => return Err(format!("@{w} is no histogram")),
    };
    c.expect(")")?;
    Ok((stat, keys, hist))
}
