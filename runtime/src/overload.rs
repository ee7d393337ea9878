//! Overload prevention, as stap's `STP_OVERLOAD`: a script whose probes
//! take too much processor time is stopped with "probe overhead exceeded
//! threshold" (a runtime error: the session ends, its `error` probes run,
//! status 1).
//!
//! stap counts the cycles its probes spend on each CPU, and stops the
//! script when they pass `STP_OVERLOAD_THRESHOLD` cycles (500 million) in
//! an interval of `STP_OVERLOAD_INTERVAL` cycles (1 billion): half of a
//! CPU. stp asks the kernel for its programs' run time (BPF run-time
//! statistics, `run_time_ns` of each program, enabled with
//! `BPF_ENABLE_STATS` while the script runs), reads it once an interval,
//! and compares the time its programs took in that interval, averaged
//! over the online CPUs, with the threshold. A cycle counts as a
//! nanosecond (a 1 GHz clock): the defaults are 0.5 s of every 1 s.
//! `-D STP_NO_OVERLOAD` and `--suppress-time-limits` turn it off.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// stap's defaults, in cycles (nanoseconds here).
pub const DEFAULT_THRESHOLD: u64 = 500_000_000;
pub const DEFAULT_INTERVAL: u64 = 1_000_000_000;

/// The limit: at most `threshold` nanoseconds of probe time per CPU in
/// every `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub threshold: u64,
    pub interval: u64,
}

impl Limit {
    /// The limit `-D` settings give, or `None` when `STP_NO_OVERLOAD` is
    /// set; bad numbers are ignored for the defaults.
    pub fn from_defines(defines: &[String]) -> Option<Limit> {
        let mut limit = Limit { threshold: DEFAULT_THRESHOLD, interval: DEFAULT_INTERVAL };
        for d in defines {
            let (name, value) = d.split_once('=').unwrap_or((d.as_str(), ""));
            match name {
                "STP_NO_OVERLOAD" => return None,
                "STP_OVERLOAD_THRESHOLD" => limit.threshold = value.parse().unwrap_or(limit.threshold),
                "STP_OVERLOAD_INTERVAL" => limit.interval = value.parse().unwrap_or(limit.interval).max(1),
                _ => {}
            }
        }
        Some(limit)
    }

    /// Whether `busy` nanoseconds of probe time over `cpus` CPUs during
    /// `elapsed` pass the limit.
    pub fn exceeded(&self, busy: u64, cpus: u64, elapsed: Duration) -> bool {
        let per_cpu = u128::from(busy) / u128::from(cpus.max(1));
        let allowed = u128::from(self.threshold) * elapsed.as_nanos() / u128::from(self.interval);
        per_cpu > allowed
    }
}

/// The running check.
pub struct Overload {
    limit: Limit,
    cpus: u64,
    /// Statistics stay on while this is open.
    _stats: OwnedFd,
    last: Instant,
    last_total: u64,
}

/// The run time of every loaded program of `ebpf`, in nanoseconds.
fn total_run_time(ebpf: &aya::Ebpf) -> u64 {
    ebpf.programs()
        .filter_map(|(_, p)| p.info().ok())
        .map(|i| u64::try_from(i.run_time().as_nanos()).unwrap_or(u64::MAX))
        .fold(0, u64::saturating_add)
}

impl Overload {
    /// Starts measuring; `None` when the kernel keeps no run-time
    /// statistics for stp (the check is then off, as the caller says).
    pub fn start(limit: Limit, ebpf: &aya::Ebpf) -> Result<Overload, String> {
        let stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).map_err(|e| e.to_string())?;
        let cpus = aya::util::online_cpus().map_or(1, |c| c.len() as u64);
        Ok(Overload { limit, cpus, _stats: stats, last: Instant::now(), last_total: total_run_time(ebpf) })
    }

    /// Whether the probes took too much time in the interval that just
    /// ended (checked once an interval).
    pub fn check(&mut self, ebpf: &aya::Ebpf) -> bool {
        let elapsed = self.last.elapsed();
        if elapsed.as_nanos() < u128::from(self.limit.interval) {
            return false;
        }
        let total = total_run_time(ebpf);
        let busy = total.saturating_sub(self.last_total);
        self.last = Instant::now();
        self.last_total = total;
        self.limit.exceeded(busy, self.cpus, elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_half_a_cpu() {
        let l = Limit::from_defines(&[]).unwrap_or(Limit { threshold: 0, interval: 1 });
        assert_eq!(l, Limit { threshold: 500_000_000, interval: 1_000_000_000 });
        let second = Duration::from_secs(1);
        assert!(!l.exceeded(900_000_000, 2, second), "0.45 s per CPU");
        assert!(l.exceeded(1_100_000_000, 2, second), "0.55 s per CPU");
        assert!(l.exceeded(600_000_000, 1, second));
    }

    #[test]
    fn settings_come_from_defines() {
        let d = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let l = Limit::from_defines(&d(&["STP_OVERLOAD_THRESHOLD=1000", "STP_OVERLOAD_INTERVAL=100000000"]));
        assert_eq!(l, Some(Limit { threshold: 1000, interval: 100_000_000 }));
        assert_eq!(Limit::from_defines(&d(&["STP_NO_OVERLOAD"])), None);
    }
}
