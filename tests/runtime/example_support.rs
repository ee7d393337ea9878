//! Tapset pieces that SystemTap's example scripts use and that no family
//! test covers: the `argv` tapset (the script's arguments as an array)
//! and the TCP socket readers of `stdlib/tcp_info.stp`, each checked
//! against what the test itself passed or the kernel's own record said.

use super::{PASS5, as_root, stp_run_clean};

#[test]
fn argv_holds_the_script_arguments() {
    if !as_root("argv in a begin probe") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe begin { printf(\"%d\\n\", argc); for (i = 1; i <= argc; i++) println(argv[i]); exit() }";
    let (code, out, err) = stp_run_clean(&["-e", script, "first", "two words", "3"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "3\nfirst\ntwo words\n3\n");
    let script = "probe begin { printf(\"%d %d [%s]\\n\", argc, 32 in argv, argv[32]); exit() }";
    let (code, out, err) = stp_run_clean(&["-e", script]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0 1 []\n");
}

/// A loopback TCP connection: a listener, a client that connects, and
/// both sides closed.
const CONNECT: &str = "perl -MIO::Socket::INET -e '\
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => \"127.0.0.1\", LocalPort => 0) or die;\
    my $c = IO::Socket::INET->new(PeerAddr => \"127.0.0.1\", PeerPort => $l->sockport) or die;\
    my $a = $l->accept; close $c; close $a; close $l'";

#[test]
fn tcp_state_and_rto_are_read_from_the_socket() {
    if !as_root("sock:inet_sock_set_state") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // The tracepoint fires before the socket takes its new state, so
    // tcp_ts_get_info_state() is the record's oldstate.
    let script = "probe kernel.trace(\"sock:inet_sock_set_state\") {\n\
        if ($protocol != 6 || pid() != target()) next\n\
        printf(\"%d %d %d %d\\n\", $oldstate, $newstate, tcp_ts_get_info_state($skaddr), tcp_get_info_rto($skaddr))\n\
      }";
    let (code, out, err) = stp_run_clean(&["-e", script, "-c", CONNECT]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<i64>> =
        out.lines().map(|l| l.split(' ').map(|w| w.parse().expect("a number")).collect()).collect();
    assert!(rows.len() >= 4, "transitions of the three sockets: {out}");
    for r in &rows {
        assert_eq!(r[2], r[0], "the socket's state is the tracepoint's oldstate: {out}");
    }
    // TCP_TIMEOUT_INIT (1 s) until an RTT is measured; the listener
    // never measures one. A connected socket has at least TCP_RTO_MIN
    // (200 ms) and, over loopback, less than the initial second.
    let listener = rows.iter().find(|r| r[0] == 10 && r[1] == 7).unwrap_or_else(|| panic!("LISTEN -> CLOSE: {out}"));
    assert_eq!(listener[3], 1_000_000, "{out}");
    let established = rows.iter().find(|r| r[0] == 1).unwrap_or_else(|| panic!("ESTABLISHED -> ...: {out}"));
    assert!((200_000..1_000_000).contains(&established[3]), "{out}");
}

/// The address of a kernel text symbol, from /proc/kallsyms.
fn kallsyms_address(name: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/kallsyms").expect("/proc/kallsyms");
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[2] == name && f[1].eq_ignore_ascii_case("t"))
                .then(|| u64::from_str_radix(f[0], 16).ok())?
        })
        .unwrap_or_else(|| panic!("{name} in /proc/kallsyms"))
}

#[test]
fn symname_and_symdata_in_a_begin_probe() {
    if !as_root("reading kallsyms addresses") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let at = kallsyms_address("vfs_read") + 5;
    let script =
        format!("probe begin {{ println(symname({at})); println(symdata({at})); println(symname(16)); exit() }}");
    let (code, out, err) = stp_run_clean(&["-e", &script]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "vfs_read", "{out}");
    assert!(lines[1].starts_with("vfs_read+0x5/0x") && lines[1].ends_with(" [kernel]"), "{out}");
    assert_eq!(lines[2], "0x0000000000000010", "{out}");
}

/// stap's `@variance` of `values` added on one CPU with bit shift
/// `shift`, as the test computes it on its own: the CPU's running mean
/// and sum of squared differences (Welford's update, the difference kept
/// in a C int, divisions truncating), then the statistic's variance about
/// the mean of the sum, as stap combines the CPUs' records.
fn one_cpu_variance(values: impl IntoIterator<Item = i64>, shift: u32) -> i64 {
    let (mut count, mut sum, mut avg, mut m2) = (0i64, 0i64, 0i64, 0i64);
    for v in values {
        let vs = v << shift;
        count += 1;
        sum += v;
        if count == 1 {
            avg = vs;
            continue;
        }
        let delta = i64::from((vs - avg) as i32);
        avg += delta / count;
        m2 += delta * (vs - avg);
    }
    let mean = (sum << shift) / count;
    let spread = count * (avg - mean) * (avg - mean);
    ((spread + m2 / (count - 1) * (count - 1)) / (count - 1)) >> (2 * shift)
}

#[test]
fn variance_with_a_bit_shift_in_kernel_and_user_handlers() {
    if !as_root("syscalls:sys_enter_getppid") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // 1 to 10 added on one CPU: the true variance is 9.17; the shift
    // keeps the running mean's fraction, without it the CPU's running
    // mean stays 1 and its variance is far off.
    let script = "global s, t, n\n\
      probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
        if (pid() != target()) next\n\
        n++; s <<< n; t <<< n\n\
        if (n == 10) printf(\"kernel %d %d\\n\", @variance(s, 3), @variance(t))\n\
      }\n\
      probe end { printf(\"user %d %d\\n\", @variance(s, 3), @variance(t)) }";
    let (code, out, err) = stp_run_clean(&["-e", script, "-c", "taskset -c 0 perl -e 'getppid() for 1..10'"]);
    assert_eq!(code, 0, "{err}");
    let (shifted, plain) = (one_cpu_variance(1..=10, 3), one_cpu_variance(1..=10, 0));
    assert_eq!((shifted, plain), (9, 48), "the test's own arithmetic");
    assert_eq!(out, format!("kernel {shifted} {plain}\nuser {shifted} {plain}\n"));
}

/// The protocol keyword /etc/protocols gives number `n` (its second
/// column's alias).
fn etc_protocol(n: i64) -> Option<String> {
    let text = std::fs::read_to_string("/etc/protocols").ok()?;
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 3 && f[1].parse() == Ok(n)).then(|| f[2].to_string())
    })
}

