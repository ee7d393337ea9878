//! `$$parms` in kernel handlers, on a tracepoint's BTF arguments: the
//! text names each argument with its value in hex.

use super::{PASS5, as_root, stp_run_clean};

#[test]
fn parms_of_a_btf_tracepoint_name_each_argument() {
    if !as_root("$$parms in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"sched_process_exec\") {\n\
                    if (pid() == target()) { println($$parms); printf(\"%x\\n\", pid()); exit() }\n\
                  }\n";
    let (status, out, err) = stp_run_clean(&["-c", "/bin/true", "-e", script]);
    assert_eq!(status, 0, "{err}");
    let mut lines = out.lines();
    let (parms, pid) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
    let parts: Vec<(&str, &str)> = parms.split(' ').filter_map(|p| p.split_once('=')).collect();
    let names: Vec<&str> = parts.iter().map(|p| p.0).collect();
    assert_eq!(names, ["p", "old_pid", "bprm"], "{parms}");
    assert!(parts.iter().all(|p| p.1.starts_with("0x") && p.1.len() > 2), "{parms}");
    // The exec keeps the pid: old_pid is the target's.
    assert_eq!(parts.get(1).map(|p| p.1), Some(format!("0x{pid}").as_str()), "{out}");
}

/// assert() in kernel handlers: a false condition is an error with its
/// message (or stap's "Assertion failed"), which try/catch catches, as on
/// the user side.
#[test]
fn assert_raises_its_message_on_both_sides() {
    if !as_root("assert in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let body = "try { assert(0, \"boom \" . sprint(6 * 7)) } catch (e) { println(e) }\n\
                try { assert(0) } catch (e) { println(e) }\n\
                assert(1, \"not this\"); println(\"ok\")\n";
    let (status, user, kernel, err) = super::foreach::on_both_sides("unused", body, &[]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(user, "boom 42\nAssertion failed\nok\n", "the user side: {err}");
    assert_eq!(kernel, "boom 42\nAssertion failed\nok\n", "the kernel: {err}");
}
