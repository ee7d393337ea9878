//! Pass 5: runs a compiled script. Loads its object (creating its maps),
//! runs the `begin` handlers in priority order, attaches the kernel's
//! probes, prints what their records say as they come, runs interval
//! timers, and on `exit()`, SIGINT/SIGTERM, `-T` or the end of the `-c`
//! command detaches, drains the ring buffer, runs the `end` handlers and
//! prints the globals the script wrote but never read.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aya::Btf;
use aya::maps::{Map, RingBuf};
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::uprobe::UProbeScope;
use aya::programs::{PerfEvent, Program, TracePoint, UProbe};
use stp_compiler::bpf::codegen::map_name;
use stp_compiler::bpf::records::{self, RecordArg, RecordKind, Value};
use stp_compiler::driver::Compiled;
use stp_compiler::elab::Placement;
use stp_compiler::elab::points::ProbeKind;
use stp_compiler::format;
use stp_compiler::ir::{FuncId, GlobalId, GlobalKind, InstKind, Operand, Ty};
use stp_compiler::layout::{Layout, ValueLayout};
use stp_compiler::source::{SourceMap, Span};

use crate::host::{Host, RuntimeError};
use crate::output::PipeGuard;
use crate::report::{self, Global};
use crate::stats::Stat;
use crate::sys;

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
fn Failure(message: String) -> Failure {
    Failure { message, span: None, log: None }
}

/// The globals record, mapped from the `globals` array map.
struct Globals {
    ptr: *mut u8,
    len: usize,
}

impl Globals {
    fn map(fd: RawFd, size: usize) -> Result<Globals, Failure> {
        let page = 4096;
        let len = size.div_ceil(page) * page;
        // SAFETY: mapping a BPF array map created with BPF_F_MMAPABLE;
        // the kernel checks the length against the map's size.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if ptr == libc::MAP_FAILED {
            return Err(Failure(format!("cannot map the globals: {}", std::io::Error::last_os_error())));
        }
        Ok(Globals { ptr: ptr.cast(), len })
    }

    fn bytes(&self, offset: u32, len: u32) -> &[u8] {
        let end = (offset as usize + len as usize).min(self.len);
        // SAFETY: the mapping is `self.len` bytes long and lives as long
        // as `self`; the range is clamped to it.
        unsafe { std::slice::from_raw_parts(self.ptr.add(offset as usize), end - offset as usize) }
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) {
        let n = bytes.len().min(self.len.saturating_sub(offset as usize));
        // SAFETY: as in `bytes`; the destination range is clamped.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(offset as usize), n) }
    }
}

impl Drop for Globals {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping `map` made.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// What the script's handlers share while it runs.
struct State<'a> {
    c: &'a Compiled,
    globals: Globals,
    /// Each array's or statistic's map fd, by global.
    maps: HashMap<u32, RawFd>,
    cpus: usize,
    out: Box<dyn Write>,
    exit: bool,
    target: i64,
    errors: u64,
    numbers: report::StatNumbers,
    /// `abort()`: no `end` probes.
    aborted: bool,
    /// Each record kind's format, parsed once.
    formats: Vec<Option<Vec<format::Piece>>>,
}

impl State<'_> {
    fn layout(&self) -> &Layout {
        &self.c.layout
    }

    /// Sets the flag that makes every kernel handler return at once.
    fn stop_kernel(&mut self) {
        let exit_offset = self.layout().exit_offset;
        self.globals.write(exit_offset, &1u64.to_ne_bytes());
    }

    fn fd(&self, g: GlobalId) -> Option<RawFd> {
        self.maps.get(&g.0).copied()
    }

    /// A statistic's per-CPU records (as a lookup fills them) combined,
    /// or `None` when it has no values.
    fn combine(&self, stat: GlobalId, buf: &[u8]) -> Option<Stat> {
        let size = self.layout().map(stat)?.value_size as usize;
        let stride = size.div_ceil(8) * 8;
        let cpus: Vec<Stat> =
            buf.chunks(stride).map(|cpu| Stat::from_record(cpu.get(..size).unwrap_or_default(), 0)).collect();
        // stap combines a statistic without keys in one step, an array
        // element CPU by CPU.
        let keyed = self.layout().map(stat).is_some_and(|m| !m.keys.is_empty());
        let total = if keyed {
            let mut t = Stat::default();
            for c in &cpus {
                t.merge(c);
            }
            t
        } else {
            Stat::aggregate(&cpus)
        };
        (total.count > 0).then_some(total)
    }

    /// The bytes a lookup of a (per-CPU) map fills.
    fn value_buf(&self, g: GlobalId) -> Vec<u8> {
        let Some(ml) = self.layout().map(g) else { return Vec::new() };
        match ml.value {
            ValueLayout::Stat(_) => vec![0; ml.value_size.div_ceil(8) as usize * 8 * self.cpus],
            _ => vec![0; ml.value_size as usize],
        }
    }
}

