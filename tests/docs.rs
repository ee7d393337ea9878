//! The generated documentation stays current and works: `docs/stp.1`
//! (`stp --man`), the completion scripts in `docs/completions/` (`stp
//! --completions SHELL`), and the library reference `docs/library.md`
//! (`stp --dump-functions` and `--dump-probe-aliases`) are what this stp
//! prints; `UPDATE_DOCS=1 cargo test --test docs` rewrites them. The
//! completions are tried in the shells themselves: bash on a pty,
//! typing TAB, and fish's `complete -C`; their candidates are checked
//! against the kernel's tracefs. zsh is only parsed (`zsh -n`).

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::path::Path;
use std::process::Command;

use common::{in_ci, root, stp};

/// What `stp ARGS` prints, which must succeed.
fn stdout_of(args: &[&str]) -> String {
    let out = Command::new(stp()).args(args).output().unwrap();
    assert!(out.status.success(), "stp {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Compares the committed `path` with `now`, or rewrites it with
/// `UPDATE_DOCS=1`.
fn check_current(path: &str, now: &str, how: &str) {
    let file = root().join(path);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, now).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == now,
        "{path} is not what `{how}` prints now; rewrite it with UPDATE_DOCS=1 cargo test --test docs"
    );
}

#[test]
fn the_manual_page_is_current() {
    let page = stdout_of(&["--man"]);
    check_current("docs/stp.1", &page, "stp --man");
    // Every option of `stp --help` is in the page.
    let help = stdout_of(&["--help"]);
    for word in help.split_whitespace().filter(|w| w.starts_with("--") && w.len() > 2) {
        let long = word.split(|c: char| !c.is_ascii_alphanumeric() && c != '-').next().unwrap();
        let escaped = long.replace('-', "\\-");
        assert!(page.contains(&escaped), "{long} is missing from the manual page");
    }
    for section in ["PROBE POINTS", "TAPSET LIBRARY", "DIFFERENCES FROM STAP", "EXIT STATUS"] {
        assert!(page.contains(&format!(".SH \"{section}\"")) || page.contains(&format!(".SH {section}")), "{section}");
    }
    // man renders it without warnings, where man is installed.
    if Path::new("/usr/bin/man").exists() {
        let file = root().join("docs/stp.1");
        let out = Command::new("man").args(["--warnings", "-l"]).arg(&file).env("MANWIDTH", "80").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.trim().is_empty(), "man: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("DIFFERENCES FROM STAP"));
    }
}

#[test]
fn the_completion_scripts_are_current() {
    for (shell, path) in
        [("bash", "docs/completions/stp.bash"), ("zsh", "docs/completions/_stp"), ("fish", "docs/completions/stp.fish")]
    {
        check_current(path, &stdout_of(&["--completions", shell]), &format!("stp --completions {shell}"));
    }
}

/// Whether a shell is installed; in CI it must be (tests/run.sh installs
/// it).
fn have(shell: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {shell}")).output().unwrap().status.success();
    if !found {
        assert!(!in_ci(), "{shell} is not installed, and CI=true (tests/run.sh installs it)");
        eprintln!("skipped: {shell} is not installed");
    }
    found
}

/// A PATH with this stp first.
fn path_with_stp() -> String {
    format!("{}:{}", stp().parent().unwrap().display(), std::env::var("PATH").unwrap_or_default())
}

/// Types `typed` and two TABs into an interactive bash on a pty that has
/// sourced the bash completion; returns what the terminal showed.
fn bash_completes(typed: &str) -> String {
    const DRIVER: &str = r#"
import os, pty, select, sys, time
script, typed = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.environ['PS1'] = '$ '
    os.execvp('bash', ['bash', '--norc', '--noprofile', '-i'])
def read(seconds, until=None):
    # Until `until` shows, or nothing more came for a second.
    out, end, last = b'', time.time() + seconds, time.time()
    while time.time() < end and not (until and until in out):
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 65536)
                last = time.time()
            except OSError:
                break
        elif until is None and out and time.time() - last > 1:
            break
    return out
os.write(fd, b'source ' + script.encode() + b'; echo sourced\n')
read(10, b'sourced\r\n$ ')
os.write(fd, typed.encode() + b'\t\t')
out = read(30)
os.kill(pid, 9)
sys.stdout.write(out.decode(errors='replace'))
"#;
    let out = Command::new("python3")
        .args(["-c", DRIVER])
        .arg(root().join("docs/completions/stp.bash"))
        .arg(typed)
        .env("PATH", path_with_stp())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The scheduler tracepoints of this kernel whose names start with `prefix`.
fn sched_events(prefix: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/sys/kernel/tracing/events/sched") else { return Vec::new() };
    let mut names: Vec<String> = dir
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[test]
fn bash_completes_options_and_probe_points() {
    if !have("bash") || !have("python3") || !common::as_root("listing tracepoints") {
        return;
    }
    // An option.
    let shown = bash_completes("stp --snapshot-pr");
    assert!(shown.contains("--snapshot-prune"), "{shown:?}");
    // A tracepoint, inside the quotes a probe point needs: the only
    // sched_switch* event is completed in full and the quote closed.
    assert_eq!(sched_events("sched_switch"), ["sched_switch"], "this kernel's sched_switch events");
    let shown = bash_completes("stp -l 'kernel.trace(\"sched:sched_swi");
    assert!(shown.contains("stp -l 'kernel.trace(\"sched:sched_switch\")'"), "{shown:?}");
    // Several candidates are listed: each sched_wak* event of tracefs.
    let events = sched_events("sched_wak");
    assert!(events.len() > 1, "{events:?}");
    let shown = bash_completes("stp -l 'kernel.trace(\"sched:sched_wak");
    for e in &events {
        assert!(shown.contains(&format!("kernel.trace(\"sched:{e}\")")), "{e}: {shown:?}");
    }
}

#[test]
fn fish_completes_probe_points() {
    if !have("fish") || !common::as_root("listing tracepoints") {
        return;
    }
    let script = root().join("docs/completions/stp.fish");
    let out = Command::new("fish")
        .arg("-c")
        .arg(format!(
            "source {}; complete -C \"stp -l 'kernel.trace(\\\"sched:sched_wak\"",
            script.display()
        ))
        .env("PATH", path_with_stp())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = sched_events("sched_wak");
    assert!(events.len() > 1, "{events:?}");
    let mut listed: Vec<&str> = shown.lines().map(|l| l.split('\t').next().unwrap_or(l)).collect();
    listed.sort();
    let expected: Vec<String> = events.iter().map(|e| format!("kernel.trace(\"sched:{e}\")")).collect();
    assert_eq!(listed, expected, "{shown}");
}

#[test]
fn zsh_parses_its_completion() {
    if !have("zsh") {
        return;
    }
    let out = Command::new("zsh").arg("-n").arg(root().join("docs/completions/_stp")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
