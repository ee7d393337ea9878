//! More of the tapset library: the local time zone (stdlib/tzinfo.stp),
//! and the functions added after library.rs, each run in a `begin` probe
//! (the user side) and in a kernel handler, checked against what the test
//! computes on its own.

use std::process::Command;

use super::{PASS5, as_root, assert_nothing_left, bpf_objects, getppid_command};

/// Runs `body` in a `begin` probe and on `syscalls:sys_enter_getppid` of
/// the `-c` command, with `TZ` set to `tz`; the two outputs.
fn both_sides_in_zone(tz: &str, body: &str) -> (String, String) {
    let script = format!(
        "global once\n\
         probe begin {{ {body}\n println(\"--\") }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() != target() || execname() != \"perl\" || once++) next\n\
           {body}\n\
           println(\"--\")\n\
         }}\n"
    );
    let cwd = tempfile::tempdir().expect("a directory");
    let before = bpf_objects();
    let out = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_stp"))
        .current_dir(cwd.path())
        .env("TZ", tz)
        .args(["-c", &getppid_command(1, 0), "-e", &script])
        .output()
        .expect("stp runs");
    assert_nothing_left(&before, "tz");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = stdout.split("--\n");
    let user = parts.next().unwrap_or_default().to_string();
    let kernel = parts.next().unwrap_or_default().to_string();
    (user, kernel)
}

/// What C's ctime() prints for `secs` in UTC, without the newline.
fn utc_ctime(secs: i64) -> String {
    // SAFETY: tm is plain data; gmtime_r and strftime get valid pointers
    // and the buffer's true size.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        assert!(!libc::gmtime_r(&secs, &mut tm).is_null(), "gmtime_r({secs})");
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c"%a %b %e %H:%M:%S %Y".as_ptr(), &tm);
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }
}

#[test]
fn the_time_zone_is_the_one_stp_started_in() {
    if !as_root("tz_ctime") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // POSIX zones need no tzdata: five and a half hours east of UTC, and
    // three west; the offset is stap's, seconds west of UTC.
    for (tz, west, name) in [("XYZ-5:30", -19800i64, "XYZ"), ("ABC+3", 10800, "ABC"), ("UTC0", 0, "UTC")] {
        let secs = [0i64, 1_700_000_000, 951_868_799];
        let body: Vec<String> = secs.iter().map(|s| format!("println(tz_ctime({s}))")).collect();
        let body = format!("println(tz_gmtoff(), \" \", tz_name())\n{}", body.join("\n"));
        let want: String = secs.iter().map(|&s| format!("{} {name}\n", utc_ctime(s - west))).collect();
        let want = format!("{west} {name}\n{want}");
        let (user, kernel) = both_sides_in_zone(tz, &body);
        assert_eq!(user, want, "TZ={tz}, the user side");
        assert_eq!(kernel, want, "TZ={tz}, the kernel");
    }
}

