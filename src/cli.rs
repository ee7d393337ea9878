//! The command line, mirroring stap(1).
//!
//! Every option stap has is recognised. Those stp implements (or parses
//! and keeps for a later pass) are fields of [`Cli`]; the rest are listed
//! in [`UNSUPPORTED`] and make stp stop with a clear message instead of
//! being ignored.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches, Parser};

/// `--function-probes`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionProbes {
    Auto,
    Fentry,
    Kprobe,
}

/// `--format`: how a run writes what it prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// stap's text.
    #[default]
    Text,
    /// NDJSON: one JSON object per line for each output, histogram, global shown at exit, warning, error and lost-record count, then the exit status.
    Json,
}

#[derive(Parser, Debug)]
#[command(
    name = "stp",
    about = "Runs SystemTap scripts on eBPF.",
    override_usage = "stp [OPTIONS] FILE [ARGS...]        Run script in file.\n       \
                      stp [OPTIONS] -                   Run script on stdin.\n       \
                      stp [OPTIONS] -e SCRIPT [ARGS...] Run given script.\n       \
                      stp [OPTIONS] -l PROBE            List matching probes.\n       \
                      stp [OPTIONS] -L PROBE            List matching probes and local variables.",
    disable_version_flag = true,
    allow_negative_numbers = true,
    args_override_self = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Stop after pass NUM 1-5 (parse, elaborate, translate, compile, run).
    #[arg(short = 'p', value_name = "NUM")]
    pub pass: Option<String>,
    /// Run the given script.
    #[arg(short = 'e', value_name = "SCRIPT", action = ArgAction::Append)]
    pub script: Vec<String>,
    /// Run SCRIPT in addition to the main script.
    #[arg(short = 'E', value_name = "SCRIPT", action = ArgAction::Append)]
    pub extra: Vec<String>,
    /// Look in DIR for additional tapset scripts (*.stp) and macros (*.stpm).
    #[arg(short = 'I', value_name = "DIR", action = ArgAction::Append)]
    pub include: Vec<PathBuf>,
    /// Define a limit or setting such as MAXSTRINGLEN=256.
    #[arg(short = 'D', value_name = "NAME=VALUE", action = ArgAction::Append)]
    pub define: Vec<String>,
    /// Add verbosity to all passes (repeatable).
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Suppress warnings.
    #[arg(short = 'w')]
    pub no_warnings: bool,
    /// Turn warnings into errors.
    #[arg(short = 'W')]
    pub warnings_are_errors: bool,
    /// Unoptimised translation: keep unused variables and functions.
    #[arg(short = 'u')]
    pub unoptimized: bool,
    /// Substitute 0 for target variables that cannot be resolved (with a warning).
    #[arg(long = "skip-badvars")]
    pub skip_badvars: bool,
    /// Do not read or write the cache of the kernel's traceable functions.
    #[arg(long = "disable-cache")]
    pub disable_cache: bool,
    /// With -p4: load the object's programs into the kernel so that its verifier checks them, then unload them.
    #[arg(long = "verify")]
    pub verify: bool,
    /// How a run writes what it prints: stap's text, or NDJSON (one JSON object per line; see docs/json-output.md).
    #[arg(long = "format", value_name = "FORMAT", value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How kernel.function probes attach: fentry/fexit where the kernel allows them, else kprobes (auto), or always one of the two; kprobe also keeps BTF tracepoints (tp_btf) to their raw tracepoints.
    #[arg(long = "function-probes", value_name = "MODE", value_enum, default_value_t = FunctionProbes::Auto)]
    pub function_probes: FunctionProbes,
    /// Guru mode: allow embedded C and other expert constructs.
    #[arg(short = 'g')]
    pub guru: bool,
    /// Show the version.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Suppress language changes beyond VERSION.
    #[arg(long = "compatible", value_name = "VERSION")]
    pub compatible: Option<String>,
    /// Send script output to FILE.
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Start the probes, run CMD, and exit when it finishes.
    #[arg(short = 'c', value_name = "CMD")]
    pub command: Option<String>,
    /// Set target() to PID.
    #[arg(short = 'x', value_name = "PID")]
    pub target_pid: Option<String>,
    /// Terminate the script after TIME seconds.
    #[arg(short = 'T', value_name = "TIME")]
    pub timeout: Option<String>,
    /// Set global variable VAR to VALUE.
    #[arg(short = 'G', value_name = "VAR=VALUE", action = ArgAction::Append)]
    pub set_global: Vec<String>,
    /// Name the compiled object MODULE.
    #[arg(short = 'm', value_name = "MODULE")]
    pub module: Option<String>,
    /// Keep the compiled object of a run in a temporary directory, and say where.
    #[arg(short = 'k', long = "save-temps")]
    pub save_temps: bool,
    /// Do not stop the script when its probes take too much processor time.
    #[arg(long = "suppress-time-limits")]
    pub suppress_time_limits: bool,
    /// Serve the script's metrics to Prometheus at http://ADDR:PORT/metrics while it runs: what its `prometheus` probes print at each scrape, else its numeric globals and statistics.
    #[arg(long = "metrics", value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
    /// Use NUM megabyte buffers for output (by default 2, and 64 KiB when
    /// the kernel's handlers print nothing).
    #[arg(short = 's', value_name = "NUM")]
    pub buffer_size: Option<String>,
    /// List matching probes.
    #[arg(short = 'l', value_name = "PROBE")]
    pub list: Option<String>,
    /// List matching probes and their context variables.
    #[arg(short = 'L', value_name = "PROBE")]
    pub list_vars: Option<String>,
    /// The pass-5 runtime; stp has only "bpf".
    #[arg(long = "runtime", value_name = "MODE")]
    pub runtime: Option<String>,
    /// Shorthand for --runtime=bpf.
    #[arg(long = "bpf")]
    pub bpf: bool,
    /// Prologue searching for function probes (always, never, auto).
    #[arg(long = "prologue-searching", value_name = "WHEN", num_args = 0..=1, default_missing_value = "always", require_equals = true)]
    pub prologue_searching: Option<String>,
    /// Same as --prologue-searching=always.
    #[arg(short = 'P')]
    pub prologue: bool,
    /// Symbols of all loaded kernel modules for backtraces: stp always has
    /// them, from /proc/kallsyms.
    #[arg(long = "all-modules")]
    pub all_modules: bool,
    /// Colour diagnostics: always, auto or never (also spelled --colour).
    #[arg(long = "color", visible_alias = "colour", value_name = "WHEN", num_args = 0..=1, default_missing_value = "always", require_equals = true)]
    pub color: Option<String>,
    /// Limit the address space of stp to NUM bytes.
    #[arg(long = "rlimit-as", value_name = "NUM")]
    pub rlimit_as: Option<String>,
    /// Limit the CPU time of stp to NUM seconds.
    #[arg(long = "rlimit-cpu", value_name = "NUM")]
    pub rlimit_cpu: Option<String>,
    /// Limit the processes of the user to NUM.
    #[arg(long = "rlimit-nproc", value_name = "NUM")]
    pub rlimit_nproc: Option<String>,
    /// Limit the stack of stp to NUM bytes.
    #[arg(long = "rlimit-stack", value_name = "NUM")]
    pub rlimit_stack: Option<String>,
    /// Limit the size of files stp writes to NUM bytes.
    #[arg(long = "rlimit-fsize", value_name = "NUM")]
    pub rlimit_fsize: Option<String>,
    /// List the probe aliases of the tapset library.
    #[arg(long = "dump-probe-aliases")]
    pub dump_probe_aliases: bool,
    /// List the functions of the tapset library and the compiler.
    #[arg(long = "dump-functions")]
    pub dump_functions: bool,
    /// With -p3: also print the Cranelift IR of the user-placed handlers (begin, end, error, timers).
    #[arg(long = "clif")]
    pub clif: bool,
    /// Describe the kernel from a snapshot directory instead of the running kernel.
    #[arg(long = "kernel", value_name = "DIR")]
    pub kernel: Option<PathBuf>,
    /// Write a snapshot of the running kernel's description (BTF, kallsyms, tracepoints) to DIR and exit.
    #[arg(long = "snapshot-kernel", value_name = "DIR")]
    pub snapshot_kernel: Option<PathBuf>,
    /// With --snapshot-kernel: keep only what FILE lists (`function GLOB`, `event SYS:NAME`, `type NAME`, `depth N` lines).
    #[arg(long = "snapshot-prune", value_name = "FILE", requires = "snapshot_kernel")]
    pub snapshot_prune: Option<PathBuf>,
    /// Run OBJECT, written by -p4 (-m NAME writes NAME.o), without its script, as staprun runs stap's modules; only run-time options (-o, -c, -x, -T, -v) apply.
    #[arg(long = "run", value_name = "OBJECT")]
    pub run: Option<PathBuf>,
    /// Print the manual page stp(1) (roff; `stp --man | man -l -`) and exit.
    #[arg(long = "man")]
    pub man: bool,
    /// Print the completion script for SHELL (bash, zsh or fish) and exit.
    #[arg(long = "completions", value_name = "SHELL", value_enum)]
    pub completions: Option<crate::manual::Shell>,
    /// FILE (or - for stdin) then the script's arguments; with -e, only arguments.
    #[arg(value_name = "FILE [ARGS]", allow_hyphen_values = false)]
    pub positional: Vec<String>,
}

