//! What a run killed by SIGKILL leaves behind, removed by the next run.
//! The kernel frees a process's programs, maps, links and perf events
//! when it dies; what outlives it are the kprobe events stp defines in
//! tracefs itself (kretprobes with a `.maxactive`), named
//! `stp_PID/NAME`. Events of a PID that is no longer running are removed;
//! those of a live stp are left alone.

use std::path::Path;

/// The events of `kprobe_events` text (`r16:stp_123/r0 vfs_read` lines)
/// that belong to an stp run whose pid `alive` says is gone.
pub fn stale_events(text: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let name = line.split_whitespace().next()?.split_once(':')?.1;
            let (group, _) = name.split_once('/')?;
            let pid: u32 = group.strip_prefix("stp_")?.parse().ok()?;
            (!alive(pid)).then(|| name.to_string())
        })
        .collect()
}

/// Removes the kprobe events of dead stp runs; returns how many went.
pub fn remove_stale_events() -> usize {
    let mut removed = 0;
    for tracefs in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        let file = Path::new(tracefs).join("kprobe_events");
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for name in stale_events(&text, crate::command::process_exists) {
            if crate::sys::remove_kprobe_event(&file, &name).is_ok() {
                removed += 1;
            }
        }
        break;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_events_of_dead_stp_runs_are_stale() {
        let text = "r16:stp_100/r0 vfs_read\n\
                    r4:stp_200/r1 vfs_write\n\
                    p:kprobes/mine do_sys_open\n\
                    r:stp_x/r0 vfs_read\n\
                    p:stp_300/p0 vfs_open\n";
        let alive = |pid: u32| pid == 200;
        assert_eq!(stale_events(text, alive), ["stp_100/r0", "stp_300/p0"]);
        assert!(stale_events("", alive).is_empty());
    }
}
