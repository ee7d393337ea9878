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
        (&["-b", "-e", "probe begin {}"], "stp: option '-b' is not supported yet"),
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
        "--all-modules",
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
        // A handler that reads nothing of its context runs as a raw
        // tracepoint where the kernel's BTF has the tracepoint.
        text.contains("raw_tracepoint/sched_switch") && text.contains(".maps"),
        "sections named as loaders expect"
    );
    // Without -m, the object is stp_PID.o, here too.
    let out = Command::new(stp())
        .current_dir(dir.path())
        .arg("--kernel")
        .arg(&kernel)
        .args(["-p4", "-e", script])
        .output()
        .expect("stp runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(path.starts_with("stp_") && path.ends_with(".o"), "{path}");
    assert!(dir.path().join(&path).is_file(), "{path} was written");
}

/// `-p4` does not write through a link planted where its object goes:
/// the link is replaced, its target untouched, and nothing else is left.
#[test]
fn p4_replaces_a_planted_link_instead_of_following_it() {
    let dir = tempfile::tempdir().expect("a directory");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("the victim");
    std::os::unix::fs::symlink(&victim, dir.path().join("obj.o")).expect("the link");
    let out = Command::new(stp())
        .current_dir(dir.path())
        .arg("--kernel")
        .arg(root().join("tests/kernel"))
        .args(["-p4", "-m", "obj", "-e", "global n\nprobe kernel.trace(\"sched:sched_switch\") { n++ }\n"])
        .output()
        .expect("stp runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).expect("the victim"), "precious\n");
    let meta = std::fs::symlink_metadata(dir.path().join("obj.o")).expect("obj.o");
    assert!(meta.is_file(), "obj.o is the object, not a link");
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).expect("the directory").flatten().map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
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

/// A `-c` command that cannot run is an error naming it, before any
/// probe runs; a `-x` process that does not exist is warned about (stap's
/// own tests give every script `-x 12345` and expect it to run).
#[test]
fn a_missing_command_is_an_error_and_a_missing_process_a_warning() {
    let script = "probe begin { println(\"began\"); exit() }";
    let out = Command::new(stp()).args(["-c", "no_such_program_stp --flag", "-e", script]).output().expect("stp runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "ERROR: cannot run the -c command 'no_such_program_stp --flag': no_such_program_stp: command not found"
        ),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "the begin probe ran");
    // A process that has been reaped does not exist.
    let mut gone = Command::new("true").spawn().expect("true runs");
    let pid = gone.id();
    gone.wait().expect("true ends");
    let out = Command::new(stp()).args(["-x", &pid.to_string(), "-e", script]).output().expect("stp runs");
    assert!(stderr(&out).starts_with(&format!("WARNING: cannot find process {pid}\n")), "{}", stderr(&out));
}

