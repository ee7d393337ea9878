//! Runs shell scripts inside a throwaway VM that boots Debian's stock cloud
//! kernel, for what the host kernel cannot run (kernel-function probes,
//! BPF LSM), through `tests/vm/stp-vm`.
//!
//! A [`Vm`] collects cases (shell scripts) and files to copy in; [`Vm::run`]
//! boots once, runs every case in order, and gives back each case's stdout,
//! stderr and exit status. The guest's `/usr/bin/stp` is this repository's,
//! built statically by the script. One VM runs at a time: the emulated
//! guest takes both host cores, and timing-sensitive tests in it would time
//! out beside a second one.
//!
//! Outside CI, a run that cannot be set up here (the tools are missing and
//! we are not root, or the kernel package cannot be downloaded) is skipped
//! with the reason printed; with `CI=true` it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{in_ci, root};

/// `tests/vm/stp-vm`'s exit status when the VM cannot be set up here.
const CANNOT_SET_UP: i32 = 77;

/// Held while a VM runs.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Cases to run in one boot, and what they need in the guest.
pub struct Vm {
    cases: Vec<String>,
    copies: Vec<String>,
    modules: Vec<String>,
    case_timeout: Duration,
    timeout: Duration,
}

/// What one case did.
#[derive(Debug)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    /// The exit status; 124 when it ran out of its time; `None` when the
    /// VM stopped before the case ended.
    pub status: Option<i32>,
}

/// A whole VM run.
pub struct Run {
    /// One per case, in the order they were added.
    pub outcomes: Vec<Outcome>,
    /// Seconds from the VM's start until its `/init` ran (the guest's
    /// uptime then).
    pub boot: Option<f64>,
    /// The run's wall time on the host, building the guest included.
    pub wall: Duration,
}

impl Default for Vm {
    fn default() -> Vm {
        Vm::new()
    }
}

impl Vm {
    pub fn new() -> Vm {
        Vm {
            cases: Vec::new(),
            copies: Vec::new(),
            modules: Vec::new(),
            case_timeout: Duration::from_secs(120),
            timeout: Duration::from_secs(900),
        }
    }

    /// Puts `host` (a file or a directory; binaries statically linked) at
    /// `guest` in the guest.
    pub fn copy(&mut self, host: &Path, guest: &str) -> &mut Vm {
        self.copies.push(format!("{}:{guest}", host.display()));
        self
    }

    /// Puts the kernel package's module `name` and those it depends on in
    /// the guest, for `modprobe NAME`.
    pub fn module(&mut self, name: &str) -> &mut Vm {
        self.modules.push(name.to_string());
        self
    }

    /// Each case's time limit.
    pub fn case_timeout(&mut self, limit: Duration) -> &mut Vm {
        self.case_timeout = limit;
        self
    }

    /// The whole VM's time limit.
    pub fn timeout(&mut self, limit: Duration) -> &mut Vm {
        self.timeout = limit;
        self
    }

    /// Adds a case, a script for `/bin/sh` that starts in `/root`; returns
    /// its index in [`Run::outcomes`].
    pub fn case(&mut self, script: impl Into<String>) -> usize {
        self.cases.push(script.into());
        self.cases.len() - 1
    }

    /// Boots the VM and runs every case; `None` (with the reason printed)
    /// when `test` is skipped because the VM cannot run here.
    pub fn run(&self, test: &str) -> Option<Run> {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let results = tempfile::tempdir().expect("a temporary directory");
        let mut cmd = Command::new(script());
        cmd.arg("--results")
            .arg(results.path())
            .arg("--case-timeout")
            .arg(self.case_timeout.as_secs().to_string())
            .arg("--timeout")
            .arg(self.timeout.as_secs().to_string());
        for c in &self.copies {
            cmd.arg("--copy").arg(c);
        }
        // A static stp built already (else stp-vm builds this tree's).
        if let Some(stp) = std::env::var_os("STP_VM_STP") {
            cmd.arg("--stp").arg(stp);
        }
        for m in &self.modules {
            cmd.arg("--module").arg(m);
        }
        for c in &self.cases {
            cmd.arg("--case").arg(c);
        }
        let start = Instant::now();
        let out = cmd.output().expect("tests/vm/stp-vm runs");
        let wall = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(CANNOT_SET_UP) {
            assert!(!in_ci(), "{test}: the VM must run in CI (CI=true):\n{stderr}");
            eprintln!("skipping {test}: the VM cannot run here:\n{stderr}");
            return None;
        }
        assert!(out.status.success(), "{test}: the VM failed ({}):\n{stderr}", out.status);
        let outcomes = (1..=self.cases.len()).map(|n| outcome(&results.path().join(n.to_string()))).collect();
        let times = std::fs::read_to_string(results.path().join("vm-times")).unwrap_or_default();
        let boot = times.lines().find_map(|l| l.strip_prefix("boot ")?.parse().ok());
        Some(Run { outcomes, boot, wall })
    }
}

fn outcome(dir: &Path) -> Outcome {
    let read = |name: &str| String::from_utf8_lossy(&std::fs::read(dir.join(name)).unwrap_or_default()).into_owned();
    Outcome {
        stdout: read("stdout"),
        stderr: read("stderr"),
        status: std::fs::read_to_string(dir.join("status")).ok().and_then(|s| s.trim().parse().ok()),
    }
}

/// The harness script.
pub fn script() -> PathBuf {
    root().join("tests/vm/stp-vm")
}

/// `word` quoted for sh.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A command line for sh, every word quoted.
pub fn command_line<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}
