//! Runs the passes in order, stopping after `-pN` or after a pass that
//! reported errors. Each pass is a function from the previous pass's data
//! to its own; the driver only threads them together and applies the
//! warning policy (`-w`, `-W`).

use std::path::PathBuf;

use crate::artifact::Artifact;
use crate::diag::{Diagnostic, Severity, has_errors};
use crate::elab;
use crate::kernel::Kernel;
use crate::parse::ast::{FunctionBody, Script};
use crate::parse::{self, ParseOptions, PpEnv, printer};
use crate::source::{FileKind, SourceMap};
use crate::tapset::{self, Library, LibraryOptions};

pub mod clock;
pub use clock::{PassClock, PassTiming};

/// The SystemTap version whose language stp speaks by default.
pub const SYSTEMTAP_VERSION: &str = "5.0";

/// One script given to stp: a file, `-e` text, `-E` text or stdin.
#[derive(Clone, Debug)]
pub struct ScriptInput {
    /// `<input>`, `<stdin>`, or the path.
    pub name: String,
    pub text: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WarningMode {
    #[default]
    Normal,
    /// `-w`: no warnings.
    Suppress,
    /// `-W`: warnings are errors.
    Error,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// The main script, then any `-E` scripts.
    pub scripts: Vec<ScriptInput>,
    pub args: Vec<String>,
    pub include_dirs: Vec<PathBuf>,
    /// `SYSTEMTAP_TAPSET` from the environment.
    pub tapset_dir: Option<PathBuf>,
    /// Stop after this pass (1 to 5).
    pub last_pass: u8,
    pub guru: bool,
    /// `--compatible`: the SystemTap version to behave as.
    pub compatible: String,
    pub privilege: String,
    pub warnings: WarningMode,
    pub verbose: u8,
    /// `-u`: no elision of unused code.
    pub unoptimized: bool,
    /// `--skip-badvars`: unresolvable target variables read as 0.
    pub skip_badvars: bool,
    /// `-D NAME[=VALUE]` settings (limits such as MAXSTRINGLEN).
    pub defines: Vec<String>,
    /// `-G NAME=VALUE` initial values of globals.
    pub globals: Vec<String>,
    /// `-o FILE`: where the script's output goes.
    pub output: Option<PathBuf>,
    /// `-c CMD`: the command to run once probes are attached.
    pub command: Option<String>,
    /// `-x PID`: the value of `target()`.
    pub target_pid: Option<u32>,
    /// `-T SECONDS`: stop after this long.
    pub timeout: Option<u64>,
    /// `--metrics ADDR:PORT`: serve the script's metrics there (pass 5).
    pub metrics: Option<String>,
    /// `-m NAME`: the name of the compiled object.
    pub module: Option<String>,
    /// `-k`/`--save-temps`: keep the object of a run in a temporary
    /// directory that outlives stp.
    pub save_temps: bool,
    /// `-s NUM`: output buffer size in megabytes.
    pub buffer_size: Option<u32>,
    /// `-l` (false) or `-L` (true): list the probe points the script's
    /// only probe names instead of compiling it.
    pub list: Option<bool>,
    /// `--dump-functions`, `--dump-probe-aliases`.
    pub dump: Option<Dump>,
    /// Whether a signal (SIGINT, SIGTERM, SIGHUP) asked stp to stop,
    /// asked after each pass.
    pub interrupted: Option<fn() -> bool>,
    /// Pass 3's translation of the user-placed handlers (native code, in
    /// the runtime crate): see [`UserSide`].
    pub user_side: Option<std::sync::Arc<dyn UserSide>>,
}

/// The back end of the user-placed handlers (Cranelift, in the runtime
/// crate), as pass 3 checks them.
pub trait UserSide: std::fmt::Debug + Send + Sync {
    /// Translates the user-placed functions of `module`, given the layout
    /// and each probe's point name; says what it cannot translate, or
    /// gives a dump of the code (the Cranelift IR) that `-p3` prints after
    /// the eBPF, under `# Cranelift`, when it is not empty.
    fn check(
        &self,
        module: &crate::ir::Module,
        layout: &crate::layout::Layout,
        points: &[String],
    ) -> Result<String, Diagnostic>;
}

/// What a `--dump-*` option lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dump {
    Functions,
    ProbeAliases,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            scripts: Vec::new(),
            args: Vec::new(),
            include_dirs: Vec::new(),
            tapset_dir: None,
            last_pass: 5,
            guru: false,
            compatible: SYSTEMTAP_VERSION.to_string(),
            privilege: "stapdev".to_string(),
            warnings: WarningMode::Normal,
            verbose: 0,
            unoptimized: false,
            skip_badvars: false,
            defines: Vec::new(),
            globals: Vec::new(),
            output: None,
            command: None,
            target_pid: None,
            timeout: None,
            metrics: None,
            module: None,
            save_temps: false,
            buffer_size: None,
            list: None,
            dump: None,
            interrupted: None,
            user_side: None,
        }
    }
}

