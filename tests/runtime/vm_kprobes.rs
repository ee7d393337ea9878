//! Kernel probes on an address (`kernel.statement(ADDR).absolute`),
//! kretprobes with a `maxactive`, kernel backtraces from kprobe and
//! fentry programs, LSM probes, wildcards, the `vfs.*` tapset and the
//! syscall dispatcher on this older kernel: in the VM of
//! `tests/common/vm.rs`, in one boot.

use std::time::Duration;

use super::common::vm::Vm;

/// A shell command whose `read` builtin reads with read(2), as the
/// target (`-c`): `vfs_read` runs in it.
const READER: &str = "-c \"sh -c 'read x < /proc/version'\"";

#[test]
fn statements_maxactive_and_backtraces_in_the_vm() {
    let mut vm = Vm::new();
    vm.case_timeout(Duration::from_secs(60));
    let handler = "if (pid() == target()) { print_backtrace(); exit() }";
    let statement = vm.case(format!(
        "a=$(grep ' T vfs_read$' /proc/kallsyms | cut -d' ' -f1)\n\
         stp -g -e \"probe kernel.statement(0x$a).absolute {{ printf(\\\"%s\\\\n\\\", pp() == \\\"kernel.statement(0x$a).absolute\\\" ? \\\"pp\\\" : pp()); {handler} }}\" {READER}"
    ));
    let fentry = vm.case(format!(
        "stp --function-probes=fentry -e 'probe kernel.function(\"vfs_read\") {{ {handler} }}' {READER}"
    ));
    let kprobe = vm.case(format!(
        "stp --function-probes=kprobe -e 'probe kernel.function(\"vfs_read\") {{ {handler} }}' {READER}"
    ));
    // The kretprobe's definition shows its maxactive while stp runs, and
    // is gone after.
    let maxactive = vm.case(
        "stp --function-probes=kprobe -T 30 -e 'global n\n\
           probe kernel.function(\"vfs_read\").return.maxactive(7) { if (n++ == 0) println($return >= 0) }' &\n\
         for i in $(seq 50); do grep -q '^r7:stp_' /sys/kernel/tracing/kprobe_events && break; sleep 0.4; done\n\
         grep -c '^r7:stp_[0-9]*/r0 vfs_read$' /sys/kernel/tracing/kprobe_events\n\
         read x < /proc/version; sleep 1; kill -INT %1; wait\n\
         echo after: $(grep -c stp_ /sys/kernel/tracing/kprobe_events)\n",
    );
    // A run killed with SIGKILL leaves its kretprobe event behind; the
    // next run removes it, its owner being gone.
    let killed = vm.case(
        "stp --function-probes=kprobe -T 60 -e 'global n\n\
           probe kernel.function(\"vfs_read\").return.maxactive(5) { n++ }' &\n\
         for i in $(seq 50); do grep -q '^r5:stp_' /sys/kernel/tracing/kprobe_events && break; sleep 0.4; done\n\
         kill -KILL %1; wait\n\
         echo left: $(grep -c '^r5:stp_' /sys/kernel/tracing/kprobe_events)\n\
         stp -e 'probe begin { exit() }'\n\
         echo after: $(grep -c stp_ /sys/kernel/tracing/kprobe_events)\n",
    );
    // An LSM hook's $ctx is its first argument: the file opened, each
    // one of the target's (the shell's binary at its exec, then the file
    // it reads).
    let lsm = vm.case(format!(
        "stp -e 'probe lsm.file_open {{ if (pid() == target()) {{\n\
           n = kernel_string(@cast($ctx, \"file\", \"kernel\")->f_path->dentry->d_name->name)\n\
           println(n); if (n == \"version\") exit() }} }}' {READER}"
    ));
    // A wildcard attaches each function it matches (pass 2 counts them),
    // and ppfunc() names the one hit (the shell reads a link, then the
    // file).
    let wildcard = vm.case(format!(
        "stp -v -e 'probe kernel.function(\"vfs_rea*\") {{ if (pid() == target()) {{\n\
           println(ppfunc()); if (ppfunc() == \"vfs_read\") exit() }} }}' {READER}"
    ));
    // The vfs tapset: a read's size and its return.
    let vfs = vm.case(format!(
        "stp -e 'probe vfs.read.return {{ if (pid() == target()) {{\n\
           printf(\"%s %d %d %d %s\\n\", name, bytes_to_read > 0, bytes_read == ret, ino > 0, retstr); exit() }} }}' {READER}"
    ));
    // Pointer arguments as numbers in fentry and LSM programs, whose
    // verifier types them: arithmetic on them, and $$parms.
    let numbers = vm.case(format!(
        "stp --function-probes=fentry -e 'probe kernel.function(\"vfs_read\") {{ if (pid() == target()) {{\n\
           printf(\"%d %d %d\\n\", $file != 0, ($file & 7) == 0, isinstr($$parms, \"file=0x\")); exit() }} }}' {READER}"
    ));
    let lsm_number = vm.case(format!(
        "stp -e 'probe lsm.file_open {{ if (pid() == target()) {{ printf(\"%d\\n\", ($ctx & 7) == 0 && $ctx != 0); exit() }} }}' {READER}"
    ));
    // `syscall.*` runs through one dispatcher on raw_syscalls:sys_enter
    // (its compat check reads the task through its BTF pointer): the
    // target's read(2) reaches the read alias. (Not `n`: a global of an
    // alias variable's name takes it over, as in stap; select has `n`.)
    let dispatch = vm.case(format!(
        "stp -e 'global counted\nprobe syscall.* {{ if (pid() == target()) counted[name]++ }}\nprobe end {{ println(counted[\"read\"] > 0) }}' {READER}"
    ));
    // A process name as a map key is copied as its 16 bytes: on this
    // kernel `bpf_get_current_comm` does not pad the name, so the place
    // must be zeroed first. The long string written before execname()
    // leaves bytes after the name's NUL if it is not, and one name would
    // then be several keys.
    let comm_key = vm.case(format!(
        "stp -e 'global last, m, n\nprobe syscall.* {{ if (pid() == target()) {{ a = sprintf(\"%s%s%s%s\", name, name, name, name); last = a; m[execname()] += 1; n++ }} }}\nprobe end {{ foreach (x in m) printf(\"%s=%d\\n\", x, m[x]); printf(\"n=%d %d\\nsh:%d\\n\", n, last != \"\", m[\"sh\"]) }}' {READER}"
    ));
    let Some(run) = vm.run("kernel statements and backtraces in the VM") else { return };
    let out = |i: usize| {
        let o = &run.outcomes[i];
        assert_eq!(o.status, Some(0), "case {}: stderr:\n{}", i + 1, o.stderr);
        o.stdout.clone()
    };
    // Each backtrace starts in vfs_read (the handler's own frames left
    // out) and goes through ksys_read.
    // The statement probe prints its pp() at every hit, other processes'
    // reads included, before the target's backtrace and, until the exit
    // takes hold, after it.
    for (case, pp_lines) in [(statement, true), (fentry, false), (kprobe, false)] {
        let text = out(case);
        let frames: Vec<&str> = text.lines().filter(|l| !(pp_lines && *l == "pp")).collect();
        assert!(frames.first().is_some_and(|f| f.contains(" : vfs_read+0x")), "case {}:\n{text}", case + 1);
        assert!(frames.iter().any(|f| f.contains(" : ksys_read+0x")), "case {}:\n{text}", case + 1);
        assert!(frames.iter().all(|f| f.starts_with(" 0x") && f.ends_with(" [kernel]")), "case {}:\n{text}", case + 1);
    }
    assert!(out(statement).starts_with("pp\n"), "{}", out(statement));
    assert_eq!(out(maxactive), "1\n1\nafter: 0\n");
    assert_eq!(out(killed), "left: 1\nafter: 0\n");
    assert_eq!(out(numbers), "1 1 1\n");
    assert_eq!(out(lsm_number), "1\n");
    assert_eq!(out(dispatch), "1\n");
    // Every call of the target counted under its name (sh, and the name
    // it had before its exec), each name once, the counts adding up.
    let counts = out(comm_key);
    let mut names = Vec::new();
    let mut sum = 0;
    let mut total = None;
    let mut looked_up = None;
    for line in counts.lines() {
        if let Some(rest) = line.strip_prefix("n=") {
            total = rest.strip_suffix(" 1").and_then(|n| n.parse::<u64>().ok());
        } else if let Some(c) = line.strip_prefix("sh:") {
            looked_up = c.parse::<u64>().ok();
        } else if let Some((name, c)) = line.rsplit_once('=') {
            names.push(name.to_string());
            sum += c.parse::<u64>().unwrap_or(0);
        }
    }
    assert!(names.iter().any(|n| n == "sh"), "{counts}");
    // The key "sh" as the end probe spells it finds what was counted.
    assert!(counts.contains(&format!("sh={}\n", looked_up.unwrap_or(0))), "{counts}");
    let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "a name under several keys:\n{counts}");
    assert_eq!(Some(sum), total.filter(|&t| t > 0), "{counts}");
    assert!(out(lsm).ends_with("busybox\nversion\n"), "{}", out(lsm));
    let hits = out(wildcard);
    assert!(hits.ends_with("vfs_read\n"), "{hits}");
    assert!(hits.lines().all(|f| ["vfs_read", "vfs_readv", "vfs_readlink"].contains(&f)), "{hits}");
    // vfs_read, vfs_readv and vfs_readlink at least.
    let probes: u32 = run.outcomes[wildcard]
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("Pass 2: analyzed script: ")?.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(probes >= 3, "{}", run.outcomes[wildcard].stderr);
    let vfs_out = out(vfs);
    let (head, ret) = vfs_out.trim_end().rsplit_once(' ').unwrap_or_default();
    assert_eq!(head, "vfs.read 1 1 1", "{vfs_out}");
    assert!(ret.parse::<i64>().is_ok_and(|n| n > 0), "{vfs_out}");
}
