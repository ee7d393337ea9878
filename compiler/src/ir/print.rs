//! The IR as text: part of `-p3`'s output, and what golden tests compare.
//!
//! In: a [`Module`], the probe points of each probe its handlers serve,
//! and the source map its spans point into. Out: text that
//! [`super::parse`] reads back into a module that prints the same (only
//! spans are approximate: a location comment keeps a start, not a range).
//! Every fact the back ends read is in the text: variable, parameter and
//! global types, the probe points, target walks.

use std::fmt::Write as _;

use super::{Block, Function, GlobalKind, Inst, InstKind, Module, Operand, Terminator, UnOp, VarId};
use crate::source::SourceMap;

/// A string as the IR text shows it: quoted, escaped as the lexer reads it.
pub fn quote(s: &[u8]) -> String {
    format!("\"{}\"", crate::parse::lexer::escape_bytes(s))
}

/// `arg1 +8 *ptr +16 : int (int 4)`: where a target read starts, its
/// steps, and what it loads.
fn describe(r: &crate::elab::target::Resolved) -> String {
    use crate::elab::target::{Base, Load, Step};
    let mut out = match &r.base {
        Base::Arg { index, name } => format!("arg{index}({name})"),
        Base::Return => "return".to_string(),
        Base::Field(f) => format!("field({}@{})", f.name, f.offset),
        Base::Cast => "cast".to_string(),
        Base::Context(c) => format!("{c:?}").to_lowercase(),
        Base::SdtArg { index } => format!("sdt_arg{}", index + 1),
        Base::Parts(parts) => {
            let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
            format!("parts({})", names.join(" "))
        }
    };
    for s in &r.steps {
        match s {
            Step::Offset(n) => out.push_str(&format!(" +{n}")),
            Step::LoadPointer => out.push_str(" *ptr"),
            Step::Index { op, elem_size } => out.push_str(&format!(" +op{op}*{elem_size}")),
        }
    }
    let load = match &r.load {
        Load::Value => "value".to_string(),
        Load::Int { size, signed } => format!("{}{}", if *signed { "s" } else { "u" }, size * 8),
        Load::Bitfield { bits, bit_offset, size, signed } => {
            format!("bits {bit_offset}..{} of {}{}", bit_offset + bits, if *signed { "s" } else { "u" }, size * 8)
        }
        Load::CharArray { len } => format!("chars {len}"),
        Load::DataLoc => "data_loc".to_string(),
        Load::Address => "address".to_string(),
        Load::Pretty { deep } => {
            if *deep {
                "pretty deep".to_string()
            } else {
                "pretty".to_string()
            }
        }
        Load::Aggregate => "aggregate".to_string(),
    };
    format!("{out} : {} ({load})", r.c_type)
}

fn operand(f: &Function, o: &Operand) -> String {
    match o {
        Operand::Var(v) => var(f, *v),
        Operand::Long(n) => n.to_string(),
        Operand::Str(s) => quote(s),
    }
}

fn var(f: &Function, v: VarId) -> String {
    match f.var(v) {
        Some(d) if !d.name.is_empty() => format!("%{}:{}", v.0, d.name),
        _ => format!("%{}", v.0),
    }
}

fn list(f: &Function, ops: &[Operand]) -> String {
    ops.iter().map(|o| operand(f, o)).collect::<Vec<_>>().join(", ")
}

