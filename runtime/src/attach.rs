//! Attaching: each kernel-placed program of the artifact loaded and
//! attached as its [`Attach`] spec says (one arm per probe kind), with
//! its twin through the other mechanism as the fallback (fentry or
//! kprobe, tp_btf or raw tracepoint), and detaching them all at the end.
//! A verifier refusal is reported at the script line of the refused
//! instruction.
//!
//! Syscall tracepoints that the compiler sent through dispatchers
//! (the compiler's syscall dispatcher) are not attached one by one:
//! each handler program is loaded and put in its program array at its
//! syscall number, and only the dispatchers are attached, on
//! `raw_syscalls:sys_enter` and `sys_exit`.

use std::os::fd::AsFd;

use aya::Btf;
use aya::maps::ProgramArray;
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::uprobe::UProbeScope;
use aya::programs::{PerfEvent, Program, TracePoint, UProbe};
use stp_compiler::artifact::{Artifact, Attach, Dispatch, ProgramSpec};

use crate::run::{Failure, FunctionProbes, RunOptions};
use crate::sys;

/// The probes stp attached itself, which go when this does.
#[derive(Default)]
pub(crate) struct OwnProbes {
    pub(crate) fds: Vec<std::os::fd::OwnedFd>,
    pub(crate) kretprobes: Vec<sys::OwnKretprobe>,
}

