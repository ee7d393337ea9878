//! stp run by a user who may not load BPF programs nor read tracefs
//! (uid 65534, no capabilities): one line saying what stp needs, and
//! `-l` says what it could not read.

use std::process::Command;

use super::as_root;

/// `stp ARGS` as uid/gid 65534 without supplementary groups.
fn as_nobody(args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_stp")])
        .args(args)
        .output()
        .expect("setpriv runs")
}

#[test]
fn an_unprivileged_user_is_told_what_stp_needs() {
    if !as_root("running stp as another user") {
        return;
    }
    let out = as_nobody(&["-e", "probe begin { println(\"began\"); exit() }"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("ERROR: stp needs root privileges (or CAP_BPF, CAP_PERFMON"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn the_privilege_line_comes_before_any_other_error() {
    if !as_root("running stp as another user") {
        return;
    }
    // Each of these fails for another reason too, which a user with the
    // privileges would be told of instead.
    let cases: [&[&str]; 5] = [
        &["-e", "probe begin { x( }"],
        &["/nonexistent/script.stp"],
        &["-c", "/nonexistent/command", "-e", "probe begin { exit() }"],
        &["-x", "2147483647", "-e", "probe begin { exit() }"],
        &["-e", "probe kernel.function(\"no_such_function_here\") { }"],
    ];
    for args in cases {
        let out = as_nobody(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("ERROR: stp needs root privileges (or CAP_BPF, CAP_PERFMON"), "{args:?}: {err}");
        // As root the same command has something else to say.
        let own =
            Command::new("timeout").arg("60").arg(env!("CARGO_BIN_EXE_stp")).args(args).output().expect("stp runs");
        let own_err = String::from_utf8_lossy(&own.stderr);
        assert!(
            own_err.contains("error") || own_err.contains("ERROR") || own_err.contains("WARNING"),
            "{args:?}: {own_err}"
        );
    }
}

#[test]
fn an_unprivileged_listing_says_what_it_could_not_read() {
    if !as_root("running stp -l as another user") {
        return;
    }
    // tracefs is readable by root only on this machine's kernels (0700).
    let mode =
        std::fs::metadata("/sys/kernel/tracing").map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    if mode.is_ok_and(|m| m & 0o005 == 0o005) {
        eprintln!("skipped: tracefs is readable by everyone here");
        return;
    }
    let out = as_nobody(&["-l", "kernel.trace(\"sched:sched_switch\")"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot read /sys/kernel/tracing"), "{err}");
    assert!(out.stdout.is_empty());
    // Compiling a tracepoint's script says the same, not that tracefs is
    // not mounted (it is).
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_stp")])
        .args(["-p4", "-e", "probe syscall.openat { exit() }"])
        .current_dir(dir.path())
        .output()
        .expect("setpriv runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot read /sys/kernel/tracing: Permission denied"), "{err}");
    assert!(!err.contains("not mounted"), "{err}");
}
