//! `stp`: the command-line driver. It reads the options, runs the
//! compiler's passes and prints what they produce; the work is in the
//! `stp-compiler` and `stp-runtime` crates.

mod cli;
mod manual;
mod object_run;
mod privilege;

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use stp_compiler::artifact::Artifact;
use stp_compiler::diag::{Diagnostic, Severity};
use stp_compiler::diag::{RenderOptions, render_all};
use stp_compiler::driver::{self, Options, ScriptInput, WarningMode};
use stp_compiler::kernel::Kernel;
use stp_compiler::source::SourceMap;
use stp_runtime::json::OutputFormat;

/// Exit status for an internal error (a bug in stp), as sysexits' EX_SOFTWARE.
const EXIT_INTERNAL: u8 = 70;

/// The stack for compiling: deeply nested scripts recurse deeply.
const COMPILER_STACK: usize = 256 << 20;

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!(
            "internal error in stp {}, please report: {payload}{location}\n\
             (include the script and the command line that caused it)",
            stp_compiler::VERSION
        );
    }));
}

/// An error in the command line: stap's wording, exit status 1.
struct UsageError(String);

fn fail<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// Checks `s` against a pattern of the form stap's safety checks use:
/// a name of `[a-z_][a-z0-9_]*`, case-insensitive.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `-D NAME[=VALUE]`, where VALUE is `-?[a-z_0-9]+`.
fn valid_define(s: &str) -> bool {
    match s.split_once('=') {
        None => is_name(s),
        Some((name, value)) => {
            let v = value.strip_prefix('-').unwrap_or(value);
            is_name(name) && !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
    }
}

/// `-G NAME=VALUE`, where VALUE is `[a-z0-9_.-]+`.
fn valid_global(s: &str) -> bool {
    s.split_once('=').is_some_and(|(name, value)| {
        is_name(name) && !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    })
}

/// The script on standard input; a signal while stp waits for it stops
/// stp there (the read is interrupted, not resumed).
fn read_stdin() -> Result<String, UsageError> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let mut stdin = std::io::stdin().lock();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                if stp_runtime::signals::pending() {
                    return fail("Pass 1: parse interrupted.");
                }
            }
            Err(e) => return fail(format!("Cannot read the script from standard input: {e}")),
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn apply_rlimit(name: &str, value: Option<&str>, resource: libc::__rlimit_resource_t) -> Result<(), UsageError> {
    let Some(value) = value else { return Ok(()) };
    if value.is_empty() {
        return fail(format!("An --{name} option value must be specified."));
    }
    let Ok(limit) = value.parse::<u64>() else {
        return fail(format!("Unable to convert {name} resource limit '{value}'."));
    };
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit fills the struct we pass and nothing else.
    if unsafe { libc::getrlimit(resource, &mut rl) } != 0 {
        return fail(format!("Unable to read the {name} resource limit: {}", std::io::Error::last_os_error()));
    }
    // The soft limit; the hard limit stays, and caps it.
    rl.rlim_cur = limit.min(rl.rlim_max);
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(resource, &rl) } != 0 {
        return fail(format!("Unable to set {name} resource limit to {value}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Settings of the driver itself, beside the compiler's options.
struct Session {
    opts: Options,
    color: bool,
    /// `--kernel DIR`.
    kernel_dir: Option<std::path::PathBuf>,
    /// Not `--disable-cache`.
    cache: bool,
    /// `--verify`.
    verify: bool,
    /// `--function-probes`.
    function_probes: stp_runtime::run::FunctionProbes,
    /// `--suppress-time-limits`.
    suppress_time_limits: bool,
    /// `--clif`.
    clif: bool,
    /// `--run OBJECT`: run a compiled object instead of compiling.
    run_object: Option<std::path::PathBuf>,
    /// `--format`.
    format: OutputFormat,
}

fn session(cli: cli::Cli) -> Result<Session, UsageError> {
    let mut opts = Options::default();
    if cli.run.is_some()
        && let Some(option) = object_run::compile_only(&cli)
    {
        return fail(format!(
            "--run runs a compiled object: {option} is for compiling the script, and was fixed when it was compiled"
        ));
    }
    if let Some(p) = &cli.pass {
        match p.parse::<u8>() {
            Ok(n @ 1..=5) => opts.last_pass = n,
            _ => return fail("Invalid pass number (should be 1-5)."),
        }
    }
    if cli.script.len() > 1 {
        return fail("Only one script can be given on the command line.");
    }
    if cli.command.is_some() && cli.target_pid.is_some() {
        return fail("You can't specify -c and -x together.");
    }
    if let Some(x) = &cli.target_pid
        && x.parse::<u32>().is_err()
    {
        return fail("Invalid target process ID number.");
    }
    if let Some(t) = &cli.timeout
        && !t.parse::<u64>().is_ok_and(|t| t > 0)
    {
        return fail("Invalid timeout interval.");
    }
    if let Some(s) = &cli.buffer_size
        && !s.parse::<u32>().is_ok_and(|s| (1..=4095).contains(&s))
    {
        return fail("Invalid buffer size (should be 1-4095).");
    }
    if let Some(m) = &cli.module {
        if m.is_empty() {
            return fail("Module name cannot be empty.");
        }
        if !m.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return fail(format!("Invalid module name '{m}': only a-z, 0-9 and _ are allowed."));
        }
    }
    for d in &cli.define {
        if !valid_define(d) {
            return fail(format!("Invalid -D parameter '{d}': expected NAME or NAME=VALUE."));
        }
    }
    for g in &cli.set_global {
        if !valid_global(g) {
            return fail(format!("Invalid -G parameter '{g}': expected NAME=VALUE."));
        }
    }
    if let Some(v) = &cli.compatible {
        let valid = !v.is_empty() && v.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if !valid || stp_compiler::parse::preprocess::version_cmp(v, driver::SYSTEMTAP_VERSION).is_gt() {
            return fail(format!(
                "stp speaks the SystemTap {} language and cannot be compatible with version {v}",
                driver::SYSTEMTAP_VERSION
            ));
        }
        opts.compatible.clone_from(v);
    }
    if let Some(r) = &cli.runtime
        && r != "bpf"
    {
        return fail(format!("{r} is an invalid argument for --runtime: stp has only the bpf runtime"));
    }
    if let Some(p) = &cli.prologue_searching
        && !matches!(p.as_str(), "always" | "never" | "auto")
    {
        return fail(format!("Invalid argument '{p}' for --prologue-searching."));
    }
    let color = match cli.color.as_deref() {
        None | Some("auto") => std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb"),
        Some("always") => true,
        Some("never") => false,
        Some(other) => return fail(format!("Invalid argument '{other}' for --color.")),
    };
    apply_rlimit("rlimit-as", cli.rlimit_as.as_deref(), libc::RLIMIT_AS)?;
    apply_rlimit("rlimit-cpu", cli.rlimit_cpu.as_deref(), libc::RLIMIT_CPU)?;
    apply_rlimit("rlimit-nproc", cli.rlimit_nproc.as_deref(), libc::RLIMIT_NPROC)?;
    apply_rlimit("rlimit-stack", cli.rlimit_stack.as_deref(), libc::RLIMIT_STACK)?;
    apply_rlimit("rlimit-fsize", cli.rlimit_fsize.as_deref(), libc::RLIMIT_FSIZE)?;
    let listing = match (cli.list.clone(), cli.list_vars.clone()) {
        (Some(_), Some(_)) => return fail("You can't specify -l and -L together."),
        (Some(p), None) => Some((p, false)),
        (None, Some(p)) => Some((p, true)),
        (None, None) => None,
    };
    if cli.dump_functions {
        opts.dump = Some(driver::Dump::Functions);
    } else if cli.dump_probe_aliases {
        opts.dump = Some(driver::Dump::ProbeAliases);
    }
    // A run needs privileges: without them, that is the one line stp
    // prints, before it reads the script or looks at -c and -x. (`--run`
    // says first whether the object is one it can run.)
    if opts.last_pass == 5
        && listing.is_none()
        && opts.dump.is_none()
        && cli.run.is_none()
        && (!cli.script.is_empty() || !cli.positional.is_empty())
        && let Some(refusal) = privilege::run_refusal()
    {
        if matches!(cli.format, cli::Format::Json) {
            stp_runtime::json::write_failure(cli.output.as_deref(), false, &[(refusal.clone(), None)]);
        }
        return fail(refusal);
    }

    let mut positional = cli.positional.into_iter();
    if let Some((pattern, vars)) = listing {
        if !cli.script.is_empty() || positional.len() > 0 {
            return fail("Cannot specify a script with -l/-L/--dump-* switches.");
        }
        opts.scripts.push(ScriptInput { name: "<input>".to_string(), text: format!("probe {pattern} {{}}") });
        opts.list = Some(vars);
        opts.last_pass = 2;
    } else if opts.dump.is_some() {
        if !cli.script.is_empty() || positional.len() > 0 {
            return fail("Cannot specify a script with -l/-L/--dump-* switches.");
        }
        opts.scripts.push(ScriptInput { name: "<input>".to_string(), text: String::new() });
        opts.last_pass = 2;
    } else if let Some(object) = &cli.run {
        if positional.len() > 0 {
            return fail(format!(
                "--run takes no script arguments: they were fixed when {} was compiled",
                object.display()
            ));
        }
    } else {
        match cli.script.into_iter().next() {
            Some(text) => opts.scripts.push(ScriptInput { name: "<input>".to_string(), text }),
            None => match positional.next() {
                Some(path) if path == "-" => {
                    opts.scripts.push(ScriptInput { name: "<stdin>".to_string(), text: read_stdin()? })
                }
                Some(path) => match std::fs::read(&path) {
                    Ok(bytes) => opts
                        .scripts
                        .push(ScriptInput { name: path, text: String::from_utf8_lossy(&bytes).into_owned() }),
                    Err(e) => {
                        return fail(format!("Input file '{path}' can't be opened for reading: {e}"));
                    }
                },
                None => return fail("A script must be specified.\nTry '--help' for more information."),
            },
        }
    }
    for (i, text) in cli.extra.into_iter().enumerate() {
        opts.scripts.push(ScriptInput { name: format!("<input{}>", i + 2), text });
    }
    opts.args = positional.collect();
    opts.include_dirs = cli.include;
    opts.tapset_dir = std::env::var_os("SYSTEMTAP_TAPSET").map(Into::into);
    opts.guru = cli.guru;
    opts.warnings = if cli.no_warnings {
        WarningMode::Suppress
    } else if cli.warnings_are_errors {
        WarningMode::Error
    } else {
        WarningMode::Normal
    };
    opts.verbose = cli.verbose;
    opts.unoptimized = cli.unoptimized;
    opts.skip_badvars = cli.skip_badvars;
    opts.defines = cli.define;
    opts.globals = cli.set_global;
    opts.output = cli.output;
    opts.command = cli.command;
    opts.target_pid = cli.target_pid.and_then(|x| x.parse().ok());
    let format = match cli.format {
        cli::Format::Text => OutputFormat::Text,
        cli::Format::Json => OutputFormat::Json,
    };
    if format == OutputFormat::Json {
        let stops = match (&opts.list, &opts.dump) {
            (Some(_), _) => Some("-l/-L, which list probe points".to_string()),
            (None, Some(_)) => Some("--dump-*, which list the library".to_string()),
            (None, None) if opts.last_pass < 5 => Some(format!("-p{}, which stops before the run", opts.last_pass)),
            (None, None) => None,
        };
        if let Some(stops) = stops {
            return fail(format!("--format json formats what a run prints: it cannot be used with {stops}."));
        }
    }
    if opts.last_pass == 5 && opts.list.is_none() && opts.dump.is_none() {
        // Only a warning: SystemTap's own tests run every script with
        // `-x 12345` and expect it to run, target() being 12345.
        if let Some(pid) = opts.target_pid
            && !stp_runtime::command::process_exists(pid)
        {
            eprintln!("WARNING: cannot find process {pid}");
        }
        if let Some(problem) = opts.command.as_deref().and_then(stp_runtime::command::command_problem) {
            return fail(format!("ERROR: {problem}"));
        }
    }
    opts.timeout = cli.timeout.and_then(|t| t.parse().ok());
    opts.metrics = cli.metrics;
    opts.module = cli.module;
    opts.save_temps = cli.save_temps;
    opts.interrupted = Some(stp_runtime::signals::pending);
    opts.buffer_size = cli.buffer_size.and_then(|s| s.parse().ok());
    let function_probes = match cli.function_probes {
        cli::FunctionProbes::Auto => stp_runtime::run::FunctionProbes::Auto,
        cli::FunctionProbes::Fentry => stp_runtime::run::FunctionProbes::Fentry,
        cli::FunctionProbes::Kprobe => stp_runtime::run::FunctionProbes::Kprobe,
    };
    Ok(Session {
        opts,
        color,
        kernel_dir: cli.kernel,
        cache: !cli.disable_cache,
        verify: cli.verify,
        function_probes,
        suppress_time_limits: cli.suppress_time_limits,
        clif: cli.clif,
        run_object: cli.run,
        format,
    })
}

/// The Cranelift back end, as pass 3 checks the user-placed handlers:
/// they compile to native code (the runtime compiles them again to run
/// them). With `dump` (`--clif`), it also gives their Cranelift IR for
/// `-p3` to print.
#[derive(Debug)]
struct Cranelift {
    dump: bool,
}

impl driver::UserSide for Cranelift {
    fn check(
        &self,
        module: &stp_compiler::ir::Module,
        layout: &stp_compiler::layout::Layout,
        points: &[String],
    ) -> Result<String, Diagnostic> {
        if self.dump {
            stp_runtime::jit::Jit::clif(module, layout, points)
        } else {
            stp_runtime::jit::Jit::compile(module, layout, points).map(|_| String::new())
        }
    }
}

fn compile(session: Session) -> u8 {
    let Session {
        mut opts,
        color,
        kernel_dir,
        cache,
        verify,
        function_probes,
        suppress_time_limits,
        clif,
        run_object,
        format,
    } = session;
    if let Some(path) = run_object {
        return object_run::run(&path, &opts, color, (function_probes, format), suppress_time_limits);
    }
    let overload = if suppress_time_limits { None } else { stp_runtime::overload::Limit::from_defines(&opts.defines) };
    // Pass 5 compiles the user-placed handlers to run them (and reports
    // what it cannot translate as pass 3 would); -p3 and -p4 check them.
    if opts.last_pass < 5 {
        opts.user_side = Some(std::sync::Arc::new(Cranelift { dump: clif && opts.last_pass == 3 }));
    }
    let kernel = match &kernel_dir {
        Some(dir) => Kernel::snapshot(dir),
        None if cache => Kernel::live(),
        None => Kernel::live().without_cache(),
    };
    let mut sm = SourceMap::new();
    let mut outcome = driver::run(&opts, &kernel, &mut sm);
    if verify && outcome.failed_pass.is_none() {
        verify_object(&mut outcome, opts.verbose, function_probes);
    }
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    // Write errors on stdout/stderr (a closed pipe) are not worth a report.
    let _ = stdout.write_all(outcome.output.as_bytes());
    let _ = stdout.flush();
    let rendered = render_all(&outcome.diagnostics, &sm, RenderOptions { color });
    let _ = stderr.write_all(rendered.as_bytes());
    if opts.verbose > 0 {
        for timing in &outcome.timings {
            let _ = writeln!(stderr, "{timing}");
            if timing.pass == 2 {
                print_matched(&mut stderr, &outcome.matched, opts.verbose);
            }
        }
    }
    // `-k`: stap's line, once the run is over.
    let kept = outcome.object.as_ref().and_then(|b| b.kept_dir.as_ref());
    let keeping = |code: u8| {
        if let Some(dir) = kept {
            eprintln!("Keeping temporary directory \"{}\"", dir.display());
        }
        code
    };
    if let (Some(compiled), None) = (&outcome.compiled, outcome.failed_pass) {
        drop(stdout);
        drop(stderr);
        return keeping(run_script(compiled, &sm, &opts, color, (function_probes, format), overload));
    }
    if opts.list.is_some()
        && outcome.failed_pass.is_none()
        && let Some(dir) = privilege::unreadable_tracefs()
    {
        let _ =
            writeln!(stderr, "WARNING: cannot read {dir}: the kernel's tracepoints are not listed (stp -l needs root)");
        if outcome.output.is_empty() {
            return keeping(1);
        }
    }
    if format == OutputFormat::Json && (outcome.interrupted.is_some() || outcome.failed_pass.is_some()) {
        json_failure(&opts, &outcome.diagnostics, &sm, false);
    }
    const PASS_NAMES: [&str; 6] = ["", "parse", "semantic analysis", "translation", "compilation", "run"];
    if let Some(pass) = outcome.interrupted {
        let name = PASS_NAMES.get(usize::from(pass)).unwrap_or(&"run");
        let _ = writeln!(stderr, "Pass {pass}: {name} interrupted.");
        return keeping(1);
    }
    keeping(match outcome.failed_pass {
        None => 0,
        Some(pass) => {
            let errors = outcome.diagnostics.iter().filter(|d| d.severity >= Severity::Error).count();
            if pass == 1 && errors > 0 {
                let _ = writeln!(stderr, "{errors} parse error{}.", if errors == 1 { "" } else { "s" });
            }
            let _ = writeln!(stderr, "Pass {pass}: {} failed.", PASS_NAMES.get(usize::from(pass)).unwrap_or(&"run"));
            1
        }
    })
}

/// Pass 5: runs the compiled script, returning its exit status.
fn run_script(
    compiled: &Artifact,
    sm: &SourceMap,
    opts: &Options,
    color: bool,
    (function_probes, format): (stp_runtime::run::FunctionProbes, OutputFormat),
    overload: Option<stp_runtime::overload::Limit>,
) -> u8 {
    let run_opts = stp_runtime::run::RunOptions {
        format,
        output: opts.output.clone(),
        command: opts.command.clone(),
        target_pid: opts.target_pid,
        timeout: opts.timeout,
        compatible: Some(compiled.compatible.clone()),
        verbose: opts.verbose,
        function_probes,
        overload,
        metrics: opts.metrics.clone(),
    };
    let jit = match stp_runtime::jit::Jit::compile(&compiled.module, &compiled.layout, &compiled.points) {
        Ok(j) => j,
        Err(d) => {
            if format == OutputFormat::Json {
                json_failure(opts, std::slice::from_ref(&d), sm, false);
            }
            eprintln!("{}Pass 3: translation failed.", render_all(&[d], sm, RenderOptions { color }));
            return 1;
        }
    };
    if opts.verbose > 0 {
        eprint!("{}", stp_runtime::report::PASS5_STARTING);
    }
    let mut clock = driver::PassClock::start();
    let result = stp_runtime::run::run(compiled, &jit, sm, &run_opts);
    if opts.verbose > 0 {
        let t = clock.lap(5, String::new());
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        eprint!("{}", stp_runtime::report::pass5_completed(ms(t.usr), ms(t.sys), ms(t.real)));
    }
    match result {
        Ok(0) => 0,
        Ok(_) => {
            eprint!("{}", stp_runtime::report::PASS5_FAILED);
            1
        }
        Err(f) => {
            if format == OutputFormat::Json {
                let at = f.span.and_then(|span| location(sm, span));
                stp_runtime::json::write_failure(opts.output.as_deref(), true, &[(f.message.clone(), at)]);
            }
            let mut d = if f.log.is_some() {
                Diagnostic::internal(format!("{}; this is a bug in stp", f.message))
            } else {
                Diagnostic::error(f.message)
            };
            if let Some(span) = f.span {
                let label = if f.log.is_some() { "the refused code came from here" } else { "" };
                d = d.at(span, label);
            }
            if let Some(log) = f.log {
                d = if opts.verbose > 0 { d.with_note(log) } else { d.with_help("-v shows the verifier's log") };
            }
            let rendered = render_all(&[d], sm, RenderOptions { color });
            eprint!("{rendered}{}", stp_runtime::report::PASS5_FAILED);
            1
        }
    }
}

/// `--format json`: the errors that stopped stp before or at the start of
/// the run end the stream, with exit status 1.
fn json_failure(opts: &Options, diagnostics: &[Diagnostic], sm: &SourceMap, append: bool) {
    let errors: Vec<(String, Option<stp_runtime::json::Location>)> = diagnostics
        .iter()
        .filter(|d| d.severity >= Severity::Error)
        .map(|d| (d.message.clone(), d.primary.as_ref().and_then(|l| location(sm, l.span))))
        .collect();
    stp_runtime::json::write_failure(opts.output.as_deref(), append, &errors);
}

/// A script location as the JSON output gives it.
fn location(sm: &SourceMap, span: stp_compiler::source::Span) -> Option<stp_runtime::json::Location> {
    let file = sm.get(span.file)?;
    let (line, column) = file.line_col(span.start);
    Some(stp_runtime::json::Location { file: file.name.clone(), line, column })
}

/// `--verify`: the kernel's verifier checks the object's programs. A
/// refusal is stp's bug: an internal error at the script line the failing
/// instruction came from, with the verifier's log under -v.
fn verify_object(outcome: &mut driver::Outcome, verbose: u8, function_probes: stp_runtime::run::FunctionProbes) {
    let Some(built) = &outcome.object else { return };
    let planned: Vec<stp_runtime::verify::Planned> = built
        .programs
        .iter()
        .zip(&built.attach)
        .map(|((name, _), (section, twin))| stp_runtime::verify::Planned {
            name: name.clone(),
            section: section.clone(),
            twin: *twin,
        })
        .collect();
    let Err(rejected) = stp_runtime::verify::verify_planned(&built.bytes, &planned, function_probes, &built.maps)
    else {
        return;
    };
    if rejected.program.is_empty() {
        outcome.diagnostics.push(Diagnostic::error(rejected.log));
        outcome.failed_pass = Some(4);
        return;
    }
    let span = built
        .programs
        .iter()
        .find(|(name, _)| *name == rejected.program)
        .zip(stp_runtime::failing_instruction(&rejected.log))
        .and_then(|((_, lines), slot)| stp_compiler::bpf::codegen::span_of(lines, slot));
    let mut d = Diagnostic::internal(format!(
        "the kernel's verifier refused program {} that stp generated for this; this is a bug in stp",
        rejected.program
    ));
    if let Some(span) = span {
        d = d.at(span, "the refused code came from here");
    }
    d = if verbose > 0 { d.with_note(rejected.log) } else { d.with_help("-v shows the verifier's log") };
    outcome.diagnostics.push(d);
    outcome.failed_pass = Some(4);
}

/// `-v`: how many probe points each point of the script matched; `-vv`
/// names them.
fn print_matched(out: &mut dyn Write, matched: &[(String, Vec<String>)], verbose: u8) {
    for (origin, points) in matched {
        let n = points.len();
        let _ = writeln!(out, "Probe '{origin}' matched {n} probe point{}", if n == 1 { "" } else { "s" });
        if verbose > 1 {
            for p in points {
                let _ = writeln!(out, "  {p}");
            }
        }
    }
}

fn print_usage_error(e: &UsageError) {
    eprintln!("{}", e.0);
}

fn main() -> ExitCode {
    install_panic_hook();
    // A signal while the script compiles stops stp after the pass under way.
    stp_runtime::signals::install();
    let cli = match cli::parse(std::env::args_os()) {
        cli::Parsed::Run(cli) => cli,
        cli::Parsed::Print(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        cli::Parsed::Fail(text) => {
            eprint!("{text}");
            return ExitCode::from(1);
        }
    };
    if cli.version {
        println!("stp {} (SystemTap {} language, eBPF runtime)", stp_compiler::VERSION, driver::SYSTEMTAP_VERSION);
        return ExitCode::SUCCESS;
    }
    if cli.man {
        print!("{}", manual::man_page());
        return ExitCode::SUCCESS;
    }
    if let Some(shell) = cli.completions {
        print!("{}", manual::completions(shell));
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &cli.snapshot_kernel {
        let prune = match &cli.snapshot_prune {
            None => None,
            Some(f) => match std::fs::read_to_string(f)
                .map_err(|e| e.to_string())
                .and_then(|t| stp_compiler::kernel::Prune::parse(&t).map_err(|e| e.to_string()))
            {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!("stp: {}: {e}", f.display());
                    return ExitCode::from(1);
                }
            },
        };
        return match Kernel::live().write_snapshot(dir, prune.as_ref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("stp: {e}");
                ExitCode::from(1)
            }
        };
    }
    let session = match session(*cli) {
        Ok(s) => s,
        Err(e) => {
            print_usage_error(&e);
            return ExitCode::from(1);
        }
    };
    let worker =
        std::thread::Builder::new().name("stp".to_string()).stack_size(COMPILER_STACK).spawn(move || compile(session));
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(_)) => ExitCode::from(EXIT_INTERNAL),
        Err(e) => {
            eprintln!("internal error in stp {}: cannot start the compiler thread: {e}", stp_compiler::VERSION);
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defines_and_globals_follow_staps_patterns() {
        assert!(valid_define("MAXSTRINGLEN=256"));
        assert!(valid_define("FOO"));
        assert!(valid_define("x=-1"));
        assert!(!valid_define("1x=2"));
        assert!(!valid_define("x="));
        assert!(valid_global("limit=1.5"));
        assert!(!valid_global("x"));
        assert!(!valid_global("x=a b"));
    }
}
