//! The progress line of a slow attach: `syscall.*` loads a handler per
//! system call (hundreds of programs, each checked by the verifier),
//! which takes well over half a second. On a terminal (a pty that
//! `script` gives stp) stderr shows "attaching N probes ...", N the
//! kernel's system call tracepoints, and the line is erased once they are
//! attached; with stderr on a pipe nothing of it is written.

use std::process::Command;

use super::{PASS5, as_root};

const SCRIPT: &str = "global n probe syscall.* { n++ } probe end { printf(\"counted %d\\n\", n > 0) }";

/// The system calls with an entry tracepoint on this kernel.
fn syscall_tracepoints() -> usize {
    std::fs::read_dir("/sys/kernel/tracing/events/syscalls")
        .expect("tracefs lists the syscall tracepoints")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("sys_enter_"))
        .count()
}

fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[test]
fn a_slow_attach_shows_a_progress_line_on_a_terminal() {
    if !as_root("attaching syscall.*") {
        return;
    }
    // Its programs are not another test's leftovers.
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let stp = env!("CARGO_BIN_EXE_stp");
    let line = format!("{} -T 1 -e {}", quoted(stp), quoted(SCRIPT));
    // `script` runs the command on a new pty: stdout and stderr are both
    // that terminal, and come back together.
    let out = Command::new("timeout")
        .args(["120", "script", "-q", "-e", "-c", &line, "/dev/null"])
        .output()
        .expect("script runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let expected = format!("attaching {} probes ...", syscall_tracepoints());
    let at = text.find(&expected).unwrap_or_else(|| panic!("no {expected:?} in {text:?}"));
    assert!(text[at + expected.len()..].starts_with("\r\x1b[K"), "the line is erased: {text:?}");
    assert!(text.contains("counted 1"), "{text:?}");

    // The same with stderr on a pipe: no progress line.
    let out = Command::new("timeout").args(["120", stp, "-T", "1", "-e", SCRIPT]).output().expect("stp runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("attaching"), "{err:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "counted 1\n");
}
