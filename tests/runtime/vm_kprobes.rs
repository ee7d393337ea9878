//! Kernel probes on an address (`kernel.statement(ADDR).absolute`),
//! kretprobes with a `maxactive`, and kernel backtraces from kprobe and
//! fentry programs: in the VM of `tests/common/vm.rs`, in one boot.

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
    let Some(run) = vm.run("kernel statements and backtraces in the VM") else { return };
    let out = |i: usize| {
        let o = &run.outcomes[i];
        assert_eq!(o.status, Some(0), "case {}: stderr:\n{}", i + 1, o.stderr);
        o.stdout.clone()
    };
    // Each backtrace starts in vfs_read (the handler's own frames left
    // out) and goes through ksys_read.
    for (case, first) in [(statement, 1), (fentry, 0), (kprobe, 0)] {
        let text = out(case);
        let frames: Vec<&str> = text.lines().skip(first).collect();
        assert!(frames.first().is_some_and(|f| f.contains(" : vfs_read+0x")), "case {}:\n{text}", case + 1);
        assert!(frames.iter().any(|f| f.contains(" : ksys_read+0x")), "case {}:\n{text}", case + 1);
        assert!(frames.iter().all(|f| f.starts_with(" 0x") && f.ends_with(" [kernel]")), "case {}:\n{text}", case + 1);
    }
    assert!(out(statement).starts_with("pp\n"), "{}", out(statement));
    assert_eq!(out(maxactive), "1\n1\nafter: 0\n");
}
