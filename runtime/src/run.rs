//! Pass 5: runs a compiled script from its artifact alone
//! ([`stp_compiler::artifact::Artifact`]: no AST, no elaborated program).
//! Loads its object (creating its maps), runs the `begin` handlers in
//! priority order, attaches the kernel's probes ([`crate::attach`]), runs
//! the event loop ([`crate::events`]) until `exit()`, SIGINT/SIGTERM,
//! `-T` or the end of the `-c` command, then detaches, drains the ring
//! buffer, runs the `end` handlers and prints the globals the script
//! wrote but never read ([`crate::globals`]).
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use aya::maps::{Map, RingBuf};
use stp_compiler::artifact::records::RecordKind;
use stp_compiler::artifact::{Artifact, When};
use stp_compiler::format;
use stp_compiler::ir::{FuncId, GlobalId};
use stp_compiler::source::{SourceMap, Span};

use crate::attach::OwnProbes;
use crate::command::Child;
use crate::events::{Timer, Watch, XorShift, drain, event_loop, report};
use crate::globals::Globals;
use crate::host::{Host, RuntimeError, State};
use crate::json::OutputFormat;
use crate::output::PipeGuard;
use crate::report;

/// Native code for the user-placed handlers.
pub trait UserCode {
    /// Runs handler `func` for the probe point named `point` (what `pp()`
    /// says).
    fn run(&self, func: FuncId, point: &str, host: &mut dyn Host) -> Result<(), RuntimeError>;
}

impl UserCode for crate::jit::Jit {
    fn run(&self, func: FuncId, point: &str, host: &mut dyn Host) -> Result<(), RuntimeError> {
        self.run_at(func, point, host)
    }
}

/// How to run: the options of stap's that pass 5 reads.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// `-o FILE`.
    pub output: Option<std::path::PathBuf>,
    /// `-c CMD`.
    pub command: Option<String>,
    /// `-x PID`.
    pub target_pid: Option<u32>,
    /// `-T SECONDS`.
    pub timeout: Option<u64>,
    /// `--compatible=VERSION`, when given.
    pub compatible: Option<String>,
    pub verbose: u8,
    /// How `kernel.function` probes attach.
    pub function_probes: FunctionProbes,
    /// The overload limit (`None`: `--suppress-time-limits` or
    /// `-D STP_NO_OVERLOAD`).
    pub overload: Option<crate::overload::Limit>,
    /// `--format`: stap's text, or NDJSON.
    pub format: OutputFormat,
    /// `--metrics ADDR:PORT`: serve `GET /metrics` there while the script
    /// runs.
    pub metrics: Option<String>,
}

/// How `kernel.function` probes attach (`--function-probes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FunctionProbes {
    /// fentry/fexit where the kernel allows them for the function, else
    /// kprobes.
    #[default]
    Auto,
    Fentry,
    Kprobe,
}

/// Why pass 5 could not run the script at all.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    /// The script line, for a program the kernel refused.
    pub span: Option<Span>,
    /// The verifier's log, for `-v`.
    pub log: Option<String>,
}

#[allow(non_snake_case)]
pub(crate) fn Failure(message: String) -> Failure {
    Failure { message, span: None, log: None }
}

/// stap's line for a runtime error: the message, the token it happened
/// near and where, and the probe.
pub fn error_text(sm: &SourceMap, message: &str, span: Option<Span>, probe: Option<&str>, max: usize) -> String {
    error_report(sm, message, span, probe, max).0
}

/// [`error_text`], and the place it names.
pub fn error_report(
    sm: &SourceMap,
    message: &str,
    span: Option<Span>,
    probe: Option<&str>,
    max: usize,
) -> (String, Option<crate::json::Location>) {
    let Some(mut span) = span.filter(|s| !s.is_dummy()) else {
        return (report::error_line(message, &[], None, max), None);
    };
    // An operator's span is the text between its operands: trim it to
    // the operator.
    let text = sm.snippet(span);
    let trim = |c: char| c.is_whitespace() || c == '(' || c == ')';
    let token = text.trim_matches(trim);
    if !token.is_empty() && token.len() < text.len() {
        let lead = (text.len() - text.trim_start_matches(trim).len()) as u32;
        span = Span::new(span.file, span.start + lead, span.start + lead + token.len() as u32);
    }
    let token = if token.is_empty() { text } else { token };
    let first = token.chars().next().unwrap_or(' ');
    let keyword = matches!(
        token,
        "if" | "else" | "for" | "foreach" | "while" | "break" | "continue" | "return" | "next" | "delete" | "try"
    );
    let (kind, shown) = if first.is_ascii_digit() {
        (report::TokenKind::Number, token)
    } else if first == '"' {
        (report::TokenKind::String, token.trim_matches('"'))
    } else if keyword {
        (report::TokenKind::Keyword, token)
    } else if first.is_ascii_alphabetic() || first == '_' || first == '$' || first == '@' {
        let name_end = token.find(|c: char| !(c.is_ascii_alphanumeric() || "_$@".contains(c))).unwrap_or(token.len());
        (report::TokenKind::Identifier, token.get(..name_end).unwrap_or(token))
    } else {
        (report::TokenKind::Operator, token)
    };
    let file = sm.get(span.file).map(|f| f.name.as_str()).unwrap_or("<input>");
    let (line, column) = sm.get(span.file).map(|f| f.line_col(span.start)).unwrap_or((0, 0));
    let near = report::Near { kind, text: shown, file, line, column };
    let at = crate::json::Location { file: file.to_string(), line, column };
    (report::error_line(message, &[near], probe, max), Some(at))
}