/// The module, after a line per probe naming its points (`probes[i]`
/// for probe `i`; empty when the caller has none to give).
pub fn print_module(m: &Module, probes: &[Vec<String>], sm: &SourceMap) -> String {
    let mut out = String::new();
    for (i, g) in m.globals.iter().enumerate() {
        let kind = match &g.kind {
            GlobalKind::Scalar(t) => t.name().to_string(),
            GlobalKind::Array { keys, value } => {
                format!("{}[{}]", value.name(), keys.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "))
            }
            GlobalKind::Stats { keys } if keys.is_empty() => "stats".to_string(),
            GlobalKind::Stats { keys } => {
                format!("stats[{}]", keys.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "))
            }
        };
        let _ = write!(out, "global @{i}:{} {kind}", g.name);
        if let Some(n) = g.size {
            let _ = write!(out, " size {n}");
        }
        if g.wrap {
            out.push_str(" wrap");
        }
        if let Some(init) = &g.init {
            let _ = write!(
                out,
                " = {}",
                match init {
                    Operand::Long(n) => n.to_string(),
                    Operand::Str(s) => quote(s),
                    Operand::Var(_) => "?".to_string(),
                }
            );
        }
        out.push('\n');
    }
    for (i, points) in probes.iter().enumerate() {
        let _ = writeln!(out, "probe {i} {}", points.join(", "));
    }
    for (i, f) in m.functions.iter().enumerate() {
        let handler = m.handlers.iter().find(|h| h.func.0 as usize == i);
        out.push('\n');
        out.push_str(&print_function(f, i, handler.map(|h| (h.probe, h.at_entry)), sm));
    }
    out
}

pub fn print_function(f: &Function, index: usize, probe: Option<(usize, bool)>, sm: &SourceMap) -> String {
    let mut out = String::new();
    let params: Vec<String> =
        f.params.iter().map(|&p| format!("{}:{}", var(f, p), f.var(p).map_or("?", |d| d.ty.name()))).collect();
    let ret = f.ret.map(|t| format!(":{}", t.name())).unwrap_or_default();
    let what = match probe {
        Some((p, false)) => format!("handler of probe {p}"),
        Some((p, true)) => format!("entry of probe {p}"),
        None => "function".to_string(),
    };
    let _ =
        writeln!(out, "func #{index} {}{ret}({}) /* {}, {} */ {{", f.name, params.join(", "), f.placement.name(), what);
    let temps: Vec<String> = f
        .vars
        .iter()
        .enumerate()
        .filter(|(i, _)| !f.params.iter().any(|p| p.0 as usize == *i))
        .map(|(i, d)| format!("{}:{}", var(f, VarId(i as u32)), d.ty.name()))
        .collect();
    if !temps.is_empty() {
        let _ = writeln!(out, "  vars {}", temps.join(" "));
    }
    for (i, b) in f.blocks.iter().enumerate() {
        match b.on_error {
            None => {
                let _ = writeln!(out, "b{i}:");
            }
            Some(c) => {
                let to = c.message.map(|m| format!(", message to {}", var(f, m))).unwrap_or_default();
                let _ = writeln!(out, "b{i}: (on error: b{}{to})", c.block.0);
            }
        }
        print_block(&mut out, f, b, sm);
    }
    out.push_str("}\n");
    out
}

fn print_block(out: &mut String, f: &Function, b: &Block, sm: &SourceMap) {
    for i in &b.insts {
        let text = inst(f, i);
        // An instruction the compiler made up has no location.
        if i.span.is_dummy() {
            let _ = writeln!(out, "  {text}");
        } else {
            let _ = writeln!(out, "  {text:<48} # {}", sm.location(i.span));
        }
    }
    let term = match &b.term {
        Terminator::Jump(t) => format!("jump b{}", t.0),
        Terminator::Branch { cond, then, otherwise } => {
            format!("branch {} ? b{} : b{}", operand(f, cond), then.0, otherwise.0)
        }
        Terminator::Return(None) => "return".to_string(),
        Terminator::Return(Some(v)) => format!("return {}", operand(f, v)),
        Terminator::Next => "next".to_string(),
        Terminator::Error(m) => format!("error {}", operand(f, m)),
    };
    let _ = writeln!(out, "  {term}");
}

fn inst(f: &Function, i: &Inst) -> String {
    let v = |x: &VarId| var(f, *x);
    let o = |x: &Operand| operand(f, x);
    let dst = |d: &Option<VarId>| d.as_ref().map(|d| format!("{} = ", var(f, *d))).unwrap_or_default();
    match &i.kind {
        // (`%0 = -4` is the negation of 4.)
        InstKind::Copy { dst, src: Operand::Long(n) } if *n < 0 => format!("{} = copy {n}", v(dst)),
        InstKind::Copy { dst, src } => format!("{} = {}", v(dst), o(src)),
        InstKind::Unary { dst, op, a } => {
            let op = match op {
                UnOp::Neg => "-",
                UnOp::BitNot => "~",
                UnOp::Not => "!",
            };
            format!("{} = {op}{}", v(dst), o(a))
        }
        InstKind::Binary { dst, op, a, b } => format!("{} = {} {} {}", v(dst), o(a), binop(*op), o(b)),
        InstKind::Compare { dst, op, a, b, strings } => {
            format!(
                "{} = {} {} {}{}",
                v(dst),
                o(a),
                crate::parse::printer::compare_op(*op),
                o(b),
                if *strings { " (str)" } else { "" }
            )
        }
        InstKind::Concat { dst, a, b } => format!("{} = concat {}, {}", v(dst), o(a), o(b)),
        InstKind::Regex { dst, a, pattern, negated } => {
            format!("{} = {} {} {}", v(dst), o(a), if *negated { "!~" } else { "=~" }, quote(pattern))
        }
        InstKind::LoadGlobal { dst, global } => format!("{} = load @{}", v(dst), global.0),
        InstKind::StoreGlobal { global, src } => format!("store @{}, {}", global.0, o(src)),
        InstKind::MapGet { dst, map, keys } => format!("{} = @{}[{}]", v(dst), map.0, list(f, keys)),
        InstKind::MapSet { map, keys, value } => format!("@{}[{}] = {}", map.0, list(f, keys), o(value)),
        InstKind::Update { old, global, keys, op, value } => {
            let k = keys.as_ref().map_or(String::new(), |k| format!("[{}]", list(f, k)));
            let old = old.as_ref().map_or(String::new(), |d| format!("{} = ", v(d)));
            format!("{old}atomic @{}{k} {}= {}", global.0, binop(*op), o(value))
        }
        InstKind::MapDelete { map, keys: None } => format!("delete @{}", map.0),
        InstKind::MapDelete { map, keys: Some(k) } => format!("delete @{}[{}]", map.0, slice(f, k)),
        InstKind::MapHas { dst, map, keys } => format!("{} = [{}] in @{}", v(dst), slice(f, keys), map.0),
        InstKind::StatAdd { stat, keys, value } => {
            let k = if keys.is_empty() { String::new() } else { format!("[{}]", list(f, keys)) };
            format!("@{}{k} <<< {}", stat.0, o(value))
        }
        InstKind::StatGet { dst, stat, keys, op, shift } => {
            let k = if keys.is_empty() { String::new() } else { format!("[{}]", list(f, keys)) };
            let shift = if *shift == 0 { String::new() } else { format!(", {shift}") };
            format!("{} = @{}(@{}{k}{shift})", v(dst), op.name(), stat.0)
        }
        InstKind::Target { dst, resolved, operands } => {
            let args = if operands.is_empty() { String::new() } else { format!(" ({})", list(f, operands)) };
            format!("{} = target {}{args}", v(dst), describe(resolved))
        }
        InstKind::Intrinsic { dst: d, name, args } => format!("{}{name}({})", dst(d), list(f, args)),
        InstKind::Call { dst: d, overloads, args } => {
            let fs: Vec<String> = overloads.iter().map(|f| format!("#{}", f.0)).collect();
            format!("{}call {}({})", dst(d), fs.join("|"), list(f, args))
        }
        InstKind::IterStart { iter, map, sort, aggregate, limit, slice } => {
            let mut s = format!("{} = iterate @{}", v(iter), map.0);
            if !slice.is_empty() {
                let keys: Vec<String> = slice.iter().map(|k| k.as_ref().map_or("*".to_string(), &o)).collect();
                s.push_str(&format!("[{}]", keys.join(", ")));
            }
            if let Some(sort) = sort {
                let by = match sort.by {
                    crate::parse::ast::SortBy::Key(i) => format!("key {i}"),
                    crate::parse::ast::SortBy::Value => match aggregate {
                        Some(a) => format!("@{}", a.name()),
                        None => "value".to_string(),
                    },
                };
                s.push_str(&format!(" sorted by {by}{}", if sort.descending { " descending" } else { "" }));
            }
            if let Some(l) = limit {
                s.push_str(&format!(" limit {}", o(l)));
            }
            s
        }
        InstKind::IterNext { iter, found, keys, value, .. } => {
            let keys: Vec<String> = keys.iter().map(&v).collect();
            let value = value.as_ref().map(|x| format!(", value {}", v(x))).unwrap_or_default();
            format!("{} = next {} -> [{}]{value}", v(found), v(iter), keys.join(", "))
        }
        InstKind::HistPrint { stat, keys, hist } => format!("print {}", hist_text(f, *stat, keys, hist)),
        InstKind::HistBucket { dst, stat, keys, hist, index } => {
            format!("{} = {}[{}]", v(dst), hist_text(f, *stat, keys, hist), o(index))
        }
        InstKind::EntrySave { slot, value } => format!("entry[{slot}] = {}", o(value)),
        InstKind::EntryLoad { dst, slot } => format!("{} = entry[{slot}]", v(dst)),
        InstKind::Print { dst: d, kind, format, delimiter, args } => {
            let mut parts = Vec::new();
            if let Some(fm) = format {
                parts.push(quote(fm));
            }
            if let Some(dl) = delimiter {
                parts.push(o(dl));
            }
            parts.extend(args.iter().map(|(a, _)| o(a)));
            format!("{}{}({})", dst(d), kind.name(), parts.join(", "))
        }
    }
}

fn hist_text(f: &Function, stat: super::GlobalId, keys: &[Operand], hist: &super::Hist) -> String {
    let k = if keys.is_empty() { String::new() } else { format!("[{}]", list(f, keys)) };
    match hist {
        super::Hist::Log => format!("@hist_log(@{}{k})", stat.0),
        super::Hist::Linear { lo, hi, step } => {
            format!("@hist_linear(@{}{k}, {}, {}, {})", stat.0, operand(f, lo), operand(f, hi), operand(f, step))
        }
    }
}

fn slice(f: &Function, keys: &[Option<Operand>]) -> String {
    keys.iter().map(|k| k.as_ref().map_or("*".to_string(), |k| operand(f, k))).collect::<Vec<_>>().join(", ")
}

fn binop(op: super::BinOp) -> &'static str {
    use super::BinOp::*;
    match op {
        Add => "+",
        Sub => "-",
        Mul => "*",
        Div => "/",
        Mod => "%",
        Shl => "<<",
        Shr => ">>",
        And => "&",
        Or => "|",
        Xor => "^",
    }
}
