//! The stp runtime: loads a compiled script into the kernel, attaches its
//! probes, runs its user-side handlers and prints its output.

pub mod attach;
pub mod cleanup;
pub mod command;
mod events;
mod globals;
pub mod host;
pub mod jit;
pub mod json;
pub mod metrics;
pub mod output;
pub mod overload;
pub mod progress;
pub mod report;
pub mod ringbuf;
pub mod run;
pub mod signals;
pub mod stats;
pub mod symbols;
pub mod sys;
mod system;
pub mod verify;

use stp_compiler::artifact::MapDef;

/// A program the kernel's verifier refused.
#[derive(Debug)]
pub struct Rejected {
    pub program: String,
    /// The verifier's log (or, where it gave none, the error).
    pub log: String,
}

/// Loads every program of an object into the kernel, so that its verifier
/// checks them, and unloads them (`-p4 --verify`). Maps are created and
/// dropped with them.
/// A failure to load the object itself (no program named) is `program`
/// empty, its `log` saying why.
pub fn verify(object: &[u8], maps: &[(MapDef, Option<String>)]) -> Result<(), Rejected> {
    let mut ebpf =
        sys::load_object(object).map_err(|e| Rejected { program: String::new(), log: load_failure(&e, maps) })?;
    let names: Vec<String> = ebpf.programs().map(|(name, _)| name.to_string()).collect();
    for name in names {
        let Some(program) = ebpf.program_mut(&name) else { continue };
        let loaded = match program {
            aya::programs::Program::TracePoint(p) => p.load(),
            aya::programs::Program::RawTracePoint(p) => p.load(),
            aya::programs::Program::KProbe(p) => p.load(),
            aya::programs::Program::UProbe(p) => p.load(),
            aya::programs::Program::PerfEvent(p) => p.load(),
            aya::programs::Program::FEntry(_)
            | aya::programs::Program::FExit(_)
            | aya::programs::Program::Lsm(_)
            | aya::programs::Program::BtfTracePoint(_) => {
                // These need the kernel's BTF at load time; pass 5 loads them.
                continue;
            }
            other => {
                return Err(Rejected {
                    program: name.clone(),
                    log: format!("stp does not load {:?} programs", other.prog_type()),
                });
            }
        };
        if let Err(e) = loaded {
            let log = match &e {
                aya::programs::ProgramError::LoadError { verifier_log, .. } => verifier_log.to_string(),
                other => other.to_string(),
            };
            return Err(Rejected { program: name, log });
        }
    }
    Ok(())
}

/// Why an object could not be loaded: for a map the kernel would not
/// create, the global it holds, its size and the error.
pub fn load_failure(e: &aya::EbpfError, maps: &[(MapDef, Option<String>)]) -> String {
    match e {
        aya::EbpfError::MapError(aya::maps::MapError::CreateError { name, io_error }) => {
            stp_compiler::artifact::create_failure(name, maps, io_error)
        }
        other => format!("cannot load the compiled script: {other}"),
    }
}

/// The instruction the verifier stopped at: the last `N: (..) ...` line of
/// its log.
pub fn failing_instruction(log: &str) -> Option<usize> {
    if let Some(n) = log.lines().find_map(|l| l.trim().strip_prefix("unreachable insn ")) {
        return n.trim().parse().ok();
    }
    log.lines().rev().find_map(|l| {
        let (n, rest) = l.split_once(':')?;
        rest.trim_start().starts_with('(').then(|| n.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_instruction_is_the_last_listed() {
        let log = "func#0 @0\n0: R1=ctx() R10=fp0\n0: (b7) r0 = 0                        ; R0_w=0\n\
                   1: (79) r1 = *(u64 *)(r10 -16)\ninvalid read from stack off -16+0 size 8\n\
                   processed 2 insns (limit 1000000)\n";
        assert_eq!(failing_instruction(log), Some(1));
        assert_eq!(failing_instruction("no instructions here\n"), None);
        assert_eq!(failing_instruction("unreachable insn 103\nverification time 38 usec\n"), Some(103));
    }
}
