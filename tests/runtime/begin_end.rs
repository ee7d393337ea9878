//! `begin`, `end` and `never`: the probes that need no event.

use super::{PASS5, as_root, stp_run_clean};

#[test]
fn begin_and_end_run_in_priority_order_and_never_does_not_run() {
    if !as_root("begin and end priorities") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Written out of order; exit() in the last begin probe. The never
    // probe is translated with the others (its handler writes n) and
    // never runs.
    let script = "global n\n\
        probe end(5) { println(\"end 5 \", n) }\n\
        probe begin(3) { exit() }\n\
        probe begin(2) { println(\"begin 2\") }\n\
        probe never { n = 1; println(\"never\") }\n\
        probe end { println(\"end 0\") }\n\
        probe begin(-1) { println(\"begin -1\") }\n\
        probe end(-5) { println(\"end -5\") }\n\
        probe begin { println(\"begin 0\") }\n";
    let (status, out, err) = stp_run_clean(&["-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "begin -1\nbegin 0\nbegin 2\nend -5\nend 0\nend 5 0\n", "{err}");
}

/// Once a kernel handler calls exit(), later events run no handler, as
/// stap's probes stop firing once the session stops (here 2,000 calls
/// follow in a burst, before the runtime could have detached).
#[test]
fn exit_in_a_kernel_handler_stops_the_later_ones() {
    if !super::as_root("exit() stopping kernel handlers") {
        return;
    }
    let _one = super::PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n\n\
                  probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
                    if (pid() == target() && execname() == \"perl\") { n++; exit() }\n\
                  }\n\
                  probe end { println(n) }\n";
    let cmd = super::getppid_command(2000, 0);
    let (status, out, err) = super::stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "1\n", "{err}");
}

/// An alias with both a prologue and an epilogue (`= POINTS { .. }, { .. }`)
/// runs them around the user's handler: the prologue's value reaches the
/// handler, and the handler's change reaches the epilogue. A `next` in a
/// prologue skips the handler and the epilogue.
#[test]
fn an_alias_prologue_and_epilogue_run_around_the_handler() {
    if !as_root("alias prologue and epilogue") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe around = begin { x = 3; println(\"prologue \", x) }, { println(\"epilogue \", x) }\n\
        probe skipped = begin(1) { next }, { println(\"not reached\") }\n\
        probe around { x = x * 7; println(\"handler \", x) }\n\
        probe skipped { println(\"not reached either\") }\n\
        probe begin(2) { exit() }\n";
    let (status, out, err) = stp_run_clean(&["-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, format!("prologue 3\nhandler {}\nepilogue {}\n", 3 * 7, 3 * 7), "{err}");
}