/// Loads and attaches every kernel-placed program; returns a warning for
/// each perf event the machine does not have (the probe is skipped, as
/// stap skips it). The uprobes of USDT marks with semaphores and the
/// kretprobes with a maxactive go to `own`.
pub(crate) fn attach(
    ebpf: &mut aya::Ebpf,
    c: &Artifact,
    target: i32,
    opts: &RunOptions,
    own: &mut OwnProbes,
) -> Result<Vec<String>, Failure> {
    let mut warnings = Vec::new();
    // The kernel's BTF, which fentry and fexit programs load against.
    let mut btf: Option<Option<Btf>> = None;
    // The programs attached, for their twins through the other mechanism.
    let mut attached = vec![false; c.programs.len()];
    // Why an fentry or fexit program could not attach, for its twin.
    let mut refused: Vec<Option<String>> = vec![None; c.programs.len()];
    syscall_dispatchers(ebpf, c, opts.verbose)?;
    for (i, p) in c.programs.iter().enumerate() {
        if p.dispatch.is_some() || p.attach == Attach::None {
            continue;
        }
        let kind = &p.attach;
        let twin = p.twin;
        let prog = ebpf.program_mut(&p.name).ok_or_else(|| Failure(format!("no program {}", p.name)))?;
        let at = Some(p.span).filter(|s| !s.is_dummy());
        let fail = |e: &dyn std::fmt::Display| Failure {
            message: format!("cannot attach {}: {e}", describe(kind)),
            span: at,
            log: None,
        };
        if let (Attach::KernelFunction { func, .. }, Program::FEntry(_) | Program::FExit(_)) = (kind, &*prog) {
            if opts.function_probes == FunctionProbes::Kprobe {
                continue;
            }
            let btf = btf.get_or_insert_with(|| Btf::from_sys_fs().ok()).as_ref();
            let result =
                match (prog, btf) {
                    (_, None) => Err("the kernel's BTF cannot be read".to_string()),
                    (Program::FEntry(f), Some(btf)) => fentry_load(f.load(func, btf), p)?
                        .and_then(|()| f.attach().map(drop).map_err(|e| e.to_string())),
                    (Program::FExit(f), Some(btf)) => fentry_load(f.load(func, btf), p)?
                        .and_then(|()| f.attach().map(drop).map_err(|e| e.to_string())),
                    _ => Err("not an fentry program".to_string()),
                };
            match result {
                Ok(()) => {
                    if let Some(a) = attached.get_mut(i) {
                        *a = true;
                    }
                    if opts.verbose > 1 {
                        eprintln!("{}: fentry/fexit", describe(kind));
                    }
                }
                Err(e) if opts.function_probes == FunctionProbes::Fentry || twin.is_none() => return Err(fail(&e)),
                Err(e) => {
                    if opts.verbose > 1 {
                        eprintln!("{}: no fentry/fexit ({e}), a kprobe instead", describe(kind));
                    }
                    if let Some(r) = refused.get_mut(i) {
                        *r = Some(e);
                    }
                }
            }
            continue;
        }
        if let (Attach::Tracepoint { name, .. }, Program::BtfTracePoint(b)) = (kind, &mut *prog) {
            // A BTF tracepoint where the kernel allows tracing programs,
            // else its raw tracepoint twin (also with kprobes forced: no
            // tracing programs then).
            if opts.function_probes == FunctionProbes::Kprobe && twin.is_some() {
                continue;
            }
            let btf = btf.get_or_insert_with(|| Btf::from_sys_fs().ok()).as_ref();
            let result = match btf {
                None => Err("the kernel's BTF cannot be read".to_string()),
                Some(btf) => {
                    fentry_load(b.load(name, btf), p)?.and_then(|()| b.attach().map(drop).map_err(|e| e.to_string()))
                }
            };
            match result {
                Ok(()) => {
                    if let Some(a) = attached.get_mut(i) {
                        *a = true;
                    }
                    if opts.verbose > 1 {
                        eprintln!("{}: tp_btf", describe(kind));
                    }
                }
                Err(e) if twin.is_none() => return Err(fail(&e)),
                Err(e) => {
                    if opts.verbose > 1 {
                        eprintln!("{}: no tp_btf ({e}), a raw tracepoint instead", describe(kind));
                    }
                }
            }
            continue;
        }
        if let (Attach::Tracepoint { .. }, Some(t)) = (kind, twin)
            && attached.get(t).copied().unwrap_or(false)
        {
            continue;
        }
        if let (Attach::KernelFunction { .. }, Some(t)) = (kind, twin) {
            if attached.get(t).copied().unwrap_or(false) {
                continue;
            }
            if opts.function_probes == FunctionProbes::Fentry {
                continue;
            }
            if opts.verbose > 1 {
                eprintln!("{}: kprobe", describe(kind));
            }
        }
        match (kind, prog) {
            (Attach::Lsm { hook }, Program::Lsm(l)) => {
                // Loaded against the kernel's BTF, as fentry programs are.
                let btf = btf.get_or_insert_with(|| Btf::from_sys_fs().ok()).as_ref();
                let Some(btf) = btf else { return Err(fail(&"the kernel's BTF cannot be read")) };
                match fentry_load(l.load(hook, btf), p)? {
                    Ok(()) => {}
                    Err(e) => return Err(fail(&e)),
                }
                l.attach().map_err(|e| match lsm_active() {
                    Some(false) => fail(&format!("{e}: BPF LSM is not active (boot with lsm=...,bpf)")),
                    _ => fail(&e),
                })?;
            }
            (Attach::Tracepoint { system, name }, Program::TracePoint(t)) => {
                load(t.load(), p)?;
                TracePoint::attach(t, system, name).map_err(|e| fail(&e))?;
            }
            (Attach::Tracepoint { name, .. }, Program::RawTracePoint(t)) => {
                load(t.load(), p)?;
                t.attach(name).map_err(|e| fail(&e))?;
            }
            (Attach::Uprobe { path, offset, pid, .. }, Program::UProbe(u)) => {
                load(u.load(), p)?;
                let scope = match pid.and_then(std::num::NonZeroU32::new) {
                    Some(pid) => UProbeScope::OneProcess(pid),
                    None => UProbeScope::AllProcesses,
                };
                UProbe::attach(u, *offset, path, scope).map_err(|e| fail(&e))?;
            }
            (Attach::Usdt { path, offset, semaphore, pid, .. }, Program::UProbe(u)) if *semaphore != 0 => {
                // sys/sdt.h skips a mark whose semaphore is 0: the kernel
                // counts the probe in it (a uprobe's reference counter).
                load(u.load(), p)?;
                let prog = u.fd().map_err(|e| fail(&e))?.as_fd();
                own.fds.push(sys::uprobe_with_ref_ctr(prog, path, *offset, *semaphore, *pid).map_err(|e| fail(&e))?);
            }
            (Attach::Usdt { path, offset, pid, .. }, Program::UProbe(u)) => {
                load(u.load(), p)?;
                let scope = match pid.and_then(std::num::NonZeroU32::new) {
                    Some(pid) => UProbeScope::OneProcess(pid),
                    None => UProbeScope::AllProcesses,
                };
                UProbe::attach(u, *offset, path, scope).map_err(|e| fail(&e))?;
            }
            (Attach::Perf { type_, config, sample_period, frequency, process }, Program::PerfEvent(pe)) => {
                load(pe.load(), p)?;
                let policy = if *frequency {
                    SamplePolicy::Frequency(*sample_period)
                } else {
                    SamplePolicy::Period(*sample_period)
                };
                let config = PerfEventConfig::Pmu { pmu_type: *type_, config: *config };
                let name = Some(p.point.clone());
                let skip = |e: &dyn std::fmt::Display| {
                    format!("probe {} registration error: {e}", name.clone().unwrap_or_default())
                };
                if process.is_some() && target > 0 {
                    let scope = PerfEventScope::OneProcess { pid: target as u32, cpu: None };
                    if let Err(e) = PerfEvent::attach(pe, config, scope, policy, true) {
                        warnings.push(skip(&e));
                    }
                } else {
                    for cpu in online_cpus()? {
                        let scope = PerfEventScope::AllProcessesOneCpu { cpu };
                        if let Err(e) = PerfEvent::attach(pe, config, scope, policy, false) {
                            warnings.push(skip(&e));
                            break;
                        }
                    }
                }
            }
            (Attach::Profile, Program::PerfEvent(pe)) => {
                load(pe.load(), p)?;
                // timer.profile: every tick of every CPU.
                let hz = clock_ticks();
                for cpu in online_cpus()? {
                    PerfEvent::attach(
                        pe,
                        PerfEventConfig::Software(SoftwareEvent::CpuClock),
                        PerfEventScope::AllProcessesOneCpu { cpu },
                        SamplePolicy::Frequency(hz),
                        false,
                    )
                    .map_err(|e| fail(&e))?;
                }
            }
            (Attach::KernelFunction { func, ret: true, maxactive: Some(n) }, Program::KProbe(k)) => {
                load(k.load(), p)?;
                let name = format!("stp_{}/r{}", std::process::id(), own.kretprobes.len());
                let fd = k.fd().map_err(|e| fail(&e))?;
                let n = u32::try_from(*n).unwrap_or(u32::MAX);
                let probe = sys::kretprobe_with_maxactive(fd.as_fd(), func, n, &name).map_err(|e| fail(&e))?;
                own.kretprobes.push(probe);
            }
            (Attach::KernelFunction { func, .. }, Program::KProbe(k)) => {
                load(k.load(), p)?;
                if let Err(e) = k.attach(func, 0) {
                    let fentry = twin.and_then(|t| refused.get(t).cloned().flatten());
                    let why = match (sys::has_kprobes(), fentry) {
                        (false, Some(f)) => format!("this kernel has no kprobes, and refused fentry/fexit ({f})"),
                        (false, None) => "this kernel has no kprobes".to_string(),
                        (true, _) => e.to_string(),
                    };
                    return Err(fail(&why));
                }
            }
            (Attach::KernelStatement { addr }, Program::KProbe(k)) => {
                load(k.load(), p)?;
                // A kprobe takes a function and an offset in it.
                let Some((func, offset)) = crate::symbols::KernelSymbols::live().locate(*addr) else {
                    return Err(fail(&format!("no kernel function holds the address {addr:#x}")));
                };
                k.attach(func, offset).map_err(|e| fail(&e))?;
            }
            (_, _) => return Err(Failure(format!("stp cannot attach {} yet", describe(kind)))),
        }
    }
    Ok(warnings)
}

