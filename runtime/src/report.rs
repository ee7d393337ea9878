//! What stap prints besides the script's own output: the values of the
//! globals a script wrote but never read, runtime error lines, and the
//! lines that close a run. Each function takes decoded values and returns
//! stap's text, byte for byte (SystemTap's `elaborate.cxx`
//! `add_global_var_display`, `runtime/handler-error.h`, `translate.cxx`
//! `emit_module_exit`, `staprun/mainloop.c` and `main.cxx` `pass_5_2`).

use std::collections::HashSet;
use std::fmt;

use crate::stats::Stat;

/// A decoded long or string: a scalar, an array key or an array value.
pub use stp_compiler::artifact::records::Value;

/// A global's contents when the script ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Global {
    Scalar(Value),
    /// A statistic without keys, aggregated ([`Stat::aggregate`]).
    Stat(Stat),
    /// An array's entries (keys, value), in the order the runtime found
    /// them: entries with equal values keep it.
    Array(Vec<(Vec<Value>, Value)>),
    /// A statistics array's entries, each aggregated ([`Stat::merge`]).
    StatArray(Vec<(Vec<Value>, Stat)>),
}

/// How the statistics' numbers are printed: `%d` since stap 1.4, `%#x`
/// under `--compatible` older than that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatNumbers {
    Decimal,
    Hex,
}

impl StatNumbers {
    /// The style for `--compatible=VERSION` (`None`: the current one).
    pub fn for_compatible(version: Option<&str>) -> StatNumbers {
        match version {
            Some(v) if version_less(v, "1.4") => StatNumbers::Hex,
            _ => StatNumbers::Decimal,
        }
    }

    fn write(self, out: &mut Vec<u8>, v: i64) {
        match self {
            StatNumbers::Decimal => out.extend(v.to_string().bytes()),
            // stap's `%#x` writes `0x` even before 0.
            StatNumbers::Hex => out.extend(format!("0x{:x}", v as u64).bytes()),
        }
    }
}

/// Dotted version order, numeric component by component (as
/// `strverscmp` orders `1.4` and `1.10`).
fn version_less(a: &str, b: &str) -> bool {
    let parts = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.trim().parse().unwrap_or(0)).collect() };
    parts(a) < parts(b)
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Long(n) => out.extend(n.to_string().bytes()),
        Value::Str(s) => {
            out.push(b'"');
            out.extend(s);
            out.push(b'"');
        }
    }
}

fn write_keys(out: &mut Vec<u8>, keys: &[Value]) {
    out.push(b'[');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(out, k);
    }
    out.push(b']');
}

fn write_stat(out: &mut Vec<u8>, s: &Stat, numbers: StatNumbers) {
    let avg = if s.count == 0 { 0 } else { s.sum.wrapping_div(s.count) };
    for (name, v) in [("count", s.count), ("min", s.min), ("max", s.max), ("sum", s.sum), ("avg", avg)] {
        out.extend(format!(" @{name}=").bytes());
        numbers.write(out, v);
    }
}

/// The lines stap prints at the end for one global the script wrote but
/// never read (stap adds an `end` probe per such global, after the
/// script's own, unless `--no-global-var-display`):
///
/// - a long: `name=5`; a string: `name="abc"` (no escaping);
/// - a statistic: `name @count=4 @min=1 @max=4 @sum=10 @avg=2`, and
///   `name @count=0x0` when it has no values;
/// - arrays: one line per entry, `name["a",1]=3` (string keys quoted,
///   longs in decimal), `name["k"]="v"`, and for statistics
///   `name["a",1] @count=... @avg=...`; nothing for an empty array;
/// - entries sorted by value, largest first (statistics by `@count`);
///   equal values keep the given order (stap's: the order the entries
///   were created in).
///
/// The globals' order is the caller's: stap's is the order in which
/// its symbol resolution first meets them (probe bodies in script order,
/// then the functions they call, by name), not their declaration order.
pub fn global_display(name: &str, global: &Global, numbers: StatNumbers) -> Vec<u8> {
    let mut out = Vec::new();
    match global {
        Global::Scalar(v) => {
            out.extend(name.bytes());
            out.push(b'=');
            write_value(&mut out, v);
            out.push(b'\n');
        }
        Global::Stat(s) if s.count == 0 => out.extend(format!("{name} @count=0x0\n").bytes()),
        Global::Stat(s) => {
            out.extend(name.bytes());
            write_stat(&mut out, s, numbers);
            out.push(b'\n');
        }
        Global::Array(entries) => {
            let mut sorted: Vec<&(Vec<Value>, Value)> = entries.iter().collect();
            sorted.sort_by(|a, b| compare_values(&b.1, &a.1));
            for (keys, v) in sorted {
                out.extend(name.bytes());
                write_keys(&mut out, keys);
                out.push(b'=');
                write_value(&mut out, v);
                out.push(b'\n');
            }
        }
        Global::StatArray(entries) => {
            let mut sorted: Vec<&(Vec<Value>, Stat)> = entries.iter().collect();
            sorted.sort_by_key(|e| std::cmp::Reverse(e.1.count));
            for (keys, s) in sorted {
                out.extend(name.bytes());
                write_keys(&mut out, keys);
                write_stat(&mut out, s, numbers);
                out.push(b'\n');
            }
        }
    }
    out
}

/// stap's value order in a sort: longs by number, strings by `strcmp`.
pub(crate) fn compare_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Long(x), Value::Long(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Long(_), Value::Str(_)) => std::cmp::Ordering::Less,
        (Value::Str(_), Value::Long(_)) => std::cmp::Ordering::Greater,
    }
}

/// The kind of the script token an error is reported near, as stap words
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Identifier,
    Operator,
    String,
    Number,
    Keyword,
    Embedded,
    Junk,
}

