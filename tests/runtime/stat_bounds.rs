//! Statistics operators whose extra arguments are constants: the bounds
//! of `@hist_linear` written as negative literals, constant expressions
//! and macros, and the bit shift of `@variance`.

use super::{PASS5, as_root, stp_run_clean};

/// The rows of a printed histogram with a nonzero count: label and count.
fn rows(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (label, bar) = l.split_once('|')?;
            let count = bar.split_whitespace().last()?.parse().ok()?;
            Some((label.trim().to_string(), count)).filter(|r| r.1 > 0)
        })
        .collect()
}

#[test]
fn hist_linear_takes_negative_and_constant_bounds() {
    if !as_root("@hist_linear with negative bounds") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Bounds -40, 20, step 20, each spelled a different way; the bucket
    // read with the plain spelling is the same histogram.
    let script = "@define LO %( -40 %)\n\
        global s\n\
        probe begin { for (i = -7; i < 7; i++) s <<< i * 9 }\n\
        probe begin(1) { print(@hist_linear(s, @LO, 2*10, -(-20)))\n\
          println(\"bucket \", @hist_linear(s, -40, 20, 20)[1]); exit() }\n";
    let (status, out, err) = stp_run_clean(&["-e", script]);
    assert_eq!(status, 0, "{err}");
    let values: Vec<i64> = (-7..7).map(|i| i * 9).collect();
    let (lo, hi, step) = (-40i64, 20i64, 20i64);
    let count = |f: &dyn Fn(i64) -> bool| values.iter().filter(|&&v| f(v)).count() as u64;
    let mut want = vec![(format!("<{lo}"), count(&|v| v < lo))];
    let mut b = lo;
    while b <= hi {
        want.push((b.to_string(), count(&|v| v >= b && v < b + step)));
        b += step;
    }
    want.push((format!(">{hi}"), count(&|v| v >= hi + step)));
    want.retain(|w| w.1 > 0);
    assert_eq!(rows(&out), want, "{out}\n{err}");
    // Bucket 1 is the first in range, [lo, lo + step).
    let first = count(&|v| v >= lo && v < lo + step);
    assert!(out.ends_with(&format!("bucket {first}\n")), "{out}\n{err}");
}

/// `@variance(s, 0)`, the bit shift spelled out, is the default: stap(1)
/// shows `@variance` of 1..5 as 12.
#[test]
fn variance_with_a_zero_bit_shift_is_the_default() {
    if !as_root("@variance with a bit shift") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global x\n\
        probe begin { for (i = 1; i <= 5; i++) x <<< i\n\
          println(@variance(x)); println(@variance(x, 0)); println(@variance(x, 3 - 3)); exit() }\n";
    let (status, out, err) = stp_run_clean(&["-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "12\n12\n12\n", "{err}");
}
