//! What a run leaves behind on each of its exit paths: no program, map or
//! link of its own in the kernel, no trace event of its own in tracefs,
//! and nothing in the temporary directory (unless `-k` asked for it).
//! Each run has one tracepoint probe at most, to stay fast.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use super::{PASS5, as_root, assert_nothing_left, bpf_objects};

/// How a run ended, and what it left in its private `TMPDIR`.
struct Ended {
    status: i32,
    out: String,
    err: String,
    tmp_left: Vec<String>,
    /// The private `TMPDIR`, kept until the test is done with it.
    _tmp: tempfile::TempDir,
}

/// Runs `stp ARGS` with a private `TMPDIR`; once its standard output has
/// a first line, `then` gets its pid (to signal it, say). Checks that the
/// run leaves no BPF object and no trace event of its own.
fn run(args: &[&str], then: impl FnOnce(i32)) -> Ended {
    run_with(args, then, false)
}

/// As [`run`]; with `close`, the reader of stp's output goes away after
/// the first line.
fn run_with(args: &[&str], then: impl FnOnce(i32), close: bool) -> Ended {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let before = bpf_objects();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stp"))
        .args(args)
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stp runs");
    let pid = child.id() as i32;
    let watchdog = Watchdog::new(pid, 30);
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut out = String::new();
    stdout.read_line(&mut out).expect("stdout");
    then(pid);
    if close {
        drop(stdout);
    } else {
        stdout.read_to_string(&mut out).expect("stdout");
    }
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
    let status = child.wait().expect("stp ends");
    watchdog.done(&format!("stp {args:?}"));
    assert_nothing_left(&before, &format!("stp {args:?}"));
    assert_no_trace_events(pid);
    let tmp_left = std::fs::read_dir(tmp.path())
        .expect("the temporary directory")
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect();
    let status = status.code().unwrap_or_else(|| -std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0));
    Ended { status, out, err, tmp_left, _tmp: tmp }
}

/// Kills a run that goes on too long.
struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    fn new(pid: i32, seconds: u64) -> Watchdog {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let late = wait.recv_timeout(std::time::Duration::from_secs(seconds)).is_err();
            if late {
                // SAFETY: signalling the child the test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            late
        });
        Watchdog { done, thread }
    }

    fn done(self, what: &str) {
        let _ = self.done.send(());
        assert!(!self.thread.join().expect("the watchdog"), "{what} ran too long");
    }
}

/// No kprobe or uprobe event definition of run `pid` is left in tracefs.
fn assert_no_trace_events(pid: i32) {
    for file in ["kprobe_events", "uprobe_events"] {
        let text = std::fs::read_to_string(format!("/sys/kernel/tracing/{file}")).unwrap_or_default();
        let ours = format!("stp_{pid}/");
        assert!(!text.contains(&ours), "{file} still defines {ours}: {text}");
    }
}

fn signal(sig: i32) -> impl FnOnce(i32) {
    move |pid| {
        // SAFETY: signalling the child this test started.
        unsafe { libc::kill(pid, sig) };
    }
}

/// A script whose first line says that its probe is attached and fires.
const ATTACHED: &str = "global s\n\
    probe kernel.trace(\"raw_syscalls:sys_enter\") { if (!s) { s = 1; println(\"attached\") } }\n\
    probe end { println(\"end\") }\n";

