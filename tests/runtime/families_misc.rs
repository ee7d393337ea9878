//! The perf tapset's hardware cache aliases, and the families stp refuses
//! with a reason: each `perf.hw_cache.CACHE.OP.RESULT` alias is the perf
//! event perf_event_open(2) composes from its three ids (computed here
//! from the man page's table, not from stp); `procfs`, `input.*`,
//! `stap.*`, `staprun.*` and `netfilter.*` fail at pass 2 with exit 1 and
//! a note that says why and what to use; and a `module("NAME")` point of
//! a module the kernel has not loaded names the module.

use std::process::Command;

use super::as_root;

fn stp(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("a directory");
    let out = Command::new(env!("CARGO_BIN_EXE_stp")).current_dir(dir.path()).args(args).output().expect("stp runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hw_cache_aliases_are_the_perf_events_of_their_ids() {
    // PERF_COUNT_HW_CACHE_* ids, the operations and the results.
    let caches = [("l1d", 0), ("l1i", 1), ("ll", 2), ("dtlb", 3), ("itlb", 4), ("bpu", 5), ("node", 6)];
    let ops = [("read", 0), ("write", 1), ("prefetch", 2)];
    let results = [("access", 0), ("miss", 1)];
    let (status, listed, err) = stp(&["-l", "perf.hw_cache.*.*.*"]);
    assert_eq!(status, 0, "{err}");
    let listed: Vec<&str> = listed.lines().collect();
    // stap's 30: no l1i write, no itlb/bpu write or prefetch, no node
    // prefetch.
    assert_eq!(listed.len(), 30, "{listed:?}");
    let mut script = String::new();
    let mut want = Vec::new();
    for alias in &listed {
        let parts: Vec<&str> = alias.split('.').collect();
        let id = |table: &[(&str, u64)], name: &str| table.iter().find(|(n, _)| *n == name).unwrap().1;
        let config = id(&caches, parts[2]) | id(&ops, parts[3]) << 8 | id(&results, parts[4]) << 16;
        script.push_str(&format!("probe {alias} {{ print(1) }}\n"));
        want.push(format!("perf.type(3).config({config})"));
    }
    let (status, out, err) = stp(&["-p2", "-e", &script]);
    assert_eq!(status, 0, "{err}");
    for w in &want {
        assert!(out.contains(w.as_str()), "{w} in\n{out}");
    }
}

#[test]
fn refused_families_say_why_and_what_to_use() {
    for (point, why) in [
        ("procfs(\"x\").read", "probe prometheus"),
        ("procfs(\"x\").write", "/proc/systemtap"),
        ("input.char", "script arguments"),
        ("input.line", "standard input"),
        ("stap.pass0", "SystemTap's own programs"),
        ("staprun.insert_module", "static marks"),
        ("netfilter.hook(\"NF_INET_LOCAL_IN\").pf(\"NFPROTO_IPV4\")", "BPF_PROG_TYPE_NETFILTER"),
        ("netfilter.ip.local_in", "netdev.*"),
    ] {
        let script = format!("probe {point} {{ }}");
        let (status, _, err) = stp(&["-p2", "-e", &script]);
        assert_eq!(status, 1, "{point}: {err}");
        assert!(err.contains("semantic error: probe point not supported by stp"), "{point}: {err}");
        assert!(err.contains(why), "{point}: {err}");
        // At the user's line.
        assert!(err.contains("<input>:1:7"), "{point}: {err}");
    }
}

#[test]
fn a_module_that_is_not_loaded_is_named() {
    // Pass 2 reads kallsyms and the modules' BTF.
    if !as_root("module not loaded") {
        return;
    }
    // A name no kernel has as a module.
    let (status, _, err) = stp(&["-p2", "-e", "probe module(\"stp_no_such_mod\").function(\"f\") { }"]);
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("module 'stp_no_such_mod' is not loaded"), "{err}");
    assert!(err.contains("modprobe stp_no_such_mod"), "{err}");
    // With `?`, nothing to probe and no error.
    let (status, _, err) =
        stp(&["-p2", "-e", "probe module(\"stp_no_such_mod\").function(\"f\") ? { } probe begin { exit() }"]);
    assert_eq!(status, 0, "{err}");
    // The SCSI tapset names scsi_mod where the kernel has not loaded it.
    if !std::path::Path::new("/sys/kernel/btf/scsi_mod").exists()
        && !std::fs::read_to_string("/proc/kallsyms").unwrap_or_default().contains(" scsi_io_completion")
    {
        let (status, _, err) = stp(&["-p2", "-e", "probe scsi.iocompleted { }"]);
        assert_eq!(status, 1, "{err}");
        assert!(err.contains("module 'scsi_mod' is not loaded"), "{err}");
    }
}
