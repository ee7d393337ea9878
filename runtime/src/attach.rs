//! Attaching many probes fast.
//!
//! Syscall tracepoints that the compiler sent through dispatchers
//! ([`stp_compiler::bpf::codegen::dispatch`]) are not attached one by one:
//! each handler program is loaded and put in its program array at its
//! syscall number, and only the dispatchers are attached, on
//! `raw_syscalls:sys_enter` and `sys_exit`.

use std::os::fd::AsFd;

use aya::maps::ProgramArray;
use aya::programs::Program;
use stp_compiler::bpf::codegen::dispatch::Dispatch;
use stp_compiler::driver::Compiled;

use crate::run::Failure;

/// Whether the program at `i` is attached through a dispatcher (or is
/// one), rather than to its own point.
pub fn dispatched(c: &Compiled, i: usize) -> bool {
    c.code.dispatch.get(i).is_some_and(Option::is_some)
}

/// Loads the handlers that dispatchers call into their program arrays,
/// then loads and attaches the dispatchers. `verbose` > 1 says how many.
pub fn syscall_dispatchers(ebpf: &mut aya::Ebpf, c: &Compiled, verbose: u8) -> Result<(), Failure> {
    let fail =
        |what: &str, e: &dyn std::fmt::Display| Failure { message: format!("{what}: {e}"), span: None, log: None };
    let mut handlers = 0;
    for (i, p) in c.code.programs.iter().enumerate() {
        let Some(Some(Dispatch::Handler { map, nr })) = c.code.dispatch.get(i) else { continue };
        let kind = c.code.points.get(i).and_then(|&(probe, point)| c.program.probes.get(probe)?.points.get(point));
        let Some(kind) = kind.map(|pt| &pt.kind) else { continue };
        let Some(Program::TracePoint(t)) = ebpf.program_mut(&p.name) else {
            return Err(fail("no tracepoint program", &p.name));
        };
        crate::run::load(t.load(), kind, c, p)?;
        let fd = t.fd().map_err(|e| fail(&p.name, &e))?.try_clone().map_err(|e| fail(&p.name, &e))?;
        let Some(m) = ebpf.map_mut(map) else { return Err(fail("no program array", map)) };
        let mut array = ProgramArray::try_from(m).map_err(|e| fail(map, &e))?;
        array.set(*nr, &fd, 0).map_err(|e| fail(map, &e))?;
        handlers += 1;
    }
    for (i, p) in c.code.programs.iter().enumerate() {
        let Some(Some(Dispatch::Dispatcher { tracepoint })) = c.code.dispatch.get(i) else { continue };
        let Some(Program::TracePoint(t)) = ebpf.program_mut(&p.name) else {
            return Err(fail("no tracepoint program", &p.name));
        };
        t.load().map_err(|e| fail(&format!("cannot load the dispatcher {}", p.name), &e))?;
        t.attach("raw_syscalls", tracepoint)
            .map_err(|e| fail(&format!("cannot attach kernel.trace(\"raw_syscalls:{tracepoint}\")"), &e))?;
        if verbose > 1 {
            let fd = t.fd().map(|f| format!("{:?}", f.as_fd())).unwrap_or_default();
            eprintln!("raw_syscalls:{tracepoint}: dispatcher {} {fd}", p.name);
        }
    }
    if verbose > 1 && handlers > 0 {
        eprintln!("{handlers} syscall tracepoints served by dispatchers");
    }
    Ok(())
}

/// Threads that detach at once: the kernel waits for a grace period as
/// each tracepoint or probe goes, and waits made together overlap.
const DETACH_THREADS: usize = 16;

/// Detaches and unloads every program, in parallel threads.
pub fn detach_all(ebpf: &mut aya::Ebpf) {
    let mut programs: Vec<&mut Program> = ebpf.programs_mut().map(|(_, p)| p).collect();
    let per = programs.len().div_ceil(DETACH_THREADS).max(1);
    std::thread::scope(|s| {
        for chunk in programs.chunks_mut(per) {
            s.spawn(move || {
                for p in chunk.iter_mut() {
                    let _ = unload(p);
                }
            });
        }
    });
}

fn unload(p: &mut Program) -> Result<(), aya::programs::ProgramError> {
    match p {
        Program::TracePoint(p) => p.unload(),
        Program::RawTracePoint(p) => p.unload(),
        Program::UProbe(p) => p.unload(),
        Program::KProbe(p) => p.unload(),
        Program::FEntry(p) => p.unload(),
        Program::FExit(p) => p.unload(),
        Program::Lsm(p) => p.unload(),
        Program::BtfTracePoint(p) => p.unload(),
        Program::PerfEvent(p) => p.unload(),
        _ => Ok(()),
    }
}
