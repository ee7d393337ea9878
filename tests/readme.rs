//! Every command README.md shows runs, so that the README cannot rot: the
//! lines of each fenced block without a language (or tagged `sh`) are
//! commands, run one after the other by `sh` in a scratch directory that
//! has `examples/` (the repository's), a `script.stp` and a `mytapsets/`
//! for the synopsis, and this build's `stp` first on the PATH. A block of
//! output or configuration must be tagged (```text, ```json, ```yaml) to
//! be left out; an untagged line this test cannot run fails it.
//!
//! Each command must exit 0 without an error on stderr. Where the prose
//! says what a command prints, [`EXPECT`] checks it.
//!
//! What runs differs from what is shown only as listed here:
//! - probes this host cannot attach (`kernel.function`, `kprobe`: the
//!   host has no kprobes, and fentry is refused) are compiled with `-p4`
//!   instead of run;
//! - [`SKIPPED`]: the whole test suite and the benchmarks (minutes of
//!   runs; CI runs the suite itself), and the release builds of the
//!   package and the static stp (tools/check_install.sh and tests/vm/stp-vm
//!   make them);
//! - `cargo build --release && ...`: the release build is left out (the
//!   start-up gate of tests/run.sh builds it), the command runs with this
//!   build's stp;
//! - `tests/vm/stp-vm`: the VM is not booted; a stand-in runs the
//!   commands it was given here, compiled with `-p4` (tests/runtime/vm.rs
//!   runs the VM);
//! - the notation `[ARGS...]` of the synopsis is dropped.
//!
//! Every run of stp is bounded: after 60 s it gets SIGINT, which ends a
//! script as `exit()` does.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{as_root, root, stp};

/// Commands left out, by how they start, and why.
const SKIPPED: &[(&str, &str)] = &[
    ("tests/run.sh", "the whole test suite, which .ci/run runs"),
    ("bench/run.sh", "the benchmarks, minutes of runs"),
    ("RUNS=", "the benchmarks, minutes of runs"),
    ("cargo install --locked cargo-deb", "release builds: tools/check_install.sh builds and checks the package"),
    ("RUSTFLAGS='-C target-feature=+crt-static'", "a release build: tests/vm/stp-vm makes it for the VM tests"),
];

/// What a command prints, where the README says so: (a part of the
/// command, a part of its standard output).
const EXPECT: &[(&str, &str)] = &[
    // The files `cat` opens: /etc/hostname, as its first free descriptor.
    ("cat /etc/hostname' -e 'probe syscall.openat", "openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY) = 3\n"),
    // The synopsis' script.
    ("stp script.stp", "hello from script.stp\n"),
];

/// The `stp` on the PATH: this build's, bounded in time, compiling only
/// (`-p4`) when `STP_README_P4` is set.
const STP_WRAPPER: &str = "#!/bin/sh\n\
    exec timeout -s INT -k 10 60 \"$STP_README_BIN\" ${STP_README_P4:+-p4} \"$@\"\n";

/// The stand-in for `tests/vm/stp-vm`: its commands (`-- CMD...` or
/// `--case 'CMD'`...) run here, stp compiling only.
const VM_STANDIN: &str = "#!/bin/sh\n\
    export STP_README_P4=1\n\
    if [ \"$1\" = -- ]; then shift; exec \"$@\"; fi\n\
    while [ $# -gt 0 ]; do\n\
    \x20   case $1 in\n\
    \x20   --case) sh -c \"$2\" || exit 1; shift 2 ;;\n\
    \x20   *) shift ;;\n\
    \x20   esac\n\
    done\n";

/// The commands of the README's untagged (or `sh`) fenced blocks, with
/// their line numbers.
fn commands(readme: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut block: Option<bool> = None;
    for (i, line) in readme.lines().enumerate() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            block = match block {
                None => Some(matches!(info.trim(), "" | "sh" | "shell")),
                Some(_) => None,
            };
            continue;
        }
        if block != Some(true) || line.trim().is_empty() {
            continue;
        }
        // A remark after the command: `CMD      (quicker, noisier)`.
        let command = match line.find("    (") {
            Some(at) if line.trim_end().ends_with(')') => &line[..at],
            _ => line,
        };
        out.push((i + 1, command.trim().to_string()));
    }
    out
}

/// The command as it runs here, or why it does not.
fn as_run(command: &str) -> Result<(String, bool), &'static str> {
    if let Some((_, why)) = SKIPPED.iter().find(|(start, _)| command.starts_with(start)) {
        return Err(why);
    }
    let mut c = command.replace(" [ARGS...]", "");
    if let Some(rest) = c.strip_prefix("cargo build --release && ./target/release/stp") {
        c = format!("stp{rest}");
    }
    let compile_only = c.contains("kernel.function") || c.contains("kprobe.");
    Ok((c, compile_only))
}

/// A scratch directory to run the README's commands in.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::os::unix::fs::symlink(root().join("examples"), d.join("examples")).unwrap();
    std::fs::write(d.join("script.stp"), "probe begin { println(\"hello from script.stp\"); exit() }\n").unwrap();
    std::fs::create_dir(d.join("mytapsets")).unwrap();
    std::fs::write(d.join("mytapsets/mine.stp"), "function mine:long () { return 1 }\n").unwrap();
    let exec = |path: &Path, text: &str| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    exec(&d.join("bin/stp"), STP_WRAPPER);
    exec(&d.join("tests/vm/stp-vm"), VM_STANDIN);
    dir
}

#[test]
fn the_readme_lists_its_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let found = commands(&readme);
    // The synopsis, the example, the VM, the syscall example at least.
    assert!(found.len() >= 8, "{found:?}");
    assert!(found.iter().any(|(_, c)| c.starts_with("stp -c 'cat /etc/hostname'")), "{found:?}");
    assert_eq!(as_run("RUNS=3 CALLS=500000 bench/run.sh"), Err("the benchmarks, minutes of runs"));
    assert_eq!(as_run("cargo build --release && ./target/release/stp x.stp"), Ok(("stp x.stp".to_string(), false)));
}

#[test]
fn every_readme_command_runs() {
    if !as_root("running the README's commands") {
        return;
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let dir = scratch();
    let path = format!("{}:{}", dir.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let mut failures = Vec::new();
    let mut ran = 0;
    for (line, command) in commands(&readme) {
        let (run, compile_only) = match as_run(&command) {
            Ok(r) => r,
            Err(why) => {
                eprintln!("README.md:{line}: skipped ({why}): {command}");
                continue;
            }
        };
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &run]).current_dir(dir.path()).env("PATH", &path).env("STP_README_BIN", stp());
        if compile_only {
            cmd.env("STP_README_P4", "1");
        }
        let out = cmd.output().unwrap();
        ran += 1;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("README.md:{line}: {run}{}: {}", if compile_only { " (-p4)" } else { "" }, out.status);
        let mut problem = None;
        if !out.status.success() {
            problem = Some(format!("exit {}", out.status));
        } else if stderr.to_lowercase().contains("error") {
            problem = Some("an error on stderr".to_string());
        } else if let Some((_, want)) = EXPECT.iter().find(|(part, _)| run.contains(part))
            && !stdout.contains(want)
        {
            problem = Some(format!("no {want:?} on stdout"));
        }
        if let Some(p) = problem {
            failures.push(format!("README.md:{line}: {command}\n  {p}\n  stdout: {stdout}\n  stderr: {stderr}"));
        }
    }
    assert!(ran >= 6, "only {ran} commands ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