/// A map that would take more kernel memory than MAXMAPMEMORY (1 GiB by
/// default) is refused at its global's declaration, whether its size is
/// declared or comes from MAXMAPENTRIES; a larger MAXMAPMEMORY lets it by.
#[test]
fn a_map_past_the_memory_limit_is_refused_at_its_declaration() {
    let run = |args: &[&str], script: &str| {
        Command::new(stp())
            .arg("--kernel")
            .arg(root().join("tests/kernel"))
            .arg("-p3")
            .args(args)
            .args(["-e", script])
            .output()
            .expect("stp runs")
    };
    let probe = "probe kernel.trace(\"sched:sched_switch\") { bar[pid()]++ }";
    // 100,000,000 entries of an 8-byte key and value, 48 bytes of overhead each.
    let want = "semantic error: array 'bar' needs 5.9 GiB of kernel memory (100000000 entries of 8 + 8 bytes)";
    let out = run(&[], &format!("global bar[100000000]\n{probe}"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(want) && stderr(&out).contains("<input>:1:8"), "{}", stderr(&out));
    let out = run(&["-D", "MAXMAPENTRIES=100000000"], &format!("global bar\n{probe}"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(want) && stderr(&out).contains("<input>:1:8"), "{}", stderr(&out));
    let out = run(&["-D", "MAXMAPMEMORY=8000000000"], &format!("global bar[100000000]\n{probe}"));
    assert!(out.status.success(), "{}", stderr(&out));
    // 16,000,000 entries (1,024,000,000 bytes) fit in 1 GiB with the rest.
    let out = run(&[], &format!("global bar[16000000]\n{probe}"));
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Kernel handlers that read a global and write it back later get a
/// warning at the write (another CPU's update in between is lost);
/// updates compiled as atomic instructions (`x = x + 1`, `y++`, `y -= 2`)
/// do not, nor do user-side handlers; `-w` silences it and `-W` makes it
/// an error.
#[test]
fn a_global_written_back_after_a_read_is_warned_about() {
    let kernel = root().join("tests/kernel");
    let kernel = kernel.to_str().expect("utf-8");
    let script = "global x, y, m\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n  x = x + 1; y++; y -= 2\n  if (pid() > m) m = pid()\n}\n\
        probe begin { x = x * 2 }\n";
    let out = run_stp(&["-p3", "--kernel", kernel, "-e", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("WARNING:").count(), 1, "{err}");
    assert!(err.contains("WARNING: global 'm' is read and written back, not updated atomically"), "{err}");
    assert!(err.contains("<input>:4:19"), "at the write of m: {err}");
    let quiet = run_stp(&["-w", "-p3", "--kernel", kernel, "-e", script]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("WARNING"), "{}", stderr(&quiet));
    let strict = run_stp(&["-W", "-p3", "--kernel", kernel, "-e", script]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
}

/// A loop the kernel's verifier would walk past its million-instruction
/// limit (its end depends on data, so the verifier follows it up to
/// MAXACTION turns) is refused at its condition when compiled, not by
/// the kernel after seconds of work; the same body on a counter the
/// verifier follows to its end compiles.
#[test]
fn a_loop_too_large_for_the_verifier_is_refused_at_its_line() {
    let kernel = root().join("tests/kernel");
    let kernel = kernel.to_str().expect("utf-8");
    let body = "{ x++; printf(\"%d %d %d %d\\n\", x, x + 1, x + 2, x + 3) }";
    let on_data =
        format!("global x\nprobe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n  while (x < 100) {body}\n}}\n");
    let out = run_stp(&["-p4", "--kernel", kernel, "-D", "MAXACTION=100000", "-e", &on_data]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("semantic error: this loop is too large for the kernel's verifier"), "{err}");
    assert!(err.contains("<input>:3:10"), "at the loop's condition: {err}");
    // Under the limit with the default MAXACTION.
    let out = run_stp(&["-p3", "--kernel", kernel, "-e", &on_data]);
    assert!(out.status.success(), "{}", stderr(&out));
    let counted = format!(
        "global x\nprobe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n  for (i = 0; i < 100; i++) {body}\n}}\n"
    );
    let out = run_stp(&["-p3", "--kernel", kernel, "-D", "MAXACTION=100000", "-e", &counted]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A loop on a function's result, as `while (next_move());` in
    // SystemTap's 2048 example: the function's body is inlined in the
    // loop.
    let on_call = "global g[16]\n\
        function step() {\n  for (i = 0; i < 16; i++) { if (g[i] > g[(i + 1) % 16]) { g[i] -= 1; return 1 } }\n  return 0\n}\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n  while (step());\n}\n";
    let out = run_stp(&["-p3", "--kernel", kernel, "-D", "MAXACTION=100000", "-e", on_call]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("<input>:7:10"), "{}", stderr(&out));
}

/// `-v` says how many probe points each probe of the script matched,
/// `-vv` names them, from the kernel's own list of tracepoints.
#[test]
fn verbose_lists_what_a_wildcard_matched() {
    let kernel = root().join("tests/kernel");
    let events = std::fs::read_to_string(kernel.join("tracing/available_events")).expect("the snapshot's events");
    let mut want: Vec<String> = events
        .lines()
        .filter_map(|l| l.strip_prefix("sched:"))
        .filter(|e| e.starts_with("sched_wak"))
        .map(|e| format!("kernel.trace(\"sched:{e}\")"))
        .collect();
    want.sort();
    assert!(want.len() > 1, "the snapshot has several sched_wak* tracepoints");
    let kernel = kernel.to_str().expect("utf-8");
    let script = "global n\nprobe kernel.trace(\"sched:sched_wak*\") { n++ }";
    let out = run_stp(&["-v", "-p3", "--kernel", kernel, "-e", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = format!("Probe 'kernel.trace(\"sched:sched_wak*\")' matched {} probe points\n", want.len());
    assert!(stderr(&out).contains(&line), "{}", stderr(&out));
    let out = run_stp(&["-vv", "-p3", "--kernel", kernel, "-e", script]);
    let err = stderr(&out);
    let listed: Vec<String> = err
        .split(&line)
        .nth(1)
        .expect("the count line")
        .lines()
        .map_while(|l| l.strip_prefix("  "))
        .map(str::to_string)
        .collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, want, "{err}");
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

/// A tapset library that lacks some of the kernel's system calls (here
/// one with two syscall aliases) makes `syscall.*` warn how many it
/// reaches, counted against the kernel's own syscall tracepoints; `?`
/// silences it.
#[test]
fn a_syscall_wildcard_short_of_the_kernel_warns() {
    let kernel = root().join("tests/kernel");
    let events = std::fs::read_to_string(kernel.join("tracing/available_events")).expect("the snapshot's events");
    let total = events.lines().filter(|l| l.starts_with("syscalls:sys_enter_")).count();
    assert!(total > 2, "the snapshot has more system calls than the library below");
    let lib = tempfile::tempdir().expect("a directory");
    std::fs::create_dir(lib.path().join("linux")).expect("linux/");
    std::fs::write(
        lib.path().join("linux/calls.stp"),
        "probe syscall.read = kernel.trace(\"syscalls:sys_enter_read\") { name = \"read\" }\n\
         probe syscall.write = kernel.trace(\"syscalls:sys_enter_write\") { name = \"write\" }\n",
    )
    .expect("a tapset");
    let run = |point: &str| {
        Command::new(stp())
            .env("SYSTEMTAP_TAPSET", lib.path())
            .args(["-p2", "--kernel"])
            .arg(&kernel)
            .args(["-e", &format!("probe {point} {{ println(name) }}")])
            .output()
            .expect("stp runs")
    };
    let out = run("syscall.*");
    assert!(out.status.success(), "{}", stderr(&out));
    let want = format!("WARNING: probe point 'syscall.*' matched 2 of the kernel's {total} system calls");
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    let out = run("syscall.*?");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("WARNING"), "{}", stderr(&out));
}

/// A kernel snapshot records the machine's possible CPUs and the user
/// stp ran as, and code compiled against a snapshot takes them from it:
/// the per-CPU loop of `@max` visits the CPUs it lists, and `is_myproc()`
/// compares with its user. A snapshot without them (older ones, like
/// `tests/kernel`) compiles with the loop at stp's bound of 64.
#[test]
fn a_snapshot_records_the_possible_cpus_and_the_user() {
    let script = "global s\nprobe kernel.trace(\"sched:sched_switch\") { s <<< 1; if (is_myproc()) println(@max(s)) }";
    let dir = std::env::temp_dir().join(format!("stp-cli-snapshot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Writing one from the running kernel, pruned to what the script needs.
    if std::fs::File::open("/sys/kernel/btf/vmlinux").is_ok() {
        let prune = dir.with_extension("prune");
        std::fs::write(&prune, "event sched:sched_switch\ndepth 0\n").expect("write the prune list");
        let out = Command::new(stp())
            .arg("--snapshot-kernel")
            .arg(&dir)
            .arg("--snapshot-prune")
            .arg(&prune)
            .output()
            .expect("stp runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").expect("the CPU list");
        assert_eq!(std::fs::read_to_string(dir.join("cpus_possible")).expect("recorded").trim(), possible.trim());
        let id = Command::new("id").arg("-u").output().expect("id runs");
        let uid = String::from_utf8_lossy(&id.stdout).trim().to_string();
        assert_eq!(std::fs::read_to_string(dir.join("uid")).expect("recorded").trim(), uid);
        std::fs::remove_dir_all(&dir).expect("remove the snapshot");
        let _ = std::fs::remove_file(&prune);
    } else if common::in_ci() {
        panic!("CI runs with the kernel's BTF readable");
    } else {
        eprintln!("skipped writing a snapshot: /sys/kernel/btf/vmlinux is not readable");
    }
    // Reading one: a copy of tests/kernel with the two files added.
    let copy = Command::new("cp").arg("-r").arg(root().join("tests/kernel")).arg(&dir).status().expect("cp runs");
    assert!(copy.success());
    std::fs::write(dir.join("cpus_possible"), "0-5,8\n").expect("write the CPUs");
    std::fs::write(dir.join("uid"), "4242\n").expect("write the user");
    let p3 = |kernel: &std::path::Path| {
        let out = run_stp(&["-p3", "--kernel", kernel.to_str().expect("utf-8"), "-e", script]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let text = p3(&dir);
    // CPU ids 0 to 8: the loop stops at 9.
    assert!(text.contains("if r4 >= 0x9 goto"), "{text}");
    assert!(text.contains(&format!("if r0 != {:#x} goto", 4242)), "{text}");
    let old = p3(&root().join("tests/kernel"));
    assert!(old.contains("if r4 >= 0x40 goto"), "{old}");
    std::fs::remove_dir_all(&dir).expect("remove the copy");
}

/// A tracepoint of an event class (`sched_wakeup` of
/// `sched_wakeup_template`) has no BTF probe function of its own name; its
/// arguments are still named as its TP_PROTO names them
/// (`include/trace/events/sched.h`: `struct task_struct *p`).
#[test]
fn event_class_tracepoints_have_named_arguments() {
    if !common::as_root("reading tracefs") {
        return;
    }
    let out = run_stp(&["-L", "kernel.trace(\"sched:sched_wakeup\")"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(" $p:struct task_struct*"), "{}", stdout(&out));
    let out = run_stp(&["-p2", "-e", "probe kernel.trace(\"sched_wakeup\") { println($p->pid) }"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `-v` gives stap's pass lines: what each pass made (counted as stap
/// counts: `1 probe`, `2 functions`), the memory at its end and its own
/// user, system and wall time.
#[test]
fn verbose_pass_lines_are_stap_s() {
    let script = "global n\nfunction twice(x) { return 2 * x }\nfunction once(x) { return x }\n\
                  probe begin { n = twice(once(1)) }\nprobe end { println(n) }";
    let out = run_stp(&["-v", "-p4", "--kernel", "tests/kernel", "-e", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let line = |pass: &str| {
        err.lines()
            .find(|l| l.starts_with(&format!("Pass {pass}: ")))
            .unwrap_or_else(|| panic!("no pass {pass}:\n{err}"))
    };
    assert!(
        line("2").starts_with("Pass 2: analyzed script: 2 probes, 2 functions, 0 embeds, 1 global using "),
        "{err}"
    );
    for pass in ["1", "2", "3", "4"] {
        let l = line(pass);
        let (_, tail) = l.split_once(" using ").unwrap_or_else(|| panic!("{l}"));
        let (memory, times) = tail.split_once(" kb, in ").unwrap_or_else(|| panic!("{l}"));
        let fields: Vec<&str> = memory.split('/').collect();
        assert_eq!(fields.len(), 4, "{l}");
        for (f, unit) in fields.iter().zip(["virt", "res", "shr", "data"]) {
            let n: u64 = f.strip_suffix(unit).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{l}"));
            assert!(unit == "shr" || n > 0, "{l}");
        }
        let times = times.strip_suffix("real ms.").unwrap_or_else(|| panic!("{l}"));
        let parts: Vec<&str> = times.split('/').collect();
        assert!(parts.len() == 3 && parts[0].ends_with("usr") && parts[1].ends_with("sys"), "{l}");
    }
}

#[test]
fn format_json_is_for_runs_and_refused_without_one() {
    for (args, named) in [
        (&["-p1"][..], "-p1, which stops before the run"),
        (&["-p4"][..], "-p4, which stops before the run"),
        (&["-l", "begin"][..], "-l/-L"),
        (&["--dump-functions"][..], "--dump-*"),
    ] {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        if !args.contains(&"-l") && !args.contains(&"--dump-functions") {
            all.extend(["-e", "probe begin { exit() }"]);
        }
        let out = run_stp(&all);
        assert_eq!(out.status.code(), Some(1), "{all:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{all:?}");
        let err = stderr(&out);
        assert!(err.contains("--format json formats what a run prints") && err.contains(named), "{all:?}: {err}");
    }
    // Text is the default, and may be named with any pass.
    let out = run_stp(&["--format", "text", "-p1", "-e", "probe begin { exit() }"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_stp(&["--format", "yaml", "-p1", "-e", "probe begin {}"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("yaml"), "{}", stderr(&out));
}

/// A library function's locals are its own: user globals named like them
/// (here arrays, so that a local taken over would also change arity) do
/// not take them over, whatever the library file. SystemTap's
/// `sem/ok/context-globals.stp` is one such script. Every local a
/// library function assigns, gathered from the library's text, is a user
/// global here, and functions of several families are called.
#[test]
fn library_function_locals_are_not_the_users_globals() {
    let mut names = std::collections::BTreeSet::new();
    for dir in ["stdlib", "stdlib/linux"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "stp") {
                names.extend(assigned_names(&std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    // Keywords and names the library declares as its own globals stay out.
    for kw in ["if", "else", "for", "foreach", "while", "return", "next", "delete", "in", "try", "catch", "global"] {
        names.remove(kw);
    }
    assert!(names.len() > 50, "{names:?}");
    let globals: Vec<&String> = names.iter().collect();
    let decl = globals.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ");
    let sets: String = globals.iter().map(|n| format!("{n}[0] = 1; ")).collect();
    let script = format!(
        "global {decl}\n\
         probe begin {{ {sets}\n\
           println(fp_to_string(fp_mul(string_to_fp(\"1.5\"), string_to_fp(\"2\")), 3))\n\
           println(bytes_to_string(4096), sigset_mask_str(3), format_ipaddr(16777343, 2))\n\
           exit() }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           println(sprint_ustack(ubacktrace()), ucallers(2), task_open_file_handles(task_current()))\n\
           println(task_dentry_path(task_current(), 0, 0), irqflags_str(1))\n\
         }}\n"
    );
    let kernel = root().join("tests/kernel");
    let out = Command::new(stp()).arg("--kernel").arg(&kernel).args(["-p2", "-e", &script]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The names assigned in a library file's function bodies (`x = `,
/// `x += `, `x++`, `foreach (x`), by a plain scan of its text.
fn assigned_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_function = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or_default();
        if line.starts_with("function ") {
            in_function = true;
        } else if line.starts_with("probe ") || line.starts_with("global ") {
            in_function = false;
        }
        if !in_function {
            continue;
        }
        let bytes: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_alphabetic()
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || "_$@.>]\"".contains(bytes[i - 1])))
            {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_') {
                    i += 1;
                }
                let word: String = bytes[start..i].iter().collect();
                let rest: String = bytes[i..].iter().collect::<String>();
                let rest = rest.trim_start();
                let assigned = (rest.starts_with('=') && !rest.starts_with("=="))
                    || [".=", "+=", "-=", "|=", "&=", "++", "--"].iter().any(|op| rest.starts_with(op));
                if assigned && !word.starts_with("__") {
                    out.push(word);
                }
            } else {
                i += 1;
            }
        }
    }
    out
}