/// Pass 1's result: the user's scripts and the library they may draw on.
#[derive(Debug)]
pub struct Parsed {
    /// The main script first, then `-E` scripts.
    pub user: Vec<Script>,
    pub library: Library,
}

/// What a run of the passes produced.
#[derive(Debug)]
pub struct Outcome {
    pub diagnostics: Vec<Diagnostic>,
    /// The pass that failed, if one did.
    pub failed_pass: Option<u8>,
    /// The dump a `-pN` run prints.
    pub output: String,
    /// One line per pass run, for `-v`.
    pub timings: Vec<PassTiming>,
    /// Pass 4's object: where it was written, and for each program its
    /// name and where each script line's code starts (slot, span).
    pub object: Option<Built>,
    /// Pass 4's result when pass 5 is to run.
    pub compiled: Option<Box<Artifact>>,
    /// The pass after which a signal stopped stp.
    pub interrupted: Option<u8>,
    /// What each probe point of the script matched, for `-v`: the point
    /// as written, and the probe points it resolved to.
    pub matched: Vec<(String, Vec<String>)>,
}

#[derive(Debug)]
pub struct Built {
    /// Where it was written: `NAME.o` for `-p4`, in the kept temporary
    /// directory for `-k`; a plain run writes no file.
    pub path: Option<std::path::PathBuf>,
    /// The directory `-k` keeps.
    pub kept_dir: Option<std::path::PathBuf>,
    pub bytes: Vec<u8>,
    /// Its maps, with the global each holds.
    pub maps: Vec<(crate::bpf::btf::MapDef, Option<String>)>,
    pub programs: Vec<(String, Vec<(usize, crate::source::Span)>)>,
    /// For each program: its section, and the program doing the same
    /// through the other mechanism (`Code::alt`).
    pub attach: Vec<(String, Option<usize>)>,
}

