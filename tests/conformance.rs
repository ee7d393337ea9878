//! SystemTap's own tests, from `../shared/conformance`: the parser and
//! semantic suites, and the BPF run tests (module `bpf`, as root).
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
/// The BPF tests run alone: some wait for the idle task to be scheduled,
/// which a machine busy with the compile-only suites may not do for
/// seconds. They take this lock for writing, the others for reading.
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

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
    let _shared = MACHINE.read().unwrap_or_else(|e| e.into_inner());
    check_suite("parse/ok", true, "-p1");
}

#[test]
fn parse_ko() {
    let _shared = MACHINE.read().unwrap_or_else(|e| e.into_inner());
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
    let _shared = MACHINE.read().unwrap_or_else(|e| e.into_inner());
    check_suite("sem/ok", true, "-p2");
}

#[test]
fn sem_ko() {
    let _shared = MACHINE.read().unwrap_or_else(|e| e.into_inner());
    check_suite("sem/ko", false, "-p2");
}

/// Passes 1 to 3 on every script of the semantic and BPF suites, with
/// guru mode so that more of them get through: whatever is refused is
/// refused with a diagnostic, never an internal error or a crash.
#[test]
fn translation_never_fails_inside() {
    let _shared = MACHINE.read().unwrap_or_else(|e| e.into_inner());
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

/// SystemTap's BPF run tests (`bpf/`), judged as its `bpf.exp` judges
/// them: run as root, `BEGIN` must appear, then the row's `expect`
/// string; `END FAIL` fails, and where `expect` is not `END PASS` any
/// `END` before it fails. Rows that need kernel-function probes or LSM
/// hooks run in the VM (`bpf_vm`, one boot for them all); `bpf_host`
/// only lists them.
mod bpf {
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use super::common::vm::{Outcome, Vm, command_line, quote};
    use super::common::{conformance_dir, in_ci, stp};
    use super::read_table;

    /// How long one test may run (stap's harness waits 20 s for the
    /// verdict once `BEGIN` is out).
    const PER_TEST: Duration = Duration::from_secs(20);
    /// How long the whole suite may take; tests not started by then fail.
    const BUDGET: Duration = Duration::from_secs(120);
    /// Tests run at once.
    const PARALLEL: usize = 2;

    /// One `bpf/` row of MANIFEST.tsv.
    #[derive(Clone, Debug)]
    struct Row {
        path: String,
        /// The last pass to run: 5 runs the script, below that only
        /// compiles it (and `expect` is `accept`).
        pass: String,
        expect: String,
        needs: Vec<String>,
        notes: String,
    }

    fn manifest(conformance: &Path) -> Vec<Row> {
        let text = std::fs::read_to_string(conformance.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
        text.lines()
            .skip(1)
            .filter_map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                let path = cols.first()?;
                path.starts_with("bpf/").then(|| Row {
                    path: path.to_string(),
                    pass: cols.get(1).unwrap_or(&"").to_string(),
                    expect: cols.get(2).unwrap_or(&"").to_string(),
                    needs: cols.get(3).unwrap_or(&"").split(',').map(str::to_string).collect(),
                    notes: cols.get(4).unwrap_or(&"").to_string(),
                })
            })
            .collect()
    }

    /// The needs that send a row to the VM, if any.
    fn vm_needs(row: &Row) -> Vec<&str> {
        row.needs.iter().map(String::as_str).filter(|n| matches!(*n, "kprobe" | "kretprobe" | "lsm")).collect()
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Verdict {
        Pass,
        Fail(String),
    }

    /// The verdict on the output so far, or `None` while it is open.
    pub(super) fn judge(out: &str, expect: &str) -> Option<Result<(), String>> {
        let begin = out.find("BEGIN")?;
        let after = &out[begin + "BEGIN".len()..];
        if after.contains("END FAIL") {
            return Some(Err("printed END FAIL".into()));
        }
        if expect == "END PASS" {
            return after.contains("END PASS").then_some(Ok(()));
        }
        // Where the expected string ends in END, the first END must be
        // that one.
        let expected_end = after.find(expect).map(|i| i + expect.len() - "END".len());
        match (after.find("END"), expected_end) {
            (Some(first), Some(want)) if first == want => Some(Ok(())),
            (Some(_), _) => Some(Err(format!("END without {expect:?}"))),
            (None, _) => None,
        }
    }

    /// The judgement of output as it arrived: the verdict at the first
    /// line (or the end) where [`judge`] reaches one, as a runner polling
    /// the output would see it.
    pub(super) fn judge_stream(out: &str, expect: &str) -> Option<Result<(), String>> {
        out.match_indices('\n').map(|(i, _)| &out[..=i]).chain([out]).find_map(|seen| judge(seen, expect))
    }

    /// The options and `-c` command that `lsm.exp` gives stap for an LSM
    /// row, from its notes (`lsm.exp: stap OPTS FILE -c "COMMAND"; pass
    /// ...`). `lsm_deny.stp` has no .exp; its notes ask for "an exec of a
    /// path containing "forbidden" within 5 s", and it gets what `lsm.exp`
    /// gives the others, with a command that runs `/tmp/forbidden/true`
    /// (a link to busybox, which the VM's case makes) 1 s in.
    fn lsm_exp(row: &Row) -> Option<(Vec<String>, String)> {
        if row.notes.contains("an exec of a path containing \"forbidden\"") {
            return Some((vec!["-g".into()], "sh -c 'sleep 1; /tmp/forbidden/true; sleep 8'".into()));
        }
        let rest = row.notes.split_once("lsm.exp: stap ")?.1;
        let (opts, rest) = rest.split_once(" FILE -c \"")?;
        let (cmd, _) = rest.rsplit_once("\"; pass")?;
        Some((opts.split_whitespace().map(str::to_string).collect(), cmd.to_string()))
    }

    /// The arguments `bpf.exp` (or `lsm.exp`) gives stap for this row,
    /// less the file.
    fn arguments(row: &Row, file: &Path) -> Vec<String> {
        let mut args = vec!["--runtime=bpf".to_string()];
        let first = std::fs::read_to_string(file).unwrap_or_default();
        let first = first.lines().next().unwrap_or_default();
        if let Some(opts) = first.strip_prefix("#! stap").or_else(|| first.strip_prefix("#!/usr/bin/env stap")) {
            args.extend(opts.split_whitespace().filter(|o| *o != "--runtime=bpf").map(str::to_string));
        }
        let lsm = lsm_exp(row);
        for o in lsm.iter().flat_map(|(opts, _)| opts) {
            if !args.contains(o) {
                args.push(o.clone());
            }
        }
        if row.notes.contains("adds --compatible=4.1") {
            args.push("--compatible=4.1".into());
        }
        if row.notes.contains("bpf_target_tests") {
            args.extend(["-c".into(), "./a.out".into()]);
        } else if let Some((_, cmd)) = lsm {
            args.extend(["-c".into(), cmd]);
        } else {
            args.extend(["-x".into(), "12345".into()]);
        }
        args
    }

    fn kill_group(child: &mut Child) {
        // SAFETY: kill(2) on the process group this runner created.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
    }

    /// Appends everything `from` yields to `into`, on another thread.
    fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.lock().expect("output lock").extend_from_slice(&buf[..n]);
            }
        })
    }

    fn run(row: &Row, conformance: &Path, target_dir: Option<&Path>) -> Verdict {
        let file = conformance.join(&row.path);
        let mut cmd = Command::new(stp());
        cmd.args(arguments(row, &file)).arg(&file).process_group(0);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if row.notes.contains("bpf_target_tests") {
            match target_dir {
                Some(dir) => cmd.current_dir(dir),
                None => return Verdict::Fail("bpf-target.c did not build (gcc -g)".into()),
            };
        }
        // uprobes.stp probes a sleep that runs from the start.
        let mut sleeper = row
            .notes
            .contains("spawns /usr/bin/sleep 20")
            .then(|| Command::new("/usr/bin/sleep").arg("20").spawn().ok())
            .flatten();
        let mut after_begin = row.notes.contains("sleep 2 after BEGIN");
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Verdict::Fail(format!("cannot run stp: {e}")),
        };
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut readers = vec![
            collect(child.stdout.take().expect("piped"), out.clone()),
            collect(child.stderr.take().expect("piped"), out.clone()),
        ];
        let start = Instant::now();
        let verdict = loop {
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() {
                // What stp started may hold the pipes open: end it all,
                // then take the rest of the output.
                kill_group(&mut child);
                for r in readers.drain(..) {
                    let _ = r.join();
                }
            }
            let text = String::from_utf8_lossy(&out.lock().expect("output lock")).into_owned();
            if after_begin && text.contains("BEGIN") {
                after_begin = false;
                sleeper = Command::new("/usr/bin/sleep").arg("2").spawn().ok();
            }
            if text.contains("internal error in stp") {
                break Verdict::Fail(format!("CRASH: {}", last_line(&text)));
            }
            match judge(&text, &row.expect) {
                Some(Ok(())) => break Verdict::Pass,
                Some(Err(why)) => break Verdict::Fail(why),
                None => {}
            }
            if let Some(status) = exited {
                let why = if text.contains("BEGIN") { "no verdict" } else { "no BEGIN" };
                break Verdict::Fail(format!("{why}, exit {:?}: {}", status.code(), last_line(&text)));
            }
            if start.elapsed() > PER_TEST {
                break Verdict::Fail(format!("timed out after {} s: {}", PER_TEST.as_secs(), last_line(&text)));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        kill_group(&mut child);
        if let Some(mut s) = sleeper {
            let _ = s.kill();
            let _ = s.wait();
        }
        verdict
    }

    /// The line that says why: the first error stp printed, else its
    /// last line.
    fn last_line(text: &str) -> String {
        let lines = || text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("Pass "));
        let line =
            lines().find(|l| l.to_ascii_lowercase().contains("error")).or_else(|| lines().next_back()).unwrap_or("");
        line.trim().chars().take(160).collect()
    }

    /// Builds `a.out` from bpf-target.c as bpf.exp does (`gcc -g`, no -O),
    /// with `extra` flags.
    fn build_target(conformance: &Path, dir: &Path, extra: &[&str]) -> Option<PathBuf> {
        let ok = Command::new("gcc")
            .arg("-g")
            .args(extra)
            .arg(conformance.join("bpf/bpf-target.c"))
            .args(["-o", "a.out"])
            .current_dir(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| dir.to_path_buf())
    }

    #[test]
    fn bpf_host() {
        let _alone = super::MACHINE.write().unwrap_or_else(|e| e.into_inner());
        let Some(conformance) = conformance_dir() else { return };
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(!in_ci(), "the BPF conformance tests need root, and CI=true");
            println!("skipping bpf/host: it loads eBPF programs and needs root");
            return;
        }
        let floor: usize =
            read_table("floor.tsv").get("bpf/host").expect("floor.tsv has a bpf/host row").parse().expect("a number");
        let exceptions = read_table("exceptions.tsv");
        let rows = manifest(&conformance);
        assert!(rows.len() > 50, "MANIFEST.tsv lists the bpf tests");
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let target_dir = build_target(&conformance, tmp.path(), &[]);

        let (host, elsewhere): (Vec<&Row>, Vec<&Row>) =
            rows.iter().partition(|r| vm_needs(r).is_empty() && !exceptions.contains_key(&r.path));
        let results: Mutex<BTreeMap<String, Verdict>> = Mutex::new(BTreeMap::new());
        let next = AtomicUsize::new(0);
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..PARALLEL {
                s.spawn(|| {
                    while let Some(row) = host.get(next.fetch_add(1, Ordering::SeqCst)) {
                        let verdict = if start.elapsed() > BUDGET {
                            Verdict::Fail(format!("not run: the suite's {} s were spent", BUDGET.as_secs()))
                        } else {
                            run(row, &conformance, target_dir.as_deref())
                        };
                        results.lock().expect("results lock").insert(row.path.clone(), verdict);
                    }
                });
            }
        });
        let results = results.into_inner().expect("results lock");

        let passed = results.values().filter(|v| **v == Verdict::Pass).count();
        println!("bpf/host: {passed} of {} pass in {} s", host.len(), start.elapsed().as_secs());
        for (path, v) in &results {
            match v {
                Verdict::Pass => println!("  PASS {path}"),
                Verdict::Fail(why) => println!("  FAIL {path}: {why}"),
            }
        }
        for r in &elsewhere {
            match exceptions.get(&r.path) {
                Some(reason) => println!("  SKIP {}: {reason}", r.path),
                None => println!("  VM   {} ({})", r.path, vm_needs(r).join(",")),
            }
        }
        let crashes: Vec<&String> = results
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Fail(w) if w.starts_with("CRASH")))
            .map(|(p, _)| p)
            .collect();
        assert!(crashes.is_empty(), "stp crashed on {crashes:?}");
        assert!(passed >= floor, "bpf/host: {passed} pass, below the floor of {floor}");
    }

    /// Where the VM's copy of `../shared/conformance/bpf` is.
    const VM_CORPUS: &str = "/conformance/bpf";
    /// Where the VM's static `a.out` for bpf_target_tests is.
    const VM_TARGET: &str = "/conformance/target";
    /// How long a test may take to print `BEGIN` in the VM, where pass 1
    /// to 4 run several times slower than on the host (stap's harness
    /// allows 300 s).
    const VM_BEGIN: u64 = 60;

    /// The VM's script for one row. It runs stp as `run` does on the host
    /// (stdout and stderr into one file; ended once `judge` could give
    /// its verdict, `PER_TEST` after `BEGIN`, or `VM_BEGIN` without it),
    /// prints that output, and says on stderr how stp ended: `exit N`,
    /// `verdict`, or why it was stopped. Kernel-function rows get a reader
    /// in the background (ten times a second, a line of /etc/passwd, a
    /// read(2) per byte), standing in for the reads of the busy system
    /// stap's harness runs on: the idle VM reads nothing.
    fn vm_case(row: &Row, conformance: &Path) -> String {
        let file = format!("{VM_CORPUS}/{}", row.path.trim_start_matches("bpf/"));
        let mut stp_args = vec!["stp".to_string()];
        if row.pass != "5" {
            stp_args.push(format!("-p{}", row.pass));
        }
        stp_args.extend(arguments(row, &conformance.join(&row.path)));
        stp_args.push(file);
        let stp = command_line(&stp_args);
        let dir = if row.notes.contains("bpf_target_tests") { VM_TARGET } else { VM_CORPUS };
        if row.pass != "5" {
            return format!("cd {dir}\n{stp} 2>&1\necho \"exit $?\" >&2\n");
        }
        let mut script = format!("cd {dir}\nd=$(mktemp -d)\n");
        if row.needs.iter().any(|n| n == "kprobe" || n == "kretprobe") {
            script.push_str("(while :; do read -r _ </etc/passwd; sleep 0.1; done) &\n");
        }
        if lsm_exp(row).is_some_and(|(_, cmd)| cmd.contains("/tmp/forbidden/")) {
            script.push_str("mkdir -p /tmp/forbidden && ln -s /bin/busybox /tmp/forbidden/true\n");
        }
        let stop = if row.expect == "END PASS" { "END PASS" } else { "END" };
        let per_test = PER_TEST.as_secs();
        script.push_str(&format!(
            r#"({stp}; echo $? >"$d/status") >"$d/out" 2>&1 &
start=$(date +%s) begin="" why=""
while [ ! -e "$d/status" ]; do
    awk -v stop={stop} '{{ s = s $0 "\n" }}
        END {{ i = index(s, "BEGIN"); if (!i) exit 2; a = substr(s, i + 5); exit !(index(a, "END FAIL") || index(a, stop)) }}' "$d/out"
    case $? in
    0) why=verdict; break ;;
    1) [ -n "$begin" ] || begin=$(date +%s) ;;
    esac
    now=$(date +%s)
    if [ -n "$begin" ]; then
        [ $((now - begin)) -lt {per_test} ] || {{ why="timed out {per_test} s after BEGIN"; break; }}
    else
        [ $((now - start)) -lt {VM_BEGIN} ] || {{ why="no BEGIN in {VM_BEGIN} s"; break; }}
    fi
    sleep 0.1
done
cat "$d/out"
if [ -z "$why" ]; then echo "exit $(cat "$d/status")" >&2; else echo "$why" >&2; fi
"#,
            stop = quote(stop),
        ));
        script
    }

    /// The verdict on a row from its VM case's outcome.
    fn vm_verdict(row: &Row, outcome: &Outcome) -> Verdict {
        if outcome.status.is_none() {
            return Verdict::Fail("the VM stopped before this test ended".into());
        }
        let text = &outcome.stdout;
        let how = outcome.stderr.lines().next_back().unwrap_or("no report from the case");
        if text.contains("internal error in stp") {
            return Verdict::Fail(format!("CRASH: {}", last_line(text)));
        }
        if row.pass != "5" {
            return if how == "exit 0" { Verdict::Pass } else { Verdict::Fail(format!("{how}: {}", last_line(text))) };
        }
        match judge_stream(text, &row.expect) {
            Some(Ok(())) => Verdict::Pass,
            Some(Err(why)) => Verdict::Fail(why),
            None => {
                let begun = if text.contains("BEGIN") { "no verdict" } else { "no BEGIN" };
                match how.strip_prefix("exit ") {
                    Some(code) => Verdict::Fail(format!("{begun}, exit {code}: {}", last_line(text))),
                    None => Verdict::Fail(format!("{how}: {}", last_line(text))),
                }
            }
        }
    }

    /// The rows that need kernel-function probes or LSM hooks, in one
    /// boot of the VM (`tests/common/vm.rs`).
    #[test]
    fn bpf_vm() {
        let _alone = super::MACHINE.write().unwrap_or_else(|e| e.into_inner());
        let Some(conformance) = conformance_dir() else { return };
        let floor: usize =
            read_table("floor.tsv").get("bpf/vm").expect("floor.tsv has a bpf/vm row").parse().expect("a number");
        let exceptions = read_table("exceptions.tsv");
        let rows = manifest(&conformance);
        let (listed, rows): (Vec<&Row>, Vec<&Row>) =
            rows.iter().filter(|r| !vm_needs(r).is_empty()).partition(|r| exceptions.contains_key(&r.path));
        assert!(rows.len() > 30, "MANIFEST.tsv lists the kernel-function and LSM tests");

        let mut vm = Vm::new();
        vm.copy(&conformance.join("bpf"), VM_CORPUS).case_timeout(Duration::from_secs(150));
        vm.timeout(Duration::from_secs(30 * 60));
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let mut no_target = false;
        if rows.iter().any(|r| r.notes.contains("bpf_target_tests")) {
            match build_target(&conformance, tmp.path(), &["-static"]) {
                Some(dir) => {
                    vm.copy(&dir.join("a.out"), &format!("{VM_TARGET}/a.out"));
                }
                None => no_target = true,
            }
        }
        let cases: Vec<usize> = rows.iter().map(|r| vm.case(vm_case(r, &conformance))).collect();
        let Some(run) = vm.run("bpf/vm") else { return };

        let results: BTreeMap<&str, Verdict> = rows
            .iter()
            .zip(cases)
            .map(|(row, case)| {
                let verdict = if no_target && row.notes.contains("bpf_target_tests") {
                    Verdict::Fail("bpf-target.c did not build (gcc -g -static)".into())
                } else {
                    vm_verdict(row, &run.outcomes[case])
                };
                (row.path.as_str(), verdict)
            })
            .collect();
        let passed = results.values().filter(|v| **v == Verdict::Pass).count();
        let boot = run.boot.map_or("?".to_string(), |b| format!("{b:.1}"));
        println!(
            "bpf/vm: {passed} of {} pass in one VM boot: boot {boot} s, wall {:.0} s",
            rows.len(),
            run.wall.as_secs_f64()
        );
        for (path, v) in &results {
            match v {
                Verdict::Pass => println!("  PASS {path}"),
                Verdict::Fail(why) => println!("  FAIL {path}: {why}"),
            }
        }
        for r in &listed {
            println!("  SKIP {}: {}", r.path, exceptions[&r.path]);
        }
        let crashes: Vec<&&str> = results
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Fail(w) if w.starts_with("CRASH")))
            .map(|(p, _)| p)
            .collect();
        assert!(crashes.is_empty(), "stp crashed on {crashes:?}");
        assert!(passed >= floor, "bpf/vm: {passed} pass, below the floor of {floor}");
    }

    #[test]
    fn judging_follows_bpf_exp() {
        assert_eq!(judge("BEGIN\nEND PASS\n", "END PASS"), Some(Ok(())));
        assert_eq!(judge("BEGIN\n", "END PASS"), None);
        assert_eq!(judge("END PASS\n", "END PASS"), None);
        assert!(matches!(judge("BEGIN\nEND FAIL\n", "END PASS"), Some(Err(_))));
        assert_eq!(judge("BEGIN01234567890123456789END\n", "01234567890123456789END"), Some(Ok(())));
        assert!(matches!(judge("BEGIN0123END\n", "01234567890123456789END"), Some(Err(_))));
        assert_eq!(judge("BEGIN0123", "01234567890123456789END"), None);
        assert_eq!(judge("BEGIN12345END\n", "12345END"), Some(Ok(())));
        // As it arrived: the first line with a verdict decides.
        assert_eq!(judge_stream("BEGIN\nEND PASS\nEND FAIL\n", "END PASS"), Some(Ok(())));
        assert!(matches!(judge_stream("BEGIN\nEND FAIL\nEND PASS\n", "END PASS"), Some(Err(_))));
        assert_eq!(judge_stream("BEGIN\nEND", "END PASS"), None);
    }

    #[test]
    fn lsm_rows_get_lsm_exp_arguments() {
        let row = |notes: &str| Row {
            path: "bpf/lsm_x.stp".into(),
            pass: "5".into(),
            expect: "END PASS".into(),
            needs: vec!["lsm".into()],
            notes: notes.into(),
        };
        let file = Path::new("/nonexistent.stp");
        let notes =
            r#"source: bpf_tests/lsm/; lsm.exp: stap -g --runtime=bpf FILE -c "sh -c 'sleep 1; ls'"; pass on END PASS"#;
        assert_eq!(arguments(&row(notes), file), ["--runtime=bpf", "-g", "-c", "sh -c 'sleep 1; ls'"]);
        assert_eq!(arguments(&row("source: bpf_tests/"), file), ["--runtime=bpf", "-x", "12345"]);
    }
}
