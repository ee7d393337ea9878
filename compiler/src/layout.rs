//! How a script's data is laid out in memory, the one definition that the
//! eBPF back end, the user-side code and the runtime all follow.
//!
//! - Global scalars live in one record, the value of the one-entry array
//!   map `globals`: a long takes 8 bytes, a string `MAXSTRINGLEN` bytes
//!   (NUL-padded, rounded up to 8).
//! - An associative array is a hash map whose key is a record of its keys
//!   in order (the same sizes) and whose value is one long or string.
//! - A statistic is a per-CPU hash map whose value is a [`STAT_FIELDS`]
//!   record of longs followed by its histogram's buckets; a statistic
//!   without keys has one key, a zero long.

use crate::diag::Diagnostic;
use crate::ir::{GlobalId, GlobalKind, Hist, InstKind, Module, Operand, Ty};
use crate::source::Span;

/// The limits a script runs under: SystemTap's names, set with `-D`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// The size of a string, its terminating NUL included.
    pub max_string_len: u32,
    /// Entries an array holds when its declaration gives no size.
    pub max_map_entries: u32,
    /// Statements a handler may run.
    pub max_action: u64,
    /// Runtime errors tolerated before the script stops (0: the first
    /// one stops it).
    pub max_errors: u64,
    /// Nested function calls in user-placed handlers (kernel-placed ones
    /// inline their calls).
    pub max_nesting: u64,
    /// Kernel functions one probe may attach to (a wildcard matching more
    /// is refused, rather than attached by the thousand).
    pub max_function_probes: u64,
    /// Frames a kernel backtrace holds.
    pub max_backtrace: u32,
    /// Bytes of kernel memory the script's maps may take in all
    /// (`MAXMAPMEMORY`, stp's own; see `bpf::mapmem`).
    pub max_map_memory: u64,
    /// The fewest syscall tracepoints of one side that go through one
    /// dispatcher on the raw syscall tracepoint (0: none do); see
    /// `bpf::codegen::dispatch`.
    pub syscall_dispatch_min: u64,
}

/// The fewest syscall tracepoints of one side (entry or exit) that go
/// through a dispatcher. Below it each keeps its own tracepoint: the
/// dispatcher saves (n - 1) attachments of ~70 ms each, but it runs for
/// every system call of the machine (a few helper calls for those not
/// probed), which is not worth it for a probe on one or two calls.
pub const SYSCALL_DISPATCH_MIN: u64 = 4;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_string_len: 128,
            max_map_entries: 2048,
            max_action: 1000,
            max_errors: 0,
            max_nesting: 10,
            max_function_probes: 1000,
            max_backtrace: 20,
            max_map_memory: 1 << 30,
            syscall_dispatch_min: SYSCALL_DISPATCH_MIN,
        }
    }
}

impl Limits {
    /// Applies `-D NAME=VALUE` settings; unknown names are left to the
    /// caller (stap passes them to the C compiler), bad values refused.
    pub fn from_defines(defines: &[String]) -> Result<Limits, Diagnostic> {
        let mut l = Limits::default();
        for d in defines {
            let (name, value) = d.split_once('=').unwrap_or((d.as_str(), "1"));
            let parse = || -> Result<u64, Diagnostic> {
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| Diagnostic::error(format!("invalid value '{value}' for -D {name}")))
            };
            match name.trim() {
                "MAXSTRINGLEN" => {
                    let v = parse()?;
                    if !(2..=4096).contains(&v) {
                        return Err(Diagnostic::error(format!("-D MAXSTRINGLEN={v}: stp accepts 2 to 4096")));
                    }
                    l.max_string_len = v as u32;
                }
                "MAXMAPENTRIES" => {
                    let v = parse()?;
                    if v == 0 || v > u64::from(u32::MAX) {
                        return Err(Diagnostic::error(format!("-D MAXMAPENTRIES={v} is out of range")));
                    }
                    l.max_map_entries = v as u32;
                }
                "MAXACTION" => l.max_action = parse()?,
                "MAXERRORS" => l.max_errors = parse()?,
                "MAXMAPMEMORY" => l.max_map_memory = parse()?,
                "MAXNESTING" => l.max_nesting = parse()?,
                "MAXFUNCTIONPROBES" => l.max_function_probes = parse()?,
                "SYSCALL_DISPATCH_MIN" => l.syscall_dispatch_min = parse()?,
                "MAXBACKTRACE" => {
                    let v = parse()?;
                    if !(1..=127).contains(&v) {
                        return Err(Diagnostic::error(format!("-D MAXBACKTRACE={v}: stp accepts 1 to 127")));
                    }
                    l.max_backtrace = v as u32;
                }
                _ => {}
            }
        }
        Ok(l)
    }
}

