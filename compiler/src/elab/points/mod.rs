//! Concrete probe points: what a probe point that is not an alias names,
//! resolved against the kernel model and ELF files into typed probe kinds
//! with their attach targets.
//!
//! Alias expansion happens before (in `elab`); this module sees points
//! whose components name stp's built-in probe families.
//!
//! `grammar` matches a point's components against the template tree of
//! every family and says which family a point names; each family's file
//! (`kernel`, `timers`, `perf`, `user`) builds that family's
//! [`ResolvedPoint`]s. Reading user-space binaries (ELF symbols, SDT
//! notes) is `crate::userspace`'s business; this module only asks it.

// `resolve` returns `Diagnostic` like every pass; its size is the
// diagnostics' business, not this module's.

mod grammar;
mod kernel;
mod perf;
pub mod process;
#[cfg(test)]
mod testing;
mod timers;
mod user;

use grammar::{Family, MatchedPath, Walker, mismatch, tree, written};
use kernel::{kernel_function, kernel_statement, lsm, tracepoints};
use perf::perf;
use process::lifecycle;
use timers::timer;
use user::{usdt, user_functions};

use crate::diag::Diagnostic;
use crate::kernel::{KFunc, Kernel, Tracepoint};
use crate::parse::ast::ProbePoint;
use crate::source::Span;

/// What resolving needs besides the point itself.
pub struct PointContext<'a> {
    pub kernel: &'a Kernel,
    /// `-g`.
    pub guru: bool,
    /// `-x PID`.
    pub target_pid: Option<u32>,
    /// `-c CMD`: the command (its first word is the `process` of
    /// `process.function(...)` without a path).
    pub command: Option<&'a str>,
}

/// Where a handler is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Begin {
        priority: i64,
    },
    End {
        priority: i64,
    },
    Error {
        priority: i64,
    },
    Never,
    /// `prometheus`: run on the user side each time `--metrics` is
    /// scraped; what it prints (and appends to `$value`) is the answer.
    Prometheus,
    /// `kernel.function`, `module().function`, `kprobe.function`.
    KernelFunction {
        func: KFunc,
        ret: bool,
        maxactive: Option<i64>,
    },
    /// `kernel.statement(ADDR).absolute`.
    KernelStatement {
        addr: u64,
    },
    /// `kernel.trace("system:name")`.
    Tracepoint {
        tp: Tracepoint,
    },
    /// `process(...).function(...)` and `.library(...)`: a uprobe at a
    /// symbol's offset in an ELF file.
    Uprobe {
        path: String,
        symbol: String,
        offset: u64,
        ret: bool,
        pid: Option<u32>,
    },
    /// `process(...).mark(...)`: a USDT note.
    Usdt {
        path: String,
        provider: String,
        name: String,
        offset: u64,
        semaphore: u64,
        args: String,
        pid: Option<u32>,
    },
    /// `timer.s/ms/us/ns/hz/jiffies(N)[.randomize(M)]`.
    Timer {
        period_ns: u64,
        randomize_ns: u64,
    },
    /// `timer.profile`.
    Profile,
    /// `perf.sw.*`, `perf.hw.*`, `perf.type(T).config(C)`.
    Perf {
        type_: u32,
        config: u64,
        /// Events per sample, or samples per second with `frequency`
        /// (`.hz(N)`).
        sample_period: u64,
        frequency: bool,
        process: Option<String>,
    },
    /// `lsm.HOOK`: a BPF LSM program on the kernel's `bpf_lsm_HOOK`.
    Lsm {
        hook: String,
    },
}

/// One concrete point a probe point resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedPoint {
    pub kind: ProbeKind,
    /// The point as `pp()` names it: `kernel.function("vfs_read@fs/read_write.c:450").return`
    /// where stap would print a file, else `kernel.function("vfs_read").return`.
    pub name: String,
    /// A process life-cycle point's test of the event and the task
    /// (`process("PATH").begin` and its kin); the handler runs only
    /// where it holds.
    pub guard: Option<process::Guard>,
}

impl ResolvedPoint {
    /// What tells two points apart: the name, and for a mark, which of its
    /// sites (they share the name).
    pub fn key(&self) -> String {
        match (&self.kind, &self.guard) {
            (ProbeKind::Usdt { offset, .. }, _) => format!("{}@{offset:#x}", self.name),
            (_, Some(g)) => format!("{}@{:?}", self.name, g.event),
            _ => self.name.clone(),
        }
    }
}