impl Host for State<'_> {
    fn globals(&mut self) -> *mut u8 {
        self.globals.ptr
    }

    fn map_get(&mut self, map: GlobalId, key: &[u8], value: &mut [u8]) -> bool {
        let Some(fd) = self.fd(map) else { return false };
        sys::lookup(fd, key, value).unwrap_or(false)
    }

    fn map_set(&mut self, map: GlobalId, key: &[u8], value: &[u8]) -> Result<(), String> {
        let Some(fd) = self.fd(map) else { return Err("no such array".into()) };
        sys::update(fd, key, value, 0).map_err(|e| match e.raw_os_error() {
            Some(libc::E2BIG) | Some(libc::ENOMEM) => stp_compiler::bpf::codegen::overflow_message(&self.c.module, map),
            _ => format!("cannot update an array: {e}"),
        })
    }

    fn map_delete(&mut self, map: GlobalId, key: Option<&[u8]>) {
        let Some(fd) = self.fd(map) else { return };
        match key {
            Some(k) => {
                let _ = sys::delete(fd, k);
            }
            None => {
                let size = self.layout().map(map).map_or(8, |m| m.key_size as usize);
                for k in sys::keys(fd, size).unwrap_or_default() {
                    let _ = sys::delete(fd, &k);
                }
            }
        }
    }

    fn map_keys(&mut self, map: GlobalId) -> Vec<Vec<u8>> {
        let Some(fd) = self.fd(map) else { return Vec::new() };
        let size = self.layout().map(map).map_or(8, |m| m.key_size as usize);
        sys::keys(fd, size).unwrap_or_default()
    }

    fn stat_add(&mut self, stat: GlobalId, key: &[u8], value: i64) {
        let Some(fd) = self.fd(stat) else { return };
        let Some(ml) = self.layout().map(stat) else { return };
        let ValueLayout::Stat(hist) = ml.value else { return };
        let size = ml.value_size as usize;
        let mut buf = self.value_buf(stat);
        if !sys::lookup(fd, key, &mut buf).unwrap_or(false) {
            buf.fill(0);
        }
        // User-side additions go to CPU 0's record.
        let mut st = Stat::from_record(buf.get(..size).unwrap_or_default(), 0);
        st.add(value, hist);
        let mut record = Vec::with_capacity(size);
        for v in [st.count, st.sum, st.min, st.max, st.avg_s, st.m2].iter().chain(&st.buckets) {
            record.extend_from_slice(&v.to_ne_bytes());
        }
        record.resize(size, 0);
        if let Some(first) = buf.get_mut(..size) {
            first.copy_from_slice(&record);
        }
        let _ = sys::update(fd, key, &buf, 0);
    }

    fn stat_get(&mut self, stat: GlobalId, key: &[u8]) -> Option<Stat> {
        let fd = self.fd(stat)?;
        let mut buf = self.value_buf(stat);
        if !sys::lookup(fd, key, &mut buf).ok()? {
            return None;
        }
        self.combine(stat, &buf)
    }

    fn map_entries(&mut self, map: GlobalId, value_size: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let Some(fd) = self.fd(map) else { return Vec::new() };
        let key_size = self.layout().map(map).map_or(8, |m| m.key_size as usize);
        match sys::entries(fd, key_size, value_size) {
            Some(all) => all,
            None => crate::host::entries_key_by_key(self, map, value_size),
        }
    }

    fn stat_entries(&mut self, stat: GlobalId) -> Vec<(Vec<u8>, Stat)> {
        let size = self.value_buf(stat).len();
        let raw = self.map_entries(stat, size);
        raw.into_iter().filter_map(|(k, v)| self.combine(stat, &v).map(|s| (k, s))).collect()
    }

    fn output(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes);
    }

    fn warn(&mut self, message: &str) {
        let _ = self.out.flush();
        eprintln!("WARNING: {message}");
    }

    fn exit(&mut self) {
        self.exit = true;
    }

    fn abort(&mut self) {
        self.exit = true;
        self.aborted = true;
    }

    fn target(&self) -> i64 {
        self.target
    }
}

/// stap's line for a runtime error: the message, the token it happened
/// near and where, and the probe.
pub fn error_text(sm: &SourceMap, message: &str, span: Option<Span>, probe: Option<&str>, max: usize) -> String {
    let Some(mut span) = span.filter(|s| !s.is_dummy()) else { return report::error_line(message, &[], None, max) };
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
    report::error_line(message, &[near], probe, max)
}

