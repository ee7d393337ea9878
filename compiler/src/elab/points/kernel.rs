//! Kernel families: `kernel.function`, `module(...).function`,
//! `kprobe.function` (with `.call`, `.return`, `.maxactive`),
//! `kernel.statement(ADDR).absolute`, `kernel.trace(...)` and `lsm.HOOK`.
//!
//! In: a matched path and the kernel model. Out: one [`ResolvedPoint`]
//! per kernel function, tracepoint or LSM hook the point's pattern names,
//! named as `pp()` shows it. The kernel model answers which functions and
//! tracepoints exist; an empty answer is not an error here.

use super::grammar::{MatchedPath, quote, written};
use super::{PointContext, ProbeKind, ResolvedPoint, dwarf_error, needs_dwarf};
use crate::diag::Diagnostic;
use crate::parse::ast::ProbePoint;

/// `lsm.HOOK`: the hooks are the kernel's `bpf_lsm_*` functions, so the
/// names come from BTF rather than from the template tree. `None`: not an
/// LSM point.
pub(super) fn lsm(point: &ProbePoint, ctx: &PointContext<'_>) -> Option<Result<Vec<ResolvedPoint>, Diagnostic>> {
    let [family, hook] = point.components.as_slice() else { return None };
    if family.arg.is_some() || !crate::glob::glob_match(&family.name, "lsm") || family.name.contains("**") {
        return None;
    }
    if hook.arg.is_some() {
        let d = Diagnostic::semantic_error("an LSM hook takes no argument", hook.span);
        return Some(Err(d));
    }
    let pattern = format!("bpf_lsm_{}", hook.name);
    Some(match ctx.kernel.match_functions(None, &pattern) {
        Err(e) => Err(Diagnostic::semantic_error(e.to_string(), hook.span)),
        Ok(funcs) => Ok(funcs
            .into_iter()
            .filter_map(|f| f.name.strip_prefix("bpf_lsm_").map(str::to_string))
            .map(|hook| ResolvedPoint { name: format!("lsm.{hook}"), kind: ProbeKind::Lsm { hook }, guard: None })
            .collect()),
    })
}

pub(super) fn kernel_function(
    path: &MatchedPath<'_>,
    ctx: &PointContext<'_>,
) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let pattern = path.string("function").unwrap_or_default();
    let fspan = path.span("function");
    if needs_dwarf(&pattern) {
        return Err(dwarf_error(path.point, fspan));
    }
    let kprobe = path.has("kprobe");
    let module = path.string("module");
    let funcs = ctx
        .kernel
        .match_functions(module.as_deref(), &pattern)
        .map_err(|e| Diagnostic::semantic_error(e.to_string(), fspan))?;
    if funcs.is_empty()
        && let Some(m) = module.as_deref()
        && !crate::glob::has_glob(m)
        && ctx.kernel.match_modules(m).is_ok_and(|loaded| loaded.is_empty())
    {
        return Err(module_not_loaded(m, path.span("module")));
    }
    let ret = path.has("return");
    let call = path.has("call");
    let maxactive = path.num("maxactive");
    // The kernel keeps kretprobe instances in an array sized by it.
    if let Some(m) = maxactive
        && !(1..=65535).contains(&m)
    {
        return Err(Diagnostic::semantic_error("maxactive value out of range [1,65535]", path.span("maxactive")));
    }
    let mut out = Vec::new();
    for func in funcs {
        let mut name = String::new();
        if kprobe {
            name.push_str("kprobe.");
        }
        if let Some(m) = func.module.as_deref().or(module.as_deref()) {
            name.push_str(&format!("module({}).", quote(m)));
        } else if !kprobe {
            name.push_str("kernel.");
        }
        name.push_str(&format!("function({})", quote(&func.name)));
        if call {
            name.push_str(".call");
        }
        if ret {
            name.push_str(".return");
        }
        if let Some(m) = maxactive {
            name.push_str(&format!(".maxactive({m})"));
        }
        out.push(ResolvedPoint { kind: ProbeKind::KernelFunction { func, ret, maxactive }, name, guard: None });
    }
    Ok(out)
}

/// `module("NAME")` names a module the kernel has not loaded: its
/// functions and types come from its BTF, which the kernel shows only
/// while it is loaded.
fn module_not_loaded(module: &str, span: crate::source::Span) -> Diagnostic {
    Diagnostic::semantic_error(format!("module '{module}' is not loaded"), span)
        .with_note(format!("stp finds a module's functions in its BTF, /sys/kernel/btf/{module}, while it is loaded"))
        .with_help(format!("load it first (modprobe {module}), or add '?' to the probe point if it may be absent"))
}

