//! `timer.s/ms/us/ns/hz/jiffies(N)[.randomize(M)]`: the period and the
//! randomization range in nanoseconds, checked against stap's limits
//! (100us to one day; jiffies through the kernel's `CONFIG_HZ`).
//! (`timer.profile` needs no arguments and is built where it is matched.)

use super::grammar::MatchedPath;
use super::{PointContext, ProbeKind};
use crate::diag::Diagnostic;

const NSEC_PER_SEC: i64 = 1_000_000_000;
/// stap's hrtimer limits: 100us to one day.
const MIN_NS_INTERVAL: i64 = 100_000;
const MAX_NS_INTERVAL: i64 = NSEC_PER_SEC * 60 * 60 * 24;

pub(super) fn timer(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<ProbeKind, Diagnostic> {
    let Some(unit_step) = path.steps.get(1) else {
        return Err(Diagnostic::semantic_error("unrecognized timer variant", path.point.span));
    };
    let unit = unit_step.name;
    let uspan = unit_step.span;
    let n = path.num(unit).unwrap_or(0);
    let rspan = path.span("randomize");
    let r = path.num("randomize").unwrap_or(0);
    if unit == "jiffies" {
        if n <= 0 || n > 1_000_000 {
            return Err(Diagnostic::semantic_error("invalid interval for jiffies timer", uspan)
                .with_note("the interval must be between 1 and 1000000 jiffies"));
        }
        if r < 0 || r > n {
            return Err(Diagnostic::semantic_error("invalid randomize for jiffies timer", rspan)
                .with_note("the randomization range must be between 0 and the interval"));
        }
        let hz =
            ctx.kernel.config("CONFIG_HZ").and_then(|v| v.trim().parse::<i64>().ok()).filter(|&h| h > 0).unwrap_or(250);
        let tick = NSEC_PER_SEC / hz;
        return Ok(ProbeKind::Timer { period_ns: (n * tick) as u64, randomize_ns: (r * tick) as u64 });
    }
    let (period, scale, rand) = match unit {
        "hz" => {
            if n <= 0 {
                return Err(Diagnostic::semantic_error("frequency must be greater than 0", uspan));
            }
            ((NSEC_PER_SEC + n - 1) / n, 1, 0)
        }
        _ => {
            let scale = match unit {
                "s" | "sec" => NSEC_PER_SEC,
                "ms" | "msec" => 1_000_000,
                "us" | "usec" => 1_000,
                _ => 1,
            };
            (n.checked_mul(scale).unwrap_or(i64::MAX), scale, r.checked_mul(scale).unwrap_or(i64::MAX))
        }
    };
    if !(MIN_NS_INTERVAL..=MAX_NS_INTERVAL).contains(&period) {
        let lo = if scale < MIN_NS_INTERVAL { MIN_NS_INTERVAL / scale } else { 1 };
        let hi = MAX_NS_INTERVAL / scale;
        return Err(Diagnostic::semantic_error(format!("interval value out of range ({lo},{hi})"), uspan)
            .with_note("timer periods must be between 100us and one day"));
    }
    if rand < 0 || rand > period {
        return Err(Diagnostic::semantic_error("randomization value out of range", rspan)
            .with_note("the randomization range must be between 0 and the period"));
    }
    Ok(ProbeKind::Timer { period_ns: period as u64, randomize_ns: rand as u64 })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, kernel_with, only, resolve_with};
    use super::*;

    fn timer_of(text: &str) -> (u64, u64) {
        match only(text).kind {
            ProbeKind::Timer { period_ns, randomize_ns } => (period_ns, randomize_ns),
            other => {
                assert_eq!(format!("{other:?}"), "Timer", "{text}");
                (0, 0)
            }
        }
    }

    #[test]
    fn timer_periods() {
        assert_eq!(timer_of("timer.s(2)"), (2_000_000_000, 0));
        assert_eq!(timer_of("timer.sec(1).randomize(1)"), (1_000_000_000, 1_000_000_000));
        assert_eq!(timer_of("timer.ms(100)"), (100_000_000, 0));
        assert_eq!(timer_of("timer.msec(10).randomize(5)"), (10_000_000, 5_000_000));
        assert_eq!(timer_of("timer.us(500)"), (500_000, 0));
        assert_eq!(timer_of("timer.usec(100)"), (100_000, 0));
        assert_eq!(timer_of("timer.ns(100000)"), (100_000, 0));
        assert_eq!(timer_of("timer.nsec(250000)"), (250_000, 0));
        assert_eq!(timer_of("timer.hz(3)"), (333_333_334, 0));
        assert_eq!(timer_of("timer.hz(1000)"), (1_000_000, 0));
        assert_eq!(only("timer.ms(100)").name, "timer.ms(100)");
        assert_eq!(only("timer.s(1).randomize(1)").name, "timer.s(1).randomize(1)");
        assert_eq!(only("timer.profile").kind, ProbeKind::Profile);
        assert_eq!(only("timer.profile.tick").kind, ProbeKind::Profile);
    }

    #[test]
    fn timer_jiffies_uses_config_hz() {
        let k100 = kernel_with(&[("CONFIG_HZ", "100")]);
        let r = resolve_with("timer.jiffies(5).randomize(2)", &k100, false).expect("jiffies");
        assert_eq!(
            r.first().map(|r| &r.kind),
            Some(&ProbeKind::Timer { period_ns: 50_000_000, randomize_ns: 20_000_000 })
        );
        // Without CONFIG_HZ: 250.
        assert_eq!(timer_of("timer.jiffies(1)"), (4_000_000, 0));
        assert_eq!(err("timer.jiffies(0)").message, "semantic error: invalid interval for jiffies timer");
        assert_eq!(err("timer.jiffies(2).randomize(3)").message, "semantic error: invalid randomize for jiffies timer");
    }

    #[test]
    fn timer_errors() {
        assert_eq!(
            err("timer.ns(1000)").message,
            "semantic error: interval value out of range (100000,86400000000000)"
        );
        assert_eq!(err("timer.us(10)").message, "semantic error: interval value out of range (100,86400000000)");
        assert_eq!(err("timer.ms(0)").message, "semantic error: interval value out of range (1,86400000)");
        assert_eq!(err("timer.ms(10).randomize(20)").message, "semantic error: randomization value out of range");
        assert_eq!(err("timer.ms(10).randomize(-1)").message, "semantic error: randomization value out of range");
        assert_eq!(err("timer.hz(0)").message, "semantic error: frequency must be greater than 0");
        let d = err("timer.hz(10).randomize(1)");
        assert!(d.message.starts_with("semantic error: probe point mismatch"), "{}", d.message);
        assert!(d.message.contains("'randomize'"), "{}", d.message);
        assert!(d.notes.iter().any(|n| n == "nothing may follow 'hz' here"), "{:?}", d.notes);
        assert!(err("timer.ms").message.contains("probe point mismatch"));
    }
}
