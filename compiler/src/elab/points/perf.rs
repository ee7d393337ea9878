//! `perf.sw.EVENT`, `perf.hw.EVENT` and `perf.type(T).config(C)`, with
//! `.sample(N)` or `.hz(N)` and `.process[("P")]`: the perf event's type,
//! config and sampling. The event tables here are also the names the
//! grammar offers after `perf.sw` and `perf.hw`.

use super::grammar::MatchedPath;
use super::{PointContext, ProbeKind};
use crate::diag::Diagnostic;

pub(super) const PERF_SW: [(&str, u64); 9] = [
    ("cpu_clock", 0),
    ("task_clock", 1),
    ("page_faults", 2),
    ("context_switches", 3),
    ("cpu_migrations", 4),
    ("page_faults_min", 5),
    ("page_faults_maj", 6),
    ("alignment_faults", 7),
    ("emulation_faults", 8),
];

pub(super) const PERF_HW: [(&str, u64); 10] = [
    ("cpu_cycles", 0),
    ("instructions", 1),
    ("cache_references", 2),
    ("cache_misses", 3),
    ("branch_instructions", 4),
    ("branch_misses", 5),
    ("bus_cycles", 6),
    ("stalled_cycles_frontend", 7),
    ("stalled_cycles_backend", 8),
    ("ref_cpu_cycles", 9),
];

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_SOFTWARE: u32 = 1;
const DEFAULT_SAMPLE_PERIOD: u64 = 1_000_000;

pub(super) fn perf(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<ProbeKind, Diagnostic> {
    let event = |table: &[(&str, u64)]| {
        path.steps.get(2).and_then(|s| table.iter().find(|(n, _)| *n == s.name)).map(|&(_, c)| c)
    };
    let (type_, config) = if path.has("sw") {
        (PERF_TYPE_SOFTWARE, event(&PERF_SW).unwrap_or(0))
    } else if path.has("hw") {
        (PERF_TYPE_HARDWARE, event(&PERF_HW).unwrap_or(0))
    } else {
        let t = path.num("type").unwrap_or(-1);
        let type_ = u32::try_from(t)
            .map_err(|_| Diagnostic::semantic_error(format!("invalid perf event type {t}"), path.span("type")))?;
        let c = path.num("config").unwrap_or(-1);
        let config = u64::try_from(c)
            .map_err(|_| Diagnostic::semantic_error(format!("invalid perf event config {c}"), path.span("config")))?;
        (type_, config)
    };
    let (sample_period, frequency) = match (path.num("sample"), path.num("hz")) {
        (Some(p), _) => (
            u64::try_from(p)
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| Diagnostic::semantic_error("invalid perf sample period", path.span("sample")))?,
            false,
        ),
        (None, Some(hz)) => (
            u64::try_from(hz)
                .ok()
                .filter(|&f| f > 0)
                .ok_or_else(|| Diagnostic::semantic_error("frequency must be greater than 0", path.span("hz")))?,
            true,
        ),
        (None, None) => (DEFAULT_SAMPLE_PERIOD, false),
    };
    let process = path.has("process").then(|| path.string("process").unwrap_or_default());
    // `.process` without a path counts the target process.
    if process.as_deref() == Some("") && ctx.target_pid.is_none() && ctx.command.is_none() {
        return Err(Diagnostic::semantic_error(
            "perf probe '.process' without a path needs a target process (-c CMD or -x PID)",
            path.span("process"),
        ));
    }
    Ok(ProbeKind::Perf { type_, config, sample_period, frequency, process })
}

#[cfg(test)]
mod tests {
    use super::super::resolve;
    use super::super::testing::{err, kernel_with, ok, only, point};
    use super::*;

    #[test]
    fn perf_events() {
        let perf = |text: &str| only(text).kind;
        assert_eq!(
            perf("perf.sw.cpu_clock"),
            ProbeKind::Perf { type_: 1, config: 0, sample_period: 1_000_000, frequency: false, process: None }
        );
        assert_eq!(
            perf("perf.sw.page_faults_maj.sample(4000)"),
            ProbeKind::Perf { type_: 1, config: 6, sample_period: 4000, frequency: false, process: None }
        );
        assert_eq!(
            perf("perf.hw.cache_misses"),
            ProbeKind::Perf { type_: 0, config: 3, sample_period: 1_000_000, frequency: false, process: None }
        );
        assert_eq!(
            perf("perf.hw.ref_cpu_cycles.process(\"/bin/ls\")"),
            ProbeKind::Perf {
                type_: 0,
                config: 9,
                sample_period: 1_000_000,
                frequency: false,
                process: Some("/bin/ls".into())
            }
        );
        // `.process` without a path counts the target (-x/-c) process.
        let k = kernel_with(&[]);
        let ctx = PointContext { kernel: &k, guru: false, target_pid: Some(1), command: None };
        let r = resolve(&point("perf.type(4).config(42).sample(10).process"), &ctx).expect("with -x");
        assert_eq!(
            r.first().map(|p| p.kind.clone()),
            Some(ProbeKind::Perf {
                type_: 4,
                config: 42,
                sample_period: 10,
                frequency: false,
                process: Some(String::new())
            })
        );
        assert!(err("perf.type(4).config(42).process").message.contains("needs a target process"));
        assert_eq!(only("perf.sw.task_clock.sample(100)").name, "perf.sw.task_clock.sample(100)");
        assert!(err("perf.sw.cpu_clok").message.contains("similar: cpu_clock"));
        // Wildcards fan out over the event names.
        assert_eq!(ok("perf.sw.page_faults*").len(), 3);
    }
}