pub(super) fn kernel_statement(
    path: &MatchedPath<'_>,
    ctx: &PointContext<'_>,
) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let span = path.span("statement");
    let Some(addr) = path.num("statement") else {
        return Err(Diagnostic::semantic_error(
            format!("probe point not supported by stp: {}", written(path.point)),
            path.point.span,
        )
        .with_note("an absolute statement probe needs a numeric address"));
    };
    if !ctx.guru {
        return Err(Diagnostic::semantic_error("absolute statement probe in unprivileged script; need stap -g", span)
            .with_help("run with -g (guru mode)"));
    }
    let addr = addr as u64;
    let prefix = if path.has("kprobe") { "kprobe" } else { "kernel" };
    Ok(vec![ResolvedPoint {
        kind: ProbeKind::KernelStatement { addr },
        name: format!("{prefix}.statement({addr:#x}).absolute"),
        guard: None,
    }])
}

pub(super) fn tracepoints(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let pattern = path.string("trace").unwrap_or_default();
    let span = path.span("trace");
    let tps = ctx.kernel.match_tracepoints(&pattern).map_err(|e| Diagnostic::semantic_error(e.to_string(), span))?;
    Ok(tps
        .into_iter()
        .map(|tp| {
            let name = format!("kernel.trace({})", quote(&format!("{}:{}", tp.system, tp.name)));
            ResolvedPoint { kind: ProbeKind::Tracepoint { tp }, name, guard: None }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::testing::{err, kernel_with, resolve_with};
    use super::*;
    use crate::kernel::Kernel;

    #[test]
    fn absolute_statement_needs_guru() {
        let d = err("kernel.statement(0xffff).absolute");
        assert_eq!(d.message, "semantic error: absolute statement probe in unprivileged script; need stap -g");
        let r = resolve_with("kernel.statement(0xffff).absolute", &kernel_with(&[]), true).expect("guru");
        assert_eq!(
            r,
            vec![ResolvedPoint {
                kind: ProbeKind::KernelStatement { addr: 0xffff },
                name: "kernel.statement(0xffff).absolute".into(),
                guard: None,
            }]
        );
    }

    #[test]
    fn tracepoints_and_kernel_functions_use_the_kernel_model() {
        // The snapshot in tests/kernel.
        let k = Kernel::snapshot(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kernel"));
        let names = |text: &str| -> Vec<String> {
            resolve_with(text, &k, false).expect(text).into_iter().map(|p| p.name).collect()
        };
        assert_eq!(names("kernel.trace(\"sched:sched_switch\")"), ["kernel.trace(\"sched:sched_switch\")"]);
        assert_eq!(names("kernel.trace(\"sched_switch\")"), ["kernel.trace(\"sched:sched_switch\")"]);
        let wakeups = names("kernel.trace(\"sched:sched_wak*\")");
        assert!(
            wakeups.len() >= 3 && wakeups.iter().all(|n| n.starts_with("kernel.trace(\"sched:sched_wak")),
            "{wakeups:?}"
        );
        let r = resolve_with("kerne*.funct*(\"vfs_read\").return", &k, false).expect("vfs_read");
        assert_eq!(r.len(), 1);
        assert!(
            r.iter().all(
                |p| matches!(&p.kind, ProbeKind::KernelFunction { ret: true, func, .. } if func.name == "vfs_read")
            )
        );
        let r = resolve_with("kprobe.function(\"vfs_read\").return.maxactive(10)", &k, false).expect("maxactive");
        assert!(matches!(r.first().map(|p| &p.kind), Some(ProbeKind::KernelFunction { maxactive: Some(10), .. })));
        let all = names("kernel.function(\"vfs_*\")");
        assert!(all.len() > 20 && all.contains(&"kernel.function(\"vfs_write\")".to_string()), "{all:?}");
        assert!(names("kernel.function(\"no_such_function_here\")").is_empty());
        // A kernel without BTF cannot say which functions it has.
        let e = resolve_with("kernel.function(\"vfs_read\")", &kernel_with(&[]), false).expect_err("no BTF");
        assert!(e.message.contains("kernel BTF is not available"), "{}", e.message);
    }
}
