//! Facts of the machine stp compiles for that are not in the kernel's BTF
//! or configuration: which CPUs it may bring up, and the user stp runs as.
//!
//! In: the kernel model's source. On the running kernel they are read from
//! the machine (`/sys/devices/system/cpu/possible`, `getuid`); a snapshot
//! records them (`cpus_possible`, `uid`) and reads them back. Out:
//! [`PossibleCpus`] and a uid. Snapshots written before these files existed
//! still load: their CPUs are unknown (`None`: the generated code then
//! bounds its per-CPU loops at its own maximum, and the map memory check
//! counts one CPU), and their user is the one running stp.

use std::path::Path;

use super::{Kernel, KernelSource};

/// The CPUs the kernel may bring up, as `/sys/devices/system/cpu/possible`
/// lists them (`0-3,8`): per-CPU maps take a value for each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PossibleCpus {
    /// Inclusive ranges of CPU ids.
    ranges: Vec<(u32, u32)>,
}

impl PossibleCpus {
    /// Parses the list (`0-3,8`); `None` when it is not one.
    pub fn parse(text: &str) -> Option<PossibleCpus> {
        let mut ranges = Vec::new();
        for part in text.trim().split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            ranges.push((a.trim().parse().ok()?, b.trim().parse().ok()?));
        }
        Some(PossibleCpus { ranges })
    }

    /// Reads the running machine's list.
    pub fn live() -> Option<PossibleCpus> {
        PossibleCpus::read(Path::new(LIVE_CPUS))
    }

    fn read(path: &Path) -> Option<PossibleCpus> {
        PossibleCpus::parse(&std::fs::read_to_string(path).ok()?)
    }

    /// How many CPUs there are (at least 1).
    pub fn count(&self) -> u64 {
        let n: u64 = self.ranges.iter().map(|&(a, b)| u64::from(b.saturating_sub(a)) + 1).sum();
        n.max(1)
    }

    /// One past the highest CPU id: the ids a loop over the CPUs visits.
    pub fn ids(&self) -> u32 {
        self.ranges.iter().map(|&(_, b)| b).max().unwrap_or(0).saturating_add(1)
    }

    /// The list as the kernel writes it.
    pub fn text(&self) -> String {
        let parts: Vec<String> =
            self.ranges.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
        parts.join(",")
    }
}

const LIVE_CPUS: &str = "/sys/devices/system/cpu/possible";

/// The uid of the process running stp.
fn own_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

impl Kernel {
    /// The CPUs the kernel may bring up; `None` where unknown (a fixed
    /// kernel, or a snapshot that did not record them).
    pub fn possible_cpus(&self) -> Option<PossibleCpus> {
        match &self.source {
            KernelSource::Live => PossibleCpus::live(),
            KernelSource::Snapshot(dir) => PossibleCpus::read(&dir.join("cpus_possible")),
            KernelSource::Fixed => None,
        }
    }

    /// The user stp compiles for: the uid `is_myproc()` compares the
    /// current task's with. The user running stp, or the one a snapshot
    /// recorded.
    pub fn user(&self) -> u32 {
        match &self.source {
            KernelSource::Snapshot(dir) => std::fs::read_to_string(dir.join("uid"))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or_else(own_uid),
            KernelSource::Live | KernelSource::Fixed => own_uid(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_count_their_ranges_and_ids() {
        let cpus = PossibleCpus::parse("0-3,8\n").expect("a list");
        assert_eq!(cpus.count(), 5);
        assert_eq!(cpus.ids(), 9);
        assert_eq!(cpus.text(), "0-3,8");
        let one = PossibleCpus::parse("0").expect("a list");
        assert_eq!((one.count(), one.ids()), (1, 1));
        assert_eq!(PossibleCpus::parse("0-x"), None);
        assert_eq!(PossibleCpus::parse(""), None);
    }

    #[test]
    fn the_live_list_counts_what_the_machine_reports() {
        let Ok(text) = std::fs::read_to_string(LIVE_CPUS) else { return };
        let cpus = PossibleCpus::live().expect("the machine's list parses");
        // Each id named once: the count is the number of ids listed.
        let listed: u64 = text
            .trim()
            .split(',')
            .map(|r| match r.split_once('-') {
                Some((a, b)) => b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1,
                None => 1,
            })
            .sum();
        assert_eq!(cpus.count(), listed);
    }

    #[test]
    fn a_snapshot_reads_back_its_cpus_and_user_and_old_ones_default() {
        let dir = std::env::temp_dir().join(format!("stp-machine-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = Kernel::snapshot(&dir);
        assert_eq!(old.possible_cpus(), None);
        assert_eq!(old.user(), own_uid());
        std::fs::write(dir.join("cpus_possible"), "0-5\n").unwrap();
        std::fs::write(dir.join("uid"), "4321\n").unwrap();
        let new = Kernel::snapshot(&dir);
        assert_eq!(new.possible_cpus().map(|c| c.count()), Some(6));
        assert_eq!(new.user(), 4321);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