/// The number of longs before a statistic's buckets, in this order:
///
/// 0. `count`;
/// 1. `sum` (wrapping);
/// 2. `min`, 3. `max`;
/// 4. `avg_s`, the running mean scaled by `2^shift`;
/// 5. `m2`, the running sum of squared differences (scaled by `4^shift`).
///
/// `shift` is the statistic's `@variance(s, shift)` bit shift (0 when no
/// extractor gives one). Adding `v` to one CPU's record is stap's
/// Welford update, integer truncations included, since `@variance`
/// prints what it computes:
///
/// - when `count == 0`: `count = 1`, `sum = min = max = v`,
///   `avg_s = v << shift`, `m2 = 0`;
/// - else: `count += 1`, `sum += v`, `min`/`max` as usual, then with
///   `vs = v << shift` and `delta = (vs - avg_s)` truncated to 32 bits
///   and sign-extended (stap keeps it in a C `int`):
///   `avg_s += delta / count` (division truncating towards zero),
///   `m2 += delta * (vs - avg_s)` (with the new `avg_s`, wrapping);
/// - then the histogram's bucket `HistLayout::bucket(v)` is incremented.
///
/// The runtime derives each CPU's variance (`m2 / (count - 1)`) and
/// combines the CPUs as stap does (`runtime/src/stats.rs`).
pub const STAT_FIELDS: u32 = 6;

/// Buckets of a `@hist_log`, numbered as stap numbers them (the numbers
/// are visible to scripts: `foreach (b in @hist_log(s))`): bucket 64 holds
/// zero, bucket `64 + k` values in `[2^(k-1), 2^k)` (up to 127 for
/// `i64::MAX`), bucket `64 - k` their negatives (down to 0 for `i64::MIN`).
pub const LOG_BUCKETS: u32 = 128;

/// The bucket of `@hist_log` that holds `v`.
pub fn log_bucket(v: i64) -> usize {
    let mag = v.unsigned_abs();
    let k = 64 - mag.leading_zeros() as usize; // 0 for 0, 1 for 1, 2 for 2..3, ...
    if v < 0 { 64 - k } else { 64 + k }
}

/// A statistic's histogram, as the script's extractors ask for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HistLayout {
    None,
    Log,
    /// stap's numbering: bucket 0 holds the values below `lo`, bucket
    /// `i` for `1 <= i <= n + 1` (with `n = (hi - lo) / step`) the values
    /// in `[lo + (i-1)*step, lo + i*step)`, and bucket `n + 2` the rest.
    /// So `[hi, hi + step)` is still in range (stap draws it as `hi`) and
    /// the overflow row, drawn `>hi`, starts at `hi + step`.
    Linear {
        lo: i64,
        hi: i64,
        step: i64,
    },
}

impl HistLayout {
    pub fn buckets(self) -> u32 {
        match self {
            HistLayout::None => 0,
            HistLayout::Log => LOG_BUCKETS,
            HistLayout::Linear { lo, hi, step } => ((hi - lo) / step) as u32 + 3,
        }
    }

