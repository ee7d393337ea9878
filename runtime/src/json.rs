//! `--format json`: the run's events as NDJSON, one JSON object per
//! line, for programs to read instead of stap's text.
//!
//! In: what the run would otherwise print (the script's output, a
//! histogram's statistic, the globals shown at exit, warnings, errors,
//! the count of lost records, the exit status). Out: one line of JSON
//! each, ending in `\n`, encoded with serde_json. Invariant: every line
//! is one complete object with a `"type"` member; nothing else is
//! written to the stream in this format.
//!
//! The objects (`docs/json-output.md` is the reference):
//!
//! - `{"type":"output","text":"..."}`: what one `printf`, `print`,
//!   `log`, `print_backtrace`... wrote, in order;
//! - `{"type":"hist","name":"s","key":[...],"buckets":[{"min":..,
//!   "max":..,"count":..}]}`: `print(@hist_*(s[...]))`, the non-empty
//!   buckets, lowest first;
//! - `{"type":"map","name":"x","entries":[{"key":[...],"value":..}]}`:
//!   a global shown at exit (a scalar is one entry with key `[]`; a
//!   statistic's value is `{"count","sum","min","max","avg"}`);
//! - `{"type":"warning","message":"..."}`, `{"type":"error",
//!   "message":"...","text":"..."}` (with `file`, `line`, `column` when
//!   the script location is known), `{"type":"lost","count":N}`;
//! - `{"type":"exit","status":N}`, last.
//!
//! Strings are the script's bytes read as UTF-8; a byte that is not
//! UTF-8 becomes U+FFFD.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::Value as Json;
use stp_compiler::layout::{HistLayout, LOG_BUCKETS};

use crate::report::{Global, Value};
use crate::stats::Stat;

/// How the run's output is written (`--format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// stap's text, byte for byte.
    #[default]
    Text,
    /// NDJSON, one object per event (this module).
    Json,
}

/// One line of the stream. `type` comes first, then the members in the
/// order given here.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Event<'a> {
    Output {
        text: String,
    },
    Hist {
        name: &'a str,
        key: Vec<Json>,
        buckets: Vec<Bucket>,
    },
    Map {
        name: &'a str,
        entries: Vec<Entry>,
    },
    Warning {
        message: &'a str,
    },
    Error {
        message: &'a str,
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        column: Option<usize>,
    },
    Lost {
        count: u64,
    },
    Exit {
        status: i32,
    },
}

#[derive(Serialize)]
struct Bucket {
    min: i64,
    max: i64,
    count: i64,
}

#[derive(Serialize)]
struct Entry {
    key: Vec<Json>,
    value: EntryValue,
}

/// A long, a string, or a statistic's summary.
#[derive(Serialize)]
#[serde(untagged)]
enum EntryValue {
    Plain(Json),
    Stat(Summary),
}

/// A statistic's summary; with no values, `min`, `max` and `avg` are
/// null.
#[derive(Serialize)]
struct Summary {
    count: i64,
    sum: i64,
    min: Option<i64>,
    max: Option<i64>,
    avg: Option<i64>,
}

