//! SystemTap's example scripts (`/usr/share/systemtap/examples`, Debian's
//! systemtap-doc) as a conformance suite.
//!
//! Every example's `.meta` file has a `test_check` line (else a
//! `test_check_bpf` one) saying how SystemTap's own check builds it, most
//! often `stap -p4 NAME.stp ARGS`. This test runs that line with stp in
//! place of stap, in a directory that mirrors the example's own (so `-I
//! tapset/` and `./helper` resolve, and `-p4` writes its object there),
//! under a time limit of its own, many examples at once. A line that does
//! not start with `stap` runs in `sh` with `stap` on PATH resolving to stp.
//! An example passes when the line exits 0 without a crash.
//!
//! A second test runs, as root, the examples' `test_installcheck` lines
//! (how SystemTap's own installcheck runs them: most with `-T 1`, some
//! with `-c COMMAND`; a line with neither gets `-T 5`) and holds its own
//! floor: a run passes when it ends by itself within its time limit,
//! exits 0 and prints something. Guru-mode (`-g`) examples, which change
//! the running system, are not run on a shared host.
//!
//! Options stap has and stp does not are mapped by [`map_options`], each
//! with its reason; examples listed in `tests/examples/exceptions.tsv` are
//! skipped, each with its reason; the number that pass must not fall below
//! `tests/examples/floor.tsv`. Failures are printed grouped by cause (run
//! with `--nocapture`). Without the examples the test skips, saying why;
//! with `CI=true` it fails instead (`tests/run.sh` installs
//! systemtap-doc).

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use common::{crashed, in_ci, root, run_in, stp};

/// Where systemtap-doc installs the examples.
const EXAMPLES: &str = "/usr/share/systemtap/examples";

/// How long one example may take, in seconds (then SIGTERM, and SIGKILL
/// 5 s later): generous, as a debug build of stp allocates the registers
/// of hundreds of syscall probes slowly (errsnoop.stp and strace.stp take
/// 30 to 70 s on a busy machine; the floor does not count on them).
const PER_EXAMPLE: &str = "120";

/// How long one example may run (then SIGKILL: stp ends cleanly on
/// SIGTERM, which would pass a run that did not end by itself).
const RUN_LIMIT: &str = "60";

/// Examples that take most of the suite's time in a debug build (every
/// system call, with `argstr`): started first.
const SLOW: [&str; 2] = ["process/strace.meta", "process/errsnoop.meta"];

/// `name<TAB>value` lines of `tests/examples/NAME`, `#` comments and blank
/// lines skipped.
fn read_table(name: &str) -> BTreeMap<String, String> {
    let path = root().join("tests/examples").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or_else(|| panic!("{name}: no tab in {l:?}"));
            (k.to_string(), v.trim().to_string())
        })
        .collect()
}

/// The examples' directory, or `None` (with the reason printed) where it is
/// absent outside CI.
fn examples_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(EXAMPLES);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(!in_ci(), "{EXAMPLES} is missing, and CI=true: install systemtap-doc (tests/run.sh does)");
    eprintln!("skipping: {EXAMPLES} is absent (install systemtap-doc to run SystemTap's examples)");
    None
}

/// One example: its `.meta` file relative to the examples' directory, and
/// the line that checks it.
struct Example {
    meta: String,
    check: String,
}

/// Every `.meta` file under `dir` with a line of the first of `keys` it
/// has (`test_check:`, ...), sorted.
fn examples(dir: &Path, keys: &[&str]) -> Vec<Example> {
    let mut metas = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "meta") {
                metas.push(path);
            }
        }
    }
    metas.sort();
    metas
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let line = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(|l| l.trim().to_string());
            let check = keys.iter().find_map(|k| line(k))?;
            let meta = path.strip_prefix(dir).expect("under the examples").display().to_string();
            Some(Example { meta, check })
        })
        .collect()
}

