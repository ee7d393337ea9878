//! Helpers the integration tests share: where the `stp` binary and the
//! shared test data are, how to run stp, and (`vm`) how to run commands in
//! a VM.

#![allow(dead_code)]

pub mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `stp` binary cargo built for these tests.
pub fn stp() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stp"))
}

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True in CI, where no test may skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether the test may touch the kernel (it runs as root); says why not
/// when it may not. In CI, where the tests run as root, it fails instead.
pub fn as_root(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(!in_ci(), "{what}: CI runs the tests as root");
    eprintln!("skipped {what}: needs root");
    false
}

/// `../shared/conformance`, or `None` (with the reason printed) where it is
/// absent outside CI. In CI its absence fails the test.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = root().join("../shared/conformance");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(!in_ci(), "{} is missing, and CI=true: the conformance tests must run", dir.display());
    eprintln!("skipping: {} is absent (the tests run where ../shared is present)", dir.display());
    None
}

/// Runs stp with `args`, no stdin, under a time limit.
pub fn run_stp(args: &[&str]) -> Output {
    run_in(Command::new("timeout").arg("60").arg(stp()).args(args), None)
}

/// Runs a prepared command, feeding it `stdin`.
pub fn run_in(cmd: &mut Command, stdin: Option<&str>) -> Output {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the command starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes()).expect("stdin takes the text");
    }
    child.wait_with_output().expect("the command finishes")
}

/// stp's exit status for an internal error (a panic).
pub const EXIT_INTERNAL: i32 = 70;

/// Did stp crash: a panic, a signal, or the time limit?
pub fn crashed(out: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        None => true,
        Some(EXIT_INTERNAL | 124) => true,
        Some(_) => stderr.contains("internal error in stp"),
    }
}

/// Every `.stp` file under `dir`, sorted, not descending into
/// subdirectories.
pub fn stp_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "stp")).collect())
        .unwrap_or_default();
    files.sort();
    files
}
