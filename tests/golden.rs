//! Golden tests of `stp -p1`: each `tests/parse/*.stp` is run through the
//! `stp` binary and its exit status, standard output (the parse tree dump)
//! and standard error (the rendered diagnostics) are compared with the
//! snapshot in `tests/snapshots/`. A first line `#! stp OPTIONS [-- ARGS]`
//! gives the case's options and the script's arguments. Adding a case needs only a `.stp` file (and
//! `cargo insta review` to accept its snapshot).

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::process::Command;

use common::{root, run_in, stp};

fn run_case(path: &std::path::Path) -> String {
    run_case_with(path, &["-p1"])
}

/// Runs a case with `base` options before the case's own.
fn run_case_with(path: &std::path::Path, base: &[&str]) -> String {
    let text = std::fs::read_to_string(path).expect("a readable case");
    let opts: Vec<String> = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#! stp"))
        .map(|o| o.split_whitespace().map(|s| s.replace("$ROOT", &root().display().to_string())).collect())
        .unwrap_or_default();
    // Options, then `--` and the script's arguments.
    let (before, after) = match opts.iter().position(|o| o == "--") {
        Some(i) => (opts.get(..i).unwrap_or_default(), opts.get(i + 1..).unwrap_or_default()),
        None => (opts.as_slice(), &[][..]),
    };
    let rel = path.strip_prefix(root()).expect("a case under the repository");
    let out = run_in(
        Command::new(stp())
            .current_dir(root())
            .env_remove("SYSTEMTAP_TAPSET")
            .args(base)
            .args(before)
            .arg(rel)
            .args(after),
        None,
    );
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().map_or("signal".to_string(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        without_times(&String::from_utf8_lossy(&out.stderr))
    )
}

/// `-v` reports each pass's time (`in 4usr/0sys/1real ms`), its memory
/// (`using 1virt/2res/3shr/4data kb,`) and the library's size (`and 381
/// library scripts`); golden output keeps the words and drops the figures.
fn without_times(text: &str) -> String {
    text.lines()
        .map(|l| match (l.starts_with("Pass "), l.rfind(" in ")) {
            (true, Some(i)) if l.ends_with("real ms.") => {
                let mut what = l.get(..i).unwrap_or(l).to_string();
                if let Some(u) = what.find(" using ") {
                    what.replace_range(u.., " using Nvirt/Nres/Nshr/Ndata kb,");
                }
                if let Some((head, tail)) = what.split_once("parsed user script and ")
                    && let Some((_, rest)) = tail.split_once(' ')
                {
                    what = format!("{head}parsed user script and N {rest}");
                }
                format!("{what} in Nusr/Nsys/Nreal ms.")
            }
            _ => l.to_string(),
        })
        .fold(String::new(), |mut acc, l| {
            acc.push_str(&l);
            acc.push('\n');
            acc
        })
}

#[test]
fn parse_cases() {
    insta::glob!("parse/*.stp", |path| {
        insta::assert_snapshot!(run_case(path));
    });
}

/// Golden tests of `stp -p2` against the kernel snapshot in `tests/kernel`.
#[test]
fn elab_cases() {
    insta::glob!("elab/*.stp", |path| {
        insta::assert_snapshot!(run_case_with(path, &["-p2", "--kernel", "tests/kernel"]));
    });
}

/// `-p3`: the IR, against the kernel snapshot.
#[test]
fn ir_cases() {
    insta::glob!("ir/*.stp", |path| {
        insta::assert_snapshot!(run_case_with(path, &["-p3", "--kernel", "tests/kernel"]));
    });
}

/// Every script that elaborates either lowers to IR that verifies or is
/// refused with a "does not translate yet" diagnostic: pass 3 never fails
/// inside.
#[test]
fn lowering_never_fails_inside() {
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for dir in ["tests/elab", "tests/ir", "examples"] {
        for e in std::fs::read_dir(root().join(dir)).expect("a test directory").flatten() {
            if e.path().extension().is_some_and(|x| x == "stp") {
                files.push(e.path());
            }
        }
    }
    assert!(files.len() > 10, "scripts to lower: {files:?}");
    for f in files {
        let out = run_case_with(&f, &["-p3", "--kernel", "tests/kernel"]);
        assert!(!out.contains("internal error"), "{}:\n{out}", f.display());
    }
}

/// `-l` and `-L` against the kernel snapshot.
#[test]
fn list_cases() {
    let cases: &[(&str, &str)] = &[
        ("-l", "begin"),
        ("-l", "kernel.function(\"vfs_r*\")"),
        ("-L", "kernel.function(\"vfs_read\")"),
        ("-L", "kernel.function(\"vfs_read\").return"),
        ("-L", "kernel.trace(\"sched:sched_switch\")"),
        ("-l", "kernel.trace(\"sched:sched_*\")"),
        ("-l", "syscall.*"),
        ("-L", "syscall.read"),
        ("-L", "syscall.open*"),
        ("-l", "nd_syscall.open*"),
        ("-l", "scheduler.*"),
        ("-L", "timer.s(1)"),
        ("-L", "lsm.file_open"),
        ("-l", "lsm.bprm_*"),
    ];
    let mut all = String::new();
    for (opt, pattern) in cases {
        let out = run_in(
            Command::new(stp()).current_dir(root()).env_remove("SYSTEMTAP_TAPSET").args([
                "--kernel",
                "tests/kernel",
                opt,
                pattern,
            ]),
            None,
        );
        all.push_str(&format!(
            "$ stp {opt} '{pattern}'\nexit: {}\n{}{}\n",
            out.status.code().map_or("signal".to_string(), |c| c.to_string()),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    insta::assert_snapshot!(all);
}
