//! Regular expressions in kernel handlers: each pattern's DFA runs in the
//! kernel, and must agree with the user side (the regex crate) and with
//! what POSIX extended expressions mean.

use super::foreach::on_both_sides;
use super::{PASS5, as_root};

#[test]
fn kernel_regexes_agree_with_the_user_side() {
    if !as_root("regular expressions in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let subjects = ["hello world", "foo.bar", "abc123", "", "aaa", "x-y_z 42"];
    let patterns = [
        ("^hello", "100000"),
        ("world$", "100000"),
        ("o\\.b", "010000"),
        ("[[:digit:]]{2,3}$", "001001"),
        ("^(foo|abc)", "011000"),
        ("^$", "000100"),
        ("^a+$", "000010"),
        ("l{2}o", "100000"),
        ("[^a-z .]", "001001"),
        ("x.y", "000001"),
        ("", "111111"),
        ("z\\b", "000001"),
    ];
    let mut body = String::new();
    for (p, _) in &patterns {
        let quoted = p.replace('\\', "\\\\");
        let tests: Vec<String> = subjects.iter().map(|s| format!("\"{s}\" =~ \"{quoted}\"")).collect();
        body.push_str(&format!("printf(\"{}\\n\", {})\n", "%d".repeat(subjects.len()), tests.join(", ")));
    }
    // A string variable, and !~.
    body.push_str("s = \"stp runs regexes\"; printf(\"%d%d\\n\", s =~ \"r[aeiou]n\", s !~ \"regex(es)?$\")\n");
    let (status, user, kernel, err) = on_both_sides("unused", &body, &[]);
    assert_eq!(status, 0, "{err}");
    let mut want: String = patterns.iter().map(|(_, w)| format!("{w}\n")).collect();
    want.push_str("10\n");
    assert_eq!(user, want, "the user side: {err}");
    assert_eq!(kernel, want, "the kernel: {err}");
}

#[test]
fn a_pattern_too_large_for_the_kernel_is_refused_at_its_line() {
    // "an a 20 characters from the end" takes a DFA of 2^20 states.
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
                    if (execname() =~ \"[ab]*a[ab]{20}$\") println(1)\n\
                  }\n";
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_stp")).args(["-p3", "-e", script]).output().expect("stp runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("regular expression too complex for a kernel handler"), "{err}");
    assert!(err.contains("<input>:2:"), "{err}");
}
