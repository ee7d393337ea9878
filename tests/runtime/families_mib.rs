//! The SNMP MIB tapsets (`ipmib.*`, `tcpmib.*`, `linuxmib.*`): every
//! alias resolves and compiles with its variables, and on the host the
//! tracepoint-based ones count what a C program did over loopback (a TCP
//! connection it made, accepted and aborted with a reset; a raw packet of
//! a protocol nothing handles), under keys a script's own filter
//! functions give (the local port, the IP protocol), as stap lets a
//! script replace `tcpmib_filter_key()` and `ipmib_filter_key()`. The
//! function-based aliases run in the VM test (`families_vm_more`).

use super::c_program;
use super::{PASS5, as_root, stp_run_clean};

pub(crate) const PROGRAM: &str = include_str!("families/mib.c");

/// Runs `stp ARGS` in a private directory: (success, stdout, stderr).
fn stp(args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("a directory");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stp"))
        .current_dir(dir.path())
        .args(args)
        .output()
        .expect("stp runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The running kernel's (major, minor) release.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("the release");
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn mib_aliases_resolve_and_compile_with_their_variables() {
    if !as_root("MIB aliases resolve") {
        return;
    }
    // InNoRoutes and InAddrErrors decode ip_route_input_noref's errno,
    // which kernels since 6.13 replaced with a drop reason.
    let ipmib = if kernel_version() >= (6, 13) { 9 } else { 11 };
    let mut script = String::new();
    for (family, count) in [("ipmib", ipmib), ("tcpmib", 9), ("linuxmib", 4)] {
        let (ok, listed, err) = stp(&["-L", &format!("{family}.*")]);
        assert!(ok, "{err}");
        assert_eq!(listed.lines().count(), count, "{listed}");
        for line in listed.lines() {
            let mut words = line.split(' ');
            let alias = words.next().unwrap();
            let vars: Vec<&str> = words.filter_map(|v| v.split_once(':')).map(|(n, _)| n).collect();
            assert!(vars.contains(&"op") && vars.contains(&"key"), "{line}");
            let format: String = vars.iter().map(|n| format!(" {n}=%d")).collect();
            let args: String = vars.iter().map(|n| format!(", {n}")).collect();
            script.push_str(&format!("probe {alias} {{ printf(\"{format}\\n\"{args}) }}\n"));
        }
    }
    let (ok, out, err) = stp(&["-p4", "-m", "mib", "-e", &script]);
    assert!(ok, "{err}\n{script}");
    assert_eq!(out.trim(), "mib.o");
}

const SCRIPT: &str = r#"
function tcpmib_filter_key:long (sk:long, op:long) { return tcpmib_local_port(sk) }
function ipmib_filter_key:long (skb:long, op:long, SourceIsLocal:long) { return ipmib_get_proto(skb) }
probe tcpmib.CurrEstab {
  if (state == 1 || oldstate == 1) printf("event %d %d\n", tcpmib_local_port(sk), state == 1 ? 1 : -1)
}
probe tcpmib.EstabResets, tcpmib.OutRsts, ipmib.InUnknownProtos { }
probe end {
  foreach (k in CurrEstab) printf("CurrEstab %d %d\n", k, CurrEstab[k])
  foreach (k in EstabResets) printf("EstabResets %d %d\n", k, EstabResets[k])
  foreach (k in OutRsts) printf("OutRsts %d %d\n", k, OutRsts[k])
  foreach (k in InUnknownProtos) printf("InUnknownProtos %d %d\n", k, InUnknownProtos[k])
}
"#;

#[test]
fn mib_counters_count_a_connection_a_reset_and_an_unknown_protocol() {
    if !as_root("MIB counters") {
        return;
    }
    // The tracepoints: inet_sock_set_state (4.16), tcp_send_reset for
    // active resets (6.10), icmp_send (6.9).
    if kernel_version() < (6, 10) {
        eprintln!("skipped MIB counters: the tracepoints need kernel 6.10");
        return;
    }
    let Some(prog) = c_program::build("MIB counters", "mib", PROGRAM, &["-O1"]) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a directory");
    let log = dir.path().join("did");
    let cmd = format!("{} {}", prog.text(), log.display());
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", SCRIPT]);
    assert_eq!(status, 0, "{err}");
    let did = std::fs::read_to_string(&log).expect("the program's log");
    let ports = did.lines().find_map(|l| l.strip_prefix("tcp ")).expect("the ports");
    let (client, server) = ports.split_once(' ').unwrap();
    assert!(did.contains("raw 253"), "{did}");
    let lines: Vec<&str> = out.lines().collect();
    let has = |l: String| assert!(lines.contains(&l.as_str()), "{l} in\n{out}");
    // Both ends entered ESTABLISHED and left it; the counts go back to 0.
    for port in [client, server] {
        has(format!("event {port} 1"));
        has(format!("event {port} -1"));
        has(format!("CurrEstab {port} 0"));
        // The client's abort and the server's reset received: CLOSE from
        // ESTABLISHED on both.
        has(format!("EstabResets {port} 1"));
    }
    // One reset, sent by the client.
    has(format!("OutRsts {client} 1"));
    assert!(!lines.iter().any(|l| l.starts_with(&format!("OutRsts {server} "))), "{out}");
    // Protocol 253 unreachable, once.
    has("InUnknownProtos 253 1".to_string());
}
