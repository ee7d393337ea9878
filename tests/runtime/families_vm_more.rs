//! The function-based aliases of the MIB, SCSI and NFS tapsets in the VM
//! of `tests/common/vm.rs` (kernel-function probes, and modules the
//! kernel package ships, loaded with modprobe), in one boot:
//! - the MIB program of the host test (static) makes, accepts and aborts
//!   a TCP connection and sends a raw packet of protocol 253: the counts
//!   by port and protocol must be those (ActiveOpens, PassiveOpens,
//!   OutRsts through the functions older kernels need, InReceives and
//!   OutRequests of the raw packet);
//! - SCSI before scsi_mod is loaded names the module; with scsi_debug's
//!   disk, a 4096-byte O_DIRECT read, an offline/running state change and
//!   a rescan must show in scsi.* with the disk's numbers, the read's
//!   direction and size, and the states;
//! - with sunrpc, nfsd and nfs loaded, every sunrpc, nfsd and nfs.fop
//!   alias compiles with all its variables, and starting the NFS server
//!   must show its service (program 100003, RFC 1813) being created.

use std::time::Duration;

use super::c_program;
use super::common::vm::{Vm, quote};

const MIB: &str = r#"
function tcpmib_filter_key:long (sk:long, op:long) { return tcpmib_local_port(sk) }
function ipmib_filter_key:long (skb:long, op:long, SourceIsLocal:long) { return ipmib_get_proto(skb) }
probe tcpmib.ActiveOpens, tcpmib.PassiveOpens, tcpmib.OutRsts, ipmib.InReceives, ipmib.OutRequests { }
probe end {
  foreach (k in ActiveOpens) printf("ActiveOpens %d %d\n", k, ActiveOpens[k])
  foreach (k in PassiveOpens) printf("PassiveOpens %d %d\n", k, PassiveOpens[k])
  foreach (k in OutRsts) printf("OutRsts %d %d\n", k, OutRsts[k])
  printf("InReceives 253 %d\n", InReceives[253])
  printf("OutRequests 253 %d\n", OutRequests[253])
}
"#;

/// `$1`, `$2`: the disk's major and minor; `$3` its SCSI host.
const SCSI: &str = r#"
probe scsi.ioentry { if (disk_major == $1 && disk_minor == $2) printf("ioentry %s\n", device_state_str) }
probe scsi.iodispatching {
  if (host_no == $3) printf("dispatch %d %d %d %s %d\n", channel, dev_id, lun, data_direction_str, request_bufflen)
}
probe scsi.iodone { if (host_no == $3) printf("done %s\n", data_direction_str) }
probe scsi.iocompleted { if (host_no == $3) printf("completed %d %s\n", goodbytes, data_direction_str) }
probe scsi.set_state { if (host_no == $3) printf("state %s %s\n", old_state_str, state_str) }
probe scsi.ioexecute { if (host_no == $3) printf("execute %s\n", device_state_str) }
"#;

const NFSD_START: &str = r#"
probe sunrpc.svc.create { printf("svc.create %s %d\n", progname, prog) }
probe sunrpc.clnt.create_client { printf("create_client %s %d %d\n", progname, prog, vers) }
"#;

/// The aliases of a tapset file and the variables each sets, from the
/// file's text: `probe NAME = ...` and the `var = ...` lines of its body.
fn aliases_with_vars(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("probe ") {
            let name = rest.split([' ', '=']).next().unwrap().to_string();
            out.push((name, Vec::new()));
        } else if let Some((var, _)) = line.strip_prefix("  ").and_then(|l| l.split_once(" = "))
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && let Some((_, vars)) = out.last_mut()
            && !vars.contains(&var.to_string())
        {
            vars.push(var.to_string());
        }
    }
    out.retain(|(n, _)| !n.starts_with("__"));
    out
}

