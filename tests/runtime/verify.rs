//! `-p4 --verify` loads what pass 5 would: a BTF tracepoint program
//! against the kernel's BTF (its refusal is reported), and its raw
//! tracepoint twin only where pass 5 would fall back to it.

use stp_compiler::bpf::elf::{Program, write_object};
use stp_compiler::bpf::insn::{Insn, Reg};
use stp_runtime::run::FunctionProbes;
use stp_runtime::verify::{Planned, verify_planned};

use super::{PASS5, as_root};

fn program(name: &str, section: &str, good: bool) -> Program {
    // A bad program returns without having set r0.
    let first = if good { Insn::mov64_imm(Reg::R0, 0) } else { Insn::mov64_imm(Reg::R1, 0) };
    Program {
        name: name.into(),
        section: section.into(),
        insns: vec![first, Insn::exit()],
        map_loads: Vec::new(),
        funcs: Vec::new(),
    }
}

fn twins(btf_good: bool, raw_good: bool) -> (Vec<u8>, Vec<Planned>) {
    let progs =
        [program("btf", "tp_btf/sched_switch", btf_good), program("raw", "raw_tracepoint/sched_switch", raw_good)];
    let bytes = write_object(&progs, &[], "GPL").expect("an object");
    let planned = progs
        .iter()
        .enumerate()
        .map(|(i, p)| Planned { name: p.name.clone(), section: p.section.clone(), twin: Some(1 - i) })
        .collect();
    (bytes, planned)
}

#[test]
fn verify_loads_the_twin_pass_5_would_load() {
    if !as_root("--verify of BTF tracepoints") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // The BTF program is what pass 5 attaches: its refusal is reported.
    let (bytes, planned) = twins(false, true);
    let rejected =
        verify_planned(&bytes, &planned, FunctionProbes::Auto, &[]).expect_err("the tp_btf program is refused");
    assert_eq!(rejected.program, "btf");
    assert!(rejected.log.contains("R0 !read_ok"), "{}", rejected.log);
    // Its twin is not loaded while the BTF program is.
    let (bytes, planned) = twins(true, false);
    verify_planned(&bytes, &planned, FunctionProbes::Auto, &[]).expect("the raw twin is not loaded");
    // With kprobes forced, pass 5 loads the raw twin, and so does --verify.
    let rejected =
        verify_planned(&bytes, &planned, FunctionProbes::Kprobe, &[]).expect_err("the raw twin is loaded and refused");
    assert_eq!(rejected.program, "raw");
}
