//! Syscall tracepoints served by one dispatcher on the raw syscall
//! tracepoints (`-D SYSCALL_DISPATCH_MIN`), against the same probes on
//! their own tracepoints: the same workload gives the same output, and
//! that output is what the workload did.

use super::{PASS5, as_root, stp_run_clean};

/// A process that makes known calls: getppid 3 times, getpgid(BAD) 4
/// times, sched_yield twice and getsid(BAD) 5 times, with BAD a pid no
/// process has (so both fail with ESRCH), and writes "hello" twice to
/// /dev/null. The numbers come from libc, not from stp's table.
fn workload() -> String {
    format!(
        "perl -e 'syscall({ppid}) for 1..3; syscall({pgid}, {BAD}) for 1..4; syscall({yield_}) for 1..2; \
         syscall({sid}, {BAD}) for 1..5; open(my $f, \">\", \"/dev/null\"); syswrite($f, \"hello\") for 1..2'",
        ppid = libc::SYS_getppid,
        pgid = libc::SYS_getpgid,
        yield_ = libc::SYS_sched_yield,
        sid = libc::SYS_getsid,
    )
}

const BAD: i64 = 999_999_999;

const CALLS: [(&str, u32); 4] = [("getppid", 3), ("getpgid", 4), ("sched_yield", 2), ("getsid", 5)];

/// Four entry and four exit points in hand-written multi-point probes, a
/// second probe on the same entry points (a second dispatcher layer), a
/// third on getpgid alone reading `$pid` (a layer of one point: its own
/// tracepoint), and `$ret` on exit.
fn script() -> String {
    let points = |side: &str| {
        CALLS.iter().map(|(c, _)| format!("kernel.trace(\"syscalls:sys_{side}_{c}\")")).collect::<Vec<_>>().join(", ")
    };
    let mut s = format!(
        "global enters, again, exits, rets, pids\n\
         probe {} {{ if (pid() == target()) enters[pp()]++ }}\n\
         probe {} {{ if (pid() == target()) again[pp()]++ }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getpgid\") {{ if (pid() == target()) pids[$pid]++ }}\n\
         probe {} {{ if (pid() == target()) {{ exits[pp()]++; rets[pp()] += $ret }} }}\n\
         probe end {{\n",
        points("enter"),
        points("enter"),
        points("exit"),
    );
    for (c, _) in CALLS {
        let e = format!("kernel.trace(\"syscalls:sys_enter_{c}\")");
        let x = format!("kernel.trace(\"syscalls:sys_exit_{c}\")");
        let e_q = e.replace('"', "\\\"");
        let x_q = x.replace('"', "\\\"");
        s.push_str(&format!("  printf(\"%s %d %d\\n\", \"{e_q}\", enters[\"{e_q}\"], again[\"{e_q}\"])\n"));
        s.push_str(&format!("  printf(\"%s %d\\n\", \"{x_q}\", exits[\"{x_q}\"])\n"));
        if c != "getppid" {
            s.push_str(&format!("  printf(\"ret %s %d\\n\", \"{c}\", rets[\"{x_q}\"])\n"));
        }
    }
    s.push_str(&format!("  printf(\"pids %d\\n\", pids[{BAD}])\n}}\n"));
    s
}

/// What the script prints for the workload.
fn expected() -> String {
    let esrch = -i64::from(libc::ESRCH);
    let mut s = String::new();
    for (c, n) in CALLS {
        s.push_str(&format!("kernel.trace(\"syscalls:sys_enter_{c}\") {n} {n}\n"));
        s.push_str(&format!("kernel.trace(\"syscalls:sys_exit_{c}\") {n}\n"));
        let ret = match c {
            "getpgid" | "getsid" => esrch * i64::from(n),
            _ => 0,
        };
        if c != "getppid" {
            s.push_str(&format!("ret {c} {ret}\n"));
        }
    }
    s.push_str("pids 4\n");
    s
}

#[test]
fn dispatched_and_own_tracepoints_see_the_same_calls() {
    if !as_root("syscall dispatch") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (script, cmd) = (script(), workload());
    for (min, dispatched) in [("SYSCALL_DISPATCH_MIN=4", true), ("SYSCALL_DISPATCH_MIN=0", false)] {
        let (status, out, err) = stp_run_clean(&["-vv", "-D", min, "-c", &cmd, "-e", &script]);
        assert_eq!(status, 0, "{min}: {err}");
        assert_eq!(out, expected(), "{min}: {err}");
        // Two layers of four on entry, one on exit.
        let served = if dispatched { "12 syscall tracepoints served by dispatchers" } else { "" };
        assert_eq!(err.contains("served by dispatchers"), dispatched, "{min}: {err}");
        assert!(err.contains(served), "{min}: {err}");
    }
}

