//! What stp knows about the kernel it compiles for.
//!
//! One model, two sources: the running kernel (`/proc`, `/sys`) or a
//! snapshot of the same files in a directory (`--kernel DIR`), so that tests
//! and cross-compilation do not depend on the machine. Everything is read
//! lazily: a script that never asks about `CONFIG_` options never reads the
//! kernel configuration.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the kernel's description comes from.
#[derive(Clone, Debug)]
pub enum KernelSource {
    /// The running kernel.
    Live,
    /// A directory written by `stp --snapshot-kernel DIR`.
    Snapshot(PathBuf),
}

/// The kernel model.
#[derive(Debug)]
pub struct Kernel {
    pub source: KernelSource,
    /// The release, as `uname -r` prints it.
    pub release: String,
    /// The architecture, as stap names it (`x86_64`).
    pub arch: String,
    config: OnceLock<HashMap<String, String>>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

impl Kernel {
    /// The running kernel.
    pub fn live() -> Kernel {
        let release = read_trimmed(Path::new("/proc/sys/kernel/osrelease")).unwrap_or_else(|| "unknown".into());
        Kernel {
            source: KernelSource::Live,
            release,
            arch: std::env::consts::ARCH.to_string(),
            config: OnceLock::new(),
        }
    }

    /// A snapshot directory: `release` and `arch` files name the kernel.
    pub fn snapshot(dir: &Path) -> Kernel {
        let release = read_trimmed(&dir.join("release")).unwrap_or_else(|| "unknown".into());
        let arch = read_trimmed(&dir.join("arch")).unwrap_or_else(|| std::env::consts::ARCH.to_string());
        Kernel { source: KernelSource::Snapshot(dir.to_path_buf()), release, arch, config: OnceLock::new() }
    }

    /// A kernel described only by its release and architecture (tests).
    pub fn fixed(release: &str, arch: &str, config: HashMap<String, String>) -> Kernel {
        let cell = OnceLock::new();
        let _ = cell.set(config);
        Kernel { source: KernelSource::Live, release: release.into(), arch: arch.into(), config: cell }
    }

    /// The version without the release suffix (`6.1.0` of `6.1.0-27-cloud-amd64`).
    pub fn version(&self) -> &str {
        self.release.split('-').next().unwrap_or(&self.release)
    }

    /// The value of a `CONFIG_` option (`y`, `m`, a number, a quoted
    /// string without its quotes), or `None` when it is not set.
    pub fn config(&self, name: &str) -> Option<String> {
        self.config.get_or_init(|| self.read_config()).get(name).cloned()
    }

    fn read_config(&self) -> HashMap<String, String> {
        let text = match &self.source {
            KernelSource::Live => read_gzip(Path::new("/proc/config.gz"))
                .or_else(|| std::fs::read_to_string(format!("/boot/config-{}", self.release)).ok()),
            KernelSource::Snapshot(dir) => {
                std::fs::read_to_string(dir.join("config")).ok().or_else(|| read_gzip(&dir.join("config.gz")))
            }
        };
        text.map(|t| parse_config(&t)).unwrap_or_default()
    }
}

fn read_gzip(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Parses a kernel `.config`: `CONFIG_X=value` lines; `# ... is not set`
/// lines and comments are skipped.
pub fn parse_config(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines() {
        let c = parse_config("# CONFIG_A is not set\nCONFIG_B=y\nCONFIG_C=\"x y\"\nCONFIG_NR_CPUS=64\n");
        assert_eq!(c.get("CONFIG_A"), None);
        assert_eq!(c.get("CONFIG_B").map(String::as_str), Some("y"));
        assert_eq!(c.get("CONFIG_C").map(String::as_str), Some("x y"));
        assert_eq!(c.get("CONFIG_NR_CPUS").map(String::as_str), Some("64"));
    }

    #[test]
    fn version_drops_the_suffix() {
        let k = Kernel::fixed("6.1.0-27-cloud-amd64", "x86_64", HashMap::new());
        assert_eq!(k.version(), "6.1.0");
    }
}
