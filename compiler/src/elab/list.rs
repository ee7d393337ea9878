//! `-l`/`-L`: the probe points a pattern names, with their context
//! variables; `--dump-functions` and `--dump-probe-aliases`.

use std::collections::BTreeSet;

use super::points::{self, PointContext};
use super::symbols::{PendingProbe, Session};
use super::{ElabOptions, Type, glob_match, infer, intrinsic_docs, intrinsics, target};
use crate::diag::Diagnostic;
use crate::parse::ast::{Block, Probe, Script};
use crate::parse::printer;
use crate::source::{SourceMap, Span};
use crate::tapset::Library;

/// The lines `stp -l PATTERN` (or `-L` with `vars`) prints, sorted.
pub fn list(user: &[Script], library: &Library, opts: &ElabOptions<'_>, vars: bool) -> (Vec<String>, Vec<Diagnostic>) {
    let mut lines = BTreeSet::new();
    let Some(probe) = user.first().and_then(|s| s.probes.first()) else { return (Vec::new(), Vec::new()) };
    let mut session = Session::new(user, library, opts);
    session.collect_aliases();
    for point in &probe.points {
        // Aliases whose whole name the pattern matches.
        let names: Vec<(usize, Vec<String>)> = session
            .aliases
            .iter()
            .enumerate()
            .flat_map(|(i, a)| a.names.iter().map(move |n| (i, n.clone())))
            .filter(|(_, n)| {
                n.len() == point.components.len()
                    && n.iter().zip(&point.components).all(|(n, c)| c.arg.is_none() && glob_match(&c.name, n))
            })
            .collect();
        // One list of aliases, lent to each name's session in turn: a
        // family such as syscall.* has thousands.
        let mut aliases = std::mem::take(&mut session.aliases);
        let mut alias_first = std::mem::take(&mut session.alias_first);
        for (_, name) in names {
            let text = name.join(".");
            let Ok(alias_point) = parse_point(&text, probe) else { continue };
            let mut sub = Session::new(user, library, opts);
            sub.keep_all = true;
            sub.aliases = std::mem::take(&mut aliases);
            sub.alias_first = std::mem::take(&mut alias_first);
            let body = Block { stmts: Vec::new(), span: probe.body.span };
            let pending = Probe { points: vec![alias_point], body, span: probe.span };
            let file = user.first().map(|s| s.file).unwrap_or_default();
            sub.derive(PendingProbe { probe: pending, file, from_tapset: false });
            aliases = std::mem::take(&mut sub.aliases);
            alias_first = std::mem::take(&mut sub.alias_first);
            if sub.probes.is_empty() || crate::diag::has_errors(&sub.diags) {
                continue;
            }
            if !vars {
                lines.insert(text);
                continue;
            }
            let mut program = sub.into_program();
            let _ = infer::infer(&mut program);
            let mut locals: Vec<String> = Vec::new();
            for p in &program.probes {
                for v in &p.locals {
                    let s = format!("{}:{}", v.name, v.ty.name());
                    if v.ty != Type::Unknown && !locals.contains(&s) && !v.name.starts_with("__") {
                        locals.push(s);
                    }
                }
            }
            lines.insert(if locals.is_empty() { text } else { format!("{text} {}", locals.join(" ")) });
        }
        session.aliases = aliases;
        session.alias_first = alias_first;
        let ctx =
            PointContext { kernel: opts.kernel, guru: opts.guru, target_pid: opts.target_pid, command: opts.command };
        if let Ok(found) = points::resolve(point, &ctx) {
            for p in found {
                if vars {
                    let cv: Vec<String> =
                        target::context_vars(opts.kernel, &p).into_iter().map(|(n, t)| format!("${n}:{t}")).collect();
                    lines.insert(if cv.is_empty() { p.name } else { format!("{} {}", p.name, cv.join(" ")) });
                } else {
                    lines.insert(p.name);
                }
            }
        }
    }
    (lines.into_iter().collect(), Vec::new())
}

/// A probe point from its text, reusing the pattern probe's spans.
fn parse_point(text: &str, probe: &Probe) -> Result<crate::parse::ast::ProbePoint, ()> {
    let span = probe.points.first().map(|p| p.span).ok_or(())?;
    let components =
        text.split('.').map(|n| crate::parse::ast::Component { name: n.to_string(), arg: None, span }).collect();
    Ok(crate::parse::ast::ProbePoint { components, optional: false, sufficient: false, condition: None, span })
}

