//! The event loop: it waits on the ring buffer and the timers until the
//! script ends (`exit()`, errors, a signal, `-T`, the end of `-c`, a
//! closed output pipe), drains the ring buffer (each record printed, or
//! acted on: exit, errors, warnings, histograms, backtraces), runs the
//! timer handlers and checks the overload limit.
//!
//! In: the records the kernel's handlers wrote, decoded with the
//! artifact's record formats. Out: the script's output and its errors.
//! Invariant: once the session is to stop, the kernel's handlers are
//! told to stop before any more records are read.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aya::maps::RingBuf;
use stp_compiler::artifact::records::{self, RecordArg, RecordKind, Value};
use stp_compiler::format;
use stp_compiler::ir::{FuncId, GlobalId};
use stp_compiler::layout::{HistLayout, ValueLayout};
use stp_compiler::source::{SourceMap, Span};

use crate::command::Child;
use crate::host::State;
use crate::run::UserCode;
use crate::stats::Stat;

/// A timer probe: next run, period, handler, point, randomization.
pub(crate) type Timer<'a> = (Instant, Duration, FuncId, &'a str, u64);

/// What the event loop watches besides the ring buffer.
pub(crate) struct Watch<'a> {
    pub(crate) timers: Vec<Timer<'a>>,
    pub(crate) rng: XorShift,
    /// `-T`.
    pub(crate) deadline: Option<Instant>,
    pub(crate) overload: Option<crate::overload::Overload>,
    /// `-c`: the run ends with it.
    pub(crate) child: &'a mut Option<Child>,
    /// The output pipe closed.
    pub(crate) broken: Arc<AtomicBool>,
    /// Whether anything can happen after `begin` (kernel probes, timers,
    /// `-c`, `-T`); else the loop does not run.
    pub(crate) endless: bool,
    /// `--metrics`: scrapes to answer.
    pub(crate) metrics: Option<crate::metrics::Exporter<'a>>,
}

/// Runs until the script is to end; `failed` says whether errors ended it.
pub(crate) fn event_loop(
    st: &mut State<'_>,
    ring: &mut RingBuf<aya::maps::MapData>,
    sm: &SourceMap,
    user: &dyn UserCode,
    ebpf: &aya::Ebpf,
    w: &mut Watch<'_>,
    failed: &mut bool,
) {
    let mut busy = false;
    while !*failed && !st.exit && !crate::signals::pending() && !w.broken.load(Ordering::SeqCst) && w.endless {
        let now = Instant::now();
        if w.deadline.is_some_and(|d| now >= d) {
            break;
        }
        // Output records wake the loop only once the buffer fills up:
        // it drains at least this often, and soon again while records
        // keep coming.
        let mut wait = Duration::from_millis(if busy { 1 } else { 10 });
        for (at, ..) in &w.timers {
            wait = wait.min(at.saturating_duration_since(now));
        }
        if let Some(d) = w.deadline {
            wait = wait.min(d.saturating_duration_since(now));
        }
        let mut pfd = libc::pollfd { fd: ring.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, wait.as_millis().min(i32::MAX as u128) as i32) };
        busy = drain(ring, st, sm, failed) > 0;
        let now = Instant::now();
        for t in &mut w.timers {
            if now >= t.0 && !st.exit && !*failed {
                // `.randomize(R)`: each period moves by up to R either way.
                let period = if t.4 > 0 {
                    let r = (w.rng.next() % (2 * t.4 + 1)) as i128 - i128::from(t.4);
                    Duration::from_nanos((t.1.as_nanos() as i128 + r).max(1) as u64)
                } else {
                    t.1
                };
                t.0 += period;
                if t.0 < now {
                    t.0 = now + period;
                }
                if let Err(e) = user.run(t.2, t.3, st) {
                    report(st, sm, &e.message, e.span);
                    *failed = st.errors > st.c.layout.limits.max_errors;
                }
            }
        }
        st.print_captured();
        if let Some(m) = &w.metrics
            && !st.exit
            && !*failed
        {
            m.serve(st, sm, user, failed);
        }
        let _ = st.out.flush();
        if let Some(o) = w.overload.as_mut()
            && !*failed
            && o.check(ebpf)
        {
            st.stop_kernel();
            report(st, sm, "probe overhead exceeded threshold", None);
            *failed = true;
        }
        if let Some(ch) = w.child.as_mut()
            && ch.exited()
        {
            break;
        }
    }
}

/// A small generator for timer randomization (xorshift64*).
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn seeded() -> XorShift {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        XorShift(t | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

pub(crate) fn report(st: &mut State<'_>, sm: &SourceMap, message: &str, span: Option<Span>) {
    st.errors += 1;
    let max = st.c.layout.limits.max_string_len as usize;
    let (line, at) = crate::run::error_report(sm, message, span, None, max);
    st.error(message, &line, at.as_ref());
}

/// Prints what the ring buffer holds; how many records that was.
pub(crate) fn drain(
    ring: &mut RingBuf<aya::maps::MapData>,
    st: &mut State<'_>,
    sm: &SourceMap,
    failed: &mut bool,
) -> usize {
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
        let Some(kind) = c.records.get(tag as usize) else { continue };
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
                st.print(&text);
            }
            RecordKind::Exit => st.exit = true,
            RecordKind::Abort => {
                st.exit = true;
                st.aborted = true;
            }
            RecordKind::System => {
                if let Some(Value::Str(cmd)) = values.first() {
                    st.start_command(cmd);
                }
            }
            RecordKind::Warn => {
                if let Some(Value::Str(m)) = values.first() {
                    st.warning(&String::from_utf8_lossy(m));
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
                st.print(text.as_bytes());
            }
            RecordKind::PrintStack => {
                if let Some(Value::Str(stk)) = values.first() {
                    let addrs = crate::symbols::hex_addresses(stk);
                    let text = crate::symbols::stack_text(crate::symbols::KernelSymbols::live(), addrs);
                    st.print(text.as_bytes());
                }
            }
            RecordKind::HistPrint { stat } => {
                // The CPUs' records of the statistic, as a lookup fills
                // them, then (of an array's element) its key record.
                let stat = GlobalId(*stat);
                let at = records::HEADER as usize;
                let n = bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_ne_bytes);
                let hist = match st.layout().map(stat).map(|m| &m.value) {
                    Some(ValueLayout::Stat(h)) => *h,
                    _ => HistLayout::None,
                };
                let per_cpu = bytes.get(at + 8..).unwrap_or_default();
                let stride = st.layout().map(stat).map_or(0, |m| m.value_size.div_ceil(8) as usize * 8);
                let used = per_cpu.get(..stride * n as usize).unwrap_or(per_cpu);
                let key_size = st.layout().map(stat).filter(|m| !m.keys.is_empty()).map_or(0, |m| m.key_size as usize);
                let key = per_cpu.get(stride * n as usize..).and_then(|k| k.get(..key_size));
                let s = st.combine(stat, used).unwrap_or_else(|| Stat::empty(hist, 0));
                st.print_hist(stat, key, &s, hist);
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
