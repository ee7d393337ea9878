//! What user-placed handlers need from the running script: its globals,
//! maps and statistics, its output, and its control (`exit()`).
//!
//! The runtime implements [`Host`] over the kernel's maps ([`State`], what
//! a running script's handlers share); tests implement it in memory. Keys and values are byte records laid out as
//! [`stp_compiler::layout`] says, so the same bytes go to the kernel's
//! maps unchanged.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::RawFd;

use stp_compiler::artifact::Artifact;
use stp_compiler::ir::GlobalId;
use stp_compiler::layout::{HistLayout, Layout, ValueLayout};

use crate::globals::Globals;
use crate::json::{self, OutputFormat};
use crate::report;
use crate::stats::Stat;
use crate::sys;

/// A runtime error of a handler: stap's message, and where in the script
/// it happened (the span of the operator or call that failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeError {
    pub message: String,
    pub span: Option<stp_compiler::source::Span>,
}

pub trait Host {
    /// The globals record (`Layout::globals_size` bytes), shared with the
    /// kernel's handlers; valid while the script runs.
    fn globals(&mut self) -> *mut u8;
    /// Fills `value` with the entry of `key` and returns true, or returns
    /// false (with `value` untouched) when there is none.
    fn map_get(&mut self, map: GlobalId, key: &[u8], value: &mut [u8]) -> bool;
    /// Sets an entry; a full array that does not wrap refuses a new key
    /// with "array overflow" (the caller adds the span).
    fn map_set(&mut self, map: GlobalId, key: &[u8], value: &[u8]) -> Result<(), String>;
    /// Deletes one entry, or every entry with `None`.
    fn map_delete(&mut self, map: GlobalId, key: Option<&[u8]>);
    /// Every key of an array or statistic, in no particular order.
    fn map_keys(&mut self, map: GlobalId) -> Vec<Vec<u8>>;
    /// Every entry of an array: its key and value records (`value_size`
    /// bytes of value), in no particular order.
    fn map_entries(&mut self, map: GlobalId, value_size: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        entries_key_by_key(self, map, value_size)
    }
    /// Every entry of a statistic: its key and its values aggregated over
    /// every CPU.
    fn stat_entries(&mut self, stat: GlobalId) -> Vec<(Vec<u8>, Stat)> {
        let mut out = Vec::new();
        for key in self.map_keys(stat) {
            if let Some(s) = self.stat_get(stat, &key) {
                out.push((key, s));
            }
        }
        out
    }
    /// Adds a value to a statistic.
    fn stat_add(&mut self, stat: GlobalId, key: &[u8], value: i64);
    /// A statistic's values aggregated over every CPU, or `None` when it
    /// has none.
    fn stat_get(&mut self, stat: GlobalId, key: &[u8]) -> Option<Stat>;
    /// The script's output (stdout or `-o FILE`).
    fn output(&mut self, bytes: &[u8]);
    /// `print(@hist_*(stat[key]))`: the statistic `s` of the key record
    /// `key`, drawn (as stap draws it) into the output.
    fn hist(&mut self, stat: GlobalId, key: &[u8], s: &Stat, hist: HistLayout) {
        let _ = (stat, key);
        self.output(crate::stats::render_hist(s, hist).as_bytes());
    }
    /// `warn(msg)`: printed on stderr as `WARNING: msg`.
    fn warn(&mut self, message: &str);
    /// `exit()`: the script stops once this handler returns.
    fn exit(&mut self);
    /// `abort()`: the script stops at once, without running its `end`
    /// probes. The handler that called it ends there too.
    fn abort(&mut self) {
        self.exit();
    }
    /// `target()`: the pid of `-x PID` or of the `-c CMD` process, else 0.
    fn target(&self) -> i64;
    /// `system(cmd)`: starts the command (see [`crate::system`]).
    fn system(&mut self, cmd: &[u8]) {
        if let Some(w) = crate::system::start(cmd, &mut std::io::sink(), false) {
            self.warn(&w);
        }
    }
}

/// Every entry of an array, a lookup per key.
pub fn entries_key_by_key<H: Host + ?Sized>(h: &mut H, map: GlobalId, value_size: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for key in h.map_keys(map) {
        let mut value = vec![0u8; value_size];
        if h.map_get(map, &key, &mut value) {
            out.push((key, value));
        }
    }
    out
}

/// What the script's handlers share while it runs.
pub(crate) struct State<'a> {
    pub(crate) c: &'a Artifact,
    pub(crate) globals: Globals,
    /// Each array's or statistic's map fd, by global.
    pub(crate) maps: HashMap<u32, RawFd>,
    pub(crate) cpus: usize,
    pub(crate) out: Box<dyn Write>,
    pub(crate) exit: bool,
    pub(crate) target: i64,
    pub(crate) errors: u64,
    pub(crate) numbers: report::StatNumbers,
    /// `abort()`: no `end` probes.
    pub(crate) aborted: bool,
    /// Each record kind's format, parsed once.
    pub(crate) formats: Vec<Option<Vec<stp_compiler::format::Piece>>>,
    /// stap's text, or NDJSON ([`crate::json`]).
    pub(crate) format: OutputFormat,
}

