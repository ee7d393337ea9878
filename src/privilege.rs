//! What stp needs to load and attach a script, checked before it starts
//! so that a user without it gets one line saying so instead of a
//! failure halfway (a map it cannot create, tracefs it cannot read).

use std::path::Path;

/// Capabilities that load, attach and size a script's objects:
/// (bit, name).
const NEEDED: [(u32, &str); 3] = [(39, "CAP_BPF"), (38, "CAP_PERFMON"), (24, "CAP_SYS_RESOURCE")];

/// The tracefs directories stp reads tracepoints from.
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The effective capability set of this process.
fn effective_caps() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// Whether this process may read and search `dir`.
fn readable(dir: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(dir) else { return false };
    // SAFETY: access reads the NUL-terminated path and nothing else.
    unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::X_OK) == 0 }
}

/// The tracefs directory stp cannot read, if tracefs is mounted at all
/// and none of its places is readable.
pub fn unreadable_tracefs() -> Option<&'static str> {
    let mounted: Vec<&str> = TRACEFS.into_iter().filter(|d| Path::new(d).join("events").exists()).collect();
    let first = TRACEFS.into_iter().find(|d| Path::new(d).exists())?;
    if mounted.iter().any(|d| readable(&format!("{d}/events"))) {
        return None;
    }
    if mounted.is_empty() && readable(first) {
        // Not mounted but open: stp mounts it (as root) or reports that.
        return None;
    }
    Some(first)
}

/// Why this process cannot run a script, in one line; `None` when it can.
pub fn run_refusal() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let caps = effective_caps();
    let missing: Vec<&str> =
        NEEDED.iter().filter(|(bit, _)| caps & (1u64 << bit) == 0).map(|(_, name)| *name).collect();
    let tracefs = unreadable_tracefs();
    if (root || missing.is_empty()) && tracefs.is_none() {
        return None;
    }
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!("without {}", missing.join(", ")));
    }
    if let Some(dir) = tracefs {
        why.push(format!("{dir} is not readable"));
    }
    Some(format!(
        "ERROR: stp needs root privileges (or CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE, and read access to \
         tracefs) to run a script: {}",
        why.join("; ")
    ))
}
