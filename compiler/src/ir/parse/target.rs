//! A target read's walk as the printer describes it (`arg2(count) +8
//! *ptr : size_t (u64)`) read back into a [`Resolved`]. Only what the
//! text shows comes back: BTF type ids are `None`, and a record field's
//! C type and size are the walk's own; `$$vars`-style bases are refused.

use super::Res;
use super::cursor::Cursor;
use crate::elab::target::{Base, Load, Resolved, Step};
use crate::ir::{Function, InstKind, Ty, VarId};
/// `arg0(file) +8 *ptr : struct file* (u64) (%1)` after `target`.
pub(super) fn target(f: &Function, c: &mut Cursor<'_>, dst: VarId) -> Res<InstKind> {
    let text = c.rest();
    let (walk, typed) = text.split_once(" : ").ok_or_else(|| "a target without its type".to_string())?;
    let mut parts = walk.split(' ');
    let base_text = parts.next().unwrap_or_default();
    let mut steps = Vec::new();
    for s in parts {
        steps.push(if s == "*ptr" {
            Step::LoadPointer
        } else if let Some(rest) = s.strip_prefix("+op") {
            let (op, size) = rest.split_once('*').ok_or_else(|| format!("`{s}` is no step"))?;
            Step::Index { op: num(op)?, elem_size: num(size)? }
        } else if let Some(n) = s.strip_prefix('+') {
            Step::Offset(num(n)?)
        } else {
            return Err(format!("`{s}` is no step"));
        });
    }
    // The C type, then `(load)`, then maybe `(operands)`.
    let (c_type, load, ops) = typed
        .match_indices(" (")
        .find_map(|(i, _)| {
            let after = typed.get(i + 2..)?;
            let close = after.find(')')?;
            let load = load_of(after.get(..close)?)?;
            let rest = after.get(close + 1..)?;
            (rest.is_empty() || rest.starts_with(" (")).then(|| (typed.get(..i).unwrap_or_default(), load, rest))
        })
        .ok_or_else(|| "a target without its load".to_string())?;
    let base = base_of(base_text, c_type, &load)?;
    let mut oc = Cursor::new(ops);
    let operands = if oc.at_end() { Vec::new() } else { oc.args()? };
    oc.end()?;
    *c = Cursor::new("");
    let ty = match f.var(dst).map(|d| d.ty) {
        Some(Ty::Str) => crate::elab::Type::String,
        _ => crate::elab::Type::Long,
    };
    let base_is_address = matches!(base, Base::Field(_) | Base::Cast) || steps.contains(&Step::LoadPointer);
    let resolved = Resolved { ty, base, base_is_address, steps, load, c_type: c_type.to_string(), btf: None };
    Ok(InstKind::Target { dst, resolved: Box::new(resolved), operands })
}

pub(super) fn num<T: std::str::FromStr>(s: &str) -> Res<T> {
    s.parse().map_err(|_| format!("`{s}` is not a number"))
}

pub(super) fn load_of(s: &str) -> Option<Load> {
    Some(match s {
        "value" => Load::Value,
        "data_loc" => Load::DataLoc,
        "address" => Load::Address,
        "pretty" => Load::Pretty { deep: false },
        "pretty deep" => Load::Pretty { deep: true },
        "aggregate" => Load::Aggregate,
        _ => {
            if let Some(len) = s.strip_prefix("chars ") {
                Load::CharArray { len: len.parse().ok()? }
            } else if let Some(bits) = s.strip_prefix("bits ") {
                let (range, unit) = bits.split_once(" of ")?;
                let (from, to) = range.split_once("..")?;
                let (bit_offset, to): (u32, u32) = (from.parse().ok()?, to.parse().ok()?);
                let (signed, size) = int_of(unit)?;
                Load::Bitfield { size, bit_offset, bits: to.checked_sub(bit_offset)?, signed }
            } else {
                let (signed, size) = int_of(s)?;
                Load::Int { size, signed }
            }
        }
    })
}

/// `s32` is (signed, 4 bytes).
pub(super) fn int_of(s: &str) -> Option<(bool, u32)> {
    let signed = match s.get(..1)? {
        "s" => true,
        "u" => false,
        _ => return None,
    };
    let bits: u32 = s.get(1..)?.parse().ok()?;
    (bits.is_multiple_of(8) && bits > 0).then_some((signed, bits / 8))
}

pub(super) fn base_of(s: &str, c_type: &str, load: &Load) -> Res<Base> {
    if s == "return" {
        return Ok(Base::Return);
    }
    if s == "cast" {
        return Ok(Base::Cast);
    }
    if let Some(n) = s.strip_prefix("sdt_arg") {
        let n: usize = num(n)?;
        return Ok(Base::SdtArg { index: n.checked_sub(1).ok_or("sdt_arg0 is no argument")? });
    }
    if let Some(rest) = s.strip_prefix("arg")
        && let Some((index, name)) = rest.strip_suffix(')').and_then(|r| r.split_once('('))
    {
        return Ok(Base::Arg { index: num(index)?, name: name.to_string() });
    }
    if let Some((name, offset)) =
        s.strip_prefix("field(").and_then(|r| r.strip_suffix(')')).and_then(|r| r.rsplit_once('@'))
    {
        let (size, signed) = match load {
            Load::Int { size, signed } => (*size, *signed),
            Load::CharArray { len } => (*len, false),
            _ => (0, false),
        };
        return Ok(Base::Field(crate::kernel::TpField {
            name: name.to_string(),
            c_type: c_type.to_string(),
            offset: num(offset)?,
            size,
            signed,
            data_loc: matches!(load, Load::DataLoc),
            array_len: match load {
                Load::CharArray { len } => Some(*len),
                _ => None,
            },
        }));
    }
    Err(format!("the target base `{s}` cannot be read back (only arguments, fields, return, cast and sdt_arg)"))
}
