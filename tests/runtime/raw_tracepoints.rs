//! Tracepoint handlers that read nothing of their context attach as raw
//! tracepoints (fast to attach and detach); those with target variables
//! keep the perf-event tracepoint. Both count what the workload did.

use super::{PASS5, as_root, stp_run, stp_run_clean};

const SCRIPT: &str = "global n, names\n\
    probe kernel.trace(\"sched:sched_process_fork\"), kernel.trace(\"sched:sched_process_exec\"),\n\
          kernel.trace(\"sched:sched_process_exit\") { if (pid() == target()) n[pp()]++ }\n\
    probe kernel.trace(\"sched:sched_process_exec\") { if (pid() == target()) names[$filename]++ }\n\
    probe end {\n\
      printf(\"fork %d\\n\", n[\"kernel.trace(\\\"sched:sched_process_fork\\\")\"])\n\
      printf(\"exec %d\\n\", n[\"kernel.trace(\\\"sched:sched_process_exec\\\")\"])\n\
      printf(\"exit %d\\n\", n[\"kernel.trace(\\\"sched:sched_process_exit\\\")\"])\n\
      printf(\"true %d\\n\", names[\"/bin/true\"])\n\
    }\n";

#[test]
fn context_free_handlers_run_as_raw_tracepoints() {
    if !as_root("raw tracepoints") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (status, out, err) = stp_run(&["-p3", "-e", SCRIPT]);
    assert_eq!(status, 0, "{err}");
    let sections: Vec<&str> = out.lines().filter(|l| l.starts_with("probe_")).collect();
    assert_eq!(
        sections,
        [
            "probe_0_0 /* raw_tracepoint/sched_process_fork */:",
            "probe_0_1 /* raw_tracepoint/sched_process_exec */:",
            "probe_0_2 /* raw_tracepoint/sched_process_exit */:",
            "probe_1_0 /* tracepoint/sched/sched_process_exec */:",
        ],
        "{out}"
    );
    // In the command's own process: the exec of perl (stp's shell becomes
    // the command once the probes are attached), three children forked
    // and reaped, then an exec of /bin/true, which exits.
    let cmd = "perl -e 'for (1..3) { if (!fork) { exit } wait } exec q(/bin/true)'";
    let (status, out, err) = stp_run_clean(&["-c", cmd, "-e", SCRIPT]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "fork 3\nexec 2\nexit 1\ntrue 1\n", "{err}");
}
