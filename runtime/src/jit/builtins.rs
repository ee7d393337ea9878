//! The intrinsics user-placed handlers can call, and what each does there.
//!
//! A user-placed handler runs in the stp process, so the task intrinsics
//! (`pid()`, `execname()`, ...) describe that process, as stap's describe
//! the process a `begin` probe happens to run in. Intrinsics that read
//! kernel or user memory fail at run time with stap's fault message (a
//! tapset function compiled for both placements may hold such a call on
//! a path a user-placed handler never takes); the forms with an error
//! string return it instead. Intrinsics missing from [`resolve`] are
//! refused by `Jit::compile` with a diagnostic at the call.
//!
//! Approximations: `local_clock_*`, `cpu_clock_*` and `ktime_get_ns` read
//! `CLOCK_MONOTONIC`; `get_cycles()` is that clock in nanoseconds;
//! `HZ()` is the user-visible clock tick (`sysconf(_SC_CLK_TCK)`), not the
//! kernel's `CONFIG_HZ`, and `jiffies()` counts those ticks; the `ns_*`
//! task intrinsics give the same ids as the plain ones.

use std::time::{SystemTime, UNIX_EPOCH};

use super::rt::{Ctx, Scalar};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Execname,
    Pexecname,
    Pid,
    Tid,
    Ppid,
    Pgrp,
    Sid,
    Uid,
    Euid,
    Gid,
    Egid,
    IsMyproc,
    Cpu,
    Target,
    StpPid,
    IsReturn,
    Pp,
    ProbeType,
    /// `ppfunc()`, `probefunc()`, `probemod()`: no function here.
    NoFunction,
    /// `addr()`, `uaddr()`, `user_mode()`, `registers_valid()`: no
    /// registers were interrupted here.
    NoRegisters,
    Log,
    Warn,
    System,
    Exit,
    Abort,
    Assert,
    Strlen,
    Substr,
    Stringat,
    Isinstr,
    Strpos,
    TextStr,
    TextStrn,
    StringQuoted,
    StrReplace,
    Strtol,
    Isdigit,
    Tokenize,
    Matched,
    MatchedStr,
    Ngroups,
    GetCycles,
    Jiffies,
    Hz,
    TimeOfDay(u32),
    LocalClock(u32),
    CpuClock(u32),
    Randint,
    EnvVar,
    Pid2Execname,
    /// `__tz_gmtoff()`, `__tz_name()`: the local time zone now (seconds
    /// west of UTC, its abbreviation), which tzinfo.stp keeps from its
    /// `begin` probe as stap keeps what staprun passed at start.
    TzGmtoff,
    TzName,
    /// `sprint_loadavg()`, `get_loadavg_index(i)`: the kernel's load
    /// averages as /proc/loadavg writes them (the same rounding).
    SprintLoadavg,
    LoadavgIndex,
    PrintStack,
    /// `sprint_stack(stk)`, `sprint_syms(stk)`: what `print_stack(stk)`
    /// prints, as whole lines that fit a string.
    SprintSyms,
    /// `symname(addr)`, `symdata(addr)`: the kernel text symbol holding
    /// an address, from /proc/kallsyms (`true`: with offset, size and
    /// module).
    Symbol(bool),
    /// `kernel_string(addr)` and the other readers of memory: a fault.
    MemoryFault(&'static str),
    /// `kernel_string(addr, err_msg)`: the message.
    MemoryErrMsg,
}

