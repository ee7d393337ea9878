//! The aliases of the memory and networking tapsets that are kernel
//! functions (no tracepoint carries their data), in the VM of
//! `tests/common/vm.rs`, in one boot: the test programs of the host tests
//! (built static) do what they log, and the script's lines must be those
//! (`tcp.sendmsg` size and family, `tcp.recvmsg.return` ports and
//! addresses, `udp.sendmsg` ports, `tcp.receive` the handshake,
//! `vm.brk` the heap's growth, `vm.pagefault.return` a minor fault), and
//! a file read through `generic.fop.*` and `vfs.do_sync_read` and a tty
//! write (`tty.write`).

use std::time::Duration;

use super::c_program;
use super::common::vm::Vm;

const NET: &str = r#"
probe tcp.sendmsg { if (pid() == target()) printf("tcp send %d %d\n", size, family) }
probe tcp.sendmsg.return { if (pid() == target()) printf("tcp sent %d\n", size) }
probe tcp.recvmsg.return {
  if (pid() == target() && size > 0) printf("tcp recv %d %s %s %d %d\n", size, saddr, daddr, sport, dport)
}
probe udp.sendmsg { if (pid() == target()) printf("udp send %d %s %d %d\n", size, saddr, sport, dport) }
probe udp.recvmsg.return { if (pid() == target()) printf("udp recv %d %d\n", size, sport) }
probe tcp.receive { if (syn && !ack) printf("syn %s %s %d %d\n", saddr, daddr, sport, dport) }
"#;

const MEM: &str = r#"
global minor
probe vm.brk { if (pid() == target()) printf("brk %x %d\n", address, length) }
probe vm.pagefault.return { if (pid() == target() && vm_fault_contains(fault_type, VM_FAULT_MINOR)) minor++ }
probe end { printf("minor faults %d\n", minor > 0) }
"#;

/// A file's reads through the generic file operations and the VFS (on the guest's ramfs, which has no block device), and a write to
/// the serial terminal: `$1` is the file's inode.
const FILES: &str = r#"
probe generic.fop.read_iter { if (ino == $1) printf("read_iter %d\n", count > 0) }
probe vfs.do_sync_read { if (ino == $1) printf("do_sync_read %s %d\n", devname, bytes_to_read > 0) }
probe tty.write { if (pid() == target()) printf("tty.write %s %d\n", buffer, nr) }
"#;

/// The log's lines that start with `what`, as words.
fn logged<'a>(log: &'a str, what: &str) -> Vec<Vec<&'a str>> {
    log.lines().filter(|l| l.starts_with(what)).map(|l| l.split(' ').collect()).collect()
}

#[test]
fn function_based_family_aliases_in_the_vm() {
    let test = "function-based family aliases in the VM";
    let flags = ["-O1", "-static"];
    let Some(net) = c_program::build(test, "net", super::families_net::PROGRAM, &flags) else { return };
    let Some(mem) = c_program::build(test, "memory", include_str!("families/memory.c"), &flags) else { return };
    let mut vm = Vm::new();
    vm.case_timeout(Duration::from_secs(150));
    vm.copy(std::path::Path::new(&net.text()), "/root/net");
    vm.copy(std::path::Path::new(&mem.text()), "/root/mem");
    let quote = super::common::vm::quote;
    let net_case =
        vm.case(format!("stp -e {} -c '/root/net /root/net.log' && echo --- && cat /root/net.log", quote(NET)));
    let mem_case =
        vm.case(format!("stp -e {} -c '/root/mem /root/mem.log' && echo --- && cat /root/mem.log", quote(MEM)));
    let files_case = vm.case(format!(
        "echo abcdefgh > /root/f\n\
         stp -e {} -c \"sh -c 'head -c 5 /root/f >/dev/null; echo hello > /dev/ttyS0'\" $(stat -c %i /root/f)",
        quote(FILES)
    ));
    let Some(run) = vm.run(test) else { return };
    let out = |i: usize| {
        let o = &run.outcomes[i];
        assert_eq!(o.status, Some(0), "case {}: stderr:\n{}", i + 1, o.stderr);
        o.stdout.clone()
    };

    let text = out(net_case);
    let (seen, did) = text.split_once("---\n").expect("the program's log");
    let udp = &logged(did, "udp send")[0];
    let tcp = &logged(did, "tcp send")[0];
    let (udp_port, client, server) = (udp[3], tcp[3], tcp[4]);
    let lines: Vec<&str> = seen.lines().collect();
    // An unconnected UDP socket has no peer: udp.sendmsg reports the
    // socket's own ports and addresses, as stap does.
    assert!(lines.contains(&format!("udp send 321 127.0.0.1 {udp_port} 0").as_str()), "{text}");
    assert!(lines.contains(&format!("udp recv 321 {udp_port}").as_str()), "{text}");
    assert!(lines.contains(&"tcp send 1234 2"), "{text}");
    assert!(lines.contains(&"tcp sent 1234"), "{text}");
    // The server's socket reads: its port is the source, the client's the
    // destination.
    assert!(lines.contains(&format!("tcp recv 1234 127.0.0.1 127.0.0.1 {server} {client}").as_str()), "{text}");
    assert!(lines.contains(&format!("syn 127.0.0.1 127.0.0.1 {client} {server}").as_str()), "{text}");

    let text = out(mem_case);
    let (seen, did) = text.split_once("---\n").expect("the program's log");
    let brk = logged(did, "brk").into_iter().next().expect("the program grew its heap").join(" ");
    assert!(seen.lines().any(|l| l == brk), "{text}");
    assert!(seen.lines().any(|l| l == "minor faults 1"), "{text}");

    // The file holds "abcdefgh\n"; head reads it through read(2).
    let text = out(files_case);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"read_iter 1"), "{text}");
    assert!(lines.contains(&"do_sync_read N/A 1"), "{text}");
    assert!(lines.contains(&"tty.write \"hello\\n\" 6"), "{text}");
}
