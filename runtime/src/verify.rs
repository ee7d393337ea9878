//! `-p4 --verify` as pass 5 would load: each program that pass 5 would
//! load goes to the kernel's verifier, and only those. A BTF program
//! (fentry, fexit, tp_btf, LSM) loads against the kernel's BTF; where it
//! has a twin (the kprobe of an fentry program, the raw tracepoint of a
//! tp_btf one), the twin is loaded only where pass 5 would fall back to
//! it: the BTF program refused for a reason other than the verifier's
//! (tracing programs not allowed), or `--function-probes=kprobe`.

use aya::Btf;
use aya::programs::{Program, ProgramError};

use stp_compiler::artifact::MapDef;

use crate::Rejected;
use crate::run::FunctionProbes;

/// A program of the object as pass 4 wrote it.
#[derive(Clone, Debug)]
pub struct Planned {
    pub name: String,
    /// Its ELF section (`tp_btf/sched_switch`): the attach target follows
    /// the slash.
    pub section: String,
    /// The program doing the same through the other mechanism.
    pub twin: Option<usize>,
}

/// Loads (and unloads) what pass 5 would load of these programs.
pub fn verify_planned(
    object: &[u8],
    programs: &[Planned],
    function_probes: FunctionProbes,
    maps: &[(MapDef, Option<String>)],
) -> Result<(), Rejected> {
    let mut ebpf = crate::sys::load_object(object)
        .map_err(|e| Rejected { program: String::new(), log: crate::load_failure(&e, maps) })?;
    let mut btf: Option<Option<Btf>> = None;
    // The twins pass 5 would not load: their BTF program loaded.
    let mut skip = vec![false; programs.len()];
    // BTF programs first, as pass 5 tries them before their twins.
    let btf_first = programs.iter().enumerate().filter(|(_, p)| is_btf(&p.section));
    let rest = programs.iter().enumerate().filter(|(_, p)| !is_btf(&p.section));
    for (i, p) in btf_first.chain(rest) {
        if skip.get(i).copied().unwrap_or(false) {
            continue;
        }
        let Some(program) = ebpf.program_mut(&p.name) else { continue };
        let target = p.section.split_once('/').map_or("", |(_, t)| t);
        let loaded = match program {
            Program::FEntry(_) | Program::FExit(_) | Program::BtfTracePoint(_) | Program::Lsm(_) => {
                if function_probes == FunctionProbes::Kprobe && p.twin.is_some() {
                    continue;
                }
                let Some(btf) = btf.get_or_insert_with(|| Btf::from_sys_fs().ok()).as_ref() else { continue };
                let r = match program {
                    Program::FEntry(f) => f.load(target, btf),
                    Program::FExit(f) => f.load(target, btf),
                    Program::BtfTracePoint(b) => b.load(target, btf),
                    Program::Lsm(l) => l.load(target, btf),
                    _ => continue,
                };
                match r {
                    Ok(()) => {
                        if let Some(t) = p.twin.and_then(|t| skip.get_mut(t)) {
                            *t = true;
                        }
                        Ok(())
                    }
                    Err(e) if refused_by_verifier(&e) => Err(e),
                    // Not the verifier's refusal (tracing programs not
                    // allowed here): pass 5 falls back to the twin, or
                    // reports that it cannot attach.
                    Err(_) => continue,
                }
            }
            // An fentry program's kprobe twin is never loaded when fentry
            // is forced.
            Program::KProbe(_) if function_probes == FunctionProbes::Fentry && p.twin.is_some() => {
                continue;
            }
            Program::TracePoint(t) => t.load(),
            Program::RawTracePoint(t) => t.load(),
            Program::KProbe(k) => k.load(),
            Program::UProbe(u) => u.load(),
            Program::PerfEvent(e) => e.load(),
            other => {
                return Err(Rejected {
                    program: p.name.clone(),
                    log: format!("stp does not load {:?} programs", other.prog_type()),
                });
            }
        };
        if let Err(e) = loaded {
            let log = match &e {
                ProgramError::LoadError { verifier_log, .. } => verifier_log.to_string(),
                other => other.to_string(),
            };
            return Err(Rejected { program: p.name.clone(), log });
        }
    }
    Ok(())
}

fn is_btf(section: &str) -> bool {
    ["fentry/", "fexit/", "tp_btf/", "lsm/"].iter().any(|s| section.starts_with(s))
}

/// The verifier's refusal: EACCES with a log (as pass 5 tells it apart).
fn refused_by_verifier(e: &ProgramError) -> bool {
    matches!(e, ProgramError::LoadError { io_error, verifier_log }
        if io_error.raw_os_error() == Some(libc::EACCES) && !verifier_log.to_string().is_empty())
}