/// The user-side implementation of `name` with `arity` arguments.
pub fn resolve(name: &str, arity: usize) -> Option<Which> {
    use Which::*;
    Some(match (name, arity) {
        ("execname", 0) => Execname,
        ("pexecname", 0) => Pexecname,
        ("pid" | "ns_pid", 0) => Pid,
        ("tid" | "ns_tid", 0) => Tid,
        ("ppid" | "ns_ppid", 0) => Ppid,
        ("pgrp" | "ns_pgrp", 0) => Pgrp,
        ("sid" | "ns_sid", 0) => Sid,
        ("uid" | "ns_uid", 0) => Uid,
        ("euid" | "ns_euid", 0) => Euid,
        ("gid" | "ns_gid", 0) => Gid,
        ("egid" | "ns_egid", 0) => Egid,
        ("is_myproc", 0) => IsMyproc,
        ("cpu" | "cpuid", 0) => Cpu,
        ("target", 0) => Target,
        ("stp_pid", 0) => StpPid,
        ("is_return", 0) => IsReturn,
        ("pp", 0) => Pp,
        ("probe_type", 0) => ProbeType,
        ("ppfunc" | "probefunc" | "probemod", 0) => NoFunction,
        ("addr" | "uaddr" | "user_mode" | "registers_valid", 0) => NoRegisters,
        ("log", 1) => Log,
        ("warn", 1) => Warn,
        ("system", 1) => System,
        ("exit", 0) => Exit,
        ("abort", 0) => Abort,
        ("assert", 1 | 2) => Assert,
        ("strlen", 1) => Strlen,
        ("substr", 3) => Substr,
        ("stringat", 2) => Stringat,
        ("isinstr", 2) => Isinstr,
        ("strpos", 2) => Strpos,
        ("text_str", 1) => TextStr,
        ("text_strn", 3) => TextStrn,
        ("string_quoted", 1) => StringQuoted,
        ("str_replace", 3) => StrReplace,
        ("strtol", 2) => Strtol,
        ("isdigit", 1) => Isdigit,
        ("tokenize", 2) => Tokenize,
        ("matched", 1) => Matched,
        ("matched_str", 0) => MatchedStr,
        ("ngroups", 0) => Ngroups,
        ("get_cycles", 0) => GetCycles,
        ("jiffies", 0) => Jiffies,
        ("HZ", 0) => Hz,
        ("gettimeofday_s", 0) => TimeOfDay(0),
        ("gettimeofday_ms", 0) => TimeOfDay(3),
        ("gettimeofday_us", 0) => TimeOfDay(6),
        ("gettimeofday_ns", 0) => TimeOfDay(9),
        ("local_clock_s", 0) => LocalClock(0),
        ("local_clock_ms", 0) => LocalClock(3),
        ("local_clock_us", 0) => LocalClock(6),
        ("local_clock_ns" | "ktime_get_ns", 0) => LocalClock(9),
        ("cpu_clock_s", 1) => CpuClock(0),
        ("cpu_clock_ms", 1) => CpuClock(3),
        ("cpu_clock_us", 1) => CpuClock(6),
        ("cpu_clock_ns", 1) => CpuClock(9),
        ("randint", 1) => Randint,
        ("env_var", 1) => EnvVar,
        ("pid2execname", 1) => Pid2Execname,
        ("__tz_gmtoff", 0) => TzGmtoff,
        ("__tz_name", 0) => TzName,
        ("sprint_loadavg", 0) => SprintLoadavg,
        ("get_loadavg_index", 1) => LoadavgIndex,
        ("print_stack" | "print_syms", 1) => PrintStack,
        ("sprint_syms" | "sprint_stack", 1) => SprintSyms,
        ("symname", 1) => Symbol(false),
        ("symdata", 1) => Symbol(true),
        ("kernel_string", 1) | ("kernel_string_n", 2) => MemoryFault("kernel string copy fault"),
        ("kernel_long", 1) => MemoryFault("kernel long copy fault"),
        ("kernel_int", 1) => MemoryFault("kernel int copy fault"),
        ("kernel_short", 1) => MemoryFault("kernel short copy fault"),
        ("kernel_char", 1) => MemoryFault("kernel char copy fault"),
        ("kernel_pointer", 1) => MemoryFault("kernel pointer copy fault"),
        ("kernel_buffer_quoted", 2 | 3) => MemoryFault("kernel read fault"),
        // A warning and "" (stap 2.3 on), not an error.
        ("user_string", 1) | ("user_string_n", 2) => MemoryFault("user string copy fault"),
        // As the kernel side words it, by the size read.
        ("user_char_error" | "user_int8_error" | "user_uint8_error", 1) => MemoryFault("user char copy fault"),
        ("user_short_error" | "user_ushort_error" | "user_int16_error" | "user_uint16_error", 1) => {
            MemoryFault("user short copy fault")
        }
        ("user_int_error" | "user_int32_error" | "user_uint32_error", 1) => MemoryFault("user int copy fault"),
        ("user_long_error" | "user_ulong_error" | "user_int64_error" | "user_uint64_error", 1) => {
            MemoryFault("user long copy fault")
        }
        ("user_buffer_quoted", 3) => MemoryFault("user read fault"),
        // No user memory of a probed process here: a write faults too.
        ("set_user_long", 2) => MemoryFault("user long copy fault"),
        ("set_user_int", 2) => MemoryFault("user int copy fault"),
        ("set_user_short", 2) => MemoryFault("user short copy fault"),
        ("set_user_char", 2) => MemoryFault("user char copy fault"),
        ("set_user_pointer", 2) => MemoryFault("user pointer copy fault"),
        ("set_user_string", 2) | ("set_user_string_n", 3) => MemoryFault("user string copy fault"),
        ("kernel_string" | "kernel_string2" | "user_string" | "user_string2", 2) | ("user_string_n", 3) => MemoryErrMsg,
        _ => return None,
    })
}

