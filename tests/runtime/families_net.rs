//! The networking tapsets on the host kernel: a C program sends a UDP
//! datagram to itself and a TCP message between two of its sockets over
//! loopback, with sizes the test chose, and logs the bytes each call
//! moved. The sock and net tracepoints behind `socket.sendmsg.return`,
//! `socket.recvmsg.return`, `netdev.transmit` and `netdev.receive`, and
//! the irq tracepoints behind `softirq.*`, must report those: the
//! sizes, the protocols, the loopback device, the packet's length with
//! its headers, and the receive inside the NET_RX softirq. The
//! function-based `tcp.*` and `udp.*` aliases (ports, addresses) run in
//! the VM test.

use super::c_program;
use super::{PASS5, as_root, stp_run_clean};

pub(crate) const PROGRAM: &str = include_str!("families/net.c");

const SCRIPT: &str = r#"
global soft
probe softirq.entry { soft[cpu()] = vec_nr + 1 }
probe softirq.exit { delete soft[cpu()] }
probe socket.sendmsg.return, socket.recvmsg.return {
  if (pid() == target())
    printf("%s %d %d %d %d\n", name, protocol, family, size, success)
}
probe netdev.transmit {
  if (pid() == target() && dev_name == "lo" && length == 363)
    printf("transmit %s %d 0x%x\n", dev_name, length, protocol)
}
probe netdev.receive {
  if (dev_name == "lo" && length == 349)
    printf("receive %s %d %d\n", dev_name, length, soft[cpu()] - 1)
}
"#;

/// The log's lines that start with `what`, as words.
fn logged<'a>(log: &'a str, what: &str) -> Vec<Vec<&'a str>> {
    log.lines().filter(|l| l.starts_with(what)).map(|l| l.split(' ').collect()).collect()
}

#[test]
fn udp_and_tcp_over_loopback_as_the_program_sent_them() {
    if !as_root("networking tapsets") {
        return;
    }
    let Some(prog) = c_program::build("networking tapsets", "net", PROGRAM, &["-O1"]) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a directory");
    let log = dir.path().join("did");
    let cmd = format!("{} {}", prog.text(), log.display());
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", SCRIPT]);
    assert_eq!(status, 0, "{err}");
    let did = std::fs::read_to_string(&log).expect("the program's log");
    assert_eq!(logged(&did, "udp send")[0][2], "321", "{did}");
    assert_eq!(logged(&did, "tcp send")[0][2], "1234", "{did}");
    let lines: Vec<&str> = out.lines().collect();
    // AF_INET is 2, IPPROTO_UDP 17, IPPROTO_TCP 6; each call succeeded.
    let sends: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("socket.sendmsg.return")).collect();
    assert_eq!(sends, ["socket.sendmsg.return 17 2 321 1", "socket.sendmsg.return 6 2 1234 1"], "{out}");
    let recvs: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("socket.recvmsg.return")).collect();
    assert_eq!(recvs.first(), Some(&"socket.recvmsg.return 17 2 321 1"), "{out}");
    // TCP may hand the 1234 bytes over in more than one read.
    let tcp_read: i64 = recvs
        .iter()
        .skip(1)
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            assert_eq!(&w[1..3], ["6", "2"], "{l}");
            w[3].parse::<i64>().unwrap()
        })
        .sum();
    assert_eq!(tcp_read, 1234, "{out}");
    // On loopback the datagram leaves with an Ethernet (14), IPv4 (20)
    // and UDP (8) header, and arrives with the Ethernet header pulled;
    // the protocol is ETH_P_IP (0x0800) as the packet holds it, in
    // network order. The receive runs in the NET_RX softirq (3).
    let eth_p_ip = u16::from_be(0x0800);
    assert!(lines.contains(&format!("transmit lo 363 0x{eth_p_ip:x}").as_str()), "{out}");
    assert!(lines.contains(&"receive lo 349 3"), "{out}");
}