impl State<'_> {
    pub(crate) fn layout(&self) -> &Layout {
        &self.c.layout
    }

    /// Sets the flag that makes every kernel handler return at once.
    pub(crate) fn stop_kernel(&mut self) {
        let exit_offset = self.layout().exit_offset;
        self.globals.write(exit_offset, &1u64.to_ne_bytes());
    }

    pub(crate) fn fd(&self, g: GlobalId) -> Option<RawFd> {
        self.maps.get(&g.0).copied()
    }

    /// A statistic's per-CPU records (as a lookup fills them) combined,
    /// or `None` when it has no values.
    pub(crate) fn combine(&self, stat: GlobalId, buf: &[u8]) -> Option<Stat> {
        let size = self.layout().map(stat)?.value_size as usize;
        let shift = self.layout().map(stat)?.shift;
        let stride = size.div_ceil(8) * 8;
        let cpus: Vec<Stat> =
            buf.chunks(stride).map(|cpu| Stat::from_record(cpu.get(..size).unwrap_or_default(), shift)).collect();
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

    /// What the script printed.
    pub(crate) fn print(&mut self, bytes: &[u8]) {
        match self.format {
            OutputFormat::Text => {
                let _ = self.out.write_all(bytes);
            }
            OutputFormat::Json if bytes.is_empty() => {}
            OutputFormat::Json => {
                let _ = self.out.write_all(json::output(bytes).as_bytes());
            }
        }
    }

    /// `print(@hist_*(stat[key]))`; `key` is the key record.
    pub(crate) fn print_hist(&mut self, stat: GlobalId, key: Option<&[u8]>, s: &Stat, hist: HistLayout) {
        let shown = match self.format {
            OutputFormat::Text => crate::stats::render_hist(s, hist),
            OutputFormat::Json => {
                let keys = match (self.layout().map(stat), key) {
                    (Some(ml), Some(k)) => crate::globals::decode_key(self.layout(), ml, k),
                    _ => Vec::new(),
                };
                let name = self.c.module.global(stat).map_or("", |g| g.name.as_str());
                json::hist(name, &keys, s, hist)
            }
        };
        let _ = self.out.write_all(shown.as_bytes());
    }

    /// A warning: on stderr as stap's `WARNING: message`, after the
    /// output so far; in the stream as JSON.
    pub(crate) fn warning(&mut self, message: &str) {
        match self.format {
            OutputFormat::Text => {
                let _ = self.out.flush();
                eprintln!("WARNING: {message}");
            }
            OutputFormat::Json => {
                let _ = self.out.write_all(json::warning(message).as_bytes());
            }
        }
    }

    /// A runtime error: stap's `ERROR: ...` line on stderr, or its JSON
    /// in the stream.
    pub(crate) fn error(&mut self, message: &str, stap_line: &str, at: Option<&json::Location>) {
        match self.format {
            OutputFormat::Text => {
                let _ = self.out.flush();
                eprint!("{stap_line}");
            }
            OutputFormat::Json => {
                let _ = self.out.write_all(json::error(message, stap_line, at).as_bytes());
            }
        }
    }

    /// `system(cmd)`: starts the command; as NDJSON, what it prints
    /// comes back through [`State::print_captured`].
    pub(crate) fn start_command(&mut self, cmd: &[u8]) {
        let capture = self.format == OutputFormat::Json;
        if let Some(w) = crate::system::start(cmd, &mut *self.out, capture) {
            self.warning(&w);
        }
    }

    /// The lines `system()` commands printed since the last call, one
    /// `output` object each.
    pub(crate) fn print_captured(&mut self) {
        if self.format == OutputFormat::Json {
            for line in crate::system::captured() {
                self.print(&line);
            }
        }
    }

    /// The bytes a lookup of a (per-CPU) map fills.
    pub(crate) fn value_buf(&self, g: GlobalId) -> Vec<u8> {
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
            Some(libc::E2BIG) | Some(libc::ENOMEM) => self.c.overflow_message(map),
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
        let mut st = Stat::from_record(buf.get(..size).unwrap_or_default(), ml.shift);
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
        self.print(bytes);
    }

    fn hist(&mut self, stat: GlobalId, key: &[u8], s: &Stat, hist: HistLayout) {
        self.print_hist(stat, Some(key), s, hist);
    }

    fn warn(&mut self, message: &str) {
        self.warning(message);
    }

    fn exit(&mut self) {
        self.exit = true;
    }

    fn system(&mut self, cmd: &[u8]) {
        self.start_command(cmd);
    }

    fn abort(&mut self) {
        self.exit = true;
        self.aborted = true;
    }

    fn target(&self) -> i64 {
        self.target
    }
}