/// One object as a line.
fn line(e: &Event<'_>) -> String {
    // Strings, integers and arrays of them always serialize.
    let mut s = serde_json::to_string(e).unwrap_or_default();
    s.push('\n');
    s
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn value(v: &Value) -> Json {
    match v {
        Value::Long(n) => Json::from(*n),
        Value::Str(s) => Json::from(text(s)),
    }
}

fn keys(k: &[Value]) -> Vec<Json> {
    k.iter().map(value).collect()
}

/// A statistic's summary: `count`, `sum`, `min`, `max` and `avg` (stap's
/// integer `sum / count`).
fn stat_summary(s: &Stat) -> EntryValue {
    let known = |v: i64| (s.count != 0).then_some(v);
    EntryValue::Stat(Summary {
        count: s.count,
        sum: s.sum,
        min: known(s.min),
        max: known(s.max),
        avg: known(if s.count == 0 { 0 } else { s.sum.wrapping_div(s.count) }),
    })
}

/// What one call of the print family wrote.
pub fn output(bytes: &[u8]) -> String {
    line(&Event::Output { text: text(bytes) })
}

/// The values bucket `i` of a histogram holds, lowest and highest.
/// The linear histogram's underflow bucket starts at `i64::MIN` and its
/// overflow bucket ends at `i64::MAX`, as do a log histogram's extremes.
pub fn bucket_range(hist: HistLayout, i: usize) -> Option<(i64, i64)> {
    match hist {
        HistLayout::None => None,
        HistLayout::Log => {
            let zero = (LOG_BUCKETS / 2) as usize;
            if i >= LOG_BUCKETS as usize {
                return None;
            }
            // Bucket `zero + k` holds the values of k significant bits,
            // `zero - k` their negatives.
            Some(if i == zero {
                (0, 0)
            } else if i > zero {
                let k = (i - zero) as u32;
                let lo = 1i64 << (k - 1);
                (lo, lo.wrapping_sub(1).wrapping_add(lo))
            } else {
                let k = (zero - i) as u32;
                if k == 64 {
                    (i64::MIN, i64::MIN)
                } else {
                    let lo = 1i64 << (k - 1);
                    (-(lo.wrapping_sub(1).wrapping_add(lo)), -lo)
                }
            })
        }
        HistLayout::Linear { lo, step, .. } => {
            let last = hist.buckets() as usize - 1;
            if i == 0 {
                Some((i64::MIN, lo.wrapping_sub(1)))
            } else if i < last {
                let start = lo.wrapping_add((i as i64 - 1).wrapping_mul(step));
                Some((start, start.wrapping_add(step).wrapping_sub(1)))
            } else if i == last {
                Some((lo.wrapping_add((i as i64 - 1).wrapping_mul(step)), i64::MAX))
            } else {
                None
            }
        }
    }
}

/// `print(@hist_*(name[key]))`: the statistic's non-empty buckets, each
/// with the range of values it holds.
pub fn hist(name: &str, key: &[Value], stat: &Stat, hist: HistLayout) -> String {
    let buckets = stat
        .buckets
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 0)
        .filter_map(|(i, &count)| bucket_range(hist, i).map(|(min, max)| Bucket { min, max, count }))
        .collect();
    line(&Event::Hist { name, key: keys(key), buckets })
}

/// A global shown at exit. The entries come in the order stap's text
/// shows them (by value, largest first; statistics by count).
pub fn global(name: &str, g: &Global) -> String {
    let entry = |k: &[Value], value: EntryValue| Entry { key: keys(k), value };
    let plain = |v: &Value| EntryValue::Plain(value(v));
    let entries = match g {
        Global::Scalar(v) => vec![entry(&[], plain(v))],
        Global::Stat(s) => vec![entry(&[], stat_summary(s))],
        Global::Array(all) => {
            let mut sorted: Vec<&(Vec<Value>, Value)> = all.iter().collect();
            sorted.sort_by(|a, b| crate::report::compare_values(&b.1, &a.1));
            sorted.into_iter().map(|(k, v)| entry(k, plain(v))).collect()
        }
        Global::StatArray(all) => {
            let mut sorted: Vec<&(Vec<Value>, Stat)> = all.iter().collect();
            sorted.sort_by_key(|e| std::cmp::Reverse(e.1.count));
            sorted.into_iter().map(|(k, s)| entry(k, stat_summary(s))).collect()
        }
    };
    line(&Event::Map { name, entries })
}

/// A warning (`warn()`, a probe that could not attach, the errors count
/// at the end, ...), without stap's `WARNING: `.
pub fn warning(message: &str) -> String {
    line(&Event::Warning { message: message.trim_end_matches('\n') })
}

/// Where in the script an error happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// A runtime error: its message alone, stap's whole line (without
/// `ERROR: `) and, when known, where.
pub fn error(message: &str, stap_line: &str, at: Option<&Location>) -> String {
    let shown = stap_line.trim_end_matches('\n');
    line(&Event::Error {
        message,
        text: shown.strip_prefix("ERROR: ").unwrap_or(shown),
        file: at.map(|l| l.file.as_str()),
        line: at.map(|l| l.line),
        column: at.map(|l| l.column),
    })
}

/// Records the kernel's handlers could not write (the ring buffer was
/// full).
pub fn lost(count: u64) -> String {
    line(&Event::Lost { count })
}

/// The run's exit status; the last object.
pub fn exit(status: i32) -> String {
    line(&Event::Exit { status })
}

/// Ends a stream whose run did not happen or could not go on (the
/// script did not compile, the kernel refused it, ...): one `error` object
/// for each of `errors`, then `{"type":"exit","status":1}`, on stdout or
/// in `-o FILE`. `append`: the run opened `FILE` already (and may have
/// written to it); else it is created anew.
pub fn write_failure(output: Option<&Path>, append: bool, errors: &[(String, Option<Location>)]) {
    let mut text = String::new();
    for (message, at) in errors {
        text += &error(message, message, at.as_ref());
    }
    text += &exit(1);
    let written = match output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        }
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes())),
    };
    // The errors are on stderr as well; a stream that cannot be written
    // has no reader to tell.
    let _ = written;
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