    /// The bucket of `v`, computed as stap computes it: `v - lo`
    /// (wrapping), below zero the underflow bucket, else an unsigned
    /// division by `step` plus one, capped at the overflow bucket.
    pub fn bucket(self, v: i64) -> Option<usize> {
        match self {
            HistLayout::None => None,
            HistLayout::Log => Some(log_bucket(v)),
            HistLayout::Linear { lo, step, .. } => {
                let last = u64::from(self.buckets()) - 1;
                let d = v.wrapping_sub(lo);
                Some(if d < 0 { 0 } else { (d as u64 / step.unsigned_abs() + 1).min(last) as usize })
            }
        }
    }
}

/// Where a global scalar lives in the globals record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slot {
    pub offset: u32,
    pub ty: Ty,
    /// Its bytes: a long's 8; a string's MAXSTRINGLEN, or less for a
    /// string key no value of which can be longer (see [`key_bounds`]).
    pub size: u32,
}

/// A map's key and value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MapLayout {
    /// Each key's type and offset in the key record.
    pub keys: Vec<Slot>,
    pub key_size: u32,
    pub value: ValueLayout,
    pub value_size: u32,
    pub max_entries: u32,
    /// `%`: full, it drops its least recently used entries.
    pub wrap: bool,
    /// A statistic's `@variance` bit shift (see [`STAT_FIELDS`]).
    #[serde(default)]
    pub shift: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ValueLayout {
    Long,
    Str,
    Stat(HistLayout),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    pub limits: Limits,
    /// For each global: its place in the globals record, if a scalar.
    pub scalars: Vec<Option<Slot>>,
    pub globals_size: u32,
    /// Where the globals record keeps `target()`'s pid, which the
    /// runtime writes before attaching (after the scripts' globals).
    pub target_offset: u32,
    /// Where the kernel's handlers count the records the full ring
    /// buffer could not take.
    pub lost_offset: u32,
    /// Where the runtime keeps CLOCK_REALTIME minus CLOCK_MONOTONIC, in
    /// ns, for `gettimeofday_*()` in kernel handlers.
    pub realtime_offset: u32,
    /// Where a nonzero word says the script is ending (`exit()`, a signal,
    /// the end of `-c`): kernel handlers then return at once, as stap's
    /// probes stop firing once the session stops.
    pub exit_offset: u32,
    /// For each global: its map, if an array or a statistic.
    pub maps: Vec<Option<MapLayout>>,
}

fn round8(n: u32) -> u32 {
    n.div_ceil(8) * 8
}

impl Layout {
    /// The bytes a value of `ty` takes.
    pub fn size_of(&self, ty: Ty) -> u32 {
        match ty {
            Ty::Long => 8,
            Ty::Str => round8(self.limits.max_string_len),
        }
    }

    pub fn scalar(&self, g: GlobalId) -> Option<Slot> {
        self.scalars.get(g.0 as usize).copied().flatten()
    }

    pub fn map(&self, g: GlobalId) -> Option<&MapLayout> {
        self.maps.get(g.0 as usize).and_then(Option::as_ref)
    }

    /// A key record: each key in turn, a string in `bounds[i]` bytes
    /// (rounded up to 8) where that is known.
    fn record(&self, tys: &[Ty], bounds: &[u32]) -> (Vec<Slot>, u32) {
        let mut at = 0;
        let slots = tys
            .iter()
            .enumerate()
            .map(|(i, &ty)| {
                let size = match (ty, bounds.get(i)) {
                    (Ty::Str, Some(&b)) => b.clamp(1, self.size_of(ty)).div_ceil(8) * 8,
                    _ => self.size_of(ty),
                };
                let s = Slot { offset: at, ty, size };
                at += size;
                s
            })
            .collect();
        (slots, at)
    }

