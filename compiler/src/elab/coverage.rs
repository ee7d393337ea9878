//! Partial matches of wildcard system call probes. `syscall.*` (and
//! `syscall.open*`, `syscall.*.return`) matches the aliases the tapsets
//! define, while the kernel may have more system calls: events of the
//! others would be missed without a word. Where the matched aliases are
//! all on the `syscalls:sys_enter_NAME` (or `sys_exit_NAME`) tracepoints,
//! the count is exact: the kernel's system calls whose name the pattern
//! matches, and how many of them the expansion reaches. Fewer is a
//! warning at the point, unless the point is optional (`?`, `!`).

use super::points::{ProbeKind, ResolvedPoint};
use crate::diag::{Diagnostic, Severity};
use crate::kernel::Kernel;
use crate::parse::ast::ProbePoint;

/// The warning for `point`, which expanded to `points`, when it reaches
/// fewer of the kernel's system calls than its pattern names.
pub fn syscall_coverage(kernel: &Kernel, point: &ProbePoint, points: &[&ResolvedPoint]) -> Option<Diagnostic> {
    if point.optional || point.sufficient {
        return None;
    }
    let names: Vec<&str> = point.components.iter().map(|c| c.name.as_str()).collect();
    let (pattern, ret) = match names.as_slice() {
        ["syscall" | "nd_syscall", p] => (*p, false),
        ["syscall" | "nd_syscall", p, "return"] => (*p, true),
        _ => return None,
    };
    if !super::has_glob(pattern) {
        return None;
    }
    let prefix = if ret { "sys_exit_" } else { "sys_enter_" };
    // What the expansion reaches: only syscalls tracepoints, else the
    // count would not be exact (a dispatch on raw_syscalls, kprobes).
    let mut reached = Vec::new();
    for p in points {
        match &p.kind {
            ProbeKind::Tracepoint { tp } if tp.system == "syscalls" => {
                if let Some(n) = tp.name.strip_prefix(prefix) {
                    reached.push(n.to_string());
                }
            }
            _ => return None,
        }
    }
    let all: Vec<String> = kernel
        .match_tracepoints(&format!("syscalls:{prefix}*"))
        .ok()?
        .into_iter()
        .filter_map(|t| t.name.strip_prefix(prefix).map(str::to_string))
        .filter(|n| super::glob_match(pattern, n))
        .collect();
    let missing: Vec<&String> = all.iter().filter(|n| !reached.contains(n)).collect();
    if missing.is_empty() {
        return None;
    }
    let shown = crate::parse::printer::print_point(point);
    let matched = all.len() - missing.len();
    let sample: Vec<&str> = missing.iter().take(8).map(|s| s.as_str()).collect();
    let more = if missing.len() > sample.len() { ", ..." } else { "" };
    Some(
        Diagnostic::new(
            Severity::Warning,
            format!(
                "probe point '{shown}' matched {matched} of the kernel's {} system calls{}",
                all.len(),
                if pattern == "*" { String::new() } else { format!(" named '{pattern}'") }
            ),
        )
        .at(point.span, "the tapsets define no probe alias for the others")
        .with_note(format!("not probed: {}{more}", sample.join(", ")))
        .with_help("add '?' to the probe point to accept the partial match"),
    )
}