/// Calls `f` with the preprocessor's view of the session.
pub fn with_env<R>(opts: &Options, kernel: &Kernel, f: impl FnOnce(&PpEnv<'_>) -> R) -> R {
    let kconfig = |name: &str| kernel.config(name);
    let compat = opts.compatible.as_str();
    let env = PpEnv {
        args: &opts.args,
        kernel_release: &kernel.release,
        arch: &kernel.arch,
        runtime: "bpf",
        systemtap_v: compat,
        privilege: &opts.privilege,
        guru_mode: opts.guru,
        kconfig: &kconfig,
        glue_across_comments: parse::preprocess::version_cmp(compat, "2.0").is_ge(),
    };
    f(&env)
}

/// Pass 1: parses the user's scripts and loads the library.
pub fn parse_pass(opts: &Options, kernel: &Kernel, sm: &mut SourceMap) -> (Parsed, Vec<Diagnostic>) {
    with_env(opts, kernel, |env| {
        let lib_opts = LibraryOptions {
            include_dirs: &opts.include_dirs,
            tapset_dir: opts.tapset_dir.as_deref(),
            arch: &kernel.arch,
        };
        let (mut library, mut diags) = tapset::load(&lib_opts, env, sm);
        add_kernel_syscalls(opts, kernel, &mut library, sm);
        let tapset_dirs: Vec<PathBuf> =
            opts.tapset_dir.iter().chain(&opts.include_dirs).filter_map(|d| d.canonicalize().ok()).collect();
        let popts = ParseOptions {
            guru: opts.guru,
            tapset: false,
            autocast: parse::preprocess::version_cmp(&opts.compatible, "2.6").is_ge(),
        };
        let mut user = Vec::new();
        for s in &opts.scripts {
            if let Ok(path) = std::path::Path::new(&s.name).canonicalize()
                && tapset_dirs.iter().any(|d| path.starts_with(d))
            {
                diags.push(Diagnostic::error(format!(
                    "usage error: tapset file '{}' cannot be run directly as a session script.",
                    s.name
                )));
                continue;
            }
            let file = sm.add(s.name.clone(), s.text.clone(), FileKind::User);
            let (script, d) = parse::parse_file(sm, file, env, &library.macros, popts);
            if !has_errors(&d) && script.is_empty() && opts.scripts.len() == 1 && opts.dump.is_none() {
                diags.push(Diagnostic::error(format!("Input file '{}' is empty after preprocessing.", s.name)));
            }
            diags.extend(d);
            user.push(script);
        }
        // The library files the scripts may need (stap's pass 1 parses
        // them all; the dumps still do): see `Library::needed`.
        let needed = if opts.dump.is_some() {
            (0..library.files.len()).collect()
        } else {
            // The functions elaboration itself calls are needed too.
            let mut roots: Vec<String> = vec![elab::points::process::GUARD_FUNCTION.to_string()];
            for s in &opts.scripts {
                roots.extend(tapset::scan::mentioned(&s.text));
            }
            for a in &opts.args {
                roots.extend(tapset::scan::mentioned(a));
            }
            for (_, f) in sm.files().filter(|(_, f)| f.kind == FileKind::Macros) {
                roots.extend(tapset::scan::mentioned(&f.text));
            }
            for f in library.files.iter().filter(|f| f.script.is_some()) {
                roots.extend(tapset::scan::mentioned(sm.text(f.file)));
            }
            // Wildcards: aliases are known by their first two components.
            let parsed = user.iter().chain(library.files.iter().filter_map(|f| f.script.as_ref()));
            let mut patterns: Vec<String> = Vec::new();
            for p in parsed
                .flat_map(|s| s.probes.iter().flat_map(|p| &p.points).chain(s.aliases.iter().flat_map(|a| &a.points)))
            {
                match p.components.as_slice() {
                    [a, b, ..] if crate::glob::has_glob(&a.name) || crate::glob::has_glob(&b.name) => {
                        patterns.push(format!("{}.{}", a.name, b.name));
                    }
                    [a, ..] if crate::glob::has_glob(&a.name) => {
                        patterns.push(a.name.clone());
                        patterns.push(format!("{}.*", a.name));
                    }
                    _ => {}
                }
            }
            library.needed(&roots, &patterns)
        };
        for i in needed {
            diags.extend(library.ensure_parsed(i, env, sm));
        }
        (Parsed { user, library }, diags)
    })
}

/// The kernel's system calls that the syscall table lacks, as a tapset
/// of their own (see `syscall_fallback`): only with the embedded library,
/// and only for scripts that name syscall probes, so that other scripts
/// never read tracefs for it.
fn add_kernel_syscalls(opts: &Options, kernel: &Kernel, library: &mut tapset::Library, sm: &mut SourceMap) {
    if opts.tapset_dir.is_some() || !opts.scripts.iter().any(|s| s.text.contains("syscall")) {
        return;
    }
    let missing = crate::syscall_fallback::missing(kernel);
    if missing.is_empty() {
        return;
    }
    let name = "stdlib/linux/syscalls_kernel.stp".to_string();
    let text = crate::syscall_table::aliases(&missing);
    let index = Some(tapset::FileIndex::Scanned(tapset::scan::scan(&text)));
    let file = sm.add(name.clone(), text, FileKind::Tapset);
    library.files.push(tapset::TapsetFile { name, file, script: None, index });
}

/// Applies `-w` and `-W` to a pass's diagnostics.
fn apply_warning_mode(diags: Vec<Diagnostic>, mode: WarningMode) -> Vec<Diagnostic> {
    match mode {
        WarningMode::Normal => diags,
        WarningMode::Suppress => diags.into_iter().filter(|d| d.severity != Severity::Warning).collect(),
        WarningMode::Error => diags
            .into_iter()
            .map(|mut d| {
                if d.severity == Severity::Warning {
                    d.severity = Severity::Error;
                    d.message = format!("{} (warning treated as error)", d.message);
                }
                d
            })
            .collect(),
    }
}

/// Runs the passes the options ask for.
pub fn run(opts: &Options, kernel: &Kernel, sm: &mut SourceMap) -> Outcome {
    let mut outcome = Outcome {
        diagnostics: Vec::new(),
        failed_pass: None,
        output: String::new(),
        timings: Vec::new(),
        object: None,
        compiled: None,
        interrupted: None,
        matched: Vec::new(),
    };
    let interrupted = || opts.interrupted.is_some_and(|f| f());
    let mut clock = PassClock::start();
    let (parsed, diags) = parse_pass(opts, kernel, sm);
    let diags = apply_warning_mode(diags, opts.warnings);
    let failed = has_errors(&diags);
    outcome.diagnostics.extend(diags);
    let library_parsed = parsed.library.files.iter().filter(|f| f.script.is_some()).count();
    outcome.timings.push(
        clock.lap(
            1,
            format!("parsed user script and {} library scripts", parsed.library.files.len().max(library_parsed)),
        ),
    );
    if failed {
        outcome.failed_pass = Some(1);
        return outcome;
    }
    if interrupted() {
        outcome.interrupted = Some(1);
        return outcome;
    }
    if opts.last_pass == 1 {
        if let Some((script, input)) = parsed.user.first().zip(opts.scripts.first()) {
            outcome.output = printer::print_script(script, &input.name);
        }
        return outcome;
    }
    if let Some(dump) = opts.dump {
        outcome.output = match dump {
            Dump::Functions => elab::list::dump_functions(&parsed.library, sm),
            Dump::ProbeAliases => elab::list::dump_aliases(&parsed.library, sm),
        };
        return outcome;
    }
    if let Some(vars) = opts.list {
        let (lines, diags) = elab::list::list(&parsed.user, &parsed.library, &elab_options(opts, kernel), vars);
        let failed = has_errors(&diags);
        outcome.diagnostics.extend(apply_warning_mode(diags, opts.warnings));
        outcome.output = lines.iter().map(|l| format!("{l}\n")).collect();
        outcome.timings.push(clock.lap(2, format!("listed {} probe points", lines.len())));
        if failed {
            outcome.failed_pass = Some(2);
        }
        return outcome;
    }
    let (program, diags) = elaborate_pass(opts, kernel, &parsed);
    let diags = apply_warning_mode(diags, opts.warnings);
    let failed = has_errors(&diags);
    outcome.diagnostics.extend(diags);
    let embeds = program.functions.iter().filter(|f| matches!(f.def.body, FunctionBody::Embedded(_))).count();
    outcome.timings.push(clock.lap(
        2,
        format!(
            "analyzed script: {}, {}, {}, {}",
            clock::count(program.probes.iter().map(|p| p.points.len()).sum::<usize>(), "probe"),
            clock::count(program.functions.len(), "function"),
            clock::count(embeds, "embed"),
            clock::count(program.globals.len(), "global"),
        ),
    ));
    if failed {
        outcome.failed_pass = Some(2);
        return outcome;
    }
    // (`-p2` prints the expansion itself.)
    if opts.verbose > 0 && opts.last_pass != 2 {
        outcome.matched = matched_points(&program);
    }
    if interrupted() {
        outcome.interrupted = Some(2);
        return outcome;
    }
    if opts.last_pass == 2 {
        outcome.output = elab::print::print_program(&program, opts.verbose > 0);
        return outcome;
    }
    let module = match crate::ir::lower::lower(&program) {
        Ok(m) => m,
        Err(diags) => {
            outcome.diagnostics.extend(diags);
            outcome.failed_pass = Some(3);
            return outcome;
        }
    };
    let user_files: Vec<_> = parsed.user.iter().map(|s| s.file).collect();
    let races = apply_warning_mode(crate::ir::races::unatomic_writes(&module, &user_files), opts.warnings);
    let failed = has_errors(&races);
    outcome.diagnostics.extend(races);
    if failed {
        outcome.failed_pass = Some(3);
        return outcome;
    }
    if let Err(e) = crate::ir::verify::verify(&module) {
        outcome.diagnostics.push(Diagnostic::internal(format!("the IR of this script is inconsistent: {e}")));
        outcome.failed_pass = Some(3);
        return outcome;
    }
    // The IR is shown even when the eBPF back end then refuses something;
    // only -p3 shows it.
    let ir_text = if opts.last_pass == 3 {
        let probes: Vec<Vec<String>> =
            program.probes.iter().map(|p| p.points.iter().map(|pt| pt.name.clone()).collect()).collect();
        crate::ir::print::print_module(&module, &probes, sm)
    } else {
        String::new()
    };
    let layout = match crate::layout::Limits::from_defines(&opts.defines)
        .and_then(|limits| crate::layout::Layout::new(&module, limits))
    {
        Ok(l) => l,
        Err(d) => {
            outcome.diagnostics.push(d);
            outcome.failed_pass = Some(3);
            return outcome;
        }
    };
    let backend = crate::bpf::Options {
        buffer_mb: opts.buffer_size,
        source_map: sm,
        listing: opts.last_pass == 3,
        object: opts.last_pass > 3,
    };
    let mut built = match crate::bpf::build(&module, &program, &layout, kernel, &backend) {
        Ok(built) => built,
        Err(e) => {
            if e.shows_ir && opts.last_pass == 3 {
                outcome.output = ir_text;
            }
            outcome.diagnostics.push(e.diagnostic);
            outcome.failed_pass = Some(e.pass);
            return outcome;
        }
    };
    let mut translated = clock.lap(
        3,
        format!(
            "translated to IR ({}) and {}",
            clock::count(module.functions.len(), "function"),
            clock::count(built.code.programs.len(), "eBPF program")
        ),
    );
    // Writing the object is pass 4's.
    clock.move_to_next(&mut translated, built.object_time);
    outcome.timings.push(translated);
    let user_code =
        match opts.user_side.as_ref().map(|back_end| back_end.check(&module, &layout, &point_names(&program))) {
            Some(Err(d)) => {
                if opts.last_pass == 3 {
                    outcome.output = ir_text;
                }
                outcome.diagnostics.push(d);
                outcome.failed_pass = Some(3);
                return outcome;
            }
            Some(Ok(text)) => text,
            None => String::new(),
        };
    if opts.last_pass == 3 {
        outcome.output = format!("{ir_text}\n# eBPF\n{}", built.listing);
        if !user_code.is_empty() {
            outcome.output.push_str(&format!("\n# Cranelift\n{user_code}"));
        }
        return outcome;
    }
    if interrupted() {
        outcome.interrupted = Some(3);
        return outcome;
    }
    // Pass 4: the object (written by the back end above); -p4 writes it
    // to NAME.o here (`-m NAME`, else stp_PID) and prints its path, -k
    // keeps it in a temporary directory.
    let bytes = std::mem::take(&mut built.bytes);
    // The object a file keeps carries the artifact, for `stp --run`.
    let settings = crate::artifact::Settings {
        compatible: opts.compatible.clone(),
        defines: opts.defines.clone(),
        ringbuf_default: opts.buffer_size.is_none(),
    };
    let mut artifact = Artifact::new(bytes, &program, module, layout, &built.code, kernel, settings);
    let bytes = if opts.last_pass == 4 || opts.save_temps {
        // An object kept for `stp --run` names the kernel it is for.
        artifact.kernel = crate::artifact::KernelIdentity::of(kernel);
        match artifact.to_object(sm) {
            Ok(b) => b,
            Err(e) => {
                outcome.diagnostics.push(Diagnostic::internal(e));
                outcome.failed_pass = Some(4);
                return outcome;
            }
        }
    } else {
        artifact.object.clone()
    };
    let name = opts.module.clone().unwrap_or_else(|| format!("stp_{}", std::process::id()));
    let written = if opts.last_pass == 4 {
        crate::objfile::write_in(std::path::Path::new("."), &name, &bytes)
            .map(|_| (None, Some(PathBuf::from(format!("{name}.o")))))
    } else if opts.save_temps {
        crate::objfile::keep_in_tempdir(&name, &bytes).map(|(dir, path)| (Some(dir), Some(path)))
    } else {
        Ok((None, None))
    };
    let (kept_dir, path) = match written {
        Ok(w) => w,
        Err(e) => {
            outcome.diagnostics.push(Diagnostic::error(format!("cannot write {name}.o: {e}")));
            outcome.failed_pass = Some(4);
            return outcome;
        }
    };
    let shown = path.as_ref().map_or_else(|| "memory".to_string(), |p| p.display().to_string());
    outcome.timings.push(clock.lap(4, format!("compiled to {shown}")));
    outcome.object = Some(Built {
        path: path.clone(),
        kept_dir,
        bytes: bytes.clone(),
        programs: built.programs(),
        attach: built.attach(),
        maps: built.maps,
    });
    if opts.last_pass == 4 {
        outcome.output = format!("{shown}\n");
        return outcome;
    }
    if interrupted() {
        outcome.interrupted = Some(4);
        return outcome;
    }
    outcome.compiled = Some(Box::new(artifact));
    outcome
}

/// What `pp()` says in each probe's handler: its first point's name.
pub fn point_names(program: &elab::Program) -> Vec<String> {
    program.probes.iter().map(|p| p.points.first().map(|pt| pt.name.clone()).unwrap_or_default()).collect()
}

/// Pass 2: elaborates the parsed scripts against the kernel.
pub fn elaborate_pass(opts: &Options, kernel: &Kernel, parsed: &Parsed) -> (elab::Program, Vec<Diagnostic>) {
    elab::elaborate(&parsed.user, &parsed.library, &elab_options(opts, kernel))
}

fn elab_options<'a>(opts: &'a Options, kernel: &'a Kernel) -> elab::ElabOptions<'a> {
    elab::ElabOptions {
        kernel,
        guru: opts.guru,
        unoptimized: opts.unoptimized,
        target_pid: opts.target_pid,
        command: opts.command.as_deref(),
        skip_badvars: opts.skip_badvars,
    }
}

/// What printing a parsed script and parsing the print again came to.
#[derive(Debug, PartialEq, Eq)]
pub enum RoundTrip {
    /// The script itself did not parse.
    NotParsed,
    /// The print parses to the same tree (spans aside).
    Stable,
    /// The print does not parse, or parses to another tree.
    Unstable { printed: String, why: String },
}

/// Parses `input`, prints it as `-p1` does, parses the print and compares
/// the two trees, spans aside: the `-p1` output must mean what the script
/// meant.
pub fn round_trip(opts: &Options, kernel: &Kernel, input: ScriptInput) -> RoundTrip {
    let first_opts = Options { scripts: vec![input], ..opts.clone() };
    let mut sm = SourceMap::new();
    let (parsed, diags) = parse_pass(&first_opts, kernel, &mut sm);
    let Some(script) = parsed.user.first().filter(|_| !has_errors(&diags)) else { return RoundTrip::NotParsed };
    let printed = printer::print_script(script, "<input>");
    let second_opts =
        Options { scripts: vec![ScriptInput { name: "<printed>".to_string(), text: printed.clone() }], ..opts.clone() };
    let mut sm2 = SourceMap::new();
    let (reparsed, diags2) = parse_pass(&second_opts, kernel, &mut sm2);
    if has_errors(&diags2) {
        let why = crate::diag::render_all(&diags2, &sm2, crate::diag::RenderOptions::default());
        return RoundTrip::Unstable { printed, why };
    }
    let (a, b) = (format!("{script:#?}"), reparsed.user.first().map(|s| format!("{s:#?}")).unwrap_or_default());
    if a == b {
        RoundTrip::Stable
    } else {
        let line = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
        let show = |t: &str| t.lines().skip(line.saturating_sub(3)).take(8).collect::<Vec<_>>().join("\n");
        RoundTrip::Unstable {
            printed,
            why: format!("trees differ:\n--- parsed\n{}\n--- reparsed\n{}", show(&a), show(&b)),
        }
    }
}

/// Each probe point as the script wrote it, with the points it matched
/// (a wildcard's or an alias's expansion), in the script's order.
fn matched_points(program: &elab::Program) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for probe in &program.probes {
        let names = probe.points.iter().map(|pt| pt.name.clone());
        match out.iter_mut().find(|(origin, _)| *origin == probe.origin) {
            Some((_, points)) => points.extend(names),
            None => out.push((probe.origin.clone(), names.collect())),
        }
    }
    out
}
