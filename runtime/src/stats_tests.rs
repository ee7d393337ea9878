//! Tests of the statistics against SystemTap's own testsuite: each file in
//! `testdata/` is the expected output of the script of the same name in
//! SystemTap's `testsuite/systemtap.maps/` (the `result_string` of its
//! `.exp`), which these tests replay value by value.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

fn collect(values: impl IntoIterator<Item = i64>, hist: HistLayout, shift: u32) -> Stat {
    let mut cpu = Stat::empty(hist, shift);
    for v in values {
        cpu.add(v, hist);
    }
    Stat::aggregate([&cpu])
}

fn linear(lo: i64, hi: i64, step: i64) -> HistLayout {
    HistLayout::Linear { lo, hi, step }
}

/// The `printf` lines of the `linear*.stp` scripts, then the histogram.
fn summary(s: &Stat, hist: HistLayout, variance: bool) -> String {
    let mut out = format!(
        "count={}\nsum={}\nmin={}\nmax={}\navg={}\n",
        s.count,
        s.sum,
        s.min,
        s.max,
        s.extract(StatOp::Avg).unwrap()
    );
    if variance {
        out += &format!("variance={}\n", s.extract(StatOp::Variance).unwrap());
    }
    out + &render_hist(s, hist)
}

fn expected(name: &str) -> String {
    let path = format!("{}/src/testdata/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// stap's harness compares without the trailing blank lines.
fn assert_same(actual: &str, expected: &str) {
    assert_eq!(actual.trim_end(), expected.trim_end(), "\nactual:\n{actual}\nexpected:\n{expected}");
}

/// The values of `linear.stp` and `linear_overunder.stp`.
fn linear_values() -> Vec<i64> {
    let mut v = Vec::new();
    for key in 0..100 {
        for m in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12, 13, 14, 15] {
            v.push(key * m);
        }
    }
    v
}

#[test]
fn linear_histogram_and_extractors() {
    let h = linear(0, 1500, 50);
    assert_same(&summary(&collect(linear_values(), h, 0), h, true), &expected("linear"));
}

#[test]
fn linear_histogram_with_underflow_and_overflow_rows() {
    let h = linear(250, 1000, 50);
    assert_same(&summary(&collect(linear_values(), h, 0), h, true), &expected("linear_overunder"));
}

#[test]
fn linear_histogram_all_under() {
    let h = linear(1800, 2500, 100);
    assert_same(&summary(&collect(0..100, h, 0), h, true), &expected("linear_under"));
}

#[test]
fn linear_histogram_all_over() {
    let h = linear(0, 100, 10);
    assert_same(&summary(&collect(1000..10000, h, 0), h, true), &expected("linear_over"));
}

#[test]
fn linear_histogram_nearly_empty_with_a_variance_shift() {
    let h = linear(0, 1500, 50);
    assert_same(&summary(&collect([444, 999], h, 7), h, true), &expected("linear_nearlyempty"));
}

#[test]
fn linear_histogram_of_large_values() {
    let h = linear(0, 1_000_000_000, 100_000_000);
    let mut values = vec![10_000_000; 3];
    values.extend([100_000_000; 2]);
    values.extend([500_000_000; 5]);
    values.extend([1_000_000_000; 4]);
    values.push(10_000_000_000);
    assert_same(&summary(&collect(values, h, 0), h, false), &expected("linear_large"));
}

#[test]
fn log_histogram_over_the_whole_range() {
    let mut values = Vec::new();
    let mut v: i64 = 1;
    for _ in 0..63 {
        values.push(v);
        v = v.wrapping_shl(1);
    }
    v = 1;
    for _ in 0..64 {
        values.push(v.wrapping_neg());
        v = v.wrapping_shl(1);
    }
    values.extend([0; 20]);
    let h = HistLayout::Log;
    assert_same(&render_hist(&collect(values, h, 0), h), &expected("log"));
}

#[test]
fn log_histogram_edges_and_bucket_numbers() {
    let h = HistLayout::Log;
    let mut out = String::new();
    let cases: [&[i64]; 4] = [&[-1, 1], &[0], &[i64::MAX], &[1, 2, 3, 4]];
    for (i, values) in cases.iter().enumerate() {
        let s = collect(values.iter().copied(), h, 0);
        out += &render_hist(&s, h);
        for (b, &c) in s.buckets.iter().enumerate() {
            if c != 0 {
                out += &format!("bucket {b}: {c}\n");
            }
        }
        if i < 3 {
            out += "\n\n\n";
        }
    }
    assert_same(&out, &expected("log_edge"));
}

/// `elision.stp` under `-DHIST_ELISION=-1` to `3`.
#[test]
fn elision_settings() {
    let text = expected("elision");
    let mut sections: Vec<(i64, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(n) = line.strip_prefix("== HIST_ELISION=") {
            sections.push((n.trim().parse().unwrap(), String::new()));
        } else {
            sections.last_mut().unwrap().1 += line;
        }
    }
    assert_eq!(sections.len(), 5);
    let a = linear(0, 1500, 50);
    let b = linear(-100, 100, 10);
    let c = HistLayout::Log;
    let cases: [(&[i64], HistLayout); 11] = [
        (&[444, 999], a),
        (&[444, 500], a),
        (&[0], a),
        (&[50], a),
        (&[1450], a),
        (&[1500], a),
        (&[-10], b),
        (&[0], b),
        (&[128], c),
        (&[0], c),
        (&[-2, -4096], c),
    ];
    for (elision, want) in sections {
        let style = HistStyle { elision, ..HistStyle::default() };
        let got: String = cases
            .iter()
            .map(|(values, h)| render_hist_with(&collect(values.iter().copied(), *h, 0), *h, style))
            .collect();
        assert_same(&got, &want);
    }
}

#[test]
fn bars_scale_to_fifty_with_rounding_up() {
    let h = linear(0, 20, 10);
    // 101 values in one bucket: scale ceil(101 / 50) = 3, so 33 `@`.
    let s = collect(std::iter::repeat_n(5, 101).chain([15]), h, 0);
    let text = render_hist(&s, h);
    let row = text.lines().find(|l| l.starts_with("    0 |")).unwrap();
    assert_eq!(row.matches('@').count(), 33);
    // The count column is as wide as the largest count.
    assert!(row.ends_with(&format!("{} 101", " ".repeat(50 - 33))));
    let one = text.lines().find(|l| l.starts_with("   10 |")).unwrap();
    assert_eq!(one, format!("   10 |{}{:>4}", " ".repeat(50), 1));
    // Exactly 50 keeps scale 1.
    let s = collect(std::iter::repeat_n(5, 50), h, 0);
    assert!(render_hist(&s, h).contains(&format!("    0 |{} 50\n", "@".repeat(50))));
}

#[test]
fn a_run_of_zero_rows_becomes_one_tilde() {
    let h = HistLayout::Log;
    let s = collect([1, 1 << 20], h, 0);
    let text = render_hist(&s, h);
    assert_eq!(text.matches(" ~\n").count(), 1, "{text}");
    // Two zero rows shown next to each end of a run, and at the ends.
    let labels: Vec<&str> = text.lines().skip(1).map(|l| l.split('|').next().unwrap().trim()).collect();
    assert_eq!(labels, ["0", "1", "2", "4", "~", "262144", "524288", "1048576", "2097152", "4194304", ""]);
}

#[test]
fn an_empty_histogram_draws_only_its_header() {
    let h = HistLayout::Log;
    let s = Stat::empty(h, 0);
    assert_eq!(render_hist(&s, h), format!("value |{} count\n\n", "-".repeat(50)));
    assert_eq!(s.extract(StatOp::Min), None);
    assert_eq!(s.extract(StatOp::Avg), None);
    assert_eq!(s.extract(StatOp::Variance), None);
    assert_eq!(s.extract(StatOp::Count), Some(0));
    assert_eq!(s.extract(StatOp::Sum), Some(0));
}

#[test]
fn style_from_defines() {
    let s = HistStyle::from_defines(&["HIST_ELISION=-1".into(), "HIST_WIDTH=10".into(), "MAXACTION=5".into()]);
    assert_eq!(s, HistStyle { width: 10, elision: -1 });
    let h = linear(0, 100, 10);
    let text = render_hist_with(&collect([1, 1, 55], h, 0), h, s);
    assert!(text.starts_with("value |---------- count\n    0 |@@         2\n   10 |           0\n"), "{text}");
}

#[test]
fn average_truncates_towards_zero() {
    let h = HistLayout::None;
    assert_eq!(collect([1, 2], h, 0).extract(StatOp::Avg), Some(1));
    assert_eq!(collect([-1, -2], h, 0).extract(StatOp::Avg), Some(-1));
    assert_eq!(collect([-7, 0, 0], h, 0).extract(StatOp::Avg), Some(-2));
}

#[test]
fn variance_of_one_value_is_zero() {
    assert_eq!(collect([42], HistLayout::None, 0).extract(StatOp::Variance), Some(0));
    assert_eq!(collect([42], HistLayout::None, 5).extract(StatOp::Variance), Some(0));
}

/// stap's running mean drifts by integer truncation, and the aggregate
/// adds the drift back as a spread between the CPU's mean and the exact
/// one: 0..99 has a sample variance of 841 but stap prints 5741
/// (`linear_under.exp`), and this is what scripts see.
#[test]
fn variance_keeps_stap_truncations() {
    assert_eq!(collect(0..100, HistLayout::None, 0).extract(StatOp::Variance), Some(5741));
    assert_eq!(collect(1000..10000, HistLayout::None, 0).extract(StatOp::Variance), Some(47241750));
}

#[test]
fn the_difference_is_kept_in_32_bits() {
    let mut s = Stat::empty(HistLayout::None, 0);
    s.add(0, HistLayout::None);
    s.add(1 << 32, HistLayout::None);
    // delta = 2^32 truncated to 0: the mean and m2 do not move.
    assert_eq!((s.avg_s, s.m2), (0, 0));
    s.add(3 << 31, HistLayout::None);
    // delta = 3 * 2^31 as an int is -2^31.
    assert_eq!(s.avg_s, -(1 << 31) / 3);
}

/// Records decode as the layout says, and the variance of each CPU comes
/// from its m2.
#[test]
fn records_decode_in_layout_order() {
    let h = linear(0, 10, 5);
    let mut cpu = Stat::empty(h, 2);
    for v in [3, 8, 20] {
        cpu.add(v, h);
    }
    let mut bytes = Vec::new();
    for x in [cpu.count, cpu.sum, cpu.min, cpu.max, cpu.avg_s, cpu.m2] {
        bytes.extend(x.to_ne_bytes());
    }
    assert_eq!(bytes.len(), STAT_FIELDS as usize * 8);
    for x in &cpu.buckets {
        bytes.extend(x.to_ne_bytes());
    }
    assert_eq!(Stat::from_record(&bytes, 2), cpu);
}

/// Over several CPUs, a statistic without keys uses the total-variance
/// formula in one step, an array element folds CPU by CPU; both are
/// stap's, and with more than two CPUs they can differ.
#[test]
fn aggregation_over_cpus() {
    let h = HistLayout::Log;
    let per_cpu = |sets: &[&[i64]]| -> Vec<Stat> {
        sets.iter()
            .map(|values| {
                let mut s = Stat::empty(h, 0);
                for &v in *values {
                    s.add(v, h);
                }
                s
            })
            .collect()
    };
    let fold = |cpus: &[Stat]| {
        let mut folded = Stat::default();
        for c in cpus {
            folded.merge(c);
        }
        folded
    };
    let cpus = per_cpu(&[&[1, 5, 9, 13], &[100, 250], &[7, 7, 8]]);
    let (agg, folded) = (Stat::aggregate(&cpus), fold(&cpus));
    for s in [&agg, &folded] {
        assert_eq!((s.count, s.sum, s.min, s.max), (9, 400, 1, 250));
        assert_eq!(s.extract(StatOp::Avg), Some(44));
        assert_eq!(s.buckets.iter().sum::<i64>(), 9);
        assert_eq!(s.buckets[stp_compiler::layout::log_bucket(7)], 3);
    }
    // By hand: the CPUs' means are 7, 175 and 7, their variances 26,
    // 11250 and 0, the total mean 44:
    // (4*37^2 + 2*131^2 + 3*37^2 + 3*26 + 11250) / 8 = 6904.
    assert_eq!(agg.extract(StatOp::Variance), Some(6904));
    assert_eq!(folded.extract(StatOp::Variance), Some(6904));

    // Here the fold's truncated intermediate mean and variance differ.
    let cpus = per_cpu(&[&[19, 0], &[14, 8, 7], &[3, 10, 0]]);
    assert_eq!(Stat::aggregate(&cpus).extract(StatOp::Variance), Some(49));
    assert_eq!(fold(&cpus).extract(StatOp::Variance), Some(46));
}
