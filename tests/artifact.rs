//! The artifact between compiler and runtime: `stp -p4 -m NAME` writes
//! NAME.o carrying it, and `stp --run NAME.o` runs that object without
//! the script, as staprun runs a module stap built; objects that are not
//! stp's, are damaged or were built for another kernel are refused.
//!
//! Runs need root: outside CI they skip with a reason, with `CI=true`
//! they must run.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use common::{as_root, run_in, stp};

/// One run at a time: each attaches to the kernel.
static RUNS: Mutex<()> = Mutex::new(());

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// stp with `args` in `dir`, under a time limit.
fn stp_in(dir: &Path, args: &[&str]) -> Output {
    run_in(Command::new("timeout").arg("60").arg(stp()).current_dir(dir).args(args), None)
}

/// Writes `script` to `t.stp` in `dir`, compiles it with `-p4 -m NAME`
/// and the extra `args` (options, then the script's arguments), and removes the script: what runs next has only
/// the object.
fn build(dir: &Path, name: &str, script: &str, args: &[&str]) -> PathBuf {
    std::fs::write(dir.join("t.stp"), script).unwrap();
    let mut all = vec!["-p4", "-m", name, "t.stp"];
    all.extend_from_slice(args);
    let out = stp_in(dir, &all);
    assert!(out.status.success(), "stp -p4: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("{name}.o"));
    std::fs::remove_file(dir.join("t.stp")).unwrap();
    dir.join(format!("{name}.o"))
}

const COUNTING: &str = r#"global n
probe begin { printf("begin %s\n", @1) }
probe kernel.trace("syscalls:sys_enter_getppid") { if (pid() == target()) n++ }
probe end { printf("getppid %d\n", n) }
"#;

fn getppid_calls(n: usize) -> String {
    format!("perl -e 'getppid() for 1..{n}'")
}

#[test]
fn an_object_runs_without_its_script() {
    if !as_root("stp --run") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let object = build(dir.path(), "counting", COUNTING, &["hello"]);
    let _one = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let out = stp_in(dir.path(), &["--run", object.to_str().unwrap(), "-c", &getppid_calls(7)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The argument was fixed at -p4; the count is what the command did.
    assert_eq!(text(&out.stdout), "begin hello\ngetppid 7\n", "{}", text(&out.stderr));
    // -o sends the output to a file, as for a script.
    let out = stp_in(dir.path(), &["--run", "counting.o", "-o", "out.txt", "-c", &getppid_calls(3)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(std::fs::read_to_string(dir.path().join("out.txt")).unwrap(), "begin hello\ngetppid 3\n");
}

#[test]
fn a_run_time_error_names_the_script_line_as_when_the_script_runs() {
    if !as_root("stp --run errors") {
        return;
    }
    // The division fails on line 3, column 21 (`/`).
    let script = "probe begin {\n  x = 0\n  printf(\"%d\\n\", 10 / x)\n}\n";
    let dir = tempfile::tempdir().unwrap();
    let object = build(dir.path(), "failing", script, &[]);
    let _one = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let out = stp_in(dir.path(), &["--run", object.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let error = stderr.lines().find(|l| l.starts_with("ERROR:")).unwrap_or_default().to_string();
    assert!(error.contains("division by 0") && error.contains("at t.stp:3:21"), "{stderr}");
    // The same line as the script itself gives.
    std::fs::write(dir.path().join("t.stp"), script).unwrap();
    let direct = stp_in(dir.path(), &["t.stp"]);
    assert_eq!(direct.status.code(), Some(1));
    assert!(text(&direct.stderr).lines().any(|l| l == error), "{}\nvs\n{error}", text(&direct.stderr));
}

#[test]
fn files_that_are_not_stp_objects_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("garbage.o"), "not an object\n").unwrap();
    let me = std::env::current_exe().unwrap();
    for file in [dir.path().join("garbage.o"), me] {
        let out = stp_in(dir.path(), &["--run", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", file.display());
        let stderr = text(&out.stderr);
        assert!(stderr.contains("not an stp object (no .stp.artifact section)"), "{stderr}");
        assert!(!stderr.contains("internal error"), "{stderr}");
    }
    // An stp object whose artifact was damaged.
    let object = build(dir.path(), "damaged", "probe begin { exit() }\n", &[]);
    let mut bytes = std::fs::read(&object).unwrap();
    let at = bytes.windows(10).position(|w| w == b"\"format\":1").unwrap();
    bytes[at] = b'#';
    std::fs::write(&object, bytes).unwrap();
    let out = stp_in(dir.path(), &["--run", "damaged.o"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("the stp artifact in the object is damaged"), "{}", text(&out.stderr));
}

#[test]
fn an_object_built_for_another_kernel_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Another release: the recorded one, altered in the section.
    let object = build(dir.path(), "release", "probe begin { exit() }\n", &[]);
    let live = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap().trim().to_string();
    let bytes = std::fs::read(&object).unwrap();
    let recorded = format!("\"release\":\"{live}\"");
    let at = bytes.windows(recorded.len()).position(|w| w == recorded.as_bytes()).expect("the release is recorded");
    let mut other = bytes.clone();
    other[at + 11] = b'X';
    std::fs::write(&object, &other).unwrap();
    let out = stp_in(dir.path(), &["--run", "release.o"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let altered = format!("X{}", &live[1..]);
    assert!(stderr.contains(&format!("built for kernel {altered}")), "{stderr}");
    assert!(stderr.contains(&format!("this kernel is {live}")), "{stderr}");
    assert!(stderr.contains("does not relocate"), "{stderr}");
    // The same release, another BTF: one digit of the digest altered.
    if let Some(at) = bytes.windows(6).position(|w| w == b"crc32 ") {
        let mut other = bytes.clone();
        other[at + 6] = if other[at + 6] == b'0' { b'1' } else { b'0' };
        std::fs::write(&object, &other).unwrap();
        let out = stp_in(dir.path(), &["--run", "release.o"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("does not relocate"), "{}", text(&out.stderr));
    } else {
        assert!(!Path::new("/sys/kernel/btf/vmlinux").exists(), "the kernel has BTF, the object no digest of it");
        eprintln!("no BTF digest: this kernel has no /sys/kernel/btf/vmlinux");
    }
    // A kernel snapshot (tests/kernel): its BTF is pruned, never this
    // kernel's.
    let snapshot = common::root().join("tests/kernel");
    build(dir.path(), "snapshot", COUNTING, &["--kernel", snapshot.to_str().unwrap(), "x"]);
    let out = stp_in(dir.path(), &["--run", "snapshot.o"]);
    assert_eq!(out.status.code(), Some(1));
    let release = std::fs::read_to_string(snapshot.join("release")).unwrap();
    assert!(text(&out.stderr).contains(&format!("built for kernel {}", release.trim())), "{}", text(&out.stderr));
}

#[test]
fn run_takes_run_time_options_only() {
    let dir = tempfile::tempdir().unwrap();
    for (args, refused) in [
        (&["--run", "x.o", "-D", "MAXACTION=10"][..], "-D is for compiling"),
        (&["--run", "x.o", "-G", "n=1"][..], "-G is for compiling"),
        (&["--run", "x.o", "-e", "probe begin {}"][..], "-e is for compiling"),
        (&["--run", "x.o", "-p4"][..], "-p is for compiling"),
        (&["--run", "x.o", "arg"][..], "--run takes no script arguments"),
    ] {
        let out = stp_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(refused), "{args:?}: {}", text(&out.stderr));
    }
}