fn long(args: &[Scalar], i: usize) -> i64 {
    match args.get(i) {
        Some(Scalar::Long(n)) => *n,
        _ => 0,
    }
}

fn string(args: &[Scalar], i: usize) -> &[u8] {
    match args.get(i) {
        Some(Scalar::Str(s)) => s,
        _ => &[],
    }
}

fn comm(path: &str) -> Vec<u8> {
    let mut s = std::fs::read(path).unwrap_or_default();
    while s.last() == Some(&b'\n') {
        s.pop();
    }
    s
}

/// A clock's reading, scaled to `10^-digits` seconds.
fn scaled(d: std::time::Duration, digits: u32) -> i64 {
    let ns = d.as_nanos();
    i64::try_from(ns / 10u128.pow(9 - digits.min(9))).unwrap_or(i64::MAX)
}

unsafe extern "C" {
    /// libc's: reads `TZ` (the libc crate does not declare it).
    fn tzset();
}

/// The three load averages of /proc/loadavg, as it writes them.
fn loadavg() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).map(str::to_string).collect()
}

/// The local time zone now: its offset east of UTC in seconds and its
/// abbreviation, from `localtime_r` (`TZ`, else /etc/localtime).
fn local_zone() -> (i64, Vec<u8>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value for localtime_r to fill.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: tzset reads the environment; localtime_r fills `tm` from
    // `now`, both valid for the call.
    let ok = unsafe {
        tzset();
        !libc::localtime_r(&now, &mut tm).is_null()
    };
    if !ok || tm.tm_zone.is_null() {
        return (0, b"UTC".to_vec());
    }
    // SAFETY: localtime_r set tm_zone to a NUL-terminated string that
    // lives as long as the time zone data.
    let zone = unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }.to_bytes().to_vec();
    (tm.tm_gmtoff, zone)
}

fn monotonic() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    std::time::Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// The kernel's `CONFIG_HZ`, the rate of its jiffies.
fn kernel_hz() -> Result<i64, String> {
    static HZ: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    HZ.get_or_init(|| stp_compiler::kernel::Kernel::live().config("CONFIG_HZ")?.parse().ok().filter(|&hz| hz > 0))
        .ok_or_else(|| "HZ is not known: the kernel's configuration is not readable".to_string())
}

/// The kernel's jiffies, from the monotonic clock: they count at `HZ`
/// from an offset read once from /proc/timer_list (its "now at" and
/// first "jiffies:"), else from their start, 300 seconds before they
/// wrap at 32 bits (`INITIAL_JIFFIES`), when the monotonic clock starts.
fn jiffies() -> Result<i64, String> {
    static OFFSET: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    let hz = kernel_hz()?;
    let ticks = |ns: u128| i64::try_from(ns * hz as u128 / 1_000_000_000).unwrap_or(i64::MAX / 2);
    let offset = OFFSET.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/timer_list").ok()?;
        let field = |key: &str| -> Option<u128> {
            let line = text.lines().find_map(|l| l.trim().strip_prefix(key))?;
            line.split_whitespace().next()?.parse().ok()
        };
        Some(i64::try_from(field("jiffies:")?).ok()? - ticks(field("now at")?))
    });
    let offset = offset.unwrap_or_else(|| i64::from((-300 * hz) as u32));
    Ok(offset + ticks(monotonic().as_nanos()))
}