#[test]
fn mib_scsi_and_nfs_aliases_in_the_vm() {
    let test = "MIB, SCSI and NFS aliases in the VM";
    let flags = ["-O1", "-static"];
    let Some(mib) = c_program::build(test, "mib", super::families_mib::PROGRAM, &flags) else { return };
    let Some(odirect) = c_program::build(test, "odirect", include_str!("families/odirect.c"), &flags) else { return };
    let mut nfs_script = String::new();
    let mut nfs_aliases = 0;
    for file in [
        include_str!("../../stdlib/linux/sunrpc.stp"),
        include_str!("../../stdlib/linux/nfsd.stp"),
        include_str!("../../stdlib/linux/nfsd_proc.stp"),
        include_str!("../../stdlib/linux/nfs.stp"),
    ] {
        for (alias, vars) in aliases_with_vars(file) {
            nfs_aliases += 1;
            let args: String = vars.iter().map(|v| format!(", {v}")).collect();
            nfs_script.push_str(&format!("probe {alias} {{ printdln(\" \", pp(), \"-\"{args}) }}\n"));
        }
    }
    let mut vm = Vm::new();
    vm.case_timeout(Duration::from_secs(200));
    for m in ["scsi_debug", "sd_mod", "nfsd", "nfs"] {
        vm.module(m);
    }
    vm.copy(std::path::Path::new(&mib.text()), "/root/mib");
    vm.copy(std::path::Path::new(&odirect.text()), "/root/odirect");
    let mib_case =
        vm.case(format!("stp -e {} -c '/root/mib /root/mib.log' && echo --- && cat /root/mib.log", quote(MIB)));
    let scsi_case = vm.case(format!(
        "stp -p2 -e 'probe scsi.iocompleted {{ }}' 2>&1; echo ---\n\
         modprobe scsi_debug && modprobe sd_mod && sleep 1 || exit 1\n\
         stp -l 'scsi.*' | wc -l; echo ---\n\
         dev=$(cat /sys/block/sda/dev); host=$(ls /sys/block/sda/device/scsi_device/); echo \"$dev $host\"; echo ---\n\
         stp -e {} -c '/root/odirect /dev/sda; echo offline > /sys/block/sda/device/state; \
         echo running > /sys/block/sda/device/state; echo 1 > /sys/block/sda/device/rescan' \
         ${{dev%:*}} ${{dev#*:}} ${{host%%:*}}",
        quote(SCSI)
    ));
    let nfs_case = vm.case(format!(
        "modprobe nfsd && modprobe nfs || exit 1\n\
         stp -p4 -e {} >/dev/null || exit 1; echo compiled\n\
         mkdir -p /proc/fs/nfsd; mount -t nfsd nfsd /proc/fs/nfsd\n\
         stp -e {} -c 'echo 1 > /proc/fs/nfsd/threads; echo 0 > /proc/fs/nfsd/threads; true'",
        quote(&nfs_script),
        quote(NFSD_START)
    ));
    let Some(run) = vm.run(test) else { return };
    let out = |i: usize| {
        let o = &run.outcomes[i];
        assert_eq!(o.status, Some(0), "case {}: stdout:\n{}\nstderr:\n{}", i + 1, o.stdout, o.stderr);
        o.stdout.clone()
    };

    let text = out(mib_case);
    let (seen, did) = text.split_once("---\n").expect("the program's log");
    let ports = did.lines().find_map(|l| l.strip_prefix("tcp ")).expect("the ports");
    let (client, server) = ports.split_once(' ').unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    for want in [
        format!("ActiveOpens {client} 1"),
        format!("PassiveOpens {server} 1"),
        format!("OutRsts {client} 1"),
        "InReceives 253 1".to_string(),
        "OutRequests 253 1".to_string(),
    ] {
        assert!(lines.contains(&want.as_str()), "{want} in\n{text}");
    }

    let text = out(scsi_case);
    let parts: Vec<&str> = text.split("---\n").collect();
    assert!(parts[0].contains("module 'scsi_mod' is not loaded"), "{text}");
    assert_eq!(parts[1].trim(), "6", "{text}");
    let ids: Vec<&str> = parts[2].split_whitespace().collect();
    let hctl: Vec<&str> = ids[1].split(':').collect();
    let seen: Vec<&str> = parts[3].lines().collect();
    let has = |l: String| assert!(seen.contains(&l.as_str()), "{l} in\n{text}");
    has("read 4096".to_string());
    has("ioentry RUNNING".to_string());
    has(format!("dispatch {} {} {} FROM_DEVICE 4096", hctl[1], hctl[2], hctl[3]));
    has("done FROM_DEVICE".to_string());
    has("completed 4096 FROM_DEVICE".to_string());
    has("state RUNNING OFFLINE".to_string());
    has("state OFFLINE RUNNING".to_string());
    has("execute RUNNING".to_string());

    let text = out(nfs_case);
    assert!(nfs_aliases > 60, "{nfs_aliases}");
    assert!(text.contains("compiled\n"), "{text}");
    assert!(text.lines().any(|l| l == "svc.create nfsd 100003"), "{text}");
}
