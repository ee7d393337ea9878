//! The script-language tapset library (stdlib/ctime.stp, inet.stp,
//! conversions.stp, signal.stp, socket.stp, stopwatch.stp,
//! queue_stats.stp): each function runs in a `begin` probe (the user side)
//! and in a kernel handler, and both must print what the test computes on
//! its own (libc, std, the documented arithmetic).

use std::time::{Duration, Instant};

use super::foreach::on_both_sides;
use super::{PASS5, as_root, stp_run_clean};

/// Runs `body` on both sides and checks that each printed `want`.
fn agree(what: &str, globals: &str, body: &str, want: &str) {
    if !as_root(what) {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (status, user, kernel, err) = on_both_sides(globals, body, &[]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(user, want, "the user side: {err}");
    assert_eq!(kernel, want, "the kernel: {err}");
}

/// What C's ctime() prints for `secs` in UTC, without the newline.
fn libc_ctime(secs: i64) -> String {
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
fn ctime_agrees_with_libc() {
    // The epoch, both ends of the 32-bit range, a second before the epoch,
    // leap days (2000 is a leap year), the ends of months and years.
    let secs: [i64; 10] =
        [0, -1, 2147483647, -2147483648, 951782400, 951868799, 978307199, 740612948, 1709164800, -86400 * 365];
    let calls: Vec<String> = secs.iter().map(|s| format!("println(ctime({s}))")).collect();
    let want: String = secs.iter().map(|&s| format!("{}\n", libc_ctime(s))).collect();
    for s in secs {
        assert_eq!(libc_ctime(s).len(), 24, "ctime's strings are 24 characters");
    }
    let body = format!(
        "{}\n\
         try {{ println(ctime(2147483648)) }} catch (e) {{ println(e) }}\n\
         try {{ println(ctime(-2147483649)) }} catch (e) {{ println(e) }}\n",
        calls.join("\n")
    );
    let want = format!("{want}Time too far in the future to be converted\nTime too far in the past to be converted\n");
    agree("ctime", "t", &body, &want);
}

#[test]
fn ctime_without_an_argument_is_now() {
    if !as_root("ctime()") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let (status, out, err) = stp_run_clean(&["-e", "probe begin { println(ctime()); exit() }"]);
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_eq!(status, 0, "{err}");
    let printed = out.trim_end();
    assert!((before..=after).any(|s| libc_ctime(s) == printed), "{printed:?} is not a time in [{before}, {after}]");
}

#[test]
fn byte_order_and_ip_ntop_agree_with_std() {
    let x: i64 = 0x1122_3344_5566_7788;
    let y: i64 = -2;
    let want = format!(
        "{} {} {} {} {} {}\n{} {} {} {} {} {}\n{} {} {}\n",
        (x as u16).to_be(),
        u16::from_be(x as u16),
        (x as u32).to_be(),
        u32::from_be(x as u32),
        (x as u64).to_be() as i64,
        u64::from_be(y as u64) as i64,
        (y as u16).to_be(),
        (y as u32).to_be(),
        (y as u64).to_be() as i64,
        (x as u16).to_le(),
        (x as u32).to_le(),
        (y as u64).to_le() as i64,
        std::net::Ipv4Addr::from(0x7f00_0001u32.to_be().to_ne_bytes()),
        std::net::Ipv4Addr::from((0xc0a8_01feu32).to_be().to_ne_bytes()),
        std::net::Ipv4Addr::from((x as u32).to_ne_bytes()),
    );
    let body = format!(
        "x = {x}; y = {y}\n\
         println(htons(x), \" \", ntohs(x), \" \", htonl(x), \" \", ntohl(x), \" \", htonll(x), \" \", ntohll(y))\n\
         println(big_endian2(y), \" \", big_endian4(y), \" \", big_endian8(y), \" \", little_endian2(x), \" \", \
                 little_endian4(x), \" \", little_endian8(y))\n\
         println(ip_ntop(htonl(0x7f000001)), \" \", ip_ntop(htonl(0xc0a801fe)), \" \", ip_ntop(x))\n"
    );
    agree("byte order and ip_ntop", "t", &body, &want);
}

/// stap's bytes_to_string: below 1K the number five wide, else K, M or G
/// with two, one or no decimals (1024ths truncated) as the whole part has
/// one, two or more digits.
fn bytes_to_string(bytes: i64) -> String {
    if bytes < 1024 {
        return format!("{bytes:5}");
    }
    let (mut whole, mut remain, mut unit) = (bytes, 0, ' ');
    for u in ['K', 'M', 'G'] {
        remain = whole % 1024;
        whole /= 1024;
        unit = u;
        if whole < 1024 {
            break;
        }
    }
    match whole {
        0..=9 => format!("{whole}.{:02}{unit}", remain * 100 / 1024),
        10..=99 => format!("{whole:2}.{}{unit}", remain * 10 / 1024),
        _ => format!("{whole:4}{unit}"),
    }
}

#[test]
fn sizes_durations_and_device_numbers() {
    let sizes: [i64; 9] = [0, 1023, 1024, 1536, 10 * 1024 + 1023, 150 << 20, (3 << 30) + (1 << 29), 5000 << 30, 4095];
    let pages: [i64; 2] = [3, 300_000];
    let mut want: String = sizes.iter().map(|&b| format!("{}|", bytes_to_string(b))).collect();
    want += &pages.iter().map(|&p| format!("{}|", bytes_to_string(p * 4096))).collect::<String>();
    want.push('\n');
    let body_sizes: String = sizes.iter().map(|b| format!("print(bytes_to_string({b}), \"|\")\n")).collect::<String>()
        + &pages.iter().map(|p| format!("print(pages_to_string({p}), \"|\")\n")).collect::<String>()
        + "println(\"\")\n";
    // Durations: minutes, then seconds with fixed decimals.
    let d = Duration::from_millis(3_723_045);
    want += &format!(
        "{}m{}.{:03}s {}m{}.{:06}s {}m{}.{:09}s\n",
        d.as_secs() / 60,
        d.as_secs() % 60,
        d.subsec_millis(),
        61,
        5,
        7,
        0,
        59,
        999_999_999
    );
    let body_times =
        "println(msecs_to_string(3723045), \" \", usecs_to_string(3665000007), \" \", nsecs_to_string(59999999999))\n";
    // Device numbers: the kernel's dev_t (major above 20 bits of minor)
    // and user space's encoding of them.
    let (ma, mi) = (259u32, 70_000u32);
    let kdev = (u64::from(ma) << 20) | u64::from(mi);
    let udev = libc::makedev(ma, mi);
    let udev_small = libc::makedev(8, 1);
    want += &format!("{kdev} {ma} {mi} {kdev} {}\n", (8 << 20) | 1);
    let body_dev = format!(
        "d = MKDEV({ma}, {mi}); println(d, \" \", MAJOR(d), \" \", MINOR(d), \" \", usrdev2kerndev({udev}), \" \", \
         usrdev2kerndev({udev_small}))\n"
    );
    agree("size, duration and device conversions", "t", &format!("{body_sizes}{body_times}{body_dev}"), &want);
}

#[test]
fn signal_names_and_masks_agree_with_libc() {
    let sigs = [libc::SIGHUP, libc::SIGUSR1, libc::SIGSEGV, libc::SIGCHLD, libc::SIGIO, libc::SIGSYS, libc::SIGRTMIN()];
    let body_names: String = sigs.iter().map(|s| format!("print(signal_str({s}), \" \")\n")).collect();
    // glibc's SIGRTMIN leaves the first real-time signals to itself: the
    // kernel's (and stap's) RTMIN is 32.
    let rt = libc::SIGRTMIN();
    let want_names = format!("HUP USR1 SEGV CHLD IO/POLL SYS RTMIN+{} ", rt - 32);
    let body_names = format!(
        "{body_names}println(\"|\", signal_str(32), \"|\", signal_str(64), \"|\", signal_str(0), \"|\", signal_str(65), \"|\")\n"
    );
    let want_names = format!("{want_names}|RTMIN|RTMIN+32|||\n");
    // A mask: bit N-1 for signal N.
    let set = [libc::SIGINT, libc::SIGKILL, libc::SIGTERM, 40];
    let mask: u64 = set.iter().map(|s| 1u64 << (s - 1)).sum();
    let want_mask = format!("{}||\n", set.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","));
    let body_mask = format!("println(sigset_mask_str({mask}), \"|\", sigset_mask_str(0), \"|\")\n");
    agree("signal names", "t", &body_names, &want_names);
    agree("signal masks", "t", &body_mask, &want_mask);
    let flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_NOCLDSTOP;
    let body_flags = format!(
        "println(sa_flags_str({flags}), \"|\", sa_flags_str({}), \"|\", sa_flags_str(0), \"|\", sa_handler_str({}), \" \", \
         sa_handler_str({}), \" \", sa_handler_str(-1), \" \", sa_handler_str(0x401000))\n",
        libc::SA_RESETHAND | libc::SA_ONSTACK,
        libc::SIG_DFL,
        libc::SIG_IGN
    );
    agree(
        "sigaction flags",
        "t",
        &body_flags,
        "NOCLDSTOP|SIGINFO|RESTART|ONSTACK|RESETHAND||default ignored error 0x0000000000401000\n",
    );
}

/// SOCK_PACKET: obsolete (deprecated in libc) but it keeps its number.
#[allow(deprecated)]
fn sock_packet() -> i32 {
    libc::SOCK_PACKET
}

#[test]
fn socket_names_agree_with_libc() {
    let body = format!(
        "println(sock_fam_num2str({}), \" \", sock_fam_num2str({}), \" \", sock_fam_num2str({}), \" \", sock_fam_num2str(21), \" \", \
                 sock_fam_str2num(\"INET6\"), \" \", sock_fam_str2num(\"NETLINK\"), \" \", sock_fam_str2num(\"inet\"))\n\
         println(sock_type_num2str({}), \" \", sock_type_num2str({}), \" \", sock_type_num2str({}), \" \", sock_type_num2str(0), \" \", \
                 sock_type_str2num(\"DGRAM\"), \" \", sock_type_str2num(\"PACKET\"), \" \", sock_type_str2num(\"X\"))\n",
        libc::AF_INET,
        libc::AF_INET6,
        libc::AF_UNIX,
        libc::SOCK_STREAM,
        libc::SOCK_SEQPACKET,
        libc::SOCK_RAW,
    );
    let want = format!(
        "INET INET6 LOCAL UNDEF {} {} -1\nSTREAM SEQPACKET RAW UNDEF {} {} -1\n",
        libc::AF_INET6,
        libc::AF_NETLINK,
        libc::SOCK_DGRAM,
        sock_packet()
    );
    agree("socket family and type names", "t", &body, &want);
    // net/tcp_states.h and linux/net.h's socket_state.
    let body = "println(tcp_sockstate_str(1), \" \", tcp_sockstate_str(10), \" \", tcp_sockstate_str(12), \" \", tcp_sockstate_str(0), \" \", \
                 sock_state_num2str(3), \" \", sock_state_str2num(\"FREE\"), \" \", sock_state_str2num(\"DISCONNECTING\"), \" \", sock_state_num2str(5))\n";
    agree("socket and TCP states", "t", body, "TCP_ESTABLISHED TCP_LISTEN TCP_MAX_STATES UNDEF CONNECTED 0 4 UNDEF\n");
}

#[test]
fn queue_statistics_follow_the_time_given() {
    // A script's qs_time() replaces the library's clock, so the times
    // are the test's: start at 1000, two requests wait at 1100 and 1200,
    // one runs at 1300 and is done at 1500, the other runs at 1600; the
    // report is at 2000.
    let body = "t = 1000; qsq_start(\"q\")\n\
        t = 1100; qs_wait(\"q\"); t = 1200; qs_wait(\"q\"); t = 1300; qs_run(\"q\"); t = 1500; qs_done(\"q\")\n\
        t = 1600; qs_run(\"q\"); t = 2000\n\
        println(qsq_utilization(\"q\", 100), \" \", qsq_blocked(\"q\", 100), \" \", qsq_wait_queue_length(\"q\", 1000), \" \", \
                qsq_service_time(\"q\", 1), \" \", qsq_wait_time(\"q\", 1), \" \", qsq_throughput(\"q\", 1000000))\n\
        qsq_print(\"q\")\n";
    // Waiting: 2 requests over [1200, 1300), 1 over [1100, 1200) and
    // [1300, 1600). Running: 1 over [1300, 1500) and [1600, 2000).
    let elapsed = 2000 - 1000;
    let wait_busy = 1600 - 1100;
    let wait_len = 100 + 2 * 100 + 300;
    let run_busy = 200 + 400;
    let run_len = 200 + 400;
    let done = 1;
    let util = 100 * run_busy / elapsed;
    let blocked = 100 * wait_busy / elapsed;
    let qlen = 1000 * wait_len / elapsed;
    let svctm = run_len / done;
    let await_ = (run_len + wait_len) / done;
    let tput = 1_000_000 * done / elapsed;
    let ops = 1_000_000_000 * done / elapsed;
    let want = format!(
        "{util} {blocked} {qlen} {svctm} {await_} {tput}\n\
         q: {}.{:03} ops/s, {}.{:03} qlen, {await_} await, {svctm} svctm, {blocked}% wait, {util}% util\n",
        ops / 1000,
        ops % 1000,
        qlen / 1000,
        qlen % 1000
    );
    if !as_root("queue statistics") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        "global t, once\n\
         function qs_time:long () {{ return t }}\n\
         probe begin {{ {body}\n println(\"--\") }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() != target() || execname() != \"perl\" || once++) next\n\
           {body}\n println(\"--\")\n\
         }}\n"
    );
    let cmd = "perl -e 'getppid()'";
    let (status, out, err) = stp_run_clean(&["-c", cmd, "-e", &script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, format!("{want}--\n{want}--\n"), "{err}");
}

#[test]
fn stopwatches_measure_the_time_between_start_and_stop() {
    if !as_root("stopwatches") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // The user side runs one from begin to end around a 300 ms command;
    // the kernel one from the command's first getppid to its second, 200
    // ms later. Each reading is at least the pause and at most the whole
    // run.
    let script = "global n\n\
        probe begin { start_stopwatch(\"run\"); start_stopwatch(\"gone\"); delete_stopwatch(\"gone\") }\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() != target()) next\n\
          if (n++ == 0) start_stopwatch(\"k\")\n\
          else { stop_stopwatch(\"k\"); stop_stopwatch(\"k\") }\n\
        }\n\
        probe end {\n\
          stop_stopwatch(\"run\")\n\
          ns = read_stopwatch_ns(\"run\")\n\
          println(ns, \" \", read_stopwatch_us(\"run\") == ns / 1000, read_stopwatch_ms(\"run\") == ns / 1000000, \
                  read_stopwatch_s(\"run\") == ns / 1000000000, \" \", read_stopwatch_ns(\"k\"), \" \", read_stopwatch_ns(\"gone\"))\n\
        }\n";
    let cmd = "perl -e 'getppid(); select(undef, undef, undef, 0.2); getppid(); select(undef, undef, undef, 0.1)'";
    let started = Instant::now();
    let (status, out, err) = stp_run_clean(&["-c", cmd, "-e", script]);
    let whole = started.elapsed().as_nanos() as i64;
    assert_eq!(status, 0, "{err}");
    let fields: Vec<&str> = out.split_whitespace().collect();
    let [run, units, kernel, gone] = fields[..] else { panic!("four fields: {out:?}") };
    let (run, kernel): (i64, i64) = (run.parse().unwrap(), kernel.parse().unwrap());
    assert!((300_000_000..whole).contains(&run), "the user-side stopwatch read {run} ns; the run took {whole} ns");
    assert!((200_000_000..run).contains(&kernel), "the kernel's stopwatch read {kernel} ns of the {run} ns run");
    assert_eq!(units, "111", "the us, ms and s readings are the ns one divided");
    assert_eq!(gone, "0", "a deleted stopwatch reads 0");
}

#[test]
fn speculative_output_is_printed_on_commit_only() {
    // Two buffers filled in turns: the first is committed, the second
    // discarded, then refilled and committed; committing an empty buffer
    // prints nothing. Ids count up from 1 within a run.
    let body = "a = speculation(); b = speculation()\n\
        speculate(a, \"one \"); speculate(b, \"lost \"); speculate(a, \"two \"); speculate(b, \"gone\")\n\
        discard(b); commit(a); speculate(b, \"three\\n\"); commit(b); commit(a)\n\
        println(b - a)\n";
    agree("speculative output", "t", body, "one two three\n1\n");
}

#[test]
fn rlimit_names_agree_with_libc() {
    let limits = [
        ("CPU", libc::RLIMIT_CPU),
        ("FSIZE", libc::RLIMIT_FSIZE),
        ("DATA", libc::RLIMIT_DATA),
        ("STACK", libc::RLIMIT_STACK),
        ("CORE", libc::RLIMIT_CORE),
        ("RSS", libc::RLIMIT_RSS),
        ("NPROC", libc::RLIMIT_NPROC),
        ("NOFILE", libc::RLIMIT_NOFILE),
        ("MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("AS", libc::RLIMIT_AS),
        ("LOCKS", libc::RLIMIT_LOCKS),
        ("SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("NICE", libc::RLIMIT_NICE),
        ("RTPRIO", libc::RLIMIT_RTPRIO),
        ("RTTIME", libc::RLIMIT_RTTIME),
    ];
    let body: String = limits.iter().map(|(n, _)| format!("print(rlimit_from_str(\"RLIMIT_{n}\"), \" \")\n")).collect();
    let body = format!(
        "{body}println(rlimit_from_str(\"NOFILE\"), \" \", rlimit_from_str(\"rlimit_cpu\"), \" \", rlimit_from_str(\"\"))\n"
    );
    let want: String = limits.iter().map(|(_, v)| format!("{v} ")).collect();
    agree("rlimit names", "t", &body, &format!("{want}-1 -1 -1\n"));
}

#[test]
fn the_target_set_follows_forks_and_exits() {
    if !as_root("the target set") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // The target forks a child which forks a grandchild; each calls
    // getppid, and writes its pid (the target also its parent's, stp's)
    // to a file. The kernel handler reports the set at the third call in
    // the set (the grandchild's, as the others wait for it), a user-side
    // one tells whether each pid seen is still in the set at the end
    // (none is: all have exited), and this process's own getppid calls
    // are never in it.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pids = dir.path().join("pids");
    let program = dir.path().join("fork.pl");
    std::fs::write(
        &program,
        "open(my $f, '>', $ARGV[0]) or die; select((select($f), $| = 1)[0]);\n\
         print $f \"$$ \", getppid(), \"\\n\";\n\
         my $c = fork();\n\
         if ($c == 0) {\n\
           print $f \"$$\\n\"; getppid();\n\
           my $g = fork();\n\
           if ($g == 0) { print $f \"$$\\n\"; getppid(); exit 0 }\n\
           waitpid($g, 0); exit 0\n\
         }\n\
         waitpid($c, 0); select(undef, undef, undef, 0.1); getppid();\n",
    )
    .unwrap();
    let script = format!(
        "global n, seen, outside\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() == {me}) outside += target_set_pid(pid())\n\
           if (!target_set_pid(pid())) next\n\
           seen[pid()] = 1\n\
           if (++n == 3) target_set_report()\n\
         }}\n\
         probe end {{ foreach (p+ in seen) printf(\"%d:%d \", p, target_set_pid(p)); println(outside); target_set_report() }}\n",
        me = std::process::id()
    );
    let cmd = format!("perl {} {}", program.display(), pids.display());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (status, out, err) = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: getppid has no preconditions.
                unsafe { libc::getppid() };
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let result = stp_run_clean(&["-c", &cmd, "-e", &script]);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    });
    assert_eq!(status, 0, "{err}");
    let written = std::fs::read_to_string(&pids).unwrap();
    let nums: Vec<u32> = written.split_whitespace().map(|w| w.parse().unwrap()).collect();
    let [target, stp, child, grandchild] = nums[..] else { panic!("four pids: {written:?}") };
    // Both lists are in the order of the members' pids.
    let mut members = [(target, stp), (child, target), (grandchild, child)];
    members.sort();
    let report: String = members.iter().map(|(pid, parent)| format!("{parent} begat {pid}\n")).collect();
    let gone: String = members.iter().map(|(pid, _)| format!("{pid}:0 ")).collect();
    let want = format!("target set:\n{report}{gone}0\ntarget set:\n");
    assert_eq!(out, want, "{err}");
}