/// Runs the script; returns its exit status.
pub fn run(c: &Compiled, user: &dyn UserCode, sm: &SourceMap, opts: &RunOptions) -> Result<i32, Failure> {
    let user_handlers: Vec<(usize, FuncId, &ProbeKind, &str)> = c
        .module
        .handlers
        .iter()
        .filter(|h| c.module.function(h.func).is_some_and(|f| f.placement == Placement::User))
        .filter_map(|h| {
            let probe = c.program.probes.get(h.probe)?;
            Some(probe.points.iter().map(move |p| (h.probe, h.func, &p.kind, p.name.as_str())))
        })
        .flatten()
        .collect();
    crate::signals::install();
    if crate::signals::pending() {
        return Err(Failure("interrupted before the script was loaded".into()));
    }
    // What a run killed by SIGKILL left in tracefs.
    let stale = crate::cleanup::remove_stale_events();
    if stale > 0 && opts.verbose > 0 {
        eprintln!("Removed {stale} kprobe events left by stp runs that were killed");
    }
    let owners = stp_compiler::bpf::mapmem::owners(&c.code.maps, &c.module);
    let mut ebpf = sys::load_object_with(&c.object, crate::ringbuf::load_size(c))
        .map_err(|e| Failure(crate::load_failure(&e, &owners)))?;
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
        let name = map_name(&c.module, g);
        let fd = match ebpf.map(&name) {
            Some(Map::HashMap(m) | Map::LruHashMap(m) | Map::PerCpuHashMap(m) | Map::PerCpuLruHashMap(m)) => {
                m.fd().as_fd().as_raw_fd()
            }
            _ => return Err(Failure(format!("the compiled script has no map {name}"))),
        };
        maps.insert(i as u32, fd);
    }
    let (out, broken): (Box<dyn Write>, _) = match &opts.output {
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
    };
    let mut child = match &opts.command {
        Some(cmd) => Some(Child::spawn(cmd)?),
        None => None,
    };
    let target = child.as_ref().map(|ch| ch.pid).or(opts.target_pid.map(|p| p as i32)).unwrap_or(0);
    let numbers = report::StatNumbers::for_compatible(opts.compatible.as_deref());
    let formats = c
        .code
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
    };
    init_globals(&mut st);
    let mut status = 0;

    // begin, in priority order.
    let mut begins: Vec<(i64, usize, FuncId, &str)> = user_handlers
        .iter()
        .filter_map(|(probe, f, k, name)| match k {
            ProbeKind::Begin { priority } => Some((*priority, *probe, *f, *name)),
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
        match attach(&mut ebpf, c, target, opts, &mut own_probes) {
            Ok(warnings) => {
                let _ = st.out.flush();
                for w in &warnings {
                    eprintln!("WARNING: {w}");
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
    let mut timers: Vec<(Instant, Duration, FuncId, &str, u64)> = user_handlers
        .iter()
        .filter_map(|(_, f, k, name)| match k {
            ProbeKind::Timer { period_ns, randomize_ns } => {
                let p = Duration::from_nanos((*period_ns).max(1));
                Some((Instant::now() + p, p, *f, *name, *randomize_ns))
            }
            _ => None,
        })
        .collect();
    let mut rng = XorShift::seeded();
    let mut overload = match opts.overload {
        Some(limit) if !c.code.programs.is_empty() && !failed && !st.exit => {
            match crate::overload::Overload::start(limit, &ebpf) {
                Ok(o) => Some(o),
                Err(e) => {
                    eprintln!("WARNING: no probe run-time statistics ({e}): the overload check is off");
                    None
                }
            }
        }
        _ => None,
    };
    let has_kernel = !c.code.programs.is_empty();
    let endless = has_kernel || !timers.is_empty() || child.is_some() || opts.timeout.is_some();
    let mut busy = false;
    while !failed && !st.exit && !crate::signals::pending() && !broken.load(Ordering::SeqCst) && endless {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        // Output records wake the loop only once the buffer fills up:
        // it drains at least this often, and soon again while records
        // keep coming.
        let mut wait = Duration::from_millis(if busy { 1 } else { 10 });
        for (at, ..) in &timers {
            wait = wait.min(at.saturating_duration_since(now));
        }
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(now));
        }
        let mut pfd = libc::pollfd { fd: ring.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, wait.as_millis().min(i32::MAX as u128) as i32) };
        busy = drain(&mut ring, &mut st, sm, &mut failed) > 0;
        let now = Instant::now();
        for t in &mut timers {
            if now >= t.0 && !st.exit && !failed {
                // `.randomize(R)`: each period moves by up to R either way.
                let period = if t.4 > 0 {
                    let r = (rng.next() % (2 * t.4 + 1)) as i128 - i128::from(t.4);
                    Duration::from_nanos((t.1.as_nanos() as i128 + r).max(1) as u64)
                } else {
                    t.1
                };
                t.0 += period;
                if t.0 < now {
                    t.0 = now + period;
                }
                if let Err(e) = user.run(t.2, t.3, &mut st) {
                    report(&mut st, sm, &e.message, e.span);
                    failed = st.errors > c.layout.limits.max_errors;
                }
            }
        }
        let _ = st.out.flush();
        if let Some(o) = overload.as_mut()
            && !failed
            && o.check(&ebpf)
        {
            st.stop_kernel();
            report(&mut st, sm, "probe overhead exceeded threshold", None);
            failed = true;
        }
        if let Some(ch) = child.as_mut()
            && ch.exited()
        {
            break;
        }
    }
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
            (ProbeKind::End { priority }, false) if !st.aborted => Some((*priority, *probe, *f, *name)),
            (ProbeKind::Error { priority }, true) => Some((*priority, *probe, *f, *name)),
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
        print_unread(&mut st);
    }
    let _ = st.out.flush();
    if let Some(mut ch) = child {
        ch.finish();
    }
    let lost = st.globals.bytes(c.layout.lost_offset, 8).try_into().map(u64::from_ne_bytes).unwrap_or(0);
    if lost > 0 {
        eprintln!("WARNING: There were {lost} transport failures. Try stap -s to increase the buffer size.");
    }
    if let Some(w) = report::errors_warning(st.errors, skipped) {
        eprint!("{w}");
    }
    if st.errors > 0 {
        status = 1;
    }
    Ok(status)
}

