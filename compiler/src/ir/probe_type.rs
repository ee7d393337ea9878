//! `probe_type()`: stap's name of the low-level handler kind that serves
//! a probe point, from the point as `pp()` names it. Both placements ask
//! it: the eBPF back end when it writes a kernel handler, the runtime for
//! a user-placed one.

/// The handler kind of `point`.
pub fn probe_type(point: &str) -> &'static str {
    let ret = point.ends_with(".return");
    if point == "begin"
        || point == "end"
        || point == "error"
        || point.starts_with("begin(")
        || point.starts_with("end(")
        || point.starts_with("error(")
    {
        "begin_end"
    } else if point.starts_with("kernel.trace") {
        "kernel_tracepoint"
    } else if point.starts_with("process") {
        if ret { "uretprobe" } else { "uprobe" }
    } else if point.starts_with("timer.profile") {
        "profile_timer"
    } else if point.starts_with("timer.jiffies") {
        "timer"
    } else if point.starts_with("timer.") {
        "hrtimer"
    } else if point.starts_with("perf.") {
        "perf_event"
    } else if point.starts_with("netfilter") {
        "netfilter"
    } else if point.starts_with("procfs") {
        "procfs"
    } else if ret {
        "kretprobe"
    } else {
        "kprobe"
    }
}

#[cfg(test)]
mod tests {
    use super::probe_type;

    #[test]
    fn points_have_stap_handler_kinds() {
        assert_eq!(probe_type("kernel.function(\"vfs_read@fs/read_write.c:450\").return"), "kretprobe");
        assert_eq!(probe_type("kernel.function(\"vfs_read\")"), "kprobe");
        assert_eq!(probe_type("kernel.trace(\"syscalls:sys_enter_read\")"), "kernel_tracepoint");
        assert_eq!(probe_type("process(\"/bin/ls\").function(\"main\")"), "uprobe");
        assert_eq!(probe_type("begin"), "begin_end");
        assert_eq!(probe_type("timer.ms(100)"), "hrtimer");
        assert_eq!(probe_type("timer.profile"), "profile_timer");
    }
}