/// The words of a stap command line with the options stp lacks mapped,
/// each mapping with the reason it keeps the example's meaning.
fn map_options(words: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        match w.as_str() {
            // stap builds symbol tables of the programs `-d FILE` names
            // (with `--ldd`, also of the libraries they use) into its
            // module, for symbolizing user addresses as it runs. stp's
            // object has no such tables; what is compiled is the same.
            "-d" => {
                words.next();
            }
            "--ldd" => {}
            _ => out.push(w),
        }
    }
    out
}

/// A directory mirroring the example's own (a link to each of its files)
/// and a `bin/stap` resolving to stp.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(example_dir: &Path) -> Sandbox {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for entry in std::fs::read_dir(example_dir).into_iter().flatten().flatten() {
            std::os::unix::fs::symlink(entry.path(), dir.path().join(entry.file_name())).expect("a link");
        }
        let bin = dir.path().join(".bin");
        std::fs::create_dir(&bin).expect(".bin/");
        std::os::unix::fs::symlink(stp(), bin.join("stap")).expect("stap -> stp");
        Sandbox { dir }
    }

    fn path(&self) -> String {
        format!("{}:{}", self.dir.path().join(".bin").display(), std::env::var("PATH").unwrap_or_default())
    }

    fn sh(&self, line: &str, limit: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(limit)
            .args(["sh", "-c", line])
            .current_dir(self.dir.path())
            .env("PATH", self.path())
            .env("SYSTEMTAP_TAPSET", root().join("stdlib"));
        cmd
    }

    /// The words of a `stap ...` line after the shell's expansions
    /// (quotes, `$$`, backquotes), run where the example would run.
    fn words(&self, rest: &str) -> Vec<String> {
        let out = run_in(&mut self.sh(&format!("printf '%s\\0' {rest}"), BUILD_LIMIT), None);
        assert!(out.status.success(), "sh could not expand {rest:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    }
}

/// `timeout`'s arguments for building an example.
const BUILD_LIMIT: &[&str] = &["-k", "5", PER_EXAMPLE];

/// `timeout`'s arguments for running one.
const RUN_LIMITS: &[&str] = &["-s", "KILL", RUN_LIMIT];

/// Runs one example's line under `limit` (`timeout`'s arguments); with
/// `run`, a `stap` line that would run until interrupted (no `-T`, no
/// `-c`) gets `-T 5`.
fn run_example(dir: &Path, ex: &Example, limit: &[&str], run: bool) -> Output {
    let meta = dir.join(&ex.meta);
    let sandbox = Sandbox::new(meta.parent().expect("a directory"));
    // A word `$$` means the shell that runs the check, alive while it
    // runs: this process stands in for it (`'$$vars'` stays as it is).
    let me = std::process::id().to_string();
    let line = ex.check.split(' ').map(|w| if w == "$$" { me.as_str() } else { w }).collect::<Vec<_>>().join(" ");
    match line.strip_prefix("stap ") {
        Some(rest) => {
            let mut args = map_options(sandbox.words(rest));
            if run && !args.iter().any(|a| a == "-T" || a == "-c") {
                args.splice(0..0, ["-T".to_string(), "5".to_string()]);
            }
            let mut cmd = Command::new("timeout");
            cmd.args(limit).arg(stp()).args(&args).current_dir(sandbox.dir.path()).env("PATH", sandbox.path());
            run_in(&mut cmd, None)
        }
        None => run_in(&mut sandbox.sh(&line, limit), None),
    }
}

/// Did the example run out of time: `timeout`'s SIGTERM (124), or its
/// SIGKILL 5 s later?
fn timed_out(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    matches!(out.status.code(), Some(124 | 137)) || out.status.signal() == Some(9)
}

/// The cause of a failure, from stp's diagnostics: the first error's kind
/// and, where there is one, the name it is about.
fn cause(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if timed_out(out) {
        return format!("time limit ({PER_EXAMPLE} s)");
    }
    if crashed(out) {
        return "crash".into();
    }
    let quoted = |l: &str| l.split('\'').nth(1).unwrap_or_default().to_string();
    let family = |p: &str| p.split(['.', '(']).next().unwrap_or_default().to_string();
    for l in stderr.lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("stp: option ") {
            return format!("option not supported: {}", quoted(rest));
        }
        if l.starts_with("cannot attach kernel.function") && l.contains("no kprobes") {
            return "kernel-function probes: this host has no kprobes and refuses fentry (they run in the VM)".into();
        }
        if let Some(msg) = l.strip_prefix("ERROR: ") {
            // The message, without the address or script location.
            let mut msg: Vec<&str> =
                msg.split(' ').take_while(|w| !w.starts_with("0x") && *w != "near" && *w != "[man").collect();
            if msg.last() == Some(&"at") {
                msg.pop();
            }
            return format!("runtime error: {}", msg.join(" "));
        }
        if let Some(msg) = l.strip_prefix("parse error: ") {
            return format!("parse error: {msg}");
        }
        let Some(msg) = l.strip_prefix("semantic error: ").or_else(|| l.strip_prefix("error: ")) else { continue };
        return if msg.starts_with("probe point mismatch") {
            format!("unresolved probe alias: {}.*", quoted(msg))
        } else if let Some(p) = msg.strip_prefix("probe point not supported by stp: ") {
            let why = if stderr.contains("which need DWARF debuginfo") { "needs DWARF" } else { "not supported" };
            format!("probe point {why}: {}", family(p))
        } else if let Some(p) = msg.strip_prefix("probe point needs DWARF debuginfo, which stp does not use: ") {
            format!("probe point needs DWARF: {}", family(p))
        } else if msg.contains("' matched nothing") {
            format!("probe point matched nothing on this kernel: {}", family(&quoted(msg)))
        } else if let Some(f) = msg.strip_prefix("unresolved function ") {
            format!("unresolved function: {}", f.split_whitespace().next().unwrap_or_default())
        } else {
            format!("semantic error: {msg}")
        };
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no message)");
    format!("other: {last}")
}

