//! The last step of elaboration, after the session: probes and globals
//! that do nothing are elided (with stap's warnings, unless `-u`),
//! functions not reachable from a probe dropped, each function placed
//! where the handlers calling it run, unreachable overloads and variables
//! never assigned reported. In: the session's [`Program`]; out: the
//! program trimmed in place, and warnings (errors for a script left with
//! no probe).

use std::collections::{HashMap, HashSet};

use super::foreach_writes::check_foreach_writes;
use super::optimize::block_is_empty;
use super::{ElabOptions, Placement, Program};
use crate::diag::Diagnostic;
use crate::parse::ast::{Block, Expr, ExprKind, FunctionBody, StmtKind};
use crate::parse::visit;
use crate::source::{FileId, Span};

/// Elision of unused code (with stap's warnings, unless `-u`) and
/// placement of handlers and functions.
pub fn finish(program: &mut Program, opts: &ElabOptions<'_>) -> Vec<Diagnostic> {
    let mut diags: Vec<Diagnostic> = Vec::new();
    // As stap: a probe that does nothing is not kept, and a script left
    // with no probe is an error.
    if !opts.unoptimized && !program.probes.is_empty() {
        let mut elided: Vec<(String, Span)> = Vec::new();
        program.probes.retain(|p| {
            let empty = block_is_empty(&p.body) && p.condition.is_none();
            if empty && !p.from_tapset && !elided.iter().any(|(o, s)| *o == p.origin && *s == p.span) {
                elided.push((p.origin.clone(), p.span));
            }
            !empty
        });
        for (origin, span) in elided {
            diags.push(
                Diagnostic::new(crate::diag::Severity::Warning, format!("Probe '{origin}' has been elided"))
                    .at(span, ""),
            );
        }
        if program.probes.is_empty() {
            diags.push(Diagnostic::error("semantic error: no probes found"));
            return diags;
        }
    }
    // Which functions are reachable from probes.
    let mut used: HashSet<usize> = HashSet::new();
    let mut placed: HashMap<usize, HashSet<Placement>> = HashMap::new();
    let mut work: Vec<(usize, Placement)> = Vec::new();
    for p in &program.probes {
        let mut calls = Vec::new();
        collect_calls_block(&p.body, &mut calls);
        if let Some(c) = &p.condition {
            collect_calls_expr(c, &mut calls);
        }
        for name in calls {
            for i in program.functions_named(&name, p.file) {
                work.push((i, p.placement));
            }
        }
    }
    while let Some((i, place)) = work.pop() {
        if !placed.entry(i).or_default().insert(place) {
            continue;
        }
        used.insert(i);
        let Some(f) = program.functions.get(i) else { continue };
        let mut calls = Vec::new();
        if let FunctionBody::Script(b) = &f.def.body {
            collect_calls_block(b, &mut calls);
        }
        let file = f.file;
        for name in calls {
            for j in program.functions_named(&name, file) {
                work.push((j, place));
            }
        }
    }
    for (i, f) in program.functions.iter_mut().enumerate() {
        f.used = used.contains(&i);
        let mut p: Vec<Placement> = placed.get(&i).map(|s| s.iter().copied().collect()).unwrap_or_default();
        p.sort();
        f.placements = p;
    }
    // Overloads after one that never says `next` cannot be reached.
    let mut seen: HashSet<(String, usize, Option<FileId>)> = HashSet::new();
    for (i, f) in program.functions.iter().enumerate() {
        let key = (f.def.name.name.clone(), f.params.len(), f.private_to);
        if !seen.insert(key) {
            continue;
        }
        let overloads: Vec<usize> = program
            .functions_named(&f.def.name.name, f.file)
            .into_iter()
            .filter(|&j| program.functions.get(j).is_some_and(|g| g.params.len() == f.params.len()))
            .collect();
        let _ = i;
        for w in overloads.windows(2) {
            let (Some(a), Some(b)) =
                (w.first().and_then(|&j| program.functions.get(j)), w.get(1).and_then(|&j| program.functions.get(j)))
            else {
                continue;
            };
            let has_next = match &a.def.body {
                FunctionBody::Script(body) => block_has_next(body),
                FunctionBody::Embedded(_) => true,
            };
            if !has_next && !b.from_tapset {
                diags.push(
                    Diagnostic::new(
                        crate::diag::Severity::Warning,
                        format!(
                            "unreachable overload of function '{}': the one before it never says 'next'",
                            b.def.name.name
                        ),
                    )
                    .at(b.def.name.span, ""),
                );
            }
        }
    }
    if !opts.unoptimized {
        for g in
            program.globals.iter().filter(|g| !g.from_tapset && !g.var.read && !g.var.written && g.var.arity.is_none())
        {
            diags.push(
                Diagnostic::new(crate::diag::Severity::Warning, format!("Eliding unused variable '{}'", g.var.name))
                    .at(g.var.span, ""),
            );
        }
        program.functions.retain(|f| f.used);
        // A tapset's global that only its unused functions name goes with
        // them (it would have no type).
        let named = names_in_use(program);
        program.globals.retain(|g| {
            (g.var.read || g.var.written || g.var.arity.is_some()) && (!g.from_tapset || named.contains(&g.var.name))
        });
    }
    diags.extend(check_foreach_writes(program));
    // `global x%` is for arrays; what its uses made a scalar cannot wrap.
    for g in program.globals.iter().filter(|g| g.decl.wrap && g.var.arity == Some(0)) {
        diags.push(Diagnostic::semantic_error("wrapping not supported for scalars", g.decl.name.span));
    }
    for g in program.globals.iter().filter(|g| !g.from_tapset) {
        if g.var.read && !g.var.written {
            diags.push(
                Diagnostic::new(
                    crate::diag::Severity::Warning,
                    format!("never-assigned global variable '{}'", g.var.name),
                )
                .at(g.var.span, ""),
            );
        }
    }
    let locals = program
        .probes
        .iter()
        .filter(|p| !p.from_tapset)
        .flat_map(|p| p.locals.iter())
        .chain(program.functions.iter().filter(|f| !f.from_tapset).flat_map(|f| f.locals.iter()));
    for v in locals {
        if v.read && !v.written {
            diags.push(
                Diagnostic::new(crate::diag::Severity::Warning, format!("never-assigned local variable '{}'", v.name))
                    .at(v.span, ""),
            );
        }
    }
    diags
}