impl TokenKind {
    pub fn word(self) -> &'static str {
        match self {
            TokenKind::Identifier => "identifier",
            TokenKind::Operator => "operator",
            TokenKind::String => "string",
            TokenKind::Number => "number",
            TokenKind::Keyword => "keyword",
            TokenKind::Embedded => "embedded-code",
            TokenKind::Junk => "junk",
        }
    }
}

/// A script token and where it is: stap's description of the statement
/// that failed, or of a call on the way to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Near<'a> {
    pub kind: TokenKind,
    /// The token's text: an identifier's name, an operator, a number as
    /// written, a string literal's contents without its quotes.
    pub text: &'a str,
    /// The file as stap names it: the script's path as given on the
    /// command line, `<input>` for `-e`, a tapset's full path.
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
}

/// `identifier 'x' at f.stp:3:5`; keywords and embedded code are not
/// quoted (`keyword at f.stp:3:5`); unprintable characters show as `?`.
impl fmt::Display for Near<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.word())?;
        if !matches!(self.kind, TokenKind::Keyword | TokenKind::Embedded) {
            let shown: String =
                self.text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
            write!(f, " '{shown}'")?;
        }
        write!(f, " at {}:{}:{}", self.file, self.line, self.column)
    }
}

/// The line stap prints on stderr for a runtime error not caught by
/// `try`/`catch`:
///
/// `ERROR: division by 0 near operator '/' at s.stp:12:5 in probe begin`
///
/// `frames` are the failed statement's token first, then the calls that
/// led to it, innermost first, each shown as `(called from ...)`;
/// `probe` is the probe point of the handler (what `pp()` returns). With
/// no frame (stap's `error()` called from embedded code, an error outside
/// any statement) the line is the message alone, without the probe. The
/// text after `ERROR: ` is cut at `max_string_len - 1` bytes when it has
/// frames (`MAXSTRINGLEN`, stap's message buffer).
pub fn error_line(message: &str, frames: &[Near<'_>], probe: Option<&str>, max_string_len: usize) -> String {
    let Some((inner, outer)) = frames.split_first() else {
        return format!("ERROR: {message}\n");
    };
    let mut body = format!("{message} near {inner}");
    for f in outer {
        body += &format!(" (called from {f})");
    }
    if let Some(pp) = probe {
        body += &format!(" in probe {pp}");
    }
    let mut end = body.len().min(max_string_len.saturating_sub(1));
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body.truncate(end);
    format!("ERROR: {body}\n")
}

/// stap's runtime error messages, for the errors stp raises itself.
pub mod messages {
    pub const DIVISION_BY_ZERO: &str = "division by 0";
    pub const MAXACTION: &str = "MAXACTION exceeded";
    pub const EMPTY_AGGREGATE: &str = "empty aggregate";
    pub const MAXNESTING: &str = "MAXNESTING exceeded";
    pub const HISTOGRAM_INDEX: &str = "histogram index out of range";

    /// A statistics array that cannot take another key while it is
    /// aggregated.
    pub fn aggregation_overflow(array: &str) -> String {
        format!("aggregation overflow in {array}")
    }
}

/// The warning stap prints on stderr when the script has stopped, after
/// its `end` probes (and the global display), if any handler failed or
/// was skipped: `WARNING: Number of errors: 1, skipped probes: 0`.
/// `-w` suppresses it with every other warning.
pub fn errors_warning(errors: u64, skipped: u64) -> Option<String> {
    (errors > 0 || skipped > 0).then(|| format!("WARNING: Number of errors: {errors}, skipped probes: {skipped}\n"))
}

/// The last line on stderr, after [`errors_warning`], when pass 5 fails,
/// with or without `-v`. It fails (and stap exits with 1) when any
/// `ERROR:` line was printed during the run, even one that MAXERRORS let
/// the script survive, or when the script could not be started.
pub const PASS5_FAILED: &str = "Pass 5: run failed.  [man error::pass5]\n";

/// With `-v`: the line before the run starts.
pub const PASS5_STARTING: &str = "Pass 5: starting run.\n";

/// With `-v`: the line after the run, failed or not (before
/// [`PASS5_FAILED`]): user and system CPU time of stap and its children,
/// and wall time, in milliseconds.
pub fn pass5_completed(usr_ms: u64, sys_ms: u64, real_ms: u64) -> String {
    format!("Pass 5: run completed in {usr_ms}usr/{sys_ms}sys/{real_ms}real ms.\n")
}

/// staprun's handling of `warn()` and runtime warnings: without `-v`, a
/// message already printed is not printed again. It remembers up to 1024
/// messages; then it says so once and prints later ones every time.
#[derive(Debug, Default)]
pub struct WarningFilter {
    verbose: bool,
    seen: HashSet<String>,
    count: usize,
}

const MAX_STORED_WARNINGS: usize = 1024;

impl WarningFilter {
    pub fn new(verbose: bool) -> WarningFilter {
        WarningFilter { verbose, ..WarningFilter::default() }
    }

    /// The text to print for `WARNING: message` (possibly nothing).
    pub fn admit(&mut self, message: &str) -> String {
        let line = format!("WARNING: {}\n", message.strip_suffix('\n').unwrap_or(message));
        if self.verbose {
            return line;
        }
        if self.seen.contains(&line) {
            return String::new();
        }
        let before = self.count;
        self.count += 1;
        if before == MAX_STORED_WARNINGS {
            return line + "WARNING deduplication table full\n";
        }
        if self.count > MAX_STORED_WARNINGS {
            self.count = MAX_STORED_WARNINGS + 1;
        } else if self.count < MAX_STORED_WARNINGS {
            // (stap's count test leaves the 1024th message unstored.)
            self.seen.insert(line.clone());
        }
        line
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