    /// Lays out a module's globals. A histogram's bounds must be literal
    /// numbers, as in stap, and every extractor of one statistic must ask
    /// for the same histogram.
    pub fn new(m: &Module, limits: Limits) -> Result<Layout, Diagnostic> {
        let hists = histograms(m)?;
        let shifts = variance_shifts(m)?;
        let bounds = key_bounds(m, limits.max_string_len);
        let no_bounds = Vec::new();
        let mut l = Layout {
            limits,
            scalars: Vec::new(),
            globals_size: 0,
            target_offset: 0,
            lost_offset: 0,
            realtime_offset: 0,
            exit_offset: 0,
            maps: Vec::new(),
        };
        for (i, g) in m.globals.iter().enumerate() {
            match &g.kind {
                GlobalKind::Scalar(ty) => {
                    l.scalars.push(Some(Slot { offset: l.globals_size, ty: *ty, size: l.size_of(*ty) }));
                    l.globals_size += l.size_of(*ty);
                    l.maps.push(None);
                }
                GlobalKind::Array { keys, value } => {
                    let (keys, key_size) = l.record(keys, bounds.get(i).unwrap_or(&no_bounds));
                    let value_size = l.size_of(*value);
                    let value = if *value == Ty::Long { ValueLayout::Long } else { ValueLayout::Str };
                    l.scalars.push(None);
                    l.maps.push(Some(MapLayout {
                        keys,
                        key_size,
                        value,
                        value_size,
                        max_entries: entries(g.size, limits),
                        wrap: g.wrap,
                        shift: 0,
                    }));
                }
                GlobalKind::Stats { keys } => {
                    let hist = hists.get(i).copied().flatten().unwrap_or(HistLayout::None);
                    let (slots, key_size) = if keys.is_empty() {
                        (Vec::new(), 8)
                    } else {
                        l.record(keys, bounds.get(i).unwrap_or(&no_bounds))
                    };
                    l.scalars.push(None);
                    l.maps.push(Some(MapLayout {
                        keys: slots,
                        key_size,
                        value: ValueLayout::Stat(hist),
                        value_size: (STAT_FIELDS + hist.buckets()) * 8,
                        max_entries: if keys.is_empty() { 1 } else { entries(g.size, limits) },
                        wrap: g.wrap,
                        shift: shifts.get(i).copied().flatten().unwrap_or(0),
                    }));
                }
            }
        }
        l.target_offset = l.globals_size;
        l.lost_offset = l.globals_size + 8;
        l.realtime_offset = l.globals_size + 16;
        l.exit_offset = l.globals_size + 24;
        l.globals_size += 32;
        Ok(l)
    }
}

/// For each global array or statistic, the most bytes (with the NUL) a
/// value of each string key can have, from every place that names a key:
/// a literal's length, 16 for `execname()`, what a variable may hold
/// (followed through copies and concatenations, and a `foreach` key
/// being no longer than its array's), else MAXSTRINGLEN. Keys no longer
/// than they need hash and compare faster. The arrays' bounds only grow:
/// the passes over the functions repeat until they settle.
pub fn key_bounds(m: &Module, max_len: u32) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); m.globals.len()];
    loop {
        let before = out.clone();
        key_bounds_pass(m, max_len, &mut out);
        if out == before {
            return out;
        }
    }
}