#[test]
fn examples_build() {
    let Some(dir) = examples_dir() else { return };
    let floor: usize = read_table("floor.tsv").get("examples").expect("floor.tsv has an examples row").parse().unwrap();
    let exceptions = read_table("exceptions.tsv");
    let all = examples(&dir, &["test_check:", "test_check_bpf:"]);
    assert!(all.len() > 150, "the examples are there ({} found)", all.len());
    // The slowest first, so that the others run beside them.
    let mut queue: Vec<&Example> = all.iter().collect();
    queue.sort_by_key(|ex| !SLOW.contains(&ex.meta.as_str()));
    let next = Mutex::new(queue.into_iter());
    let results: Mutex<Vec<(&Example, Output, std::time::Duration)>> = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let Some(ex) = next.lock().unwrap().next() else { break };
                    let start = std::time::Instant::now();
                    let out = run_example(&dir, ex, BUILD_LIMIT, false);
                    results.lock().unwrap().push((ex, out, start.elapsed()));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.meta.cmp(&b.0.meta));

    let (mut passed, mut skipped) = (0, 0);
    let mut crashes = Vec::new();
    let mut unexpectedly_passing = Vec::new();
    let mut by_cause: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (ex, out, _) in &results {
        let ok = out.status.success() && !crashed(out);
        if crashed(out) && !timed_out(out) {
            crashes.push(format!("{}: {}", ex.meta, String::from_utf8_lossy(&out.stderr)));
        }
        if exceptions.contains_key(&ex.meta) {
            skipped += 1;
            if ok {
                unexpectedly_passing.push(ex.meta.clone());
            }
        } else if ok {
            passed += 1;
        } else {
            by_cause.entry(cause(out)).or_default().push(format!("{} ({})", ex.meta, ex.check));
        }
    }
    let total = results.len() - skipped;
    println!("examples: {passed} of {total} pass ({skipped} listed exceptions skipped)");
    let mut causes: Vec<_> = by_cause.iter().collect();
    causes.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    for (cause, list) in causes {
        println!("  {} × {cause}", list.len());
        for ex in list {
            println!("      {ex}");
        }
    }
    results.sort_by_key(|r| std::cmp::Reverse(r.2));
    let slowest: Vec<String> =
        results.iter().take(5).map(|(ex, _, t)| format!("{} {:.1}s", ex.meta, t.as_secs_f64())).collect();
    println!("  slowest: {}", slowest.join(", "));
    for ex in &unexpectedly_passing {
        println!("  note: {ex} is listed as an exception but passes");
    }
    assert!(crashes.is_empty(), "stp crashed on:\n{}", crashes.join("\n"));
    assert!(passed >= floor, "examples: {passed} pass, below the floor of {floor}");
}