/// How an unsupported option takes a value.
#[derive(Clone, Copy)]
enum Value {
    None,
    Required,
    Optional,
}

/// stap options stp does not implement yet: (short, long, value).
const UNSUPPORTED: &[(Option<char>, Option<&str>, Value)] = &[
    (Some('b'), None, Value::None),
    (Some('t'), None, Value::None),
    (Some('q'), None, Value::None),
    (Some('F'), None, Value::None),
    (Some('i'), Some("interactive"), Value::None),
    (Some('B'), None, Value::Required),
    (Some('a'), None, Value::Required),
    (Some('R'), None, Value::Required),
    (Some('r'), None, Value::Required),
    (Some('d'), None, Value::Required),
    (Some('S'), None, Value::Required),
    (None, Some("vp"), Value::Required),
    (None, Some("modinfo"), Value::Required),
    (None, Some("ldd"), Value::None),
    (None, Some("suppress-handler-errors"), Value::None),
    (None, Some("check-version"), Value::None),
    (None, Some("clean-cache"), Value::None),
    (None, Some("poison-cache"), Value::None),
    (None, Some("privilege"), Value::Optional),
    (None, Some("unprivileged"), Value::None),
    (None, Some("use-server"), Value::Optional),
    (None, Some("use-server-on-error"), Value::Optional),
    (None, Some("list-servers"), Value::Optional),
    (None, Some("trust-servers"), Value::Optional),
    (None, Some("sign-module"), Value::Optional),
    (None, Some("dump-probe-types"), Value::None),
    (None, Some("remote"), Value::Required),
    (None, Some("remote-prefix"), Value::None),
    (None, Some("tmpdir"), Value::Required),
    (None, Some("download-debuginfo"), Value::Optional),
    (None, Some("sysroot"), Value::Required),
    (None, Some("sysenv"), Value::Required),
    (None, Some("dyninst"), Value::None),
    (None, Some("save-uprobes"), Value::None),
    (None, Some("target-namespaces"), Value::Required),
    (None, Some("monitor"), Value::Optional),
    (None, Some("example"), Value::None),
    (None, Some("no-global-var-display"), Value::None),
    (None, Some("benchmark-sdt"), Value::None),
    (None, Some("benchmark-sdt-loops"), Value::Required),
    (None, Some("benchmark-sdt-threads"), Value::Required),
];

