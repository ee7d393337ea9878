//! `perf.*` probes: sampling perf events, one per online CPU.

use super::timer::check_cpus;
use super::{PASS5, as_root, stp_run_clean};

fn sample(point: &str) -> u64 {
    let script = format!(
        "global seen, n\n\
         probe {point} {{ seen[cpu()] = 1; n++ }}\n\
         probe end {{ foreach (c in seen) printf(\"cpu %d\\n\", c); printf(\"events %d\\n\", n) }}\n"
    );
    let (status, out, err) = stp_run_clean(&["-T", "1", "-e", &script]);
    assert_eq!(status, 0, "{point}: {err}");
    check_cpus(&out)
}

#[test]
fn the_cpu_clock_fires_on_online_cpus() {
    if !as_root("perf.sw.cpu_clock") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // A sample per 1,000,000 ns of each CPU's clock (stap's default):
    // about 1000 a second per CPU.
    let n = sample("perf.sw.cpu_clock");
    assert!(n >= 500, "perf.sw.cpu_clock fired {n} times in 1 s");
    // The same event by its numbers (PERF_TYPE_SOFTWARE, CPU_CLOCK), a
    // sample every 10 ms: about 100 a second per CPU.
    let n = sample("perf.type(1).config(0).sample(10000000)");
    assert!((50..=400).contains(&n), "perf.type(1).config(0) fired {n} times in 1 s");
}
