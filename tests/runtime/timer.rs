//! `timer.ms(N)` (run by stp itself) and `timer.profile` (a per-CPU
//! perf event in the kernel).

use std::time::{Duration, Instant};

use super::{PASS5, as_root, stp_run_clean};

/// The CPUs `/sys/devices/system/cpu/online` lists (`0-3,6`).
pub fn online_cpus() -> Vec<u64> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").expect("the online CPUs");
    let mut cpus = Vec::new();
    for range in text.trim().split(',') {
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        cpus.extend(lo.parse::<u64>().expect("a CPU")..=hi.parse::<u64>().expect("a CPU"));
    }
    cpus
}

/// Checks the output of a script that printed `cpu N` for each CPU it
/// saw and then `events N`; returns the number of events.
pub fn check_cpus(out: &str) -> u64 {
    let online = online_cpus();
    let mut events = None;
    for line in out.lines() {
        match line.split_once(' ') {
            Some(("cpu", n)) => {
                let cpu: u64 = n.parse().expect("a CPU number");
                assert!(online.contains(&cpu), "cpu() was {cpu}; online: {online:?}");
            }
            Some(("events", n)) => events = n.parse().ok(),
            _ => panic!("unexpected line {line:?} in {out:?}"),
        }
    }
    events.expect("a count of events")
}

#[test]
fn a_millisecond_timer_ticks_at_its_period() {
    if !as_root("timer.ms") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Until exit(): 25 ticks of 20 ms take 500 ms at least.
    let start = Instant::now();
    let (status, out, err) =
        stp_run_clean(&["-e", "global n\nprobe timer.ms(20) { if (++n == 25) exit() }\nprobe end { println(n) }\n"]);
    let took = start.elapsed();
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "25\n", "{err}");
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(4), "25 ticks of 20 ms in {took:?}");
    // Bounded by -T 1: at most 50 ticks, and most of them.
    let (status, out, err) =
        stp_run_clean(&["-T", "1", "-e", "global n\nprobe timer.ms(20) { n++ }\nprobe end { println(n) }\n"]);
    assert_eq!(status, 0, "{err}");
    let n: u64 = out.trim().parse().expect("a count");
    assert!((25..=51).contains(&n), "{n} ticks of 20 ms in 1 s");
}

#[test]
fn the_profile_timer_fires_on_online_cpus() {
    if !as_root("timer.profile") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global seen, n\n\
        probe timer.profile { seen[cpu()] = 1; n++ }\n\
        probe end { foreach (c in seen) printf(\"cpu %d\\n\", c); printf(\"events %d\\n\", n) }\n";
    let (status, out, err) = stp_run_clean(&["-T", "1", "-e", script]);
    assert_eq!(status, 0, "{err}");
    // A tick per CPU per 1/CLK_TCK (100 or more a second), idle or not.
    let n = check_cpus(&out);
    assert!(n >= 50, "timer.profile fired {n} times in 1 s: {out}");
}

#[test]
fn a_randomized_timer_keeps_its_mean_period() {
    if !as_root("timer.ms().randomize()") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Periods spread over [50, 150] ms: about 20 runs in 2 s, and never
    // the hundreds a collapsed period would give.
    let script = "global n, gaps\n\
        probe timer.ms(100).randomize(50) { t = gettimeofday_ms(); if (last) gaps[t - last > 100] <<< 1; last = t; n++ }\n\
        global last\n\
        probe end { printf(\"%d %d %d\\n\", n, @count(gaps[0]) > 0, @count(gaps[1]) > 0) }\n";
    let (status, out, err) = stp_run_clean(&["-T", "2", "-e", script]);
    assert_eq!(status, 0, "{err}");
    let fields: Vec<i64> = out.split_whitespace().map(|f| f.parse().expect("a number")).collect();
    let [n, shorter, longer] = fields[..] else { panic!("three numbers: {out}") };
    assert!((12..=30).contains(&n), "{n} runs in 2 s");
    assert_eq!((shorter, longer), (1, 1), "gaps both shorter and longer than the mean");
}