fn unsupported_id(short: Option<char>, long: Option<&str>) -> String {
    match (long, short) {
        (Some(l), _) => format!("unsupported-{l}"),
        (None, Some(s)) => format!("unsupported-{s}"),
        (None, None) => "unsupported".to_string(),
    }
}

/// The full command: the derived options plus the unsupported ones.
pub fn command() -> Command {
    let mut cmd = Cli::command();
    for &(short, long, value) in UNSUPPORTED {
        let mut arg = Arg::new(unsupported_id(short, long)).hide(true);
        if let Some(s) = short {
            arg = arg.short(s);
        }
        if let Some(l) = long {
            arg = arg.long(l);
        }
        arg = match value {
            Value::None => arg.action(ArgAction::SetTrue),
            Value::Required => arg.action(ArgAction::Append).num_args(1),
            Value::Optional => arg.action(ArgAction::Append).num_args(0..=1).require_equals(true),
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

/// The first unsupported option on the command line, as the user spelled it.
fn first_unsupported(m: &ArgMatches) -> Option<String> {
    let mut found: Option<(usize, String)> = None;
    for &(short, long, _) in UNSUPPORTED {
        let id = unsupported_id(short, long);
        let present = m.value_source(&id) == Some(clap::parser::ValueSource::CommandLine);
        if !present {
            continue;
        }
        let index = m.index_of(&id).unwrap_or(usize::MAX);
        let name = match long {
            Some(l) => format!("--{l}"),
            None => format!("-{}", short.unwrap_or('?')),
        };
        if found.as_ref().is_none_or(|(i, _)| index < *i) {
            found = Some((index, name));
        }
    }
    found.map(|(_, n)| n)
}

/// What parsing the command line came to.
pub enum Parsed {
    Run(Box<Cli>),
    /// Print this to stdout and exit 0 (`--help`).
    Print(String),
    /// Print this to stderr and exit 1.
    Fail(String),
}

pub fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Parsed {
    let mut cmd = command();
    let matches = match cmd.try_get_matches_from_mut(args) {
        Ok(m) => m,
        Err(e) => {
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Parsed::Print(e.render().to_string())
                }
                _ => Parsed::Fail(e.render().to_string()),
            };
        }
    };
    if let Some(name) = first_unsupported(&matches) {
        return Parsed::Fail(format!("stp: option '{name}' is not supported yet\n"));
    }
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => Parsed::Run(Box::new(cli)),
        Err(e) => Parsed::Fail(e.render().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Parsed {
        parse(std::iter::once("stp").chain(args.iter().copied()).map(Into::into))
    }

    #[test]
    fn the_command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn options_may_follow_the_script() {
        let Parsed::Run(cli) = run(&["x.stp", "-p1", "a", "-v"]) else { panic!("should parse") };
        assert_eq!(cli.pass.as_deref(), Some("1"));
        assert_eq!(cli.positional, ["x.stp", "a"]);
        assert_eq!(cli.verbose, 1);
    }

    #[test]
    fn dash_dash_ends_options() {
        let Parsed::Run(cli) = run(&["-e", "probe begin {}", "--", "-p", "-5"]) else { panic!("should parse") };
        assert_eq!(cli.positional, ["-p", "-5"]);
        assert_eq!(cli.pass, None);
    }

    #[test]
    fn unsupported_options_name_themselves() {
        let Parsed::Fail(msg) = run(&["-e", "probe begin {}", "-b"]) else { panic!("should fail") };
        assert_eq!(msg, "stp: option '-b' is not supported yet\n");
        let Parsed::Fail(msg) = run(&["--use-server=x", "--dyninst", "-e", "x"]) else { panic!("should fail") };
        assert_eq!(msg, "stp: option '--use-server' is not supported yet\n");
    }

    #[test]
    fn k_and_save_temps_keep_the_object() {
        for opt in ["-k", "--save-temps"] {
            let Parsed::Run(cli) = run(&[opt, "-e", "probe begin {}"]) else { panic!("should parse") };
            assert!(cli.save_temps, "{opt}");
        }
    }

    #[test]
    fn optional_values_need_equals() {
        let Parsed::Run(cli) = run(&["--prologue-searching", "x.stp"]) else { panic!("should parse") };
        assert_eq!(cli.prologue_searching.as_deref(), Some("always"));
        assert_eq!(cli.positional, ["x.stp"]);
    }
}