/// Runs the script; returns its exit status.
pub fn run(c: &Artifact, user: &dyn UserCode, sm: &SourceMap, opts: &RunOptions) -> Result<i32, Failure> {
    let user_handlers: Vec<(usize, FuncId, When, &str)> =
        c.user_handlers.iter().map(|h| (h.probe, h.func, h.when, h.point.as_str())).collect();
    crate::signals::install();
    if crate::signals::pending() {
        return Err(Failure("interrupted before the script was loaded".into()));
    }
    let metrics = match &opts.metrics {
        Some(addr) => {
            let handlers = user_handlers
                .iter()
                .filter(|(_, _, k, _)| *k == When::Prometheus)
                .map(|(_, f, _, name)| (*f, *name))
                .collect();
            Some(crate::metrics::Exporter::bind(addr, handlers)?)
        }
        None => None,
    };
    // What a run killed by SIGKILL left in tracefs.
    let stale = crate::cleanup::remove_stale_events();
    if stale > 0 && opts.verbose > 0 {
        eprintln!("Removed {stale} kprobe events left by stp runs that were killed");
    }
    // As NDJSON, the output is opened first, so that whatever stops the
    // run from here on can end the stream with its error and exit
    // status (`json::write_failure`, which the caller calls).
    let mut opened = match opts.format {
        OutputFormat::Json => Some(open_output(opts)?),
        OutputFormat::Text => None,
    };
    let mut ebpf = crate::sys::load_object_with(&c.object, crate::ringbuf::load_size(c))
        .map_err(|e| Failure(crate::load_failure(&e, &c.maps)))?;
    let cpus = aya::util::nr_cpus().map_err(|(what, e)| Failure(format!("{what}: {e}")))?;
    let globals_fd = match ebpf.map("globals") {
        Some(Map::Array(m)) => m.fd().as_fd().as_raw_fd(),
        _ => return Err(Failure("the compiled script has no globals".into())),
    };
    let globals = Globals::map(globals_fd, c.layout.globals_size.max(8) as usize)?;
    let mut maps = HashMap::new();
    for (i, _) in c.module.globals.iter().enumerate() {
        let g = GlobalId(i as u32);
        if c.layout.map(g).is_none() {
            continue;
        }
        let Some(name) = c.map_name(g) else { continue };
        let fd = match ebpf.map(name) {
            Some(Map::HashMap(m) | Map::LruHashMap(m) | Map::PerCpuHashMap(m) | Map::PerCpuLruHashMap(m)) => {
                m.fd().as_fd().as_raw_fd()
            }
            _ => return Err(Failure(format!("the compiled script has no map {name}"))),
        };
        maps.insert(i as u32, fd);
    }
    let (out, broken) = match opened.take() {
        Some(o) => o,
        None => open_output(opts)?,
    };
    let mut child = match &opts.command {
        Some(cmd) => Some(Child::spawn(cmd, opts.format == OutputFormat::Json && opts.output.is_none())?),
        None => None,
    };
    let target = child.as_ref().map(|ch| ch.pid).or(opts.target_pid.map(|p| p as i32)).unwrap_or(0);
    let numbers = report::StatNumbers::for_compatible(opts.compatible.as_deref());
    let formats = c
        .records
        .iter()
        .map(|r| match r {
            RecordKind::Print { format: Some(f), .. } => format::parse(f).ok(),
            _ => None,
        })
        .collect();
    let mut st = State {
        c,
        globals,
        maps,
        cpus,
        out,
        exit: false,
        aborted: false,
        target: i64::from(target),
        errors: 0,
        numbers,
        formats,
        format: opts.format,
    };
    crate::globals::init_globals(&mut st);
    let mut status = 0;

    // begin, in priority order.
    let mut begins: Vec<(i64, usize, FuncId, &str)> = user_handlers
        .iter()
        .filter_map(|(probe, f, k, name)| match k {
            When::Begin { priority } => Some((*priority, *probe, *f, *name)),
            _ => None,
        })
        .collect();
    begins.sort();
    let mut failed = false;
    for (_, _, f, name) in &begins {
        if failed || st.exit {
            break;
        }
        if let Err(e) = user.run(*f, name, &mut st) {
            report(&mut st, sm, &e.message, e.span);
            failed = st.errors > c.layout.limits.max_errors;
        }
    }

    let ring_map = ebpf.take_map("events").ok_or_else(|| Failure("the compiled script has no ring buffer".into()))?;
    let mut ring = RingBuf::try_from(ring_map).map_err(|e| Failure(format!("cannot open the ring buffer: {e}")))?;

    let mut skipped = 0;
    // Probes aya does not hold (USDT marks with semaphores, kretprobes
    // with a maxactive); closing them detaches.
    let mut own_probes = OwnProbes::default();
    if !failed && !st.exit {
        let progress = crate::progress::Progress::start(crate::progress::probe_count(c));
        let attached = crate::attach::attach(&mut ebpf, c, target, opts, &mut own_probes);
        drop(progress);
        match attached {
            Ok(warnings) => {
                let _ = st.out.flush();
                for w in &warnings {
                    st.warning(w);
                }
                skipped = warnings.len() as u64;
            }
            Err(e) => {
                let _ = st.out.flush();
                return Err(e);
            }
        }
    }
    if let Some(ch) = child.as_mut() {
        ch.release();
    }
    let deadline = opts.timeout.map(|t| Instant::now() + Duration::from_secs(t));
    // (next run, period, handler, point, randomization)
    let timers: Vec<Timer<'_>> = user_handlers
        .iter()
        .filter_map(|(_, f, k, name)| match k {
            When::Timer { period_ns, randomize_ns } => {
                let p = Duration::from_nanos((*period_ns).max(1));
                Some((Instant::now() + p, p, *f, *name, *randomize_ns))
            }
            _ => None,
        })
        .collect();
    let overload = match opts.overload {
        Some(limit) if !c.programs.is_empty() && !failed && !st.exit => {
            match crate::overload::Overload::start(limit, &ebpf) {
                Ok(o) => Some(o),
                Err(e) => {
                    st.warning(&format!("no probe run-time statistics ({e}): the overload check is off"));
                    None
                }
            }
        }
        _ => None,
    };
    let has_kernel = !c.programs.is_empty();
    let endless = has_kernel || !timers.is_empty() || child.is_some() || opts.timeout.is_some() || metrics.is_some();
    let mut watch =
        Watch { timers, rng: XorShift::seeded(), deadline, overload, child: &mut child, broken, endless, metrics };
    event_loop(&mut st, &mut ring, sm, user, &ebpf, &mut watch, &mut failed);
    // The kernel's handlers stop at once (detaching takes a while).
    st.stop_kernel();
    // Detach, then what the probes wrote before they stopped.
    drop(own_probes);
    crate::attach::detach_all(&mut ebpf);
    drain(&mut ring, &mut st, sm, &mut failed);
    // A session ended by errors runs its `error` probes instead of its
    // `end` probes (and does not print its globals).
    let mut ends: Vec<(i64, usize, FuncId, &str)> = user_handlers
        .iter()
        .filter_map(|(probe, f, k, name)| match (k, failed) {
            (When::End { priority }, false) if !st.aborted => Some((*priority, *probe, *f, *name)),
            (When::Error { priority }, true) => Some((*priority, *probe, *f, *name)),
            _ => None,
        })
        .collect();
    ends.sort();
    for (_, _, f, name) in &ends {
        if let Err(e) = user.run(*f, name, &mut st) {
            report(&mut st, sm, &e.message, e.span);
            if !failed {
                break;
            }
        }
    }
    if !failed && !st.aborted {
        crate::globals::print_unread(&mut st);
    }
    let _ = st.out.flush();
    crate::system::wait_all();
    st.print_captured();
    if let Some(mut ch) = child {
        ch.finish();
    }
    let lost = st.globals.bytes(c.layout.lost_offset, 8).try_into().map(u64::from_ne_bytes).unwrap_or(0);
    if st.errors > 0 {
        status = 1;
    }
    match st.format {
        OutputFormat::Text => {
            if lost > 0 {
                eprintln!("WARNING: There were {lost} transport failures. Try stap -s to increase the buffer size.");
            }
            if let Some(w) = report::errors_warning(st.errors, skipped) {
                eprint!("{w}");
            }
        }
        OutputFormat::Json => {
            if lost > 0 {
                let _ = st.out.write_all(crate::json::lost(lost).as_bytes());
            }
            if let Some(w) = report::errors_warning(st.errors, skipped) {
                st.warning(w.trim_start_matches("WARNING: "));
            }
            let _ = st.out.write_all(crate::json::exit(status).as_bytes());
            let _ = st.out.flush();
        }
    }
    Ok(status)
}

/// The script's output stream (stdout, or `-o FILE` created), and the
/// flag it raises when its reader is gone.
fn open_output(opts: &RunOptions) -> Result<(Box<dyn Write>, std::sync::Arc<std::sync::atomic::AtomicBool>), Failure> {
    Ok(match &opts.output {
        Some(path) => {
            let file =
                std::fs::File::create(path).map_err(|e| Failure(format!("cannot open {}: {e}", path.display())))?;
            let (w, broken) = PipeGuard::new(file);
            (Box::new(std::io::BufWriter::new(w)), broken)
        }
        None => {
            let (w, broken) = PipeGuard::new(std::io::stdout());
            (Box::new(std::io::BufWriter::new(w)), broken)
        }
    })
}
