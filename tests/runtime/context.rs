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

/// The task's fields in kernel handlers: the current task's (`ppid()`,
/// `pgrp()`, `sid()`, `pexecname()`, the `ns_*` family) and any task's
/// through `task_current()` and `task_parent()`, each checked against
/// what the traced process reads of itself in /proc/self/stat.
#[test]
fn task_fields_agree_with_proc_stat() {
    if !as_root("task intrinsics in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() != target() || execname() != \"perl\") next\n\
          t = task_current(); p = task_parent(t)\n\
          printf(\"pid=%d ppid=%d pgrp=%d sid=%d prio=%d nice=%d state=%d\\n\", \
                 task_pid(t), ppid(), pgrp(), sid(), task_prio(t), task_nice(t), task_state(t))\n\
          printf(\"pid=%d ppid=%d pgrp=%d sid=%d tid=%d\\n\", ns_pid(), ns_ppid(), ns_pgrp(), ns_sid(), task_tid(t))\n\
          printf(\"parent=%d %s %s %s\\n\", task_pid(p), task_execname(p), pexecname(), task_execname(t))\n\
          printf(\"ids=%d %d %d %d %d %d %d %d\\n\", task_uid(t), task_gid(t), task_euid(t), task_egid(t), \
                 uid(), gid(), ns_euid(), ns_egid())\n\
          printf(\"cpu=%d\\n\", task_cpu(t) == cpu())\n\
          exit()\n\
        }\n";
    // The process, under another user, reads its own stat after the
    // getppid stp saw.
    let cmd = "setpriv --reuid=65534 --regid=65534 --clear-groups perl -e 'getppid(); open(F, \"/proc/self/stat\"); my @f = split / /, <F>; \
               open(P, \"/proc/$f[3]/comm\"); my $pc = <P>; chomp $pc; \
               print STDERR \"pid=$f[0] ppid=$f[3] pgrp=$f[4] sid=$f[5] prio=$f[17] nice=$f[18] state=0\\n\", \
               \"pid=$f[0] ppid=$f[3] pgrp=$f[4] sid=$f[5] tid=$f[0]\\n\", \"parent=$f[3] $pc $pc perl\\n\", \
               \"ids=\", join(\" \", ($<, (split / /, $()[0], $>, (split / /, $))[0]) x 2), \"\\ncpu=1\\n\"'";
    let (status, out, err) = stp_run_clean(&["-c", cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    // What perl printed (to stderr) follows stp's own messages, if any.
    let want: String = err.lines().filter(|l| l.contains('=')).map(|l| format!("{l}\n")).collect();
    assert_eq!(want.lines().count(), 5, "{err}");
    assert_eq!(out, want, "{err}");
    assert!(out.contains("ids=65534 65534 65534 65534 "), "{out}");
}

/// `HZ()` and `jiffies()` agree on both sides (the kernel's CONFIG_HZ and
/// jiffies), and the small intrinsics work in the kernel.
#[test]
fn clock_and_small_intrinsics_in_kernel_handlers() {
    if !as_root("HZ and jiffies in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let body = "printf(\"%d %d\\n\", HZ(), jiffies())\n\
        printf(\"%d%d%d%d %d\\n\", isdigit(\"7a\"), isdigit(\"a7\"), isdigit(\"\"), isdigit(\"9\"), is_myproc())\n\
        r = randint(7); printf(\"%d\\n\", r >= 0 && r < 7)\n\
        try { println(randint(0)) } catch (e) { println(e) }\n\
        c = get_cycles(); printf(\"%d\\n\", get_cycles() >= c && c > 0)\n";
    let (status, user, kernel, err) = super::foreach::on_both_sides("unused", body, &[]);
    assert_eq!(status, 0, "{err}");
    let split = |s: &str| -> (i64, i64, String) {
        let (first, rest) = s.split_once('\n').unwrap_or_default();
        let mut n = first.split(' ').map(|w| w.parse::<i64>().unwrap_or(-1));
        (n.next().unwrap_or(-1), n.next().unwrap_or(-1), rest.to_string())
    };
    let (uhz, uj, urest) = split(&user);
    let (khz, kj, krest) = split(&kernel);
    let config = std::process::Command::new("sh")
        .args(["-c", "zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r)"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let hz: i64 = config.lines().find_map(|l| l.strip_prefix("CONFIG_HZ=")).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(hz > 0, "no CONFIG_HZ in the kernel's configuration");
    assert_eq!((uhz, khz), (hz, hz), "{user}{kernel}");
    // The kernel's handler ran after begin, within a few seconds.
    assert!(kj >= uj - 1 && kj - uj < 5 * hz, "jiffies: begin {uj}, kernel {kj}");
    let want = "1001 1\n1\nrange too wide\n1\n";
    assert_eq!(urest, want, "the user side: {err}");
    assert_eq!(krest, want, "the kernel: {err}");
}

/// `ftrace()` writes its message to the kernel's trace buffer.
#[test]
fn ftrace_writes_to_the_trace_buffer() {
    if !as_root("ftrace() in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let tag = format!("stp-ftrace-{}", std::process::id());
    let script = format!(
        "probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() == target()) {{ ftrace(\"{tag}\" . sprint(6 * 7)); exit() }}\n\
         }}\n"
    );
    let (status, _, err) = stp_run_clean(&["-c", "perl -e getppid", "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let trace = ["/sys/kernel/tracing/trace", "/sys/kernel/debug/tracing/trace"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    assert!(trace.contains(&format!("{tag}42")), "not in the trace buffer");
}

/// A `catch` whose `try` cannot fail is code no path reaches, which the
/// verifier refuses: it is left out.
#[test]
fn a_catch_that_cannot_run_is_left_out() {
    if !as_root("unreachable catch blocks") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let body = "x = 1; try { x = 2 } catch (e) { println(e) }\n\
                try { x++ } catch { x = 9 }\n\
                println(x)\n";
    let (status, user, kernel, err) = super::foreach::on_both_sides("unused", body, &[]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(user, "3\n", "the user side: {err}");
    assert_eq!(kernel, "3\n", "the kernel: {err}");
}

/// `print_backtrace()` in a kernel handler prints the kernel's stack, a
/// line per frame as stap prints them: address, function, offset and
/// size, module.
#[test]
fn print_backtrace_prints_the_kernel_stack_with_symbols() {
    if !as_root("print_backtrace in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
                    if (pid() == target()) { print_backtrace(); println(\"--\"); exit() }\n\
                  }\n";
    let (status, out, err) = stp_run_clean(&["-D", "MAXBACKTRACE=3", "-c", "perl -e getppid", "-e", script]);
    assert_eq!(status, 0, "{err}");
    let frames: Vec<&str> = out.lines().take_while(|l| *l != "--").collect();
    assert_eq!(frames.len(), 3, "MAXBACKTRACE frames: {out}");
    for f in &frames {
        // " 0x%016x : NAME+0xOFF/0xSIZE [MODULE]"
        let (addr, rest) = f.strip_prefix(" 0x").and_then(|r| r.split_once(" : ")).unwrap_or_default();
        assert!(addr.len() == 16 && addr.chars().all(|c| c.is_ascii_hexdigit()), "{f}");
        let (sym, module) = rest.split_once(" [").unwrap_or_default();
        assert_eq!(module, "kernel]", "{f}");
        let (_, place) = sym.split_once("+0x").unwrap_or_default();
        assert!(place.contains("/0x"), "{f}");
    }
    let (status, out, err) = stp_run_clean(&["-c", "perl -e getppid", "-e", script]);
    assert_eq!(status, 0, "{err}");
    // The system call's way in is on the stack.
    assert!(out.lines().any(|l| l.contains(" : do_syscall_64+0x")), "{out}");
}

/// `backtrace()` in a kernel handler is the stack's addresses in hex, a
/// string that can key an array; `print_stack()` prints it with the
/// kernel's symbols, in the kernel or (here in `end`) on the user side.
#[test]
fn backtrace_strings_key_arrays_and_print_with_symbols() {
    if !as_root("backtrace() in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global s, one\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() != target()) next\n\
          s[backtrace()] <<< 1\n\
          if (!one++) { println(backtrace()); print_stack(backtrace()); println(\"--\") }\n\
        }\n\
        probe end { foreach (k in s) { printf(\"%d\\n\", @count(s[k])); print_stack(k) } }\n";
    let (status, out, err) = stp_run_clean(&["-c", "perl -e 'getppid() for 1..3'", "-e", script]);
    assert_eq!(status, 0, "{err}");
    let (kernel, user) = out.split_once("--\n").unwrap_or_default();
    let mut lines = kernel.lines();
    let hex = lines.next().unwrap_or_default();
    let words: Vec<&str> = hex.split(' ').collect();
    assert!(!words.is_empty() && words.len() <= 6, "{hex}");
    assert!(words.iter().all(|w| w.len() == 18 && w.starts_with("0x")), "{hex}");
    let frames: String = lines.map(|l| format!("{l}\n")).collect();
    assert_eq!(frames.lines().count(), words.len(), "{out}");
    assert!(frames.contains(" : do_syscall_64+0x"), "{out}");
    // The same stack three times: one key, drawn the same on the user side.
    assert_eq!(user, format!("3\n{frames}"), "{out}");
}

/// A tracepoint handler that reads a name both sources have (`$id` of
/// raw_syscalls:sys_enter) and one only its record has (`$args`) reads
/// both from the record: kill(pid, 0) is seen with the traced process's
/// pid and signal 0.
#[test]
fn record_fields_and_shared_names_read_from_one_source() {
    if !as_root("tracepoint fields with a name BTF arguments share") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        "probe kernel.trace(\"raw_syscalls:sys_enter\") {{\n\
           if (pid() == target() && $id == {} && $args[1] == 0) {{ printf(\"%d %d %d\\n\", $id, $args[0], pid()); exit() }}\n\
         }}\n",
        libc::SYS_kill
    );
    let (status, out, err) = stp_run_clean(&["-c", "perl -e 'kill 0, $$; sleep 1'", "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let v: Vec<i64> = out.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert_eq!(v.len(), 3, "{out}");
    assert_eq!(v.first(), Some(&libc::SYS_kill), "{out}");
    // kill's first argument is the pid perl passed: its own.
    assert_eq!(v.get(1), v.get(2), "{out}");
}