#[test]
fn system_runs_the_command_after_the_output_before_it() {
    if !as_root("system()") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("ran");
    // Each command prints a line and leaves a file the test reads: the
    // commands ran, with the arguments given, after what came before.
    let script = format!(
        "global once\n\
         probe begin {{ println(\"user before\"); system(\"echo user command; echo u >> {m}\") }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() != target() || execname() != \"perl\" || once++) next\n\
           println(\"kernel before\"); system(sprintf(\"echo kernel command %d; echo k >> {m}\", pid()))\n\
         }}\n",
        m = mark.display()
    );
    let (status, out, err) = super::stp_run_clean(&["-c", &getppid_command(1, 1), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let at = |l: &str| lines.iter().position(|x| *x == l).unwrap_or_else(|| panic!("{l:?} in {out:?}"));
    assert!(at("user before") < at("user command"), "{out:?}");
    let kernel = lines.iter().position(|l| l.starts_with("kernel command ")).expect("the kernel's command");
    assert!(at("kernel before") < kernel, "{out:?}");
    let pid: u32 = lines[kernel]["kernel command ".len()..].parse().unwrap();
    assert!(pid > 0, "the pid of the traced perl");
    let mut ran: Vec<String> = std::fs::read_to_string(&mark).unwrap().lines().map(String::from).collect();
    ran.sort();
    assert_eq!(ran, ["k", "u"], "both commands ran before stp ended");
}

#[test]
fn raise_signals_the_current_thread() {
    if !as_root("raise()") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // The traced perl reports the SIGUSR1 it catches, with its number as
    // its own %SIG names it; the probe raises it in perl only.
    let cmd = "perl -e '$SIG{USR1} = sub { print \"caught $_[0]\\n\" }; getppid(); sleep 1; print \"end\\n\"'";
    let script = format!(
        "probe kernel.trace(\"syscalls:sys_enter_getppid\") {{ if (pid() == target()) raise({}) }}",
        libc::SIGUSR1
    );
    let (status, out, err) = super::stp_run_clean(&["-g", "-c", cmd, "-e", &script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "caught USR1\nend\n", "{err}");
}

/// A program that prints where its functions `work` and `ask` are, then
/// calls both; `ask` makes the getppid system call itself (x86_64).
const WHERE: &str = r#"
#include <stdio.h>
__attribute__((noinline)) int work(int x) { return x * 3; }
__attribute__((noinline)) long ask(void) {
    long r;
    __asm__ volatile ("syscall" : "=a"(r) : "a"(110L) : "rcx", "r11", "memory");
    return r;
}
int main(void) {
    printf("%lx %lx\n", (unsigned long)&work, (unsigned long)&ask);
    fflush(stdout);
    volatile int r = work(5);
    ask();
    return r == 15 ? 0 : 1;
}
"#;

#[test]
fn addr_uaddr_and_user_mode_name_the_interrupted_code() {
    if !as_root("addr(), uaddr(), user_mode()") {
        return;
    }
    let Some(prog) = super::c_program::build("addr()", "where", WHERE, &["-O1", "-no-pie"]) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        "probe process(\"{p}\").function(\"work\") {{\n\
           if (pid() == target()) printf(\"uprobe %x %x %d %d\\n\", addr(), uaddr(), user_mode(), registers_valid())\n\
         }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() == target()) printf(\"tracepoint %x %d %d %d\\n\", uaddr(), user_mode(), addr(), registers_valid())\n\
         }}\n\
         probe begin {{ printf(\"begin %d %d %d %d\\n\", addr(), uaddr(), user_mode(), registers_valid()) }}\n",
        p = prog.text()
    );
    let (status, out, err) = super::stp_run_clean(&["-c", &prog.text(), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let (begin, rest): (Vec<&str>, Vec<&str>) = lines.iter().partition(|l| l.starts_with("begin"));
    assert_eq!(begin, ["begin 0 0 0 0"], "{out}");
    let own: Vec<&str> =
        rest.iter().find(|l| !l.starts_with("uprobe") && !l.starts_with("tracepoint")).unwrap().split(' ').collect();
    let work = u64::from_str_radix(own[0], 16).unwrap();
    let ask = u64::from_str_radix(own[1], 16).unwrap();
    // The uprobe stops at work's first instruction, in user mode.
    assert!(rest.contains(&format!("uprobe {work:x} {work:x} 1 1").as_str()), "work at {work:x}: {out}");
    // The system call came from inside ask, a few instructions on.
    let tp: Vec<&str> =
        rest.iter().find(|l| l.starts_with("tracepoint")).expect("the tracepoint fired").split(' ').collect();
    let at = u64::from_str_radix(tp[1], 16).unwrap();
    assert!((ask..ask + 64).contains(&at), "ask at {ask:x}, the call from {at:x}: {out}");
    assert_eq!(tp[2..], ["0", "0", "0"], "a tracepoint: kernel mode, no registers: {out}");
}

#[test]
fn user_mode_in_profiling_samples_follows_the_address_space() {
    if !as_root("user_mode() in timer.profile") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // x86_64 splits the address space: user addresses below 2^47, the
    // kernel's from 0xffff800000000000.
    let script = "global user, kernel, wrong\n\
         probe timer.profile {\n\
           if (pid() != target()) next\n\
           a = addr(); u = user_mode()\n\
           if (u && a > 0 && a < 0x800000000000) user++\n\
           else if (!u && a < 0) kernel++\n\
           else wrong++\n\
         }\n\
         probe end { printf(\"%d %d\\n\", user > 0, wrong) }\n";
    let cmd = "perl -e '1 for 1..20000000; getppid() for 1..200000'";
    let (status, out, err) = super::stp_run_clean(&["-c", cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "1 0\n", "samples in user mode, none contradicting their address: {err}");
}

/// A program that reads its own /proc/self/statm just before and just
/// after a getppid system call (nothing allocated between), burns about
/// 0.3 s of user time first, and prints both readings and its thread's
/// user and system time (getrusage) as of the call.
const STATM: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
static char before[128], after[128];
int main(void) {
    volatile unsigned long x = 0;
    struct rusage ru;
    int fd = open("/proc/self/statm", O_RDONLY);
    for (unsigned long i = 0; i < 300000000UL; i++) x += i;
    getrusage(RUSAGE_THREAD, &ru);
    long n = pread(fd, before, sizeof before - 1, 0);
    syscall(SYS_getppid);
    long m = pread(fd, after, sizeof after - 1, 0);
    printf("%ld %ld\n%.*s%.*s", (long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
           (long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, (int)n, before, (int)m, after);
    return 0;
}
"#;

/// What bytes_to_string() makes of `pages` pages of `page` bytes.
fn pages_text(pages: i64, page: i64) -> String {
    let bytes = pages * page;
    let post = |x: i64, y: i64, p: &str| {
        if x < 10 {
            format!("{x}.{:02}{p}", y * 100 / 1024)
        } else if x < 100 {
            format!("{x:2}.{}{p}", y * 10 / 1024)
        } else {
            format!("{x:4}{p}")
        }
    };
    match bytes {
        b if b < 1024 => format!("{b:5}"),
        b if b < 1024 * 1024 => post(b / 1024, b % 1024, "K"),
        b if b < 1024 * 1024 * 1024 => post(b / (1024 * 1024), (b / 1024) % 1024, "M"),
        b => post(b / (1024 * 1024 * 1024), (b / (1024 * 1024)) % 1024, "G"),
    }
}

#[test]
fn proc_mem_and_task_time_agree_with_proc() {
    if !as_root("proc_mem_*, task_utime") {
        return;
    }
    let Some(prog) = super::c_program::build("proc_mem", "statm", STATM, &["-O1"]) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
           if (pid() != target()) next\n\
           printf(\"%d %d %d %d %d\\n%s\\n\", proc_mem_size(), proc_mem_rss(), proc_mem_shr(), proc_mem_txt(), proc_mem_data(), proc_mem_string())\n\
           printf(\"%d %d\\n%s\\n%d %d %s\\n\", task_utime(), task_stime(), task_time_string(), cputime_to_msecs(task_utime()), cputime_to_usecs(task_utime()), cputime_to_string(61234567890))\n\
         }\n";
    let (status, out, err) = super::stp_run_clean(&["-c", &prog.text(), "-e", script]);
    assert_eq!(status, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let nums_ok = |l: &str| -> Option<usize> {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.iter().all(|w| w.parse::<i64>().is_ok()).then_some(w.len())
    };
    let nums = |l: &str| -> Vec<i64> {
        if nums_ok(l).is_none() {
            return Vec::new();
        }
        l.split_whitespace().map(|w| w.parse().unwrap()).collect()
    };
    // The program's lines (its rusage, then statm twice) and the probe's
    // (five numbers first), found by their shapes.
    let statm = lines.iter().position(|l| nums(l).len() == 7).expect("statm");
    let (rusage, before, after) = (nums(lines[statm - 1]), nums(lines[statm]), nums(lines[statm + 1]));
    let at = lines.iter().position(|l| nums_ok(l) == Some(5)).expect("the probe's line");
    let probe = nums(lines[at]);
    let lines = &lines[at..];
    let (utime, stime) = (nums(lines[2])[0], nums(lines[2])[1]);
    assert_eq!(before, after, "nothing changed around the call");
    // statm: size resident shared text lib data dt.
    assert_eq!(probe[0], before[0], "size: {out}");
    assert_eq!(probe[3], before[3], "text: {out}");
    assert_eq!(probe[4], before[5], "data: {out}");
    // Resident and shared pages: the kernel's counters keep per-CPU
    // deltas of at most a batch (max(32, 2 * CPUs)) each, which statm
    // adds in and stap's reading, as stp's, does not.
    let cpus = std::thread::available_parallelism().unwrap().get() as i64;
    let slack = 3 * cpus * 32.max(2 * cpus);
    assert!((probe[1] - before[1]).abs() <= slack, "rss {} vs statm {}: {out}", probe[1], before[1]);
    assert!((probe[2] - before[2]).abs() <= slack, "shr {} vs statm {}: {out}", probe[2], before[2]);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as i64;
    let want: Vec<String> = probe.iter().map(|&p| pages_text(p, page)).collect();
    assert_eq!(
        lines[1],
        format!("size: {}, rss: {}, shr: {}, txt: {}, data: {}", want[0], want[1], want[2], want[3], want[4])
    );
    // User and system time in nanoseconds: the kernel samples them by the
    // tick, getrusage scales them to the exact runtime; they differ by
    // some ticks. The 0.3 s of user time tells the unit.
    assert!((utime / 1000 - rusage[0]).abs() <= 50_000, "utime {utime} ns vs getrusage {} us: {out}", rusage[0]);
    assert!((stime / 1000 - rusage[1]).abs() <= 50_000, "stime {stime} ns vs getrusage {} us: {out}", rusage[1]);
    let as_text = |ns: i64| {
        let ms = ns / 1_000_000;
        format!("{}m{}.{:03}s", ms / 60_000, ms / 1000 % 60, ms % 1000)
    };
    assert_eq!(lines[3], format!("usr: {}, sys: {}", as_text(utime), as_text(stime)));
    assert_eq!(lines[4], format!("{} {} 1m1.234s", utime / 1_000_000, utime / 1000));
}

#[test]
fn socket_ports_and_addresses_agree_with_the_sockets() {
    if !as_root("inet_get_local_port, inet_get_ip_source") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Over IPv4 and IPv6 loopback, a connection to a listener: both ends
    // become established in perl's context; perl prints each end's port.
    let cmd = "perl -MIO::Socket::IP -e 'for my $h (\"127.0.0.1\", \"::1\") { \
        my $l = IO::Socket::IP->new(Listen => 1, LocalHost => $h, LocalPort => 0) or die \"$h: $@\"; \
        my $c = IO::Socket::IP->new(PeerHost => $h, PeerPort => $l->sockport) or die \"$h: $@\"; \
        my $a = $l->accept; print \"ends $h \", $c->sockport, \" \", $a->sockport, \"\\n\" }'";
    let script = "probe kernel.trace(\"sock:inet_sock_set_state\") {\n\
           if (pid() == target() && $newstate == 1)\n\
             printf(\"%d %d %s\\n\", $family, inet_get_local_port($skaddr), inet_get_ip_source($skaddr))\n\
         }\n\
         probe begin { println(format_ipaddr(0x0100007f, 2), \" \", format_ipaddr(0, 1)) }\n";
    let (status, out, err) = super::stp_run_clean(&["-c", cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let v6 = std::net::Ipv6Addr::LOCALHOST.segments().iter().map(|s| format!("{s:04x}")).collect::<Vec<_>>().join(":");
    let mut want = vec![format!("{} *unknown address family*", std::net::Ipv4Addr::LOCALHOST)];
    let mut got: Vec<String> = Vec::new();
    for line in out.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        if w[0] == "ends" {
            let (family, addr) =
                if w[1] == "::1" { (libc::AF_INET6, v6.as_str()) } else { (libc::AF_INET, "127.0.0.1") };
            want.push(format!("{family} {} {addr}", w[2]));
            want.push(format!("{family} {} {addr}", w[3]));
        } else {
            got.push(line.to_string());
        }
    }
    want.sort();
    got.sort();
    assert_eq!(got, want, "{out}{err}");
}

/// A program with two more threads that blocks SIGUSR1, sets a SIGUSR2
/// handler, and prints what it set (the kernel's flags as sigaction
/// reads them back), its thread count, and its address space in pages
/// before it makes a getppid call.
const SIGNALS: &str = r#"
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
static void on_usr2(int s, siginfo_t *i, void *c) { (void)s; (void)i; (void)c; }
static void *idle(void *a) { (void)a; pause(); return 0; }
int main(void) {
    sigset_t set;
    struct sigaction sa = {0}, now;
    pthread_t t;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, 0);
    sa.sa_sigaction = on_usr2;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR2, &sa, 0);
    sigaction(SIGUSR2, 0, &now);
    pthread_create(&t, 0, idle, 0);
    pthread_create(&t, 0, idle, 0);
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0;
    fscanf(f, "%ld", &size);
    printf("%lx %lx %ld\n", (unsigned long)now.sa_flags, (unsigned long)on_usr2, size);
    fflush(stdout);
    syscall(SYS_getppid);
    return 0;
}
"#;

#[test]
fn signal_state_and_atomics_agree_with_the_task() {
    if !as_root("is_sig_blocked, get_sa_flags, atomic_read") {
        return;
    }
    let Some(prog) = super::c_program::build("is_sig_blocked", "signals", SIGNALS, &["-O1", "-pthread"]) else {
        return;
    };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        "probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() != target()) next\n\
           t = task_current()\n\
           act = &@cast(t, \"task_struct\")->sighand->action[{usr2} - 1]\n\
           printf(\"probe %x %x %d %d %d\\n\", get_sa_flags(act), get_sa_handler(act),\n\
                  is_sig_blocked(t, {usr1}), is_sig_blocked(t, {usr2}), atomic_read(&@cast(t, \"task_struct\")->signal->live))\n\
           printf(\"probe %d\\n\", atomic_long_read(&@cast(t, \"task_struct\")->mm->total_vm))\n\
         }}\n",
        usr1 = libc::SIGUSR1,
        usr2 = libc::SIGUSR2
    );
    let (status, out, err) = super::stp_run_clean(&["-c", &prog.text(), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let own: Vec<&str> =
        out.lines().find(|l| !l.starts_with("probe")).expect("the program's line").split(' ').collect();
    let probe: Vec<&str> = out.lines().filter(|l| l.starts_with("probe")).collect();
    // The flags and handler the program set, SIGUSR1 blocked and SIGUSR2
    // not, three live threads, and the statm size it read.
    assert_eq!(probe, [format!("probe {} {} 1 0 3", own[0], own[1]), format!("probe {}", own[2])], "{out}");
}

#[test]
fn calling_conventions_are_x86_64s() {
    if !as_root("asmlinkage, regparm") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let body = "asmlinkage(); fastcall(); regparm(6); println(\"six\")\n\
        try { regparm(7) } catch (e) { println(e) }\n\
        try { regparm(2) } catch (e) { println(e) }\n";
    let (status, user, kernel, err) = super::foreach::on_both_sides("x", body, &[]);
    assert_eq!(status, 0, "{err}");
    let want = "six\nFor x86_64, regparm value must be in the range 0-6.\n\
        regparm(2): stp reads the arguments from the six argument registers only\n";
    assert_eq!(user, want, "{err}");
    assert_eq!(kernel, want, "{err}");
}

/// The chain " comm(pid) ..." from `pid` up to, not including, init, as
/// /proc tells it.
fn proc_chain(mut pid: u32) -> String {
    let mut out = String::new();
    while pid > 1 {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        out.push_str(&format!(" {}({pid})", comm.trim_end()));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // The fields after the command's closing parenthesis: state, ppid.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        pid = rest.split(' ').nth(1).unwrap().parse().unwrap();
    }
    out
}

#[test]
fn pstrace_follows_the_parents_to_init() {
    if !as_root("pstrace") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // (A long chain of parents needs longer strings than the default.)
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
           if (pid() == target()) printf(\"%d|%s\\n\", pid(), pstrace(task_current()))\n\
         }\n";
    let (status, out, err) =
        super::stp_run_clean(&["-D", "MAXSTRINGLEN=1024", "-c", &getppid_command(1, 0), "-e", script]);
    assert_eq!(status, 0, "{err}");
    let (pid, chain) = out.trim_end().split_once('|').expect("one line");
    // perl, then stp (this test's child), then this test (named as the
    // thread that started stp) and its parents.
    let me = std::process::id();
    let ppid = std::os::unix::process::parent_id();
    let rest = format!("({me}){}", proc_chain(ppid));
    let want_head = format!(" perl({pid}) stp(");
    assert!(chain.starts_with(&want_head) && chain.ends_with(&rest), "{chain:?} vs ...{rest:?}");
    assert_eq!(chain.matches(" stp(").count(), 1, "{chain:?}");
}

#[test]
fn vm_fault_reasons_follow_the_kernels_enum() {
    if !as_root("vm_fault_contains") {
        return;
    }
    // The kernel's own values of enum vm_fault_reason, from its BTF.
    let dump = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"])
        .output();
    let Ok(dump) = dump else {
        assert!(!super::in_ci(), "CI has bpftool");
        return;
    };
    let text = String::from_utf8_lossy(&dump.stdout);
    let value = |name: &str| -> i64 {
        let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{name} ="))).unwrap();
        line.split('=').nth(1).unwrap().trim().trim_end_matches(',').parse().unwrap()
    };
    let [oom, sigbus, major, nopage, locked] =
        ["VM_FAULT_OOM", "VM_FAULT_SIGBUS", "VM_FAULT_MAJOR", "VM_FAULT_NOPAGE", "VM_FAULT_LOCKED"].map(value);
    let error = oom
        | sigbus
        | value("VM_FAULT_SIGSEGV")
        | value("VM_FAULT_HWPOISON")
        | value("VM_FAULT_HWPOISON_LARGE")
        | value("VM_FAULT_FALLBACK");
    let values = [0, oom, sigbus, major, nopage, locked, major | locked, value("VM_FAULT_SIGSEGV"), 0x400];
    let mut body = String::new();
    let mut want = String::new();
    for v in values {
        body.push_str(&format!("for (t = 0; t < 8; t++) print(vm_fault_contains({v}, t)); println()\n"));
        let bits = [
            v & oom,
            v & sigbus,
            i64::from(v & (oom | sigbus | major) == 0),
            v & major,
            v & nopage,
            v & locked,
            v & error,
            0,
        ];
        want.extend(bits.iter().map(|b| if *b != 0 { '1' } else { '0' }));
        want.push('\n');
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (status, user, kernel, err) = super::foreach::on_both_sides("x", &body, &[]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(user, want, "{err}");
    assert_eq!(kernel, want, "{err}");
}

#[test]
fn the_load_average_is_procs() {
    if !as_root("sprint_loadavg") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let read = || {
        let text = std::fs::read_to_string("/proc/loadavg").unwrap();
        let f: Vec<String> = text.split_whitespace().take(3).map(String::from).collect();
        let ints: Vec<&str> = f.iter().map(|x| x.split('.').next().unwrap()).collect();
        format!("{}\n{}\nInvalid loadavg index -1 specified.\n", f.join(" "), ints.join(" "))
    };
    let before = read();
    let script = "probe begin { print(sprint_loadavg())\n\
           println(get_loadavg_index(0), \" \", get_loadavg_index(1), \" \", get_loadavg_index(2))\n\
           try { println(get_loadavg_index(-1)) } catch (e) { println(e) }\n\
           exit() }";
    let (status, out, err) = super::stp_run_clean(&["-e", script]);
    let after = read();
    assert_eq!(status, 0, "{err}");
    // The averages change every five seconds: the run saw one of the two.
    assert!(out == before || out == after, "{out:?} vs /proc/loadavg {before:?} / {after:?}");
}

/// `path` relative to the root of the file system holding it, from
/// /proc/self/mountinfo: the mount with the longest mount point that
/// holds it, and the directory of its file system that mount shows.
fn within_its_file_system(path: &str) -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let (root, point) = info
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[3].to_string(), f[4].to_string())
        })
        .filter(|(_, point)| point == "/" || path.starts_with(&format!("{point}/")))
        .max_by_key(|(_, point)| point.len())
        .unwrap();
    let rest = path.strip_prefix(point.trim_end_matches('/')).unwrap();
    format!("{}{rest}", root.trim_end_matches('/')).trim_start_matches('/').to_string()
}

#[test]
fn dentry_paths_agree_with_the_files_opened() {
    if !as_root("task_cwd_path, fullpath_struct_file, d_name") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap().display().to_string();
    let file = format!("{dir_path}/input.txt");
    std::fs::write(&file, "x\n").unwrap();
    // perl runs in the directory, its stdin the file and its stdout a
    // pipe, whose name it prints.
    let cmd =
        format!("cd {dir_path} && perl -e 'print readlink(\"/proc/self/fd/1\"), \"\\n\"; getppid()' < input.txt | cat");
    // One probe per walk: each is a program of its own for the verifier.
    let calls = [
        "printf(\"cwd %s\\n\", task_cwd_path(t))",
        "printf(\"in %s\\n\", fullpath_struct_file(t, f))",
        "printf(\"path %s\\n\", fullpath_struct_path(&@cast(f, \"file\")->f_path))",
        "printf(\"name %s\\n\", d_name(@cast(f, \"file\")->f_path->dentry))",
        "printf(\"walk %s\\n\", reverse_path_walk(@cast(f, \"file\")->f_path->dentry))",
        "printf(\"inode %s\\n\", inode_name(@cast(f, \"file\")->f_inode))",
        "printf(\"out %s\\n\", fullpath_struct_file(t, @cast(t, \"task_struct\")->files->fdt->fd[1]))",
    ];
    let script: String = calls
        .iter()
        .map(|c| {
            format!(
                "probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
                   if (ppid() != target() || execname() != \"perl\") next\n\
                   t = task_current(); f = @cast(t, \"task_struct\")->files->fdt->fd[0]\n\
                   {c}\n\
                 }}\n"
            )
        })
        .collect();
    let (status, out, err) = super::stp_run_clean(&["-c", &cmd, "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let pipe = out.lines().find(|l| l.starts_with("pipe:[")).expect("perl's stdout");
    let mut got: Vec<&str> = out.lines().filter(|l| !l.starts_with("pipe:[")).collect();
    got.sort();
    let walk = within_its_file_system(&file);
    let mut want = vec![
        format!("cwd {dir_path}"),
        format!("in {file}"),
        format!("path {file}"),
        "name input.txt".to_string(),
        format!("walk {walk}"),
        format!("inode {walk}"),
        format!("out {pipe}"),
    ];
    want.sort();
    assert_eq!(got, want, "{out}{err}");
}

#[test]
fn quiet_and_warning_user_strings_and_colour_overloads() {
    if !as_root("user_string_nofault, ansi_set_color") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Address 16 is never mapped: each read faults.
    let body = "println(\"[\", user_string_nofault(16), \"][\", user_string_n_nofault(16, 3), \"]\")\n\
        println(user_string_n_warn(16, 3, \"bad\"), \"|\", user_string_n_warn(16, 3))\n\
        ansi_set_color(31); ansi_set_color(31, 42); ansi_set_color(31, 42, 1); ansi_set_color(31, 42, 0); println()\n";
    let (status, user, kernel, err) = super::foreach::on_both_sides("x", body, &[]);
    assert_eq!(status, 0, "{err}");
    let want = "[][]\nbad|\n\x1b[31m\x1b[42;31m\x1b[42;31;1m\x1b[42;31m\n";
    assert_eq!(user, want, "{err}");
    assert_eq!(kernel, want, "{err}");
    let warning = "WARNING: user string copy fault -14 at 0x10 [man error::fault]";
    assert_eq!(err.lines().filter(|l| *l == warning).count(), 4, "two warnings on each side: {err}");
}

#[test]
fn the_command_line_is_the_one_given() {
    if !as_root("cmdline_str") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let args = ["perl", "-e", "getppid()", "one", "two words", "", "last"];
    // The shell gets the arguments quoted; perl gets them as given.
    let cmd: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
           if (pid() != target()) next\n\
           printf(\"%s|%s|%s|%s|%s\\n\", cmdline_str(), cmdline_arg(0), cmdline_arg(4), cmdline_args(3, 5, \",\"), cmdline_args(5, -1, \"+\"))\n\
         }\n";
    let (status, out, err) = super::stp_run_clean(&["-c", &cmd.join(" "), "-e", script]);
    assert_eq!(status, 0, "{err}");
    let want =
        format!("{}|{}|{}|{}|{}\n", args.join(" "), args[0], args[4], args[3..=5].join(","), args[5..].join("+"));
    assert_eq!(out, want, "{err}");
}