/// Resolves a point that names a built-in probe family. `Ok(vec![])`:
/// the point is valid but matched nothing (the caller applies `?`/`!`).
/// Points stp does not support at all get `semantic error: probe point
/// not supported by stp: ...`.
pub fn resolve(point: &ProbePoint, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    if let Some(found) = lsm(point, ctx) {
        return found;
    }
    let mut walker = Walker { comps: &point.components, matches: Vec::new(), failure: None };
    let mut path = Vec::new();
    walker.walk(tree(), 0, &mut path);
    let Walker { matches, failure, .. } = walker;
    if matches.is_empty() {
        return Err(mismatch(point, failure));
    }
    let single = matches.len() == 1;
    let mut results: Vec<ResolvedPoint> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut real_error = None;
    let mut unsupported = None;
    let mut any_ok = false;
    for (family, steps) in matches {
        let path = MatchedPath { steps, point };
        match build(family, &path, ctx) {
            Ok(list) => {
                any_ok = true;
                for r in list {
                    if seen.insert(r.key()) {
                        results.push(r);
                    }
                }
            }
            Err(e) if single => return Err(e),
            Err(e) if matches!(family, Family::Unsupported(_)) => {
                unsupported.get_or_insert(e);
            }
            Err(e) => {
                real_error.get_or_insert(e);
            }
        }
    }
    if !results.is_empty() || (any_ok && real_error.is_none()) {
        return Ok(results);
    }
    match real_error.or(unsupported) {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

fn build(family: Family, path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let one = |kind: ProbeKind| Ok(vec![ResolvedPoint { kind, name: path.canonical(), guard: None }]);
    match family {
        Family::Begin => one(ProbeKind::Begin { priority: path.num("begin").unwrap_or(0) }),
        Family::End => one(ProbeKind::End { priority: path.num("end").unwrap_or(0) }),
        Family::Error => one(ProbeKind::Error { priority: path.num("error").unwrap_or(0) }),
        Family::Never => one(ProbeKind::Never),
        Family::Prometheus => one(ProbeKind::Prometheus),
        Family::Profile => one(ProbeKind::Profile),
        Family::KFunc => kernel_function(path, ctx),
        Family::KStatement => kernel_statement(path, ctx),
        Family::Trace => tracepoints(path, ctx),
        Family::UFunc => user_functions(path, ctx),
        Family::Usdt => usdt(path, ctx),
        Family::Timer => timer(path, ctx).and_then(one),
        Family::Perf => perf(path, ctx).and_then(one),
        Family::Lifecycle => lifecycle(path, ctx),
        Family::Unsupported(what) => {
            let shown = written(path.point);
            Err(Diagnostic::semantic_error(format!("probe point not supported by stp: {shown}"), path.point.span)
                .with_note(format!("stp does not implement {what}")))
        }
    }
}

/// `func@file.c`, `func:10`, `*@fs/*.c:10-20`: forms that need DWARF line
/// information. (`::` of C++ names is not a line number.)
fn needs_dwarf(pattern: &str) -> bool {
    if pattern.contains('@') {
        return true;
    }
    match pattern.rsplit_once(':') {
        Some((head, tail)) => {
            !head.ends_with(':')
                && !tail.is_empty()
                && tail.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '*'))
        }
        None => false,
    }
}

fn dwarf_error(point: &ProbePoint, span: Span) -> Diagnostic {
    Diagnostic::semantic_error(
        format!("probe point needs DWARF debuginfo, which stp does not use: {}", written(point)),
        span,
    )
    .with_help("drop the @file and :line part and name the function alone")
}

#[cfg(test)]
mod tests {
    use super::testing::{err, only};
    use super::*;

    #[test]
    fn begin_end_error_priorities() {
        assert_eq!(
            only("begin"),
            ResolvedPoint { kind: ProbeKind::Begin { priority: 0 }, name: "begin".into(), guard: None }
        );
        assert_eq!(
            only("begin(5)"),
            ResolvedPoint { kind: ProbeKind::Begin { priority: 5 }, name: "begin(5)".into(), guard: None }
        );
        assert_eq!(only("end(-3)").kind, ProbeKind::End { priority: -3 });
        assert_eq!(only("error").kind, ProbeKind::Error { priority: 0 });
        assert_eq!(only("never").kind, ProbeKind::Never);
        assert!(err("begin(\"x\")").message.contains("probe point mismatch"));
        assert!(err("never(1)").message.contains("probe point mismatch"));
    }

    #[test]
    fn dwarf_function_patterns_are_rejected() {
        let d = err("kernel.function(\"vfs_read@fs/x.c\")");
        assert_eq!(
            d.message,
            "semantic error: probe point needs DWARF debuginfo, which stp does not use: kernel.function(\"vfs_read@fs/x.c\")"
        );
        assert!(d.help.is_some());
        let d = err("module(\"ext4\").function(\"*@fs/*.c:10\").return");
        assert!(d.message.contains("needs DWARF debuginfo"), "{}", d.message);
        let d = err("process(\"/bin/true\").function(\"main@x.c\")");
        assert!(d.message.contains("needs DWARF debuginfo"), "{}", d.message);
    }

    #[test]
    fn dwarf_forms() {
        assert!(needs_dwarf("vfs_read@fs/read_write.c"));
        assert!(needs_dwarf("*@fs/*.c:10"));
        assert!(needs_dwarf("vfs_read:12"));
        assert!(needs_dwarf("f:10-20"));
        assert!(!needs_dwarf("vfs_read"));
        assert!(!needs_dwarf("std::vector*"));
        assert!(!needs_dwarf("ns::f"));
    }
}
