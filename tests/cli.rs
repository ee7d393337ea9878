//! The `stp` command line: options as stap(1) has them, stap's messages
//! for bad ones, and exit statuses.

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::process::Command;

use common::{root, run_in, run_stp, stp};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn version_and_help_succeed() {
    let v = run_stp(&["-V"]);
    assert!(v.status.success());
    assert!(stdout(&v).starts_with("stp "), "{}", stdout(&v));
    let h = run_stp(&["--help"]);
    assert!(h.status.success());
    for opt in ["-p <NUM>", "-e <SCRIPT>", "-I <DIR>", "--compatible"] {
        assert!(stdout(&h).contains(opt), "help lists {opt}:\n{}", stdout(&h));
    }
}

#[test]
fn one_liner_with_arguments() {
    let out = run_stp(&["-p1", "-e", "probe begin { print(@1, $2) }", "hello", "42"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(r#"print("hello", 42);"#), "{}", stdout(&out));
}

#[test]
fn options_may_follow_the_script_file() {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("s.stp");
    std::fs::write(&file, "probe begin { print(@1) }\n").expect("a script");
    let out = run_stp(&[file.to_str().expect("utf-8"), "-p1", "arg"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(r#"print("arg");"#));
}

#[test]
fn script_from_stdin() {
    let out = run_in(Command::new(stp()).args(["-p1", "-"]), Some("probe end { exit() }"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("# file <stdin>"));
}

#[test]
fn extra_scripts_with_capital_e() {
    let out = run_stp(&["-p1", "-e", "probe begin {}", "-E", "probe end {}"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bad = run_stp(&["-p1", "-e", "probe begin {}", "-E", "probe end {"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("<input2>"), "the -E script is named: {}", stderr(&bad));
}

/// Each of these is refused with stap's message and exit status 1.
#[test]
fn bad_command_lines() {
    let cases: &[(&[&str], &str)] = &[
        (&["-p6", "-e", "probe begin {}"], "Invalid pass number (should be 1-5)."),
        (&["-p0", "-e", "probe begin {}"], "Invalid pass number (should be 1-5)."),
        (&["-e", "probe begin {}", "-e", "probe end {}"], "Only one script can be given on the command line."),
        (&["-c", "ls", "-x", "1", "-e", "probe begin {}"], "You can't specify -c and -x together."),
        (&["-x", "abc", "-e", "probe begin {}"], "Invalid target process ID number."),
        (&["-T", "0", "-e", "probe begin {}"], "Invalid timeout interval."),
        (&["-s", "0", "-e", "probe begin {}"], "Invalid buffer size (should be 1-4095)."),
        (&["-m", "", "-e", "probe begin {}"], "Module name cannot be empty."),
        (&["-m", "x^y", "-e", "probe begin {}"], "Invalid module name"),
        (&["-D", "1x=2", "-e", "probe begin {}"], "Invalid -D parameter"),
        (&["-G", "x", "-e", "probe begin {}"], "Invalid -G parameter"),
        (&["--compatible=99.0", "-e", "probe begin {}"], "cannot be compatible with version 99.0"),
        (&["--runtime=kernel", "-e", "probe begin {}"], "kernel is an invalid argument for --runtime"),
        (&["--prologue-searching=blah", "-e", "probe never {}"], "Invalid argument 'blah' for --prologue-searching."),
        (&["--rlimit-cpu=12X", "-e", "probe begin {}"], "Unable to convert rlimit-cpu resource limit '12X'."),
        (&["--rlimit-as=", "-e", "probe begin {}"], "An --rlimit-as option value must be specified."),
        (&["--color=sometimes", "-e", "probe begin {}"], "Invalid argument 'sometimes' for --color."),
        (&["-p1"], "A script must be specified."),
        (&["-p1", "/nonexistent/x.stp"], "Input file '/nonexistent/x.stp' can't be opened for reading"),
        (&["-k", "-e", "probe begin {}"], "stp: option '-k' is not supported yet"),
        (&["--use-server", "-e", "probe begin {}"], "stp: option '--use-server' is not supported yet"),
        (&["--dump-functions", "-e", "probe begin {}"], "Cannot specify a script with -l/-L/--dump-* switches."),
        (&["-l", "begin", "x.stp"], "Cannot specify a script with -l/-L/--dump-* switches."),
        (&["--no-such-option"], "--no-such-option"),
    ];
    for (args, message) in cases {
        let out = run_stp(args);
        assert_eq!(out.status.code(), Some(1), "{args:?} exits 1: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?} says {message:?}; it said:\n{}", stderr(&out));
    }
}

#[test]
fn accepted_options_are_kept_for_later_passes() {
    let out = run_stp(&[
        "-p1",
        "-v",
        "-u",
        "-w",
        "-g",
        "-o",
        "/dev/null",
        "-c",
        "true",
        "-T",
        "5",
        "-G",
        "x=1",
        "-D",
        "MAXSTRINGLEN=256",
        "-s",
        "4",
        "-m",
        "mod_1",
        "--bpf",
        "--runtime=bpf",
        "-P",
        "--prologue-searching=never",
        "--rlimit-fsize=1000000000",
        "-e",
        "probe begin {}",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Pass 1: parsed user script"), "-v reports the pass: {}", stderr(&out));
}

#[test]
fn parse_errors_exit_1_with_a_located_message() {
    let out = run_stp(&["-p1", "-e", "probe begin { x = }"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("parse error: expected literal string or number"), "{err}");
    assert!(err.contains("<input>:1:19"), "{err}");
    assert!(err.contains("1 parse error."), "{err}");
    assert!(err.contains("Pass 1: parse failed."), "{err}");
    assert!(!err.contains('\x1b'), "no colour when stderr is not a terminal");
    let colored = run_stp(&["--color=always", "-p1", "-e", "probe begin { x = }"]);
    assert!(stderr(&colored).contains('\x1b'), "--color=always colours");
}

#[test]
fn warnings_follow_w_and_capital_w() {
    let script = "@define count(a) %( @a %) probe begin { print(@count(1)) }";
    let normal = run_stp(&["-p1", "-e", script]);
    assert!(normal.status.success());
    assert!(stderr(&normal).contains("WARNING: macro redefines built-in operator '@count'"), "{}", stderr(&normal));
    let quiet = run_stp(&["-p1", "-w", "-e", script]);
    assert!(quiet.status.success());
    assert!(!stderr(&quiet).contains("WARNING"), "{}", stderr(&quiet));
    let strict = run_stp(&["-p1", "-W", "-e", script]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
}

#[test]
fn a_tapset_file_is_not_a_session_script() {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("lib.stp");
    std::fs::write(&file, "function f() { return 1 }\n").expect("a tapset");
    let out = Command::new(stp())
        .env("SYSTEMTAP_TAPSET", dir.path())
        .args(["-p1", file.to_str().expect("utf-8")])
        .output()
        .expect("stp runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot be run directly as a session script"), "{}", stderr(&out));
}

/// `-p4` writes the object (NAME.o with `-m NAME`) and prints its path;
/// against the kernel snapshot it needs no root.
#[test]
fn p4_writes_the_object_and_prints_its_path() {
    let dir = tempfile::tempdir().expect("a directory");
    let kernel = root().join("tests/kernel");
    let script = "global n\nprobe kernel.trace(\"sched:sched_switch\") { n++ }\n";
    let out = Command::new(stp())
        .current_dir(dir.path())
        .arg("--kernel")
        .arg(&kernel)
        .args(["-p4", "-m", "switches", "-e", script])
        .output()
        .expect("stp runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "switches.o\n");
    let bytes = std::fs::read(dir.path().join("switches.o")).expect("the object");
    assert_eq!(bytes.get(..4), Some(&b"\x7fELF"[..]));
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("tracepoint/sched/sched_switch") && text.contains(".maps"),
        "sections named as loaders expect"
    );
    // Without -m, the object goes to the temporary directory.
    let out = Command::new(stp()).arg("--kernel").arg(&kernel).args(["-p4", "-e", script]).output().expect("stp runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(path.starts_with(&std::env::temp_dir().display().to_string()) && path.ends_with(".o"), "{path}");
    assert!(std::fs::remove_file(&path).is_ok(), "{path} was written");
}

/// Each probe kind's program goes in the section loaders read its type
/// from.
#[test]
fn p4_names_sections_by_probe_kind() {
    let dir = tempfile::tempdir().expect("a directory");
    let script = "global n\n\
        probe kernel.function(\"vfs_read\") { n++ }\n\
        probe kernel.function(\"vfs_read\").return { n++ }\n\
        probe perf.sw.cpu_clock { n++ }\n\
        probe lsm.file_open { n++ }\n";
    let out = Command::new(stp())
        .current_dir(dir.path())
        .arg("--kernel")
        .arg(root().join("tests/kernel"))
        .args(["-p4", "-m", "kinds", "-e", script])
        .output()
        .expect("stp runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(dir.path().join("kinds.o")).expect("the object");
    let text = String::from_utf8_lossy(&bytes);
    for section in
        ["kprobe/vfs_read", "kretprobe/vfs_read", "fentry/vfs_read", "fexit/vfs_read", "perf_event", "lsm/file_open"]
    {
        assert!(text.contains(section), "a {section} section");
    }
}

/// A wildcard matching more kernel functions than MAXFUNCTIONPROBES is
/// refused at the probe, with the count.
#[test]
fn a_wildcard_past_the_function_limit_is_refused() {
    let run = |limit: &str| {
        Command::new(stp())
            .arg("--kernel")
            .arg(root().join("tests/kernel"))
            .args(["-p3", "-D", limit, "-e", "global n; probe kernel.function(\"vfs_*\") { n++ }"])
            .output()
            .expect("stp runs")
    };
    let out = run("MAXFUNCTIONPROBES=2");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("kernel functions; stp attaches at most 2 per probe"), "{err}");
    assert!(err.contains("<input>:1:17"), "{err}");
    let out = run("MAXFUNCTIONPROBES=100000");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Copies a directory tree.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for e in std::fs::read_dir(from).expect("a directory").flatten() {
        let path = e.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(e.file_name()));
        } else {
            std::fs::copy(&path, to.join(e.file_name())).expect("a copy");
        }
    }
}

/// A system call the kernel has and the syscall table lacks still gets
/// its aliases, from the tracepoint's format; one neither has is
/// stap's "probe point mismatch".
#[test]
fn a_syscall_the_table_lacks_gets_aliases_from_its_tracepoint() {
    let dir = tempfile::tempdir().expect("a directory");
    let kernel = dir.path().join("kernel");
    copy_tree(&root().join("tests/kernel"), &kernel);
    let events = kernel.join("tracing/events/syscalls");
    let mut available = std::fs::read_to_string(kernel.join("tracing/available_events")).expect("the events");
    for side in ["enter", "exit"] {
        let format = std::fs::read_to_string(events.join(format!("sys_{side}_write/format"))).expect("a format");
        let name = format!("sys_{side}_frobnicate");
        std::fs::create_dir_all(events.join(&name)).expect("a directory");
        std::fs::write(events.join(&name).join("format"), format.replace(&format!("sys_{side}_write"), &name))
            .expect("a format");
        available.push_str(&format!("syscalls:{name}\n"));
    }
    std::fs::write(kernel.join("tracing/available_events"), available).expect("the events");
    let k = kernel.display().to_string();
    let out = run_stp(&["--kernel", &k, "-L", "syscall.frobnicate*"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "syscall.frobnicate name:string fd:long buf:long count:long argstr:string\n"
    );
    let out = run_stp(&["--kernel", &k, "-p2", "-e", "probe nd_syscall.frobnicate.return { println(retstr) }"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run_stp(&["--kernel", &k, "-p2", "-e", "probe syscall.nosuchcall { }"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("probe point mismatch"), "{out:?}");
}