/// The functions a block calls, by name, in source order.
fn collect_calls_block(b: &Block, out: &mut Vec<String>) {
    visit::block_exprs(b, &mut |e| collect_calls_expr(e, out));
}

fn collect_calls_expr(e: &Expr, out: &mut Vec<String>) {
    visit::walk_expr(e, &mut |e| {
        if let ExprKind::Call { name, .. } = &e.kind {
            out.push(name.name.clone());
        }
        true
    });
}

/// The variable names the probes and the remaining functions use.
fn names_in_use(program: &Program) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut add = |e: &Expr| {
        visit::walk_expr(e, &mut |e| {
            match &e.kind {
                ExprKind::Var(n) => {
                    names.insert(n.clone());
                }
                ExprKind::ProbeWrite(n) => {
                    names.insert(n.name.clone());
                }
                _ => {}
            }
            true
        });
    };
    for p in &program.probes {
        visit::block_exprs(&p.body, &mut add);
        if let Some(c) = &p.condition {
            add(c);
        }
    }
    for f in &program.functions {
        if let FunctionBody::Script(b) = &f.def.body {
            visit::block_exprs(b, &mut add);
        }
    }
    names
}

/// Whether a body says `next` anywhere.
fn block_has_next(b: &Block) -> bool {
    let mut found = false;
    visit::walk_block(b, &mut |s| found |= matches!(s.kind, StmtKind::Next));
    found
}