/// `--dump-probe-aliases`: every alias of the library, `name = points`,
/// then ` // ` and its description where the comment above it has one.
pub fn dump_aliases(library: &Library, sm: &SourceMap) -> String {
    let mut lines = BTreeSet::new();
    for f in &library.files {
        let Some(s) = &f.script else { continue };
        for a in &s.aliases {
            let points: Vec<String> = a.points.iter().map(printer::print_point).collect();
            let about = describe(sm, a.span);
            for n in &a.names {
                let op = if a.epilogue { "+=" } else { "=" };
                let name = printer::print_point(n);
                let about = about.clone().or_else(|| syscall_description(&name));
                lines.insert(with_description(format!("{name} {op} {}", points.join(", ")), &about));
            }
        }
    }
    lines.into_iter().map(|l| l + "\n").collect()
}

/// The aliases of the syscall tapset, made from its table, describe
/// themselves by name: `syscall.NAME[.return]`, `syscall_any[.return]`,
/// and their synonyms (`nd_syscall`, `tp_syscall`, ...).
fn syscall_description(alias: &str) -> Option<String> {
    let (family, rest) = alias.split_once('.').unwrap_or((alias, ""));
    let (call, ret) = match rest.strip_suffix(".return") {
        Some(c) => (c, true),
        None => (rest, rest == "return"),
    };
    let what = if ret { "The return of" } else { "A call of" };
    match family {
        "syscall_any" => Some(format!("{what} any system call, with name and syscall_nr.")),
        "syscall" if !call.is_empty() => Some(format!("{what} the {call} system call, with stap's variables.")),
        "nd_syscall" | "nd1_syscall" | "nd2_syscall" | "tp_syscall" | "dw_syscall" if !call.is_empty() => {
            Some(format!("The same as syscall.{rest}."))
        }
        _ => None,
    }
}

/// The description of the definition at `span`, from its comment, else
/// its file's.
fn describe(sm: &SourceMap, span: Span) -> Option<String> {
    let text = sm.get(span.file).map(|_| sm.text(span.file))?;
    crate::tapset::doc::description(text, usize::try_from(span.start).ok()?)
        .or_else(|| crate::tapset::doc::file_description(text))
}

fn with_description(line: String, about: &Option<String>) -> String {
    match about {
        Some(d) => format!("{line} // {d}"),
        None => line,
    }
}

/// `--dump-functions`: the library's functions and the intrinsics, with
/// their signatures, then ` // ` and a description: the comment above a
/// tapset function (or above another form of the same name), an
/// intrinsic's from [`intrinsics::description`].
pub fn dump_functions(library: &Library, sm: &SourceMap) -> String {
    let ty = |t: Option<(crate::parse::ast::TypeName, crate::source::Span)>| match t.map(|t| t.0) {
        Some(crate::parse::ast::TypeName::Long) => "long",
        Some(crate::parse::ast::TypeName::String) => "string",
        None => "unknown",
    };
    let mut forms: Vec<(String, String, Option<String>)> = Vec::new();
    for f in &library.files {
        let Some(s) = &f.script else { continue };
        for func in s.functions.iter().filter(|f| !f.private) {
            let params: Vec<String> = func.params.iter().map(|p| format!("{}:{}", p.name.name, ty(p.ty))).collect();
            let line = format!("{}:{} ({})", func.name.name, ty(func.ret), params.join(", "));
            forms.push((func.name.name.clone(), line, describe(sm, func.span)));
        }
    }
    for name in intrinsics::names() {
        for i in intrinsics::lookup(name).unwrap_or_default() {
            let params: Vec<String> = i.params.iter().map(|(n, t)| format!("{n}:{}", t.name())).collect();
            let line = format!("{}:{} ({})", i.name, i.ret.name(), params.join(", "));
            forms.push((i.name.to_string(), line, intrinsic_docs::description(i.name).map(str::to_string)));
        }
    }
    let mut by_name: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (name, _, about) in &forms {
        if let Some(d) = about {
            by_name.entry(name.clone()).or_insert_with(|| d.clone());
        }
    }
    let lines: BTreeSet<String> = forms
        .into_iter()
        .map(|(name, line, about)| with_description(line, &about.or_else(|| by_name.get(&name).cloned())))
        .collect();
    lines.into_iter().map(|l| l + "\n").collect()
}
