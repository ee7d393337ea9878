//! Pathological inputs: each generated script of about 100 KB (deep
//! nesting, endless errors on one line, exponential macros, ...) gets a
//! clear answer from `stp -p4` against the kernel snapshot: the error it
//! earns with exit status 1, or an object with 0, and a bounded amount of
//! text on stderr. The inputs fuzzing found slow, kept in `tests/slow/`,
//! are replayed the same way.
//!
//! Compile time is measured by `bench/bounds.py`, not here; `timeout(1)`
//! only guards against a hang (`HANG_GUARD` seconds, far above what any
//! of these takes).

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{root, stp};

/// Seconds after which a run counts as hung.
const HANG_GUARD: &str = "20";
/// About how large each generated script is.
const SIZE: usize = 100_000;
/// The most stderr any of these may print: capped error counts and cut
/// source lines keep it small whatever the input.
const MAX_STDERR: usize = 64 * 1024;

/// Runs `stp` on `script` against the kernel snapshot, under the hang
/// guard, with `-p4` unless `extra` names another pass.
fn compile(dir: &Path, name: &str, script: &[u8], extra: &[&str]) -> Output {
    let file = dir.join(format!("{name}.stp"));
    std::fs::write(&file, script).unwrap();
    let kernel = root().join("tests/kernel");
    let mut cmd = Command::new("timeout");
    // The object is written here, as NAME.o.
    cmd.current_dir(dir)
        .arg(HANG_GUARD)
        .arg(stp())
        .args(if extra.iter().any(|a| a.starts_with("-p")) { &[][..] } else { &["-p4"][..] })
        .arg("--kernel")
        .arg(&kernel)
        .args(["-m", name])
        .args(extra)
        .arg(&file);
    let out = cmd.output().expect("timeout(1) runs");
    assert_ne!(out.status.code(), Some(124), "{name}: stp did not finish within {HANG_GUARD} s");
    assert!(
        out.stderr.len() <= MAX_STDERR,
        "{name}: {} bytes on stderr:\n{}",
        out.stderr.len(),
        String::from_utf8_lossy(&out.stderr[..4096])
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("internal error"), "{name}:\n{text}");
    out
}

/// `unit` repeated to about SIZE bytes between `pre` and `post`.
fn repeat(pre: &str, unit: &str, post: &str) -> String {
    format!("{pre}{}{post}", unit.repeat(SIZE / unit.len()))
}

/// `open` nested to about SIZE bytes around `mid`, each closed by `close`.
fn nest(pre: &str, open: &str, mid: &str, close: &str, post: &str) -> String {
    let n = SIZE / (open.len() + close.len());
    format!("{pre}{}{mid}{}{post}", open.repeat(n), close.repeat(n))
}

/// Macros that each expand the one before twice: 2^40 expansions.
fn exponential() -> String {
    let mut s = "@define a0 %( x = 1 %)\n".to_string();
    for i in 1..=40 {
        s.push_str(&format!("@define a{i} %( @a{} @a{} %)\n", i - 1, i - 1));
    }
    s.push_str("probe begin { @a40 }\n");
    s
}

