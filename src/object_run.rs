//! `stp --run OBJECT`: runs an object that `-p4` wrote, without the
//! script, as staprun runs a module stap built.
//!
//! In: the object's path and the run-time options (`-o`, `-c`, `-x`,
//! `-T`, `-v`, `--function-probes`, `--suppress-time-limits`,
//! `--format`). Out: the
//! run's exit status. The object must carry an stp artifact
//! (`.stp.artifact`) built for this very kernel: stp refuses an object
//! built for another (its release or its BTF differ) rather than
//! relocating it, and refuses a file that is not an stp object. Options
//! that only compiling reads (`-D`, `-G`, `-I`, `-s`, script arguments...)
//! are refused: the object was compiled with its own.

use std::path::Path;

use stp_compiler::artifact::{Artifact, KernelIdentity};
use stp_compiler::driver::Options;

use crate::cli::Cli;

/// The first option given that only compiling reads.
pub fn compile_only(cli: &Cli) -> Option<&'static str> {
    let given = [
        (cli.pass.is_some(), "-p"),
        (!cli.script.is_empty(), "-e"),
        (!cli.extra.is_empty(), "-E"),
        (!cli.include.is_empty(), "-I"),
        (!cli.define.is_empty(), "-D"),
        (!cli.set_global.is_empty(), "-G"),
        (cli.module.is_some(), "-m"),
        (cli.save_temps, "-k"),
        (cli.buffer_size.is_some(), "-s"),
        (cli.list.is_some(), "-l"),
        (cli.list_vars.is_some(), "-L"),
        (cli.guru, "-g"),
        (cli.unoptimized, "-u"),
        (cli.no_warnings, "-w"),
        (cli.warnings_are_errors, "-W"),
        (cli.skip_badvars, "--skip-badvars"),
        (cli.verify, "--verify"),
        (cli.compatible.is_some(), "--compatible"),
        (cli.kernel.is_some(), "--kernel"),
        (cli.dump_functions, "--dump-functions"),
        (cli.dump_probe_aliases, "--dump-probe-aliases"),
        (cli.prologue_searching.is_some() || cli.prologue, "--prologue-searching"),
    ];
    given.into_iter().find(|(g, _)| *g).map(|(_, name)| name)
}

/// The artifact of the object at `path`, checked against this kernel.
pub fn load(path: &Path) -> Result<Artifact, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let artifact = Artifact::from_object(&bytes).map_err(|e| format!("{shown}: {e}"))?;
    artifact.kernel.check(&KernelIdentity::live()).map_err(|e| format!("{shown}: {e}"))?;
    Ok(artifact)
}

/// Runs the object at `path`; its exit status.
pub fn run(
    path: &Path,
    opts: &Options,
    color: bool,
    (function_probes, format): (stp_runtime::run::FunctionProbes, stp_runtime::json::OutputFormat),
    suppress_time_limits: bool,
) -> u8 {
    let start = std::time::Instant::now();
    let refused = |message: String| {
        if format == stp_runtime::json::OutputFormat::Json {
            stp_runtime::json::write_failure(opts.output.as_deref(), false, &[(message, None)]);
        }
        1
    };
    let artifact = match load(path) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return refused(e);
        }
    };
    if let Some(refusal) = crate::privilege::run_refusal() {
        eprintln!("{refusal}");
        return refused(refusal);
    }
    if opts.verbose > 0 {
        eprintln!(
            "Pass 4: read {} ({} programs, built by stp {}) in {}real ms.",
            path.display(),
            artifact.programs.len(),
            artifact.stp_version,
            start.elapsed().as_millis()
        );
    }
    let overload =
        if suppress_time_limits { None } else { stp_runtime::overload::Limit::from_defines(&artifact.defines) };
    let sm = artifact.source_map();
    crate::run_script(&artifact, &sm, opts, color, (function_probes, format), overload)
}