/// Every exception names an example that exists and gives a reason.
#[test]
fn exceptions_are_real_examples_with_reasons() {
    let Some(dir) = examples_dir() else { return };
    for (meta, reason) in read_table("exceptions.tsv") {
        assert!(dir.join(&meta).is_file(), "exceptions.tsv lists {meta}, which does not exist");
        assert!(reason.len() > 10, "exceptions.tsv: {meta} needs a reason");
    }
}

/// Whether a check line runs the script in guru mode (`-g`, alone or
/// among other one-letter options).
fn guru(line: &str) -> bool {
    line.split_whitespace().any(|w| {
        w.strip_prefix('-').is_some_and(|f| {
            !f.starts_with(['-', 'D', 'I', 'G', 'e', 'o', 'c', 'x', 'T', 'm'])
                && f.chars().all(|c| c.is_ascii_alphanumeric())
                && f.contains('g')
        })
    })
}

/// SystemTap's examples run as its installcheck runs them, on the host.
#[test]
fn examples_run_on_the_host() {
    let Some(dir) = examples_dir() else { return };
    if !common::as_root("running SystemTap's examples") {
        return;
    }
    let floor: usize =
        read_table("floor.tsv").get("installcheck").expect("floor.tsv has an installcheck row").parse().unwrap();
    let exceptions = read_table("exceptions.tsv");
    let (mut queue, mut not_run) = (Vec::new(), Vec::new());
    for ex in examples(&dir, &["test_installcheck:"]) {
        if exceptions.contains_key(&ex.meta) {
            not_run.push(format!("{} (listed exception)", ex.meta));
        } else if guru(&ex.check) {
            not_run.push(format!("{} (guru mode)", ex.meta));
        } else {
            queue.push(ex);
        }
    }
    let next = Mutex::new(queue.iter());
    let results: Mutex<Vec<(&Example, Output)>> = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let Some(ex) = next.lock().unwrap().next() else { break };
                    let out = run_example(&dir, ex, RUN_LIMITS, true);
                    results.lock().unwrap().push((ex, out));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.meta.cmp(&b.0.meta));
    let mut passed = Vec::new();
    let mut crashes = Vec::new();
    let mut by_cause: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (ex, out) in &results {
        let killed = out.status.code().is_none() || out.status.code() == Some(137);
        if out.status.success() && !crashed(out) && !out.stdout.is_empty() {
            passed.push(ex.meta.clone());
            continue;
        }
        let why = if killed {
            format!("did not end within {RUN_LIMIT} s")
        } else if out.status.success() && !crashed(out) {
            "exited 0 without output".to_string()
        } else if String::from_utf8_lossy(&out.stderr).contains("the kernel's verifier refused") {
            // stp's bug, but not a crash of stp: reported by cause.
            "the kernel's verifier refused a program (a bug in stp)".to_string()
        } else {
            if crashed(out) {
                crashes.push(format!("{}: {}", ex.meta, String::from_utf8_lossy(&out.stderr)));
            }
            cause(out)
        };
        by_cause.entry(why).or_default().push(format!("{} ({})", ex.meta, ex.check));
    }
    println!("examples run: {} of {} pass ({} not run)", passed.len(), results.len(), not_run.len());
    println!("  passed: {}", passed.join(", "));
    let mut causes: Vec<_> = by_cause.iter().collect();
    causes.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    for (cause, list) in causes {
        println!("  {} × {cause}", list.len());
        for ex in list {
            println!("      {ex}");
        }
    }
    println!("  not run: {}", not_run.join(", "));
    assert!(crashes.is_empty(), "stp crashed running:\n{}", crashes.join("\n"));
    assert!(passed.len() >= floor, "examples run: {} pass, below the floor of {floor}", passed.len());
}