fn key_bounds_pass(m: &Module, max_len: u32, out: &mut [Vec<u32>]) {
    use crate::ir::Operand;
    for f in &m.functions {
        // What each string variable may hold, to a fixed point (a
        // parameter may hold anything).
        let mut bound: Vec<u32> = vec![0; f.vars.len()];
        for p in &f.params {
            if let Some(b) = bound.get_mut(p.0 as usize) {
                *b = max_len;
            }
        }
        let of = |bound: &[u32], o: &Operand| -> u32 {
            match o {
                Operand::Str(bytes) => (bytes.len() as u32 + 1).min(max_len),
                Operand::Var(v) => bound.get(v.0 as usize).copied().unwrap_or(max_len),
                Operand::Long(_) => 0,
            }
        };
        let mut changed = true;
        while changed {
            changed = false;
            for inst in f.blocks.iter().flat_map(|b| &b.insts) {
                let (dst, b) = match &inst.kind {
                    InstKind::Copy { dst, src } => (*dst, of(&bound, src)),
                    InstKind::Concat { dst, a, b } => {
                        (*dst, (of(&bound, a) + of(&bound, b)).saturating_sub(1).min(max_len))
                    }
                    InstKind::Intrinsic { dst: Some(dst), name, .. } if name == "execname" => (*dst, 16),
                    InstKind::IterNext { map, keys, value, .. } => {
                        // A key of the array is as long as the array's; a
                        // string value may be as long as any.
                        let row = out.get(map.0 as usize).cloned().unwrap_or_default();
                        let bounds = keys.iter().enumerate().map(|(i, k)| (*k, row.get(i).copied().unwrap_or(1)));
                        for (k, b) in bounds.chain(value.map(|v| (v, max_len))) {
                            if f.var(k).is_some_and(|v| v.ty == Ty::Str)
                                && let Some(x) = bound.get_mut(k.0 as usize)
                                && *x < b
                            {
                                *x = b;
                                changed = true;
                            }
                        }
                        continue;
                    }
                    k => {
                        // Anything else a string comes from may be as long as any.
                        let defs = std::cell::RefCell::new(Vec::new());
                        crate::ir::inline::rename_kind(
                            k,
                            &|v| {
                                defs.borrow_mut().push(v);
                                v
                            },
                            &|o| o.clone(),
                        );
                        for d in defs.into_inner() {
                            if f.var(d).is_some_and(|v| v.ty == Ty::Str)
                                && let Some(x) = bound.get_mut(d.0 as usize)
                                && *x < max_len
                            {
                                *x = max_len;
                                changed = true;
                            }
                        }
                        continue;
                    }
                };
                if f.var(dst).is_some_and(|v| v.ty == Ty::Str)
                    && let Some(x) = bound.get_mut(dst.0 as usize)
                    && *x < b
                {
                    *x = b;
                    changed = true;
                }
            }
        }
        for inst in f.blocks.iter().flat_map(|b| &b.insts) {
            let (g, keys): (_, Vec<Option<&Operand>>) = match &inst.kind {
                InstKind::MapGet { map, keys, .. } | InstKind::MapSet { map, keys, .. } => {
                    (map, keys.iter().map(Some).collect())
                }
                InstKind::StatAdd { stat, keys, .. }
                | InstKind::StatGet { stat, keys, .. }
                | InstKind::HistPrint { stat, keys, .. }
                | InstKind::HistBucket { stat, keys, .. } => (stat, keys.iter().map(Some).collect()),
                InstKind::MapHas { map, keys, .. } => (map, keys.iter().map(Option::as_ref).collect()),
                InstKind::Update { global, keys: Some(keys), .. } => (global, keys.iter().map(Some).collect()),
                InstKind::MapDelete { map, keys: Some(keys) } => (map, keys.iter().map(Option::as_ref).collect()),
                InstKind::IterStart { map, slice, .. } => (map, slice.iter().map(Option::as_ref).collect()),
                _ => continue,
            };
            let Some(row) = out.get_mut(g.0 as usize) else { continue };
            if row.len() < keys.len() {
                row.resize(keys.len(), 1);
            }
            for (slot, k) in row.iter_mut().zip(keys) {
                if let Some(k) = k {
                    *slot = (*slot).max(of(&bound, k));
                }
            }
        }
    }
}

fn entries(size: Option<u64>, limits: Limits) -> u32 {
    size.map_or(limits.max_map_entries, |s| s.clamp(1, u64::from(u32::MAX)) as u32)
}