/// A small generator for timer randomization (xorshift64*).
struct XorShift(u64);

impl XorShift {
    fn seeded() -> XorShift {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        XorShift(t | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Writes initial values of globals (`global x = 5`).
fn init_globals(st: &mut State<'_>) {
    let clock = |id| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime fills the timespec it is given.
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    };
    let offset = clock(libc::CLOCK_REALTIME) - clock(libc::CLOCK_MONOTONIC);
    let realtime_offset = st.layout().realtime_offset;
    st.globals.write(realtime_offset, &offset.to_ne_bytes());
    let target_offset = st.layout().target_offset;
    let target = st.target;
    st.globals.write(target_offset, &target.to_ne_bytes());
    for (i, g) in st.c.module.globals.iter().enumerate() {
        let (Some(slot), Some(init)) = (st.c.layout.scalar(GlobalId(i as u32)), &g.init) else { continue };
        match init {
            Operand::Long(n) => st.globals.write(slot.offset, &n.to_ne_bytes()),
            Operand::Str(s) => {
                let max = st.c.layout.limits.max_string_len as usize - 1;
                let mut b: Vec<u8> = s.iter().copied().take(max).collect();
                b.push(0);
                st.globals.write(slot.offset, &b);
            }
            Operand::Var(_) => {}
        }
    }
}

fn report(st: &mut State<'_>, sm: &SourceMap, message: &str, span: Option<Span>) {
    st.errors += 1;
    let _ = st.out.flush();
    eprint!("{}", error_text(sm, message, span, None, st.c.layout.limits.max_string_len as usize));
}

/// Prints what the ring buffer holds; how many records that was.
fn drain(ring: &mut RingBuf<aya::maps::MapData>, st: &mut State<'_>, sm: &SourceMap, failed: &mut bool) -> usize {
    let c = st.c;
    let mut text = Vec::new();
    let mut n = 0;
    while let Some(item) = ring.next() {
        // Once the session is to stop, the kernel's handlers stop at once:
        // the ring buffer then drains, whatever its handlers printed
        // would make them fire again. After MAXERRORS, what follows the
        // last error tolerated is dropped, as stap blocks those handlers.
        if *failed || st.exit || crate::signals::pending() {
            st.stop_kernel();
        }
        if *failed {
            continue;
        }
        n += 1;
        let bytes: &[u8] = &item;
        let Some(tag) = records::tag(bytes) else { continue };
        let Some(kind) = c.code.records.get(tag as usize) else { continue };
        let Some(values) = records::decode(kind, bytes, &c.layout) else { continue };
        match kind {
            RecordKind::Print { kind, delimiter, args, .. } => {
                let mut carried = values.iter();
                let argv: Vec<format::Arg<'_>> = args
                    .iter()
                    .map(|a| match a {
                        RecordArg::Value(_) => carried.next().map_or(format::Arg::Long(0), Value::arg),
                        RecordArg::Long(n) => format::Arg::Long(*n),
                        RecordArg::Str(s) => format::Arg::Bytes(s),
                    })
                    .collect();
                let pieces = st.formats.get(tag as usize).and_then(Option::as_deref);
                text.clear();
                format::render_print(*kind, pieces, delimiter.as_deref().unwrap_or_default(), &argv, &mut text);
                let _ = st.out.write_all(&text);
            }
            RecordKind::Exit => st.exit = true,
            RecordKind::Abort => {
                st.exit = true;
                st.aborted = true;
            }
            RecordKind::Warn => {
                if let Some(Value::Str(m)) = values.first() {
                    let _ = st.out.flush();
                    eprintln!("WARNING: {}", String::from_utf8_lossy(m));
                }
            }
            RecordKind::Backtrace { .. } => {
                // The bytes written (or an error), then the addresses.
                let bytes = match values.first() {
                    Some(Value::Long(n)) => *n,
                    _ => 0,
                };
                let n = usize::try_from(bytes / 8).unwrap_or(0);
                let addrs = values.iter().skip(1).take(n).filter_map(|v| match v {
                    Value::Long(a) => Some(*a as u64),
                    Value::Str(_) => None,
                });
                let text = crate::symbols::stack_text(crate::symbols::KernelSymbols::live(), addrs);
                let _ = st.out.write_all(text.as_bytes());
            }
            RecordKind::PrintStack => {
                if let Some(Value::Str(stk)) = values.first() {
                    let addrs = crate::symbols::hex_addresses(stk);
                    let text = crate::symbols::stack_text(crate::symbols::KernelSymbols::live(), addrs);
                    let _ = st.out.write_all(text.as_bytes());
                }
            }
            RecordKind::HistPrint { stat } => {
                // The CPUs' records of the statistic, as a lookup fills them.
                let stat = GlobalId(*stat);
                let at = records::HEADER as usize;
                let n = bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_ne_bytes);
                let hist = match st.layout().map(stat).map(|m| &m.value) {
                    Some(ValueLayout::Stat(h)) => *h,
                    _ => stp_compiler::layout::HistLayout::None,
                };
                let per_cpu = bytes.get(at + 8..).unwrap_or_default();
                let stride = st.layout().map(stat).map_or(0, |m| m.value_size.div_ceil(8) as usize * 8);
                let used = per_cpu.get(..stride * n as usize).unwrap_or(per_cpu);
                let s = st.combine(stat, used).unwrap_or_else(|| Stat::empty(hist, 0));
                let _ = st.out.write_all(crate::stats::render_hist(&s, hist).as_bytes());
            }
            RecordKind::Fault { message, span } => {
                let addr = match values.first() {
                    Some(Value::Long(a)) => *a as u64,
                    _ => 0,
                };
                report(st, sm, &message.replace("{addr}", &format!("0x{addr:x}")), Some(*span));
                if st.errors > st.c.layout.limits.max_errors {
                    *failed = true;
                }
            }
            RecordKind::Error { message, span } => {
                let text = match (message, values.first()) {
                    (Some(m), _) => m.clone(),
                    (None, Some(Value::Str(s))) => String::from_utf8_lossy(s).into_owned(),
                    _ => String::new(),
                };
                report(st, sm, &text, Some(*span));
                if st.errors > st.c.layout.limits.max_errors {
                    *failed = true;
                }
            }
        }
    }
    n
}

/// The probes stp attached itself, which go when this does.
#[derive(Default)]
struct OwnProbes {
    fds: Vec<std::os::fd::OwnedFd>,
    kretprobes: Vec<sys::OwnKretprobe>,
}

/// Loads and attaches every kernel-placed program; returns a warning for
/// each perf event the machine does not have (the probe is skipped, as
/// stap skips it). The uprobes of USDT marks with semaphores and the
/// kretprobes with a maxactive go to `own`.
fn attach(
    ebpf: &mut aya::Ebpf,
    c: &Compiled,
    target: i32,
    opts: &RunOptions,
    own: &mut OwnProbes,
) -> Result<Vec<String>, Failure> {
    let mut warnings = Vec::new();
    // The kernel's BTF, which fentry and fexit programs load against.
    let mut btf: Option<Option<Btf>> = None;
    // The programs attached, for their twins through the other mechanism.
    let mut attached = vec![false; c.code.programs.len()];
    // Why an fentry or fexit program could not attach, for its twin.
    let mut refused: Vec<Option<String>> = vec![None; c.code.programs.len()];
    crate::attach::syscall_dispatchers(ebpf, c, opts.verbose)?;
    for (i, (p, &(probe, point))) in c.code.programs.iter().zip(&c.code.points).enumerate() {
        if crate::attach::dispatched(c, i) {
            continue;
        }
        let Some(kind) = c.program.probes.get(probe).and_then(|pr| pr.points.get(point)).map(|pt| &pt.kind) else {
            continue;
        };
        let twin = c.code.alt.get(i).copied().flatten();
        let prog = ebpf.program_mut(&p.name).ok_or_else(|| Failure(format!("no program {}", p.name)))?;
        let at = c.program.probes.get(probe).map(|pr| pr.span);
        let fail = |e: &dyn std::fmt::Display| Failure {
            message: format!("cannot attach {}: {e}", describe(kind)),
            span: at,
            log: None,
        };
        if let (ProbeKind::KernelFunction { func, .. }, Program::FEntry(_) | Program::FExit(_)) = (kind, &*prog) {
            if opts.function_probes == FunctionProbes::Kprobe {
                continue;
            }
            let btf = btf.get_or_insert_with(|| Btf::from_sys_fs().ok()).as_ref();
            let result = match (prog, btf) {
                (_, None) => Err("the kernel's BTF cannot be read".to_string()),
                (Program::FEntry(f), Some(btf)) => fentry_load(f.load(&func.name, btf), kind, c, p)?
                    .and_then(|()| f.attach().map(drop).map_err(|e| e.to_string())),
                (Program::FExit(f), Some(btf)) => fentry_load(f.load(&func.name, btf), kind, c, p)?
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
        if let (ProbeKind::Tracepoint { tp }, Program::BtfTracePoint(b)) = (kind, &mut *prog) {
            // A BTF tracepoint where the kernel allows tracing programs,
            // else its raw tracepoint twin (also with kprobes forced: no
            // tracing programs then).
            if opts.function_probes == FunctionProbes::Kprobe && twin.is_some() {
                continue;
            }
            let btf = btf.get_or_insert_with(|| Btf::from_sys_fs().ok()).as_ref();
            let result = match btf {
                None => Err("the kernel's BTF cannot be read".to_string()),
                Some(btf) => fentry_load(b.load(&tp.name, btf), kind, c, p)?
                    .and_then(|()| b.attach().map(drop).map_err(|e| e.to_string())),
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
        if let (ProbeKind::Tracepoint { .. }, Some(t)) = (kind, twin)
            && attached.get(t).copied().unwrap_or(false)
        {
            continue;
        }
        if let (ProbeKind::KernelFunction { .. }, Some(t)) = (kind, twin) {
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
            (ProbeKind::Lsm { hook }, Program::Lsm(l)) => {
                // Loaded against the kernel's BTF, as fentry programs are.
                let btf = btf.get_or_insert_with(|| Btf::from_sys_fs().ok()).as_ref();
                let Some(btf) = btf else { return Err(fail(&"the kernel's BTF cannot be read")) };
                match fentry_load(l.load(hook, btf), kind, c, p)? {
                    Ok(()) => {}
                    Err(e) => return Err(fail(&e)),
                }
                l.attach().map_err(|e| match lsm_active() {
                    Some(false) => fail(&format!("{e}: BPF LSM is not active (boot with lsm=...,bpf)")),
                    _ => fail(&e),
                })?;
            }
            (ProbeKind::Tracepoint { tp }, Program::TracePoint(t)) => {
                load(t.load(), kind, c, p)?;
                TracePoint::attach(t, &tp.system, &tp.name).map_err(|e| fail(&e))?;
            }
            (ProbeKind::Tracepoint { tp }, Program::RawTracePoint(t)) => {
                load(t.load(), kind, c, p)?;
                t.attach(&tp.name).map_err(|e| fail(&e))?;
            }
            (ProbeKind::Uprobe { path, offset, pid, .. }, Program::UProbe(u)) => {
                load(u.load(), kind, c, p)?;
                let scope = match pid.and_then(std::num::NonZeroU32::new) {
                    Some(pid) => UProbeScope::OneProcess(pid),
                    None => UProbeScope::AllProcesses,
                };
                UProbe::attach(u, *offset, path, scope).map_err(|e| fail(&e))?;
            }
            (ProbeKind::Usdt { path, offset, semaphore, pid, .. }, Program::UProbe(u)) if *semaphore != 0 => {
                // sys/sdt.h skips a mark whose semaphore is 0: the kernel
                // counts the probe in it (a uprobe's reference counter).
                load(u.load(), kind, c, p)?;
                let prog = u.fd().map_err(|e| fail(&e))?.as_fd();
                own.fds.push(sys::uprobe_with_ref_ctr(prog, path, *offset, *semaphore, *pid).map_err(|e| fail(&e))?);
            }
            (ProbeKind::Usdt { path, offset, pid, .. }, Program::UProbe(u)) => {
                load(u.load(), kind, c, p)?;
                let scope = match pid.and_then(std::num::NonZeroU32::new) {
                    Some(pid) => UProbeScope::OneProcess(pid),
                    None => UProbeScope::AllProcesses,
                };
                UProbe::attach(u, *offset, path, scope).map_err(|e| fail(&e))?;
            }
            (ProbeKind::Perf { type_, config, sample_period, frequency, process }, Program::PerfEvent(pe)) => {
                load(pe.load(), kind, c, p)?;
                let policy = if *frequency {
                    SamplePolicy::Frequency(*sample_period)
                } else {
                    SamplePolicy::Period(*sample_period)
                };
                let config = PerfEventConfig::Pmu { pmu_type: *type_, config: *config };
                let name = c.program.probes.get(probe).and_then(|pr| pr.points.get(point)).map(|pt| pt.name.clone());
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
            (ProbeKind::Profile, Program::PerfEvent(pe)) => {
                load(pe.load(), kind, c, p)?;
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
            (ProbeKind::KernelFunction { func, ret: true, maxactive: Some(n) }, Program::KProbe(k)) => {
                load(k.load(), kind, c, p)?;
                let name = format!("stp_{}/r{}", std::process::id(), own.kretprobes.len());
                let fd = k.fd().map_err(|e| fail(&e))?;
                let n = u32::try_from(*n).unwrap_or(u32::MAX);
                let probe = sys::kretprobe_with_maxactive(fd.as_fd(), &func.name, n, &name).map_err(|e| fail(&e))?;
                own.kretprobes.push(probe);
            }
            (ProbeKind::KernelFunction { func, .. }, Program::KProbe(k)) => {
                load(k.load(), kind, c, p)?;
                if let Err(e) = k.attach(&func.name, 0) {
                    let fentry = twin.and_then(|t| refused.get(t).cloned().flatten());
                    let why = match (sys::has_kprobes(), fentry) {
                        (false, Some(f)) => format!("this kernel has no kprobes, and refused fentry/fexit ({f})"),
                        (false, None) => "this kernel has no kprobes".to_string(),
                        (true, _) => e.to_string(),
                    };
                    return Err(fail(&why));
                }
            }
            (ProbeKind::KernelStatement { addr }, Program::KProbe(k)) => {
                load(k.load(), kind, c, p)?;
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

fn describe(kind: &ProbeKind) -> String {
    match kind {
        ProbeKind::Tracepoint { tp } => format!("kernel.trace(\"{}:{}\")", tp.system, tp.name),
        ProbeKind::Uprobe { path, symbol, .. } => format!("process(\"{path}\").function(\"{symbol}\")"),
        ProbeKind::Usdt { path, provider, name, .. } => {
            format!("process(\"{path}\").provider(\"{provider}\").mark(\"{name}\")")
        }
        ProbeKind::KernelFunction { func, .. } => format!("kernel.function(\"{}\")", func.name),
        other => format!("{other:?}").split_whitespace().next().unwrap_or("probe").to_string(),
    }
}

/// Loading an fentry or fexit program: a verifier refusal fails the run;
/// any other error (the kernel does not allow fentry for the function)
/// is for the caller to weigh.
fn fentry_load(
    r: Result<(), aya::programs::ProgramError>,
    kind: &ProbeKind,
    c: &Compiled,
    p: &stp_compiler::bpf::elf::Program,
) -> Result<Result<(), String>, Failure> {
    match r {
        Ok(()) => Ok(Ok(())),
        Err(aya::programs::ProgramError::LoadError { io_error, verifier_log })
            if io_error.raw_os_error() == Some(libc::EACCES) && !verifier_log.to_string().is_empty() =>
        {
            load(Err(aya::programs::ProgramError::LoadError { io_error, verifier_log }), kind, c, p).map(Ok)
        }
        Err(aya::programs::ProgramError::LoadError { io_error, .. }) => Ok(Err(io_error.to_string())),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// A verifier refusal is an internal error at the script line of the
/// failing instruction.
pub(crate) fn load(
    r: Result<(), aya::programs::ProgramError>,
    kind: &ProbeKind,
    c: &Compiled,
    p: &stp_compiler::bpf::elf::Program,
) -> Result<(), Failure> {
    let Err(e) = r else { return Ok(()) };
    let log = match &e {
        aya::programs::ProgramError::LoadError { verifier_log, .. } => verifier_log.to_string(),
        other => other.to_string(),
    };
    let span = crate::failing_instruction(&log).and_then(|slot| {
        let i = c.code.programs.iter().position(|q| q.name == p.name)?;
        stp_compiler::bpf::codegen::span_of(c.code.lines.get(i)?, slot)
    });
    Err(Failure {
        message: format!("the kernel's verifier refused the program for {}", describe(kind)),
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

/// Globals the script writes and never reads, printed at exit as stap
/// does.
fn print_unread(st: &mut State<'_>) {
    let m = &st.c.module;
    let mut written = vec![false; m.globals.len()];
    let mut read = vec![false; m.globals.len()];
    for inst in m.functions.iter().flat_map(|f| &f.blocks).flat_map(|b| &b.insts) {
        match &inst.kind {
            InstKind::StoreGlobal { global, .. }
            | InstKind::MapSet { map: global, .. }
            | InstKind::StatAdd { stat: global, .. } => {
                if let Some(w) = written.get_mut(global.0 as usize) {
                    *w = true;
                }
            }
            // An update reads and writes, as the read and the write it
            // stands for did.
            InstKind::Update { global, .. } => {
                for seen in [&mut written, &mut read] {
                    if let Some(s) = seen.get_mut(global.0 as usize) {
                        *s = true;
                    }
                }
            }
            InstKind::LoadGlobal { global, .. }
            | InstKind::MapGet { map: global, .. }
            | InstKind::MapHas { map: global, .. }
            | InstKind::StatGet { stat: global, .. }
            | InstKind::HistPrint { stat: global, .. }
            | InstKind::HistBucket { stat: global, .. }
            | InstKind::IterStart { map: global, .. } => {
                if let Some(r) = read.get_mut(global.0 as usize) {
                    *r = true;
                }
            }
            _ => {}
        }
    }
    let mut text = Vec::new();
    for (i, g) in m.globals.iter().enumerate() {
        if !written.get(i).copied().unwrap_or(false) || read.get(i).copied().unwrap_or(true) {
            continue;
        }
        let id = GlobalId(i as u32);
        let shown = match &g.kind {
            GlobalKind::Scalar(ty) => {
                let Some(slot) = st.c.layout.scalar(id) else { continue };
                let bytes = st.globals.bytes(slot.offset, st.c.layout.size_of(*ty)).to_vec();
                Global::Scalar(decode(&bytes, *ty))
            }
            GlobalKind::Array { value, .. } => {
                let Some(ml) = st.c.layout.map(id).cloned() else { continue };
                let entries = st
                    .map_entries(id, ml.value_size as usize)
                    .into_iter()
                    .map(|(key, v)| (decode_key(&st.c.layout, &ml, &key), decode(&v, *value)))
                    .collect();
                Global::Array(entries)
            }
            GlobalKind::Stats { keys } if keys.is_empty() => {
                let Some(ml) = st.c.layout.map(id).cloned() else { continue };
                let ValueLayout::Stat(hist) = ml.value else { continue };
                let key = vec![0u8; ml.key_size as usize];
                Global::Stat(st.stat_get(id, &key).unwrap_or_else(|| Stat::empty(hist, 0)))
            }
            GlobalKind::Stats { .. } => {
                let Some(ml) = st.c.layout.map(id).cloned() else { continue };
                let entries =
                    st.stat_entries(id).into_iter().map(|(key, s)| (decode_key(&st.c.layout, &ml, &key), s)).collect();
                Global::StatArray(entries)
            }
        };
        text.extend(report::global_display(&g.name, &shown, st.numbers));
    }
    let _ = st.out.write_all(&text);
}

fn decode(bytes: &[u8], ty: Ty) -> report::Value {
    records::value(bytes, ty).unwrap_or(report::Value::Long(0))
}

fn decode_key(layout: &Layout, ml: &stp_compiler::layout::MapLayout, key: &[u8]) -> Vec<report::Value> {
    ml.keys
        .iter()
        .map(|k| {
            let _ = layout;
            let end = (k.offset + k.size) as usize;
            decode(key.get(k.offset as usize..end).unwrap_or_default(), k.ty)
        })
        .collect()
}

/// The `-c` command: started before the probes are attached (so that
/// `target()` knows its pid), held stopped until they are.
struct Child {
    pid: i32,
    held: bool,
    status: Option<i32>,
}

impl Child {
    fn spawn(cmd: &str) -> Result<Child, Failure> {
        // The shell stops itself, then becomes the command: its pid is
        // the command's (target()). A list (`a; b`, `a && b`, `a | b`)
        // runs in a shell of its own to its end, as under stap's
        // `/bin/sh -c`, which has the same pid. The shell waits stopped,
        // not in a read(2), which would be the target's, under probes on
        // reads already attached.
        let list = is_list(cmd);
        let script = if list { "kill -STOP $$; exec /bin/sh -c \"$1\"" } else { "kill -STOP $$; eval \"exec $1\"" };
        let child = std::process::Command::new("/bin/sh")
            .args(["-c", script, "sh", cmd])
            .spawn()
            .map_err(|e| Failure(format!("cannot start the command '{cmd}': {e}")))?;
        let pid = child.id() as i32;
        let mut status = 0;
        // SAFETY: waiting for our own child to stop (or end).
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        if r != pid || !libc::WIFSTOPPED(status) {
            let status = (r == pid).then_some(status);
            return Ok(Child { pid, held: false, status });
        }
        Ok(Child { pid, held: true, status: None })
    }

    fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            // SAFETY: continuing our own stopped child.
            unsafe { libc::kill(self.pid, libc::SIGCONT) };
        }
    }

    fn exited(&mut self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let mut status = 0;
        // SAFETY: waiting for our own child, without blocking.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r == self.pid {
            self.status = Some(status);
        }
        self.status.is_some()
    }

    fn finish(&mut self) {
        if self.status.is_some() {
            return;
        }
        self.release();
        if !self.exited() {
            // SAFETY: signalling and reaping our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGTERM);
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, 0);
            }
        }
    }
}

/// Whether a shell command is a list (`a; b`, `a && b`, `a | b`, `a &`):
/// one of `;&|` or a newline outside quotes.
fn is_list(cmd: &str) -> bool {
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in cmd.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            ';' | '&' | '|' | '\n' if !single && !double => return true,
            _ => {}
        }
    }
    false
}

/// A run that fails after starting the command (a program the kernel
/// refuses, say) does not leave it stopped: the shell held before the
/// command is killed, a command already running ends as at the run's end.
impl Drop for Child {
    fn drop(&mut self) {
        if std::mem::take(&mut self.held) {
            // SAFETY: killing and reaping our own stopped child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, 0);
            }
            self.status = Some(0);
        }
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::Child;

    fn gone(pid: i32) -> bool {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn a_command_never_released_is_killed_when_the_run_fails() {
        let child = Child::spawn("sleep 1000").ok();
        let pid = child.as_ref().map_or(0, |c| c.pid);
        assert!(child.as_ref().is_some_and(|c| c.held), "the command is held stopped");
        drop(child);
        assert!(gone(pid), "the held command {pid} is still there");
    }

    #[test]
    fn lists_are_told_from_simple_commands() {
        for list in ["a; b", "a && b", "a | b", "sleep 1 &", "a\nb", "x 'q' ; y"] {
            assert!(super::is_list(list), "{list}");
        }
        for simple in ["perl -e 'getppid() for 1..5; sleep 0'", "sh -c \"a; b\"", "echo a\\;b", "ls -l"] {
            assert!(!super::is_list(simple), "{simple}");
        }
    }

    #[test]
    fn a_released_command_ends_with_the_run() {
        let mut child = Child::spawn("sleep 1000").ok();
        let pid = child.as_ref().map_or(0, |c| c.pid);
        if let Some(c) = child.as_mut() {
            c.release();
        }
        drop(child);
        assert!(gone(pid), "the command {pid} is still there");
    }
}