/// stap's `_stp_text_str`: C escapes for what is not printable.
pub fn escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &c in s {
        match c {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0b => out.extend_from_slice(b"\\v"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\'' => out.extend_from_slice(b"\\'"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\{c:03o}").as_bytes()),
        }
    }
    out
}

/// `text_strn(s, len, quoted)`: escaped, at most `len` input bytes (all
/// with 0); quoted in `"`, with `...` after when cut short.
fn text_strn(s: &[u8], len: i64, quoted: bool, max_len: usize) -> Vec<u8> {
    let n = usize::try_from(len).ok().filter(|&n| n > 0).map_or(s.len(), |n| n.min(s.len()));
    let room = max_len.saturating_sub(1).saturating_sub(if quoted { 5 } else { 0 });
    let mut out = Vec::new();
    let mut cut = n < s.len();
    for &c in s.iter().take(n) {
        let e = escape(&[c]);
        if out.len() + e.len() > room {
            cut = true;
            break;
        }
        out.extend_from_slice(&e);
    }
    if !quoted {
        return out;
    }
    let mut q = b"\"".to_vec();
    q.extend_from_slice(&out);
    q.push(b'"');
    if cut {
        q.extend_from_slice(b"...");
    }
    q
}

/// C's `strtol` for `base` (0: by the prefix): 0 where no digit parses.
fn strtol(s: &[u8], base: i64) -> i64 {
    let mut i = s.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(s.len());
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = s.get(i..).unwrap_or_default();
    let hex = rest.len() > 2 && rest.first() == Some(&b'0') && matches!(rest.get(1), Some(b'x' | b'X'));
    let (base, rest) = match base {
        0 if hex => (16, rest.get(2..).unwrap_or_default()),
        0 if rest.first() == Some(&b'0') => (8, rest),
        0 => (10, rest),
        16 if hex => (16, rest.get(2..).unwrap_or_default()),
        b => (b as u32, rest),
    };
    let mut v: i64 = 0;
    for &c in rest {
        let Some(d) = (c as char).to_digit(base) else { break };
        v = v.saturating_mul(i64::from(base)).saturating_add(i64::from(d));
    }
    if neg { v.wrapping_neg() } else { v }
}

/// `tokenize(input, delim)`: strsep over the kept string, skipping empty
/// tokens; a non-empty `input` starts over on it.
fn tokenize(c: &Ctx<'_>, input: &[u8], delim: &[u8]) -> Vec<u8> {
    let Ok(mut t) = c.tables.tokenizer.lock() else { return Vec::new() };
    if !input.is_empty() {
        *t = Some((input.to_vec(), 0));
    }
    let Some((s, at)) = t.as_mut() else { return Vec::new() };
    loop {
        if *at > s.len() {
            return Vec::new();
        }
        let rest = s.get(*at..).unwrap_or_default();
        let end = rest.iter().position(|b| delim.contains(b));
        let token = rest.get(..end.unwrap_or(rest.len())).unwrap_or_default().to_vec();
        *at = match end {
            Some(e) => *at + e + 1,
            None => s.len() + 1,
        };
        if !token.is_empty() {
            return token;
        }
    }
}

fn randint(n: i64) -> Result<i64, String> {
    if n <= 0 || n > i64::from(u32::MAX) {
        return Err("range too wide".to_string());
    }
    let mut seed = [0u8; 8];
    // SAFETY: `seed` is 8 writable bytes.
    let got = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    if got != 8 {
        seed = (monotonic().as_nanos() as u64).to_ne_bytes();
    }
    Ok((u64::from_ne_bytes(seed) % n as u64) as i64)
}

/// Runs an intrinsic.
pub fn call(c: &mut Ctx<'_>, which: Which, args: &[Scalar]) -> Result<Scalar, String> {
    use Scalar::{Long, Str};
    use Which::*;
    let max_len = c.tables.max_len;
    // SAFETY (for the libc calls below): they take no pointers.
    Ok(match which {
        Execname => Str(comm("/proc/self/comm")),
        Pexecname => Str(comm(&format!("/proc/{}/comm", std::os::unix::process::parent_id()))),
        Pid => Long(i64::from(std::process::id())),
        Tid => Long(i64::from(unsafe { libc::gettid() })),
        Ppid => Long(i64::from(std::os::unix::process::parent_id())),
        Pgrp => Long(i64::from(unsafe { libc::getpgrp() })),
        Sid => Long(i64::from(unsafe { libc::getsid(0) })),
        Uid => Long(i64::from(unsafe { libc::getuid() })),
        Euid => Long(i64::from(unsafe { libc::geteuid() })),
        Gid => Long(i64::from(unsafe { libc::getgid() })),
        Egid => Long(i64::from(unsafe { libc::getegid() })),
        IsMyproc => Long(1),
        Cpu => Long(i64::from(unsafe { libc::sched_getcpu() }.max(0))),
        Target => Long(c.host.target()),
        StpPid => Long(i64::from(std::process::id())),
        IsReturn => Long(0),
        Pp => Str(c.point.as_bytes().to_vec()),
        ProbeType => Str(stp_compiler::ir::probe_type::probe_type(c.point).as_bytes().to_vec()),
        NoFunction => Str(Vec::new()),
        NoRegisters => Long(0),
        PrintStack => {
            let addrs = crate::symbols::hex_addresses(string(args, 0));
            let text = crate::symbols::stack_text(crate::symbols::KernelSymbols::live(), addrs);
            c.host.output(text.as_bytes());
            Long(0)
        }
        SprintSyms => {
            let addrs = crate::symbols::hex_addresses(string(args, 0));
            let all = crate::symbols::stack_text(crate::symbols::KernelSymbols::live(), addrs);
            let mut text = Vec::new();
            for line in all.split_inclusive('\n') {
                if text.len() + line.len() > max_len.saturating_sub(1) {
                    break;
                }
                text.extend_from_slice(line.as_bytes());
            }
            Str(text)
        }
        Log => {
            let mut line = string(args, 0).to_vec();
            line.push(b'\n');
            c.host.output(&line);
            Long(0)
        }
        Warn => {
            c.host.warn(&String::from_utf8_lossy(string(args, 0)));
            Long(0)
        }
        System => {
            c.host.system(string(args, 0));
            Long(0)
        }
        Exit => {
            c.host.exit();
            Long(0)
        }
        Abort => {
            c.host.abort();
            c.aborting = true;
            return Err("abort".to_string());
        }
        Assert => {
            if long(args, 0) == 0 {
                let msg = if args.len() > 1 { string(args, 1) } else { b"Assertion failed" };
                return Err(String::from_utf8_lossy(msg).into_owned());
            }
            Long(0)
        }
        Strlen => Long(string(args, 0).len() as i64),
        Substr => {
            let (s, start, len) = (string(args, 0), long(args, 1), long(args, 2));
            match usize::try_from(start) {
                Ok(st) if len > 0 && st < s.len() => {
                    let n = usize::try_from(len).unwrap_or(usize::MAX).min(s.len() - st);
                    Str(s.get(st..st + n).unwrap_or_default().to_vec())
                }
                _ => Str(Vec::new()),
            }
        }
        Stringat => {
            let s = string(args, 0);
            match usize::try_from(long(args, 1)).ok().and_then(|i| s.get(i)) {
                Some(&b) => Long(i64::from(b)),
                None => return Err("Position out of range".to_string()),
            }
        }
        Isinstr | Strpos => {
            let (s, sub) = (string(args, 0), string(args, 1));
            let at = if sub.is_empty() { Some(0) } else { s.windows(sub.len()).position(|w| w == sub) };
            if which == Isinstr { Long(i64::from(at.is_some())) } else { Long(at.map_or(-1, |a| a as i64)) }
        }
        TextStr => Str(text_strn(string(args, 0), 0, false, max_len)),
        TextStrn => Str(text_strn(string(args, 0), long(args, 1), long(args, 2) != 0, max_len)),
        StringQuoted => Str(text_strn(string(args, 0), 0, true, max_len)),
        StrReplace => {
            let (s, find, with) = (string(args, 0), string(args, 1), string(args, 2));
            if find.is_empty() {
                Str(s.to_vec())
            } else {
                let mut out = Vec::new();
                let mut i = 0;
                while i < s.len() {
                    if s.get(i..).is_some_and(|r| r.starts_with(find)) {
                        out.extend_from_slice(with);
                        i += find.len();
                    } else {
                        out.extend(s.get(i).copied());
                        i += 1;
                    }
                }
                Str(out)
            }
        }
        Strtol => {
            let base = long(args, 1);
            if base < 0 || base == 1 || base > 36 {
                return Err("Base must be between 2 and 36 (or 0)".to_string());
            }
            Long(strtol(string(args, 0), base))
        }
        Isdigit => Long(i64::from(string(args, 0).first().is_some_and(u8::is_ascii_digit))),
        Tokenize => Str(tokenize(c, string(args, 0), string(args, 1))),
        Matched => {
            let n = usize::try_from(long(args, 0)).ok();
            match n.and_then(|n| c.matched.get(n)) {
                Some(m) => Str(m.clone().unwrap_or_default()),
                None => return Err(format!("matched({}) without a group of that number", long(args, 0))),
            }
        }
        MatchedStr => Str(c.matched.first().cloned().flatten().unwrap_or_default()),
        Ngroups => Long(c.matched.len() as i64),
        GetCycles => Long(scaled(monotonic(), 9)),
        Jiffies => Long(jiffies()?),
        Hz => Long(kernel_hz()?),
        TimeOfDay(d) => Long(scaled(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(), d)),
        LocalClock(d) | CpuClock(d) => Long(scaled(monotonic(), d)),
        Randint => Long(randint(long(args, 0))?),
        EnvVar => {
            let name = String::from_utf8_lossy(string(args, 0)).into_owned();
            Str(std::env::var_os(name).map(|v| v.into_encoded_bytes()).unwrap_or_default())
        }
        Symbol(data) => Str(crate::symbols::KernelSymbols::live().describe(long(args, 0) as u64, data).into_bytes()),
        Pid2Execname => Str(comm(&format!("/proc/{}/comm", long(args, 0)))),
        TzGmtoff => Long(-local_zone().0),
        TzName => Str(local_zone().1),
        SprintLoadavg => {
            let mut s = loadavg().join(" ").into_bytes();
            s.push(b'\n');
            Str(s)
        }
        LoadavgIndex => {
            let i = long(args, 0);
            let field = usize::try_from(i).ok().filter(|&i| i < 3).and_then(|i| loadavg().into_iter().nth(i));
            match field {
                Some(f) => Long(f.split('.').next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                None => return Err(format!("Invalid loadavg index {i} specified.")),
            }
        }
        MemoryFault(what) => {
            return Err(format!("{what} at 0x{:x} [man error::fault]", long(args, 0)));
        }
        MemoryErrMsg => Str(string(args, args.len().saturating_sub(1)).to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_follows_c() {
        assert_eq!(strtol(b"  42abc", 10), 42);
        assert_eq!(strtol(b"-ff", 16), -255);
        assert_eq!(strtol(b"0x1F", 0), 31);
        assert_eq!(strtol(b"017", 0), 15);
        assert_eq!(strtol(b"zz", 10), 0);
    }

    #[test]
    fn text_str_escapes_like_c() {
        assert_eq!(escape(b"a\tb\n\"\\\x01"), b"a\\tb\\n\\\"\\\\\\001".to_vec());
        assert_eq!(text_strn(b"abcdef", 3, true, 128), b"\"abc\"...".to_vec());
        assert_eq!(text_strn(b"abc", 0, true, 128), b"\"abc\"".to_vec());
        // `text_str` is `text_strn(s, 0, 0)`: whole escapes only, as stap.
        assert_eq!(text_strn(b"ab\n", 0, false, 4), b"ab".to_vec());
        assert_eq!(text_strn(b"a\x01", 0, false, 5), b"a".to_vec());
    }
}
