//! `@entry` in a system call's return probe that is a `sys_exit_`
//! tracepoint: the expression runs where the call entered (its
//! `sys_enter_` tracepoint), per thread, and the return reads it.

use super::{PASS5, as_root, stp_run_clean};

/// A process that sleeps 300 ms three times, one clock_nanosleep call
/// each (as strace shows Time::HiRes making them): the
/// time from the entry to the return of each call is at least that, and
/// `@entry(n++)` numbers the process's calls as they entered (other
/// processes' calls run the entry too, hence the condition).
#[test]
fn entry_values_of_a_syscall_reach_its_return() {
    if !as_root("@entry on a syscall return") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n\n\
         probe syscall.nanosleep.return, syscall.clock_nanosleep.return {\n\
           if (pid() == target()) printf(\"%d %d\\n\", @entry(pid() == target() ? n++ : -1), gettimeofday_us() - @entry(gettimeofday_us()))\n\
         }\n";
    let cmd = "perl -e 'use Time::HiRes; Time::HiRes::nanosleep(3e8) for 1..3'";
    // On the exit's own tracepoint, and with the exit served by the
    // dispatcher on raw_syscalls:sys_exit.
    for extra in [&[][..], &["-D", "SYSCALL_DISPATCH_MIN=1"][..]] {
        let mut args = extra.to_vec();
        args.extend(["-c", cmd, "-e", script]);
        let (status, out, err) = stp_run_clean(&args);
        assert_eq!(status, 0, "{extra:?}: {err}");
        let lines: Vec<(u64, u64)> = out
            .lines()
            .map(|l| {
                let (a, b) = l.split_once(' ').unwrap_or_else(|| panic!("two numbers, not {l:?}"));
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        assert_eq!(lines.len(), 3, "{extra:?}: three sleeps: {out}{err}");
        for (i, (n, us)) in lines.iter().enumerate() {
            assert_eq!(*n, i as u64, "{extra:?}: the calls in the order they entered: {out}");
            assert!((300_000..2_300_000).contains(us), "{extra:?}: a 300 ms sleep took {us} us: {out}");
        }
    }
}

/// `int_arg(n)` at a system call's entry tracepoint is the call's n-th
/// argument, as at a kprobe on the call; in `@entry` of the return probe
/// too. The process calls getpgid(BAD) and getsid(BAD2) with pids no
/// process has (ESRCH), so the arguments are the test's own numbers.
#[test]
fn int_arg_at_a_syscall_entry_is_its_argument() {
    if !as_root("int_arg at sys_enter") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"syscalls:sys_enter_getpgid\") { if (pid() == target()) printf(\"enter %d\\n\", int_arg(1)) }\n\
         probe kernel.trace(\"syscalls:sys_exit_getsid\") {\n\
           if (pid() == target()) printf(\"exit %d %d\\n\", @entry(pointer_arg(1)), $ret)\n\
         }\n";
    let cmd = format!("perl -e 'syscall({}, 999999001); syscall({}, 999999002)'", libc::SYS_getpgid, libc::SYS_getsid);
    for extra in [&[][..], &["-D", "SYSCALL_DISPATCH_MIN=1"][..]] {
        let mut args = extra.to_vec();
        args.extend(["-c", &cmd, "-e", script]);
        let (status, out, err) = stp_run_clean(&args);
        assert_eq!(status, 0, "{extra:?}: {err}");
        assert_eq!(out, format!("enter 999999001\nexit 999999002 {}\n", -libc::ESRCH), "{extra:?}: {err}");
    }
}
