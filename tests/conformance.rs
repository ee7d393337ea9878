//! SystemTap's own parser tests, from `../shared/conformance/parse`.
//!
//! `parse/ok` files must be accepted by `stp -p1`, `parse/ko` files rejected
//! without a crash, each with the options of its `#! stap` first line.
//! Shell-script rows run with `stap` on PATH resolving to stp. Files listed
//! in `tests/conformance/exceptions.tsv` are skipped, each with its reason;
//! the counts must not fall below `tests/conformance/floor.tsv`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::{conformance_dir, crashed, root, run_in, stp, stp_files};

/// `path<TAB>value` lines, `#` comments and blank lines skipped.
fn read_table(name: &str) -> BTreeMap<String, String> {
    let path = root().join("tests/conformance").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or_else(|| panic!("{name}: no tab in {l:?}"));
            (k.to_string(), v.trim().to_string())
        })
        .collect()
}

/// A directory of stand-ins for SystemTap's tools and source tree, for the
/// shell-script rows: `stap` is stp, and `$SRCDIR/testsuite/parseok` and
/// friends are the shared corpora.
struct ShellEnv {
    dir: tempfile::TempDir,
}

impl ShellEnv {
    fn new(conformance: &Path) -> ShellEnv {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("bin/");
        std::os::unix::fs::symlink(stp(), bin.join("stap")).expect("stap -> stp");
        let suite = dir.path().join("src/testsuite");
        std::fs::create_dir_all(&suite).expect("testsuite/");
        // The corpora, less the listed exceptions.
        let exceptions = read_table("exceptions.tsv");
        for (name, sub) in [
            ("parseok", "parse/ok"),
            ("parseko", "parse/ko"),
            ("semok", "sem/ok"),
            ("semko", "sem/ko"),
            ("semlib", "sem/semlib"),
        ] {
            let to = suite.join(name);
            std::fs::create_dir(&to).expect("corpus directory");
            for entry in std::fs::read_dir(conformance.join(sub)).into_iter().flatten().flatten() {
                let rel = format!("{sub}/{}", entry.file_name().to_string_lossy());
                if !exceptions.contains_key(&rel) {
                    std::os::unix::fs::symlink(entry.path(), to.join(entry.file_name())).expect("corpus link");
                }
            }
        }
        ShellEnv { dir }
    }

    fn run(&self, file: &Path) -> Output {
        let first = std::fs::read_to_string(file).unwrap_or_default();
        let shell = if first.starts_with("#!/bin/bash") { "bash" } else { "sh" };
        let path = format!("{}:{}", self.dir.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());
        let name = file.file_name().expect("a file name");
        run_in(
            Command::new("timeout")
                .args(["120", shell])
                .arg(name)
                .current_dir(file.parent().expect("a directory"))
                .env("PATH", path)
                .env("SRCDIR", self.dir.path().join("src"))
                .env("SYSTEMTAP_TAPSET", root().join("stdlib")),
            None,
        )
    }
}

/// Runs one corpus file the way SystemTap's harness does.
fn run_file(file: &Path, pass: &str, shell: &ShellEnv) -> Output {
    let text = std::fs::read(file).unwrap_or_default();
    let first = String::from_utf8_lossy(text.split(|&b| b == b'\n').next().unwrap_or_default()).into_owned();
    match first.strip_prefix("#! stap") {
        Some(opts) => {
            let mut cmd = Command::new("timeout");
            cmd.arg("60").arg(stp()).arg(pass).args(opts.split_whitespace());
            run_in(cmd.arg(file), None)
        }
        None => shell.run(file),
    }
}

struct Tally {
    passed: usize,
    failed: Vec<String>,
    crashed: Vec<String>,
    skipped: usize,
    unexpectedly_passing: Vec<String>,
}

fn run_suite(conformance: &Path, suite: &str, expect_ok: bool, pass: &str) -> Tally {
    let exceptions = read_table("exceptions.tsv");
    let shell = ShellEnv::new(conformance);
    let mut t =
        Tally { passed: 0, failed: Vec::new(), crashed: Vec::new(), skipped: 0, unexpectedly_passing: Vec::new() };
    for file in stp_files(&conformance.join(suite)) {
        let rel = file.strip_prefix(conformance).expect("under the corpus").display().to_string();
        let out = run_file(&file, pass, &shell);
        let ok = out.status.success() == expect_ok && !crashed(&out);
        if crashed(&out) {
            t.crashed.push(format!("{rel}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        if exceptions.contains_key(&rel) {
            t.skipped += 1;
            if ok {
                t.unexpectedly_passing.push(rel);
            }
        } else if ok {
            t.passed += 1;
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = stderr.lines().collect();
            let excerpt = lines.get(lines.len().saturating_sub(12)..).unwrap_or_default().join("\n    ");
            t.failed.push(format!("{rel} (exit {:?})\n    {excerpt}", out.status.code()));
        }
    }
    t
}

fn check_suite(suite: &str, expect_ok: bool, pass: &str) {
    let Some(conformance) = conformance_dir() else { return };
    let floor: usize = read_table("floor.tsv")
        .get(suite)
        .unwrap_or_else(|| panic!("floor.tsv has no row for {suite}"))
        .parse()
        .expect("a number");
    let t = run_suite(&conformance, suite, expect_ok, pass);
    let total = t.passed + t.failed.len();
    println!("{suite}: {} of {total} pass ({} listed exceptions skipped)", t.passed, t.skipped);
    for f in &t.failed {
        println!("  FAIL {f}");
    }
    for f in &t.unexpectedly_passing {
        println!("  note: {f} is listed as an exception but passes");
    }
    assert!(t.crashed.is_empty(), "stp crashed on:\n{}", t.crashed.join("\n"));
    assert!(t.passed >= floor, "{suite}: {} pass, below the floor of {floor}", t.passed);
}

#[test]
fn parse_ok() {
    check_suite("parse/ok", true, "-p1");
}

#[test]
fn parse_ko() {
    check_suite("parse/ko", false, "-p1");
}

/// Every exception names a file that exists and gives a reason.
#[test]
fn exceptions_are_real_files_with_reasons() {
    let Some(conformance) = conformance_dir() else { return };
    for (path, reason) in read_table("exceptions.tsv") {
        assert!(conformance.join(&path).is_file(), "exceptions.tsv lists {path}, which does not exist");
        assert!(reason.len() > 10, "exceptions.tsv: {path} needs a reason");
    }
}

#[test]
fn sem_ok() {
    check_suite("sem/ok", true, "-p2");
}

#[test]
fn sem_ko() {
    check_suite("sem/ko", false, "-p2");
}

/// Passes 1 to 3 on every script of the semantic and BPF suites, with
/// guru mode so that more of them get through: whatever is refused is
/// refused with a diagnostic, never an internal error or a crash.
#[test]
fn translation_never_fails_inside() {
    let Some(conformance) = conformance_dir() else { return };
    let mut files = stp_files(&conformance.join("sem/ok"));
    files.extend(stp_files(&conformance.join("bpf")));
    assert!(files.len() > 100, "the suites are there");
    for f in files {
        let mut cmd = Command::new("timeout");
        cmd.arg("60").arg(stp()).args(["-p3", "-g"]).arg(&f);
        let out = run_in(&mut cmd, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!crashed(&out) && !stderr.contains("internal error"), "{}:\n{stderr}", f.display());
    }
}