fn describe(kind: &Attach) -> String {
    match kind {
        Attach::Tracepoint { system, name } => format!("kernel.trace(\"{system}:{name}\")"),
        Attach::Uprobe { path, symbol, .. } => format!("process(\"{path}\").function(\"{symbol}\")"),
        Attach::Usdt { path, provider, name, .. } => {
            format!("process(\"{path}\").provider(\"{provider}\").mark(\"{name}\")")
        }
        Attach::KernelFunction { func, .. } => format!("kernel.function(\"{func}\")"),
        other => format!("{other:?}").split_whitespace().next().unwrap_or("probe").to_string(),
    }
}

/// Loading an fentry or fexit program: a verifier refusal fails the run;
/// any other error (the kernel does not allow fentry for the function)
/// is for the caller to weigh.
fn fentry_load(r: Result<(), aya::programs::ProgramError>, p: &ProgramSpec) -> Result<Result<(), String>, Failure> {
    match r {
        Ok(()) => Ok(Ok(())),
        Err(aya::programs::ProgramError::LoadError { io_error, verifier_log })
            if io_error.raw_os_error() == Some(libc::EACCES) && !verifier_log.to_string().is_empty() =>
        {
            load(Err(aya::programs::ProgramError::LoadError { io_error, verifier_log }), p).map(Ok)
        }
        Err(aya::programs::ProgramError::LoadError { io_error, .. }) => Ok(Err(io_error.to_string())),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// A verifier refusal is an internal error at the script line of the
/// failing instruction.
pub(crate) fn load(r: Result<(), aya::programs::ProgramError>, p: &ProgramSpec) -> Result<(), Failure> {
    let Err(e) = r else { return Ok(()) };
    let log = match &e {
        aya::programs::ProgramError::LoadError { verifier_log, .. } => verifier_log.to_string(),
        other => other.to_string(),
    };
    let span = crate::failing_instruction(&log).and_then(|slot| p.span_at(slot));
    Err(Failure {
        message: format!("the kernel's verifier refused the program for {}", describe(&p.attach)),
        span,
        log: Some(log),
    })
}

/// Whether the BPF LSM is among the active LSMs (`None`: unknown).
fn lsm_active() -> Option<bool> {
    let list = std::fs::read_to_string("/sys/kernel/security/lsm").ok()?;
    Some(list.trim().split(',').any(|l| l == "bpf"))
}

fn online_cpus() -> Result<Vec<u32>, Failure> {
    aya::util::online_cpus().map_err(|(what, e)| Failure(format!("{what}: {e}")))
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as u64 } else { 100 }
}

/// Loads the handlers that dispatchers call into their program arrays,
/// then loads and attaches the dispatchers. `verbose` > 1 says how many.
fn syscall_dispatchers(ebpf: &mut aya::Ebpf, c: &Artifact, verbose: u8) -> Result<(), Failure> {
    let fail =
        |what: &str, e: &dyn std::fmt::Display| Failure { message: format!("{what}: {e}"), span: None, log: None };
    let mut handlers = 0;
    for p in &c.programs {
        let Some(Dispatch::Handler { map, nr }) = &p.dispatch else { continue };
        if p.attach == Attach::None {
            continue;
        }
        let Some(Program::TracePoint(t)) = ebpf.program_mut(&p.name) else {
            return Err(fail("no tracepoint program", &p.name));
        };
        load(t.load(), p)?;
        let fd = t.fd().map_err(|e| fail(&p.name, &e))?.try_clone().map_err(|e| fail(&p.name, &e))?;
        let Some(m) = ebpf.map_mut(map) else { return Err(fail("no program array", map)) };
        let mut array = ProgramArray::try_from(m).map_err(|e| fail(map, &e))?;
        array.set(*nr, &fd, 0).map_err(|e| fail(map, &e))?;
        handlers += 1;
    }
    for p in &c.programs {
        let Some(Dispatch::Dispatcher { tracepoint }) = &p.dispatch else { continue };
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