#[test]
fn protocol_names_and_numbers() {
    if !as_root("a begin probe") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Every number to its name and back; a number without a name is
    // UNDEF and a name without a number -1.
    let script = "probe begin {\n\
        for (n = 0; n < 140; n++) {\n\
          s = sock_prot_num2str(n)\n\
          printf(\"%d %s %d\\n\", n, s, sock_prot_str2num(s))\n\
        }\n\
        printf(\"%d\\n\", sock_prot_str2num(\"NO-SUCH\"))\n\
        exit()\n\
      }";
    let (code, out, err) = stp_run_clean(&["-e", script]);
    assert_eq!(code, 0, "{err}");
    let mut named = 0;
    for line in out.lines().take(140) {
        let f: Vec<&str> = line.split(' ').collect();
        let n: i64 = f[0].parse().unwrap();
        if f[1] == "UNDEF" {
            assert_eq!(f[2], "-1", "{line}");
            continue;
        }
        named += 1;
        assert_eq!(f[2], f[0], "the name of {n} gives {n} back: {line}");
    }
    assert!(named > 100, "{out}");
    assert_eq!(out.lines().last(), Some("-1"));
    // The protocols sockets carry, as /etc/protocols names them.
    for n in [0, 1, 2, 6, 17, 47, 58, 132, 136] {
        if let Some(name) = etc_protocol(n) {
            let line = out.lines().nth(n as usize).unwrap();
            let ours = line.split(' ').nth(1).unwrap();
            let ours_ok = ours.eq_ignore_ascii_case(&name) || (n == 0 && ours == "IP");
            assert!(ours_ok, "protocol {n}: /etc/protocols says {name}, stp {ours}");
        }
    }
}