/// Each case: a name, the script, the exit status, and what stderr says.
fn cases() -> Vec<(&'static str, String, i32, &'static str)> {
    vec![
        // One line of 25,000 lexical errors.
        ("backslash_chars", repeat("", r"'\ '", ""), 1, "more errors not shown"),
        ("sum_unclosed", repeat("probe begin { x = ", "@sum(", ""), 1, "parse error"),
        ("sum_nested", nest("global x probe begin { y = ", "@sum(", "x", ")", " }"), 1, "nested too deeply"),
        ("conditional_unclosed", repeat("", "%( 1 == 1 %? ", ""), 1, "incomplete conditional"),
        (
            "conditional_nested",
            nest("", "%( 1 == 1 %? ", "probe begin {}", " %)", ""),
            1,
            "conditionals nest too deeply",
        ),
        (
            "conditional_else",
            nest("", "%( 1 == 0 %? x %: ", "probe begin {}", " %)", ""),
            1,
            "conditionals nest too deeply",
        ),
        ("pp_open", repeat("", "%(", ""), 1, "parse error"),
        ("bracket_unclosed", repeat("probe begin { x = a", "[", ""), 1, "nested too deeply"),
        ("bracket_nested", nest("global a probe begin { y = a", "[", "1", "]", " }"), 1, "nested too deeply"),
        ("index_nested", nest("global a probe begin { y = ", "a[", "1", "]", " }"), 1, "nested too deeply"),
        ("paren_nested", nest("probe begin { y = ", "(", "1", ")", " }"), 1, "nested too deeply"),
        (
            "call_nested",
            nest("function f(a) { return a } probe begin { y = ", "f(", "1", ")", " }"),
            1,
            "nested too deeply",
        ),
        ("block_nested", nest("probe begin ", "{", "x = 1", "}", ""), 1, "nested too deeply"),
        ("if_nested", nest("probe begin { ", "if (1) {", "x = 1", "}", " }"), 1, "nested too deeply"),
        ("if_chain", repeat("global x probe begin { ", "if (x) ", "x = 1 }"), 1, "nested too deeply"),
        ("else_if_chain", repeat("global x probe begin { ", "if (x) x = 1 else ", "x = 2 }"), 1, "nested too deeply"),
        ("negations", repeat("global x probe begin { x = ", "- ", "1 }"), 1, "nested too deeply"),
        ("ternaries", repeat("global x probe begin { x = ", "1 ? 1 : ", "1 }"), 1, "nested too deeply"),
        (
            "macro_nested",
            nest("@define m(a) %( @a %) probe begin { x = ", "@m(", "1", ")", " }"),
            1,
            "expands too deeply",
        ),
        ("macro_exponential", exponential(), 1, "too many macro expansions"),
        ("many_errors", repeat("", "probe begin { x = }\n", ""), 1, "too many parse errors"),
        // One error at the end of a 100 KB line: the line is cut.
        ("long_line", repeat("global x probe begin { x = 1 ", "+ 1 ", "+ }"), 1, "expected"),
    ]
}

#[test]
fn pathological_inputs_get_a_clear_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, script, status, says) in cases() {
        let out = compile(dir.path(), name, script.as_bytes(), &[]);
        let text = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(status) || !text.contains(says) {
            failures.push(format!(
                "{name}: exit {:?} (expected {status}), stderr (expected to say {says:?}):\n{}",
                out.status.code(),
                text.chars().take(2000).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Scripts that are accepted, as (name, prefix, repeated unit, suffix):
/// statements that start with '(' after an expression (each boundary
/// found without parsing again), plain statements, and thousands of
/// warnings (shown up to the cap).
const ACCEPTED: [(&str, &str, &str, &str); 3] = [
    ("paren_statements", "global x probe begin { x = 1 ", "(x)++ ", "printf(\"%d\\n\", x) }"),
    ("statements", "global x probe begin { ", "x = x + 1;", "printf(\"%d\\n\", x) }"),
    ("warnings", "global x probe begin { x = 1 ", "y = 1;", "printf(\"%d\\n\", x) }"),
];

/// Each accepted script of about 100 KB through pass 2, and of 10 KB
/// through pass 4: a debug build translates slowly, so the full size
/// stays with the benchmark.
#[test]
fn large_scripts_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    for (name, pre, unit, post) in ACCEPTED {
        for (size, pass) in [(SIZE, "-p2"), (SIZE / 10, "-p4")] {
            let script = format!("{pre}{}{post}", unit.repeat(size / unit.len()));
            let out = compile(dir.path(), name, script.as_bytes(), &[pass]);
            let text = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{name} {pass}:\n{text}");
            if name == "warnings" {
                assert!(text.contains("more warnings not shown"), "{name} {pass}:\n{text}");
            }
        }
    }
}

#[test]
fn a_long_line_is_cut_around_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let script = repeat("global x probe begin { x = 1 ", "+ 1 ", "+ }");
    let out = compile(dir.path(), "cut", script.as_bytes(), &[]);
    let text = String::from_utf8_lossy(&out.stderr);
    let shown = text.lines().find(|l| l.starts_with("1 │")).unwrap_or_else(|| panic!("{text}"));
    assert!(shown.starts_with("1 │ …") && shown.ends_with("+ 1 + }"), "{shown}");
    assert!(shown.chars().count() < 200, "{shown}");
    // The column is the one in the whole line.
    assert!(text.contains(&format!(":1:{}", script.len())), "{text}");
}

/// Inputs fuzzing found slow or crashing: `tests/slow/*.stp`. Each must
/// finish with a diagnostic or an object, never a panic or a hang. The
/// first line of each says, in a comment, what it exercised.
#[test]
fn slow_inputs_found_by_fuzzing_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("tests/slow")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "stp") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let script = std::fs::read(&path).unwrap();
        for extra in [&[][..], &["-g"][..]] {
            let out = compile(dir.path(), &name, &script, extra);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{name} {extra:?}: exit {:?}:\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        n += 1;
    }
    assert!(n > 0, "no inputs in tests/slow");
}