/// A plain run writes no object file; `-k` keeps it in a private
/// directory and says where.
#[test]
fn a_run_leaves_no_temporary_file_and_k_keeps_one() {
    if !as_root("temporary files of a run") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe begin { println(\"hi\"); exit() }\n";
    let ended = run(&["-e", script], drop);
    assert_eq!((ended.status, ended.out.as_str()), (0, "hi\n"), "{}", ended.err);
    assert!(ended.tmp_left.is_empty(), "left {:?}", ended.tmp_left);
    let ended = run(&["-k", "-e", script], drop);
    assert_eq!(ended.status, 0, "{}", ended.err);
    let [dir] = ended.tmp_left.as_slice() else { panic!("one directory kept: {:?}", ended.tmp_left) };
    assert!(ended.err.contains(&format!("Keeping temporary directory \"{dir}\"")), "{}", ended.err);
    let objects: Vec<_> = std::fs::read_dir(dir).expect("the kept directory").flatten().collect();
    assert_eq!(objects.len(), 1);
    let bytes = std::fs::read(objects[0].path()).expect("the object");
    assert_eq!(bytes.get(..4), Some(&b"\x7fELF"[..]));
}

/// SIGINT, SIGTERM and SIGHUP end a run as exit() does: end probes run,
/// status 0, nothing left.
#[test]
fn a_signal_ends_the_run_cleanly() {
    if !as_root("signals ending a run") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let ended = run(&["-e", ATTACHED], signal(sig));
        assert_eq!(ended.status, 0, "signal {sig}: {}", ended.err);
        assert!(ended.out.starts_with("attached\n") && ended.out.ends_with("end\n"), "signal {sig}: {}", ended.out);
        assert!(ended.tmp_left.is_empty(), "left {:?}", ended.tmp_left);
    }
}

/// With MAXERRORS at its default of 0, the first error ends the session:
/// one error is reported although the probe fires on every system call
/// (and printing it makes more), error probes run, end probes do not.
#[test]
fn the_first_error_ends_the_session_by_default() {
    if !as_root("MAXERRORS=0") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global z\n\
        probe kernel.trace(\"raw_syscalls:sys_enter\") { println(1 / z) }\n\
        probe error { println(\"error probe\") }\n\
        probe end { println(\"end\") }\n";
    let ended = run(&["-w", "-e", script], drop);
    assert_eq!(ended.status, 1, "{}", ended.err);
    assert_eq!(ended.out, "error probe\n", "{}", ended.err);
    assert_eq!(ended.err.matches("ERROR: division by 0").count(), 1, "{}", ended.err);
    assert!(ended.err.contains("WARNING: Number of errors: 1, skipped probes: 0"), "{}", ended.err);
    assert!(ended.tmp_left.is_empty(), "left {:?}", ended.tmp_left);
}

/// A reader that goes away (`stp ... | head -1`) ends the session: stp
/// exits with status 0 at once instead of writing into a closed pipe
/// forever.
#[test]
fn a_closed_output_pipe_ends_the_session() {
    if !as_root("EPIPE") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"raw_syscalls:sys_enter\") { println(\"tick\") }\n\
        probe end { println(\"end\") }\n";
    let ended = run_with(&["-e", script], drop, true);
    assert_eq!(ended.status, 0, "{}", ended.err);
    assert_eq!(ended.out, "tick\n");
    assert!(ended.tmp_left.is_empty(), "left {:?}", ended.tmp_left);
}

/// A signal while the script compiles stops stp after the pass under way,
/// before anything is loaded: here SIGINT while it waits for the script
/// on its standard input, which stops it there, in pass 1. (stdin is
/// written after the signal; stp may be gone by then.)
#[test]
fn a_signal_during_compilation_stops_stp() {
    if !as_root("SIGINT in pass 1") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let before = bpf_objects();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stp"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stp runs");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = std::io::Write::write_all(&mut stdin, ATTACHED.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().expect("stp ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Pass 1: parse interrupted."), "{err}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_nothing_left(&before, "stp interrupted in pass 1");
}

/// A global whose name is longer than the kernel takes for a map's name
/// (15 characters) gets a shortened map name and works.
#[test]
fn a_long_global_name_makes_a_working_map() {
    if !as_root("long global names") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let name = "x".repeat(511);
    let script = format!("global {name}\nprobe begin {{ {name}[1] = 42; println({name}[1]); exit() }}\n");
    let ended = run(&["-e", &script], drop);
    assert_eq!((ended.status, ended.out.as_str()), (0, "42\n"), "{}", ended.err);
}

/// A map the kernel will not create is reported as such: the global, its
/// size and the error, not as a program the verifier refused.
#[test]
fn a_map_the_kernel_refuses_is_named() {
    if !as_root("map creation errors") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a directory");
    let out = Command::new(env!("CARGO_BIN_EXE_stp"))
        .current_dir(dir.path())
        .args(["-p4", "--verify", "-D", "MAXMAPMEMORY=100000000000", "-e"])
        .arg("global b[1000000000]\nprobe kernel.trace(\"raw_syscalls:sys_enter\") { b[pid()]++ }\n")
        .output()
        .expect("stp runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot create the map of global 'b' (1000000000 entries of 8 + 8 bytes"), "{err}");
    assert!(!err.contains("verifier"), "{err}");
}

/// exit() in a kernel handler, `-T` and the end of the `-c` command each
/// end the session with its end probes and leave nothing behind.
#[test]
fn exit_timeout_and_the_commands_end_leave_nothing() {
    if !as_root("exit paths") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let exit = "probe kernel.trace(\"raw_syscalls:sys_enter\") { println(\"exit\"); exit() }\n\
        probe end { println(\"end\") }\n";
    let cases: [(&str, Vec<&str>); 3] = [
        ("exit()", vec!["-e", exit]),
        ("-T", vec!["-T", "1", "-e", ATTACHED]),
        ("-c", vec!["-c", "sleep 0.5", "-e", ATTACHED]),
    ];
    for (what, args) in cases {
        let ended = run(&args, drop);
        assert_eq!(ended.status, 0, "{what}: {}", ended.err);
        assert!(ended.out.ends_with("end\n"), "{what}: {}", ended.out);
        assert!(ended.tmp_left.is_empty(), "{what} left {:?}", ended.tmp_left);
    }
}

/// Probes taking more time than STP_OVERLOAD_THRESHOLD per
/// STP_OVERLOAD_INTERVAL (here 1 µs in 100 ms, which a probe on every
/// system call passes at once) stop the script with stap's error, and
/// leave nothing; `--suppress-time-limits` lets the same script run to
/// its -T limit.
#[test]
fn overload_stops_the_script_unless_suppressed() {
    if !as_root("overload") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let limits = ["-w", "-D", "STP_OVERLOAD_THRESHOLD=1000", "-D", "STP_OVERLOAD_INTERVAL=100000000", "-T", "2"];
    let script = "global s\n\
        probe kernel.trace(\"raw_syscalls:sys_enter\") { if (!s) { s = 1; println(\"attached\") } }\n\
        probe end { println(\"end\") }\n\
        probe error { println(\"error\") }\n";
    let started = std::time::Instant::now();
    let ended = run(&[&limits[..], &["-e", script]].concat(), drop);
    assert_eq!(ended.status, 1, "{}", ended.err);
    assert_eq!(ended.out, "attached\nerror\n", "{}", ended.err);
    assert!(ended.err.starts_with("ERROR: probe overhead exceeded threshold\n"), "{}", ended.err);
    assert!(started.elapsed() < std::time::Duration::from_millis(1800), "stopped before -T");
    let ended = run(&[&limits[..], &["--suppress-time-limits", "-e", script]].concat(), drop);
    assert_eq!(ended.status, 0, "{}", ended.err);
    assert_eq!(ended.out, "attached\nend\n", "{}", ended.err);
}

/// A large hash map is created without preallocation (its memory comes as
/// entries are added), a small one and a wrapping (LRU) one with it, as
/// the kernel reports them; and the large one works.
#[test]
fn large_hash_maps_are_not_preallocated() {
    if !as_root("map preallocation") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global big[4000000], small[100], ring%[4000000]\n\
        probe kernel.trace(\"raw_syscalls:sys_enter\") { big[pid()]++; small[1]++; ring[pid()]++ }\n";
    let bytes = super::compile("prealloc", script);
    let ebpf = aya::Ebpf::load(&bytes).expect("aya loads the object");
    let flags = |name: &str| match ebpf.map(name) {
        Some(aya::maps::Map::HashMap(m) | aya::maps::Map::LruHashMap(m)) => m.info().expect("map info").map_flags(),
        _ => panic!("no hash map {name}"),
    };
    const NO_PREALLOC: u32 = 1;
    assert_eq!(flags("g_big") & NO_PREALLOC, NO_PREALLOC);
    assert_eq!(flags("g_small") & NO_PREALLOC, 0);
    assert_eq!(flags("g_ring") & NO_PREALLOC, 0);
    drop(ebpf);
    let ended = run(
        &["-e", "global big[4000000]\nprobe begin { big[7] = 6; big[8] = 7; println(big[7] * big[8]); exit() }\n"],
        drop,
    );
    assert_eq!((ended.status, ended.out.as_str()), (0, "42\n"), "{}", ended.err);
}
