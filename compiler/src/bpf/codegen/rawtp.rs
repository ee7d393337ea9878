//! Tracepoint handlers that read nothing of their context run as raw
//! tracepoints.
//!
//! A perf-event tracepoint is slow to take down: the kernel's
//! `perf_trace_destroy` waits for RCU grace periods under its
//! `event_mutex`, so detaching N of them takes N waits one after the
//! other (~40-70 ms each here), whatever the threads. A raw tracepoint's
//! link frees itself after a grace period without waiting for it, and
//! attaches without one. Its program gets the tracepoint's arguments
//! instead of the record, so only a handler that reads neither can move:
//! [`context_free`] refuses a handler with target variables, generates
//! the rest for both contexts and compares the code (an intrinsic that
//! reads the context differs), and refuses a handler calling a helper
//! that takes the context (a stack walk reads it differently).
//! [`plan`] then moves such programs to `raw_tracepoint/NAME` where the
//! kernel has the tracepoint (its BTF names `btf_trace_NAME`; the
//! `syscalls:*` events are not tracepoints and keep the perf path or a
//! dispatcher).

use super::{Ctx, Gen, KernelFacts, Output};
use crate::bpf::abi::HELPER_GET_STACK;
use crate::bpf::insn::Insn;
use crate::elab::points::ProbeKind;
use crate::ir::{Function, InstKind, Module};
use crate::kernel::Kernel;
use crate::layout::Layout;

/// Helpers whose first argument is the program's context.
const CONTEXT_HELPERS: &[i32] = &[
    HELPER_GET_STACK,
    // bpf_get_stackid, bpf_perf_event_output, bpf_get_func_ip,
    // bpf_get_attach_cookie.
    27,
    25,
    173,
    174,
];

/// Whether `f`, as the handler of the tracepoint `point`, compiles to the
/// same code on a record and on raw arguments, without a helper that
/// reads the context.
pub(super) fn context_free(m: &Module, f: &Function, layout: &Layout, task: KernelFacts, point: &str) -> bool {
    // Target variables read the record the same way whatever the context
    // is said to be: they are context reads by definition.
    let reads_target =
        f.blocks.iter().flat_map(|b| &b.insts).any(|i| {
            matches!(i.kind, InstKind::Target { .. } | InstKind::EntrySave { .. } | InstKind::EntryLoad { .. })
        });
    if reads_target {
        return false;
    }
    let mut code = Vec::new();
    for ctx in [Ctx::Record, Ctx::RawArgs] {
        let mut records = Vec::new();
        let mut g = Gen::new(m, f, layout, &mut records, ctx);
        g.facts.task = task;
        g.facts.point = point.to_string();
        match g.function() {
            Ok(c) => code.push(c.insns),
            Err(_) => return false,
        }
    }
    let calls_with_ctx = |insns: &[Insn]| CONTEXT_HELPERS.iter().any(|&h| insns.contains(&Insn::call(h)));
    match code.as_slice() {
        [record, raw] => record == raw && !calls_with_ctx(record),
        _ => false,
    }
}

/// Moves the context-free tracepoint programs of `out` that are neither
/// dispatched nor twins to raw tracepoints, where the kernel has the
/// tracepoint.
pub(crate) fn plan(out: &mut Output, program: &crate::elab::Program, kernel: &Kernel) {
    for (i, p) in out.programs.iter_mut().enumerate() {
        let free = out.context_free.get(i).copied().unwrap_or(false);
        let dispatched = out.dispatch.get(i).is_some_and(Option::is_some);
        let twin = out.alt.get(i).is_some_and(Option::is_some);
        if !free || dispatched || twin {
            continue;
        }
        let Some(&(probe, point)) = out.points.get(i) else { continue };
        let Some(pt) = program.probes.get(probe).and_then(|pr| pr.points.get(point)) else { continue };
        let ProbeKind::Tracepoint { tp } = &pt.kind else { continue };
        if p.section != format!("tracepoint/{}/{}", tp.system, tp.name) || kernel.tracepoint_proto(tp).is_none() {
            continue;
        }
        p.section = format!("raw_tracepoint/{}", tp.name);
    }
}