/// The whole `syscalls:sys_enter_*` wildcard through one dispatcher, with
/// a tapset alias (`syscall.write`, its `$field`s read through the
/// dispatcher's record) beside it.
#[test]
fn every_syscall_entry_is_one_dispatcher() {
    if !as_root("syscall dispatch") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let mut script = "global n, w\n\
        probe kernel.trace(\"syscalls:sys_enter_*\") { if (pid() == target()) n[pp()]++ }\n\
        probe syscall.write { if (pid() == target() && count == 5) w[name, user_string_n(buf_uaddr, count)]++ }\n\
        probe end {\n"
        .to_string();
    for (c, _) in CALLS {
        script.push_str(&format!("  printf(\"{c} %d\\n\", n[\"kernel.trace(\\\"syscalls:sys_enter_{c}\\\")\"])\n"));
    }
    script.push_str("  printf(\"write %d\\n\", w[\"write\", \"hello\"])\n}\n");
    let (status, out, err) = stp_run_clean(&["-vv", "-c", &workload(), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let want: String = CALLS.iter().map(|(c, n)| format!("{c} {n}\n")).collect::<String>() + "write 2\n";
    assert_eq!(out, want, "{err}");
    // One dispatcher attached: syscall.write, a second program on write,
    // keeps its own tracepoint (a layer of one point).
    assert_eq!(err.matches("raw_syscalls:sys_enter: dispatcher ").count(), 1, "{err}");
    let served: usize = err
        .lines()
        .find_map(|l| l.strip_suffix(" syscall tracepoints served by dispatchers"))
        .and_then(|n| n.parse().ok())
        .expect("a count of served tracepoints");
    // Every entry tracepoint of the x86_64 table and syscall.write.
    assert!(served > 300, "{served}: {err}");
}

/// A 64-bit program that makes 32-bit calls through `int $0x80` (they set
/// the task's TS_COMPAT, as an ia32 program's do): ia32 getpid (20, which
/// is writev on x86_64) 3 times and ia32 mkdir(NULL) (39, getpid on
/// x86_64) twice, between 2 native getppid calls.
const COMPAT: &str = r#"
#include <unistd.h>
#include <sys/syscall.h>
static long int80(long nr, long a) {
	long r;
	__asm__ volatile ("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "memory");
	return r;
}
int main(void) {
	syscall(SYS_getppid);
	for (int i = 0; i < 3; i++) int80(20, 0);
	for (int i = 0; i < 2; i++) int80(39, 0);
	syscall(SYS_getppid);
	return 0;
}
"#;

/// Compat calls fire `raw_syscalls` with their 32-bit numbers, and no
/// per-syscall tracepoint: the dispatcher drops them as the kernel does.
#[test]
fn compat_calls_fire_no_syscall_tracepoint() {
    if !as_root("syscall dispatch") {
        return;
    }
    let Some(prog) = super::c_program::build("compat calls", "compat", COMPAT, &["-O2"]) else { return };
    // Without IA32 emulation `int $0x80` kills the program: nothing to test.
    if !std::process::Command::new(prog.text()).status().is_ok_and(|s| s.success()) {
        eprintln!("skipped compat calls: this kernel does not run 32-bit calls");
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let names = ["writev", "getpid", "mkdir", "getppid"];
    let points: Vec<String> = names.iter().map(|n| format!("kernel.trace(\"syscalls:sys_enter_{n}\")")).collect();
    let mut script =
        format!("global n\nprobe {} {{ if (pid() == target()) n[pp()]++ }}\nprobe end {{\n", points.join(", "));
    for (name, p) in names.iter().zip(&points) {
        script.push_str(&format!("  printf(\"{name} %d\\n\", n[\"{}\"])\n", p.replace('"', "\\\"")));
    }
    script.push_str("}\n");
    for (min, dispatched) in [("SYSCALL_DISPATCH_MIN=4", true), ("SYSCALL_DISPATCH_MIN=0", false)] {
        let (status, out, err) = stp_run_clean(&["-vv", "-D", min, "-c", &prog.text(), "-e", &script]);
        assert_eq!(status, 0, "{min}: {err}");
        assert_eq!(out, "writev 0\ngetpid 0\nmkdir 0\ngetppid 2\n", "{min}: {err}");
        assert_eq!(err.contains("served by dispatchers"), dispatched, "{min}: {err}");
    }
}
