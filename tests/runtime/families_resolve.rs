//! Every probe alias of the memory, block I/O, networking, interrupt,
//! tty and vfs tapsets resolves on the running kernel at pass 2, and
//! compiles through pass 4 with every variable it offers printed: one
//! script probes them all (`?`, so that the aliases built only on points
//! of older kernels may match nothing), and `-p2` must list each of the
//! others as resolved. `-L` gives each alias's variables.

use std::process::Command;

use super::as_root;

/// The tapset files of these families.
const FILES: &[&str] = &[
    include_str!("../../stdlib/linux/memory.stp"),
    include_str!("../../stdlib/linux/ioblock.stp"),
    include_str!("../../stdlib/linux/ioscheduler.stp"),
    include_str!("../../stdlib/linux/tcp.stp"),
    include_str!("../../stdlib/linux/udp.stp"),
    include_str!("../../stdlib/linux/net_socket.stp"),
    include_str!("../../stdlib/linux/netdev.stp"),
    include_str!("../../stdlib/linux/irq.stp"),
    include_str!("../../stdlib/linux/tty.stp"),
    include_str!("../../stdlib/linux/vfs.stp"),
    include_str!("../../stdlib/linux/generic_fop.stp"),
];

/// Aliases on functions or tracepoints that kernels since 4.1 (most of
/// them much earlier) no longer have, as in stap's tapsets: they may
/// resolve to nothing. Optional points of newer kernels' aliases
/// (`vm.write_shared_copy` is inlined on some kernels,
/// `netdev.change_rx_flag`'s function too) are here as well.
const OLD: &[&str] = &[
    "generic.fop.aio_read",
    "generic.fop.aio_write",
    "generic.fop.read",
    "generic.fop.readv",
    "generic.fop.sendfile",
    "generic.fop.write",
    "generic.fop.writev",
    "ioblock_trace.bounce",
    "ioscheduler.elv_add_request.kp",
    "ioscheduler.elv_completed_request",
    "ioscheduler.elv_next_request",
    "ioscheduler_trace.elv_abort_request",
    "netdev.change_rx_flag",
    "socket.aio_read",
    "socket.aio_write",
    "socket.readv",
    "socket.writev",
    "vfs.block_sync_page",
    "vm.write_shared_copy",
    "workqueue.create",
    "workqueue.destroy",
];

/// The public aliases the files define.
fn aliases() -> Vec<String> {
    let mut names: Vec<String> = FILES
        .iter()
        .flat_map(|f| f.lines())
        .filter_map(|l| l.strip_prefix("probe "))
        .filter_map(|l| l.split([' ', '=']).next())
        .filter(|n| !n.starts_with("__") && !n.is_empty())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

fn old(alias: &str) -> bool {
    OLD.iter().any(|o| alias == *o || alias.strip_suffix(".return") == Some(o))
}

fn stp(args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("a directory");
    let out = Command::new(env!("CARGO_BIN_EXE_stp")).current_dir(dir.path()).args(args).output().expect("stp runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_family_alias_resolves_and_compiles() {
    // Pass 2 reads the kernel's BTF and tracefs.
    if !as_root("family aliases resolve") {
        return;
    }
    let all = aliases();
    assert!(all.len() > 150, "{all:?}");
    let mut script = String::new();
    for a in &all {
        // `-L` lists what the alias offers: `NAME var:type ...`.
        let (_, listed, _) = stp(&["-L", a]);
        let vars: Vec<(&str, &str)> = listed
            .lines()
            .next()
            .unwrap_or("")
            .split(' ')
            .skip(1)
            .filter_map(|v| v.split_once(':'))
            // symname() of a call site is not translated in kernel
            // handlers yet.
            .filter(|(n, _)| *n != "caller_function")
            .collect();
        let format: String =
            vars.iter().map(|(n, t)| format!(" {n}={}", if *t == "string" { "%s" } else { "%d" })).collect();
        let args: String = vars.iter().map(|(n, _)| format!(", {n}")).collect();
        script.push_str(&format!("probe {a} ? {{ printf(\"{format}\\n\"{args}) }}\n"));
    }
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("all.stp");
    std::fs::write(&path, &script).unwrap();
    let (ok, out, err) = stp(&["-p2", path.to_str().unwrap()]);
    assert!(ok, "{err}");
    // `kernel.trace("x") /* <- a?,b? */ /* kernel */`: the aliases each
    // resolved point came from.
    let resolved: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once("/* <- ")?.1.split_once(" */"))
        .flat_map(|(names, _)| names.split(','))
        .map(|n| n.trim_end_matches('?'))
        .collect();
    let missing: Vec<&String> = all.iter().filter(|a| !old(a) && !resolved.contains(&a.as_str())).collect();
    assert!(missing.is_empty(), "unresolved: {missing:?}\n{err}");
    let (ok, _, err) = stp(&["-p4", path.to_str().unwrap()]);
    assert!(ok, "{err}");
}
