//! stap's floating point (stdlib/floatingpoint.stp): `fp_add()` and the
//! other operations on the bit patterns of 64-bit IEEE numbers, run in
//! `begin` probes (the user side) and in a kernel handler, checked
//! against the host's own floating point (Rust's f64, libc's
//! `remainder`).

use std::process::Command;

use super::{PASS5, as_root, assert_nothing_left, bpf_objects, getppid_command};

fn bits(x: f64) -> i64 {
    x.to_bits() as i64
}

/// Operands with normal, subnormal, zero, huge and tiny values.
fn operands() -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.5,
        3.0,
        0.1,
        1.0 / 3.0,
        -7.25,
        123_456.789,
        1e300,
        -1e-300,
        5e-324,
        2.2250738585072014e-308,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    // A fixed pseudo-random spread of magnitudes (xorshift).
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..25 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let mantissa = (s % 2_000_000) as f64 - 1_000_000.0;
        let exp = (s >> 40) as i32 % 41 - 20;
        v.push(mantissa * 10f64.powi(exp) + 0.5);
    }
    v
}

unsafe extern "C" {
    /// libm's IEEE remainder, which stap's `fp_rem` is.
    safe fn remainder(x: f64, y: f64) -> f64;
}

/// Whether the script printed `got` where `want` was computed: equal
/// bits, or both NaN (stap's NaN payloads are softfloat's).
fn same(got: &str, want: f64) -> bool {
    let g: i64 = got.parse().unwrap_or(0);
    if want.is_nan() { f64::from_bits(g as u64).is_nan() } else { g == bits(want) }
}

fn run(args: &[&str], script: &str) -> String {
    let before = bpf_objects();
    let out = Command::new("timeout")
        .arg("300")
        .arg(env!("CARGO_BIN_EXE_stp"))
        .args(args)
        .args(["-e", script])
        .output()
        .expect("stp runs");
    assert_nothing_left(&before, "fp");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn floating_point_matches_the_hosts_in_user_handlers() {
    if !as_root("fp_* functions") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let vals = operands();
    let mut probes = String::new();
    let mut want: Vec<Vec<f64>> = Vec::new();
    for (i, &x) in vals.iter().enumerate() {
        let y = vals[(i * 7 + 3) % vals.len()];
        let (a, b) = (bits(x), bits(y));
        probes += &format!(
            "probe begin {{ printf(\"%d %d %d %d %d %d\\n\", fp_add({a},{b}), fp_sub({a},{b}), fp_mul({a},{b}), \
             fp_lt({a},{b}), fp_le({a},{b}), fp_eq({a},{b})) }}\n"
        );
        want.push(vec![
            x + y,
            x - y,
            x * y,
            f64::from(u8::from(x < y)),
            f64::from(u8::from(x <= y)),
            f64::from(u8::from(x == y)),
        ]);
        if x.is_finite() {
            let ax = bits(x.abs());
            probes += &format!(
                "probe begin {{ printf(\"%d %d %d\\n\", fp_sqrt({ax}), fp_rem({a},{}), long_to_fp({})) }}\n",
                bits(3.5),
                x as i64
            );
            want.push(vec![x.abs().sqrt(), remainder(x, 3.5), (x as i64) as f64]);
        }
    }
    probes += "probe begin { exit() }\n";
    let out = run(&[], &probes);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), want.len(), "{out}");
    for (line, w) in lines.iter().zip(&want) {
        let got: Vec<&str> = line.split(' ').collect();
        assert_eq!(got.len(), w.len(), "{line}");
        for (k, (g, &v)) in got.iter().zip(w).enumerate() {
            // The comparisons print 0 or 1, not bit patterns.
            let ok = if w.len() == 6 && k >= 3 { g.parse::<f64>().ok() == Some(v) } else { same(g, v) };
            assert!(ok, "{line}: field {k} is not {v:e} ({:#x})", v.to_bits());
        }
    }
}

#[test]
fn conversions_round_as_stap_does() {
    if !as_root("fp conversions") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // fp_to_long by mode: 0 nearest even, 1 toward zero, 2 down, 3 up,
    // 4 nearest away from zero.
    let xs: [f64; 8] = [2.5, -2.5, 3.5, -0.4, 7.9, -7.9, 1e30, -1e30];
    let mut probes = String::new();
    let mut want = String::new();
    for x in xs {
        let r: [i64; 5] =
            [x.round_ties_even() as i64, x.trunc() as i64, x.floor() as i64, x.ceil() as i64, x.round() as i64];
        let calls: Vec<String> = (0..5).map(|m| format!("fp_to_long({}, {m}, 0)", bits(x))).collect();
        probes += &format!("probe begin {{ println({}) }}\n", calls.join(", \" \", "));
        want += &format!("{}\n", r.map(|n| n.to_string()).join(" "));
    }
    // string_to_fp reads digits as stap does: the fraction's power of
    // ten built up by multiplication, an exponent applied by repeated
    // multiplication or division by ten.
    for (text, value) in [
        ("1.5", 1.5),
        ("-22.5", -22.5),
        ("0.1", 1.0 / 10.0),
        ("3.14159", 314159.0 / 100000.0),
        ("2.5e-3", 25.0 / 10.0 / 1000.0),
        ("1e10", 1.0 / (0..10).fold(1.0f64, |p, _| p / 10.0)),
    ] {
        probes += &format!("probe begin {{ println(string_to_fp(\"{text}\")) }}\n");
        want += &format!("{}\n", bits(value));
    }
    // fp32_to_fp64 of 1.5f32 and -0.1f32; fp_to_string's digits.
    probes += &format!(
        "probe begin {{ println(fp32_to_fp64({}), \" \", fp32_to_fp64({})) }}\n",
        1.5f32.to_bits(),
        (-0.1f32).to_bits()
    );
    want += &format!("{} {}\n", bits(f64::from(1.5f32)), bits(f64::from(-0.1f32)));
    probes += &format!(
        "probe begin {{ println(fp_to_string({}, 4), \" \", fp_to_string({}, 10), \" \", fp_to_string({}, 3)) }}\n",
        bits(3.25),
        bits(2f64.sqrt()),
        bits(-7.125)
    );
    want += &format!("{:.4} {:.10} {:.3}\n", 3.25, 2f64.sqrt(), -7.125);
    probes += "probe begin { exit() }\n";
    assert_eq!(run(&[], &probes), want);
}

#[test]
fn floating_point_runs_in_kernel_handlers() {
    if !as_root("fp_* in the kernel") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b) = (1.5f64, -22.5f64);
    let (x, y) = (bits(a), bits(b));
    let script = format!(
        "global once\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() != target() || once++) next\n\
           printf(\"%d %d %d %d %d\\n\", fp_add({x}, {y}), fp_mul({x}, {y}), fp_lt({y}, {x}), fp_to_long({y}, 0, 0), long_to_fp(-7))\n\
           printf(\"%d %d %s\\n\", fp_sqrt({two}), fp_rem({ten}, {three}), fp_to_string({x}, 4))\n\
         }}\n",
        two = bits(2.0),
        ten = bits(10.0),
        three = bits(3.0)
    );
    let want = format!(
        "{} {} 1 -22 {}\n{} {} 1.5000\n",
        bits(a + b),
        bits(a * b),
        bits(-7.0),
        bits(2f64.sqrt()),
        bits(remainder(10.0, 3.0))
    );
    assert_eq!(run(&["-c", &getppid_command(1, 0)], &script), want);
}