/// The histogram each statistic needs, from the extractors that use it.
fn histograms(m: &Module) -> Result<Vec<Option<HistLayout>>, Diagnostic> {
    let mut out: Vec<Option<HistLayout>> = vec![None; m.globals.len()];
    for f in &m.functions {
        for inst in f.blocks.iter().flat_map(|b| &b.insts) {
            let (stat, hist) = match &inst.kind {
                InstKind::HistPrint { stat, hist, .. } | InstKind::HistBucket { stat, hist, .. } => (stat, hist),
                _ => continue,
            };
            let want = hist_layout(hist, inst.span)?;
            let Some(slot) = out.get_mut(stat.0 as usize) else { continue };
            match slot {
                None => *slot = Some(want),
                Some(have) if *have == want => {}
                Some(_) => {
                    return Err(Diagnostic::semantic_error(
                        "this statistic is already used with another histogram",
                        inst.span,
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Each statistic's `@variance` bit shift, where an extractor gives one;
/// every `@variance` of one statistic must give the same, as in stap (a
/// `@variance` without one leaves it to the others).
fn variance_shifts(m: &Module) -> Result<Vec<Option<u32>>, Diagnostic> {
    let mut out: Vec<Option<u32>> = vec![None; m.globals.len()];
    for f in &m.functions {
        for inst in f.blocks.iter().flat_map(|b| &b.insts) {
            let InstKind::StatGet { stat, shift, .. } = &inst.kind else { continue };
            if *shift == 0 {
                continue;
            }
            let Some(slot) = out.get_mut(stat.0 as usize) else { continue };
            match slot {
                None => *slot = Some(*shift),
                Some(have) if have == shift => {}
                Some(have) => {
                    return Err(Diagnostic::semantic_error(
                        format!("this statistic is already used with another @variance bit shift ({have})"),
                        inst.span,
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn hist_layout(h: &Hist, span: Span) -> Result<HistLayout, Diagnostic> {
    match h {
        Hist::Log => Ok(HistLayout::Log),
        Hist::Linear { lo, hi, step } => {
            let (Operand::Long(lo), Operand::Long(hi), Operand::Long(step)) = (lo, hi, step) else {
                return Err(Diagnostic::semantic_error("the bounds of @hist_linear must be literal numbers", span));
            };
            if *step <= 0 || hi <= lo {
                return Err(Diagnostic::semantic_error(
                    "@hist_linear needs a positive step and a high bound above the low one",
                    span,
                ));
            }
            let n = (hi - lo) / step;
            // stap's histograms have at most 128 buckets, two of them
            // for under- and overflow and one for [hi, hi + step).
            if n > 125 {
                return Err(Diagnostic::semantic_error(
                    format!("@hist_linear with {n} buckets: at most 125 fit a histogram"),
                    span,
                ));
            }
            Ok(HistLayout::Linear { lo: *lo, hi: *hi, step: *step })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buckets_are_powers_of_two_either_side_of_zero() {
        assert_eq!(log_bucket(0), 64);
        assert_eq!(log_bucket(1), 65);
        assert_eq!(log_bucket(2), 66);
        assert_eq!(log_bucket(3), 66);
        assert_eq!(log_bucket(4), 67);
        assert_eq!(log_bucket(-1), 63);
        assert_eq!(log_bucket(-3), 62);
        assert_eq!(log_bucket(i64::MAX), 127);
        assert_eq!(log_bucket(i64::MIN), 0);
    }

    #[test]
    fn linear_buckets_have_under_and_overflow() {
        // stap's numbering: [hi, hi + step) is the last bucket in range.
        let h = HistLayout::Linear { lo: 0, hi: 100, step: 10 };
        assert_eq!(h.buckets(), 13);
        assert_eq!(h.bucket(-1), Some(0));
        assert_eq!(h.bucket(0), Some(1));
        assert_eq!(h.bucket(99), Some(10));
        assert_eq!(h.bucket(100), Some(11));
        assert_eq!(h.bucket(109), Some(11));
        assert_eq!(h.bucket(110), Some(12));
        assert_eq!(h.bucket(i64::MAX), Some(12));
        let neg = HistLayout::Linear { lo: -100, hi: 100, step: 10 };
        assert_eq!(neg.bucket(-101), Some(0));
        assert_eq!(neg.bucket(-100), Some(1));
        assert_eq!(neg.bucket(-10), Some(10));
    }

    #[test]
    fn defines_set_limits_and_refuse_bad_values() {
        let l =
            Limits::from_defines(&["MAXSTRINGLEN=64".into(), "MAXMAPENTRIES=10".into(), "FOO".into()]).expect("valid");
        assert_eq!((l.max_string_len, l.max_map_entries), (64, 10));
        assert!(Limits::from_defines(&["MAXSTRINGLEN=x".into()]).is_err());
        assert!(Limits::from_defines(&["MAXSTRINGLEN=1".into()]).is_err());
    }

    /// A string key that only ever gets `execname()` (through a copy) and
    /// short literals is 16 bytes; one that also gets a string of
    /// unknown length is MAXSTRINGLEN.
    #[test]
    fn string_keys_are_as_long_as_their_values_can_be() {
        use crate::elab::Placement;
        use crate::ir::{Block, Function, Global, GlobalId, Inst, Operand, Terminator, VarDecl, VarId};
        use crate::source::Span;
        let array = |name: &str| Global {
            name: name.into(),
            kind: GlobalKind::Array { keys: vec![Ty::Str, Ty::Long], value: Ty::Long },
            size: None,
            wrap: false,
            init: None,
        };
        let set = |g: u32, k: Operand| InstKind::MapSet {
            map: GlobalId(g),
            keys: vec![k, Operand::Long(1)],
            value: Operand::Long(1),
        };
        let insts = vec![
            InstKind::Intrinsic { dst: Some(VarId(0)), name: "execname".into(), args: Vec::new() },
            InstKind::Copy { dst: VarId(1), src: Operand::Var(VarId(0)) },
            set(0, Operand::Var(VarId(1))),
            set(0, Operand::Str(b"short".to_vec())),
            set(1, Operand::Var(VarId(1))),
            InstKind::LoadGlobal { dst: VarId(2), global: GlobalId(2) },
            set(1, Operand::Var(VarId(2))),
            // A key of `a` read back by foreach is as long as `a`'s.
            InstKind::IterNext {
                iter: VarId(4),
                map: GlobalId(0),
                found: VarId(5),
                keys: vec![VarId(3), VarId(6)],
                value: None,
            },
            set(3, Operand::Var(VarId(3))),
        ];
        let f = Function {
            name: "f".into(),
            placement: Placement::Kernel,
            params: Vec::new(),
            ret: None,
            vars: [Ty::Str, Ty::Str, Ty::Str, Ty::Str, Ty::Long, Ty::Long, Ty::Long]
                .into_iter()
                .map(|ty| VarDecl { name: String::new(), ty })
                .collect(),
            blocks: vec![Block {
                insts: insts.into_iter().map(|kind| Inst { kind, span: Span::DUMMY }).collect(),
                term: Terminator::Return(None),
                term_span: Span::DUMMY,
                on_error: None,
            }],
            span: Span::DUMMY,
        };
        let scalar =
            Global { name: "s".into(), kind: GlobalKind::Scalar(Ty::Str), size: None, wrap: false, init: None };
        let m = Module {
            globals: vec![array("a"), array("b"), scalar, array("c")],
            functions: vec![f],
            handlers: Vec::new(),
        };
        let l = Layout::new(&m, Limits::default()).expect("a layout");
        let sizes =
            |g: u32| l.map(GlobalId(g)).map(|ml| (ml.keys.iter().map(|k| k.size).collect::<Vec<_>>(), ml.key_size));
        assert_eq!(sizes(0), Some((vec![16, 8], 24)));
        assert_eq!(sizes(1), Some((vec![128, 8], 136)));
        assert_eq!(sizes(3), Some((vec![16, 8], 24)));
    }
}
