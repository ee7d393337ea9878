//! C programs that the probe tests build with gcc, each in its own
//! temporary directory.

use std::path::PathBuf;
use std::process::Command;

/// A built program; its directory goes when it is dropped.
pub struct CProgram {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl CProgram {
    /// The path as a script and `-c` take it.
    pub fn text(&self) -> String {
        self.path.display().to_string()
    }
}

/// Builds `source` as `name` with `gcc FLAGS`. Without gcc or
/// `sys/sdt.h` (systemtap-sdt-dev, which tests/run.sh installs) the test
/// is skipped with the reason outside CI, and fails in CI.
pub fn build(test: &str, name: &str, source: &str, flags: &[&str]) -> Option<CProgram> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let c = dir.path().join(format!("{name}.c"));
    std::fs::write(&c, source).expect("the source written");
    let path = dir.path().join(name);
    let out = match Command::new("gcc").args(flags).arg("-o").arg(&path).arg(&c).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(!super::in_ci(), "{test}: CI has gcc (tests/run.sh): {e}");
            eprintln!("skipped {test}: no gcc ({e})");
            return None;
        }
    };
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && err.contains("sys/sdt.h") {
        assert!(!super::in_ci(), "{test}: CI has sys/sdt.h (tests/run.sh): {err}");
        eprintln!("skipped {test}: sys/sdt.h is missing (apt-get install systemtap-sdt-dev)");
        return None;
    }
    assert!(out.status.success(), "gcc {name}.c: {err}");
    Some(CProgram { _dir: dir, path })
}
