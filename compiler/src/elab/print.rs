//! `-p2`: the elaborated program in stap's layout: globals with their
//! types, the functions kept with their signatures, then every concrete
//! probe point with the probe it came from, its placement and its locals.
//! With `-v`, bodies and initial values too.

use std::fmt::Write;

use super::{Program, Type, Var};
use crate::parse::ast::{FunctionBody, Literal};
use crate::parse::printer;

fn var(v: &Var) -> String {
    let mut s = format!("{}:{}", v.name, v.ty.name());
    if v.arity.is_some_and(|a| a > 0) || !v.keys.is_empty() {
        let keys: Vec<&str> = v.keys.iter().map(|k| k.name()).collect();
        let _ = write!(s, " [{}]", keys.join(", "));
    }
    s
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Number(n) => n.to_string(),
        Literal::String(s) => format!("\"{}\"", String::from_utf8_lossy(s).escape_default()),
    }
}

/// The `-p2` dump.
pub fn print_program(p: &Program, verbose: bool) -> String {
    let mut out = String::new();
    if !p.globals.is_empty() {
        out.push_str("# globals\n");
        for g in &p.globals {
            // A wrapping array shows its `%`, as stap prints it: `a%:long [long]`.
            let shown = var(&g.var);
            match (g.decl.wrap, shown.split_once(':')) {
                (true, Some((name, rest))) => {
                    let _ = write!(out, "{name}%:{rest}");
                }
                _ => out.push_str(&shown),
            }
            if verbose && let Some((l, _)) = &g.decl.init {
                let _ = write!(out, " = {}", literal(l));
            }
            out.push('\n');
        }
    }
    if !p.functions.is_empty() {
        out.push_str("# functions\n");
        for f in &p.functions {
            let params: Vec<String> = f.params.iter().map(var).collect();
            let _ = write!(out, "{}:{} ({})", f.def.name.name, f.ret.name(), params.join(", "));
            if !f.placements.is_empty() {
                let places: Vec<&str> = f.placements.iter().map(|p| p.name()).collect();
                let _ = write!(out, " /* {} */", places.join(","));
            }
            out.push('\n');
            if !f.locals.is_empty() {
                out.push_str("  # locals\n");
                for v in &f.locals {
                    let _ = writeln!(out, "  {}", var(v));
                }
            }
            if verbose {
                match &f.def.body {
                    FunctionBody::Script(b) => out.push_str(&printer::print_block(b)),
                    FunctionBody::Embedded(e) => {
                        let _ = write!(out, "%{{{}%}}", e.code);
                    }
                }
                out.push('\n');
            }
        }
    }
    if !p.probes.is_empty() {
        out.push_str("# probes\n");
        for pr in &p.probes {
            for pt in &pr.points {
                let _ = writeln!(out, "{} /* <- {} */ /* {} */", pt.name, pr.origin, pr.placement.name());
                let locals: Vec<&Var> = pr.locals.iter().filter(|v| v.ty != Type::Unknown || v.written).collect();
                if !locals.is_empty() {
                    out.push_str("  # locals\n");
                    for v in locals {
                        let _ = writeln!(out, "  {}", var(v));
                    }
                }
                if verbose {
                    if let Some(c) = &pr.condition {
                        let _ = writeln!(out, "  # condition\n  {}", printer::print_expr(c));
                    }
                    out.push_str(&printer::print_block(&pr.body));
                    out.push('\n');
                }
            }
        }
    }
    out
}
