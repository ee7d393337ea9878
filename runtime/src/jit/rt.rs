//! The run-time half of the back end: the context a handler runs with and
//! the `extern "C"` helpers the generated code calls for everything that
//! is more than a few machine instructions.
//!
//! Every helper takes the context first. A helper that can fail returns
//! a status (0: done, else: failed, with the message in the context) and
//! writes its result through a pointer; the generated code checks the
//! status and goes to the block's `catch` or out of the function. Long
//! arguments and results are `i64`; a string is a pointer to a
//! NUL-terminated buffer (see [`super::strings`]). Key operands come as
//! an array of `i64` slots, one per key: the long, or the string's
//! address; `mask` bit `i` set means key `i` is `*`.
//!
//! Safety: the helpers are called only by the generated code, with the
//! context `Jit::run` made, string pointers to NUL-terminated buffers of
//! the running code (its frames, its constants, the globals record), and
//! arrays as long as the IR instruction says.

use std::cmp::Ordering;

use stp_compiler::ir::{GlobalId, Ty};
use stp_compiler::ir::{SortBy, StatOp};
use stp_compiler::layout::{MapLayout, ValueLayout};

use super::strings;
use super::{Tables, builtins};
use crate::host::Host;
use crate::stats::Stat;

/// Errors the generated code detects itself.
pub const E_DIVISION: i64 = 1;
pub const E_MAXACTION: i64 = 2;
pub const E_EXHAUSTED: i64 = 3;

/// Offsets of the fields the generated code reads and writes directly.
pub const OFF_ACTIONS: i32 = 0;
pub const OFF_SITE: i32 = 8;
pub const OFF_GLOBALS: i32 = 16;

/// One run of a handler. The first fields are read and written by the
/// generated code at the `OFF_*` offsets.
#[repr(C)]
pub struct Ctx<'a> {
    /// Actions executed so far (see the module documentation of `jit`).
    pub actions: i64,
    /// The instruction being run: an index into `Tables::sites`.
    pub site: i64,
    /// The globals record.
    pub globals: *mut u8,
    pub host: &'a mut dyn Host,
    pub tables: &'a Tables,
    /// The handler's probe point, for `pp()`.
    pub point: &'a str,
    /// The pending runtime error.
    pub error: Option<String>,
    /// `abort()`: the error that ends the handler cannot be caught.
    pub aborting: bool,
    /// Function calls in progress.
    pub depth: usize,
    /// String frames by call depth; a frame's buffer does not move while
    /// its function runs.
    pub frames: Vec<Vec<u64>>,
    /// `foreach` iterations, by handle - 1.
    pub iters: Vec<Iteration>,
    /// The groups of the last successful `=~`, for `matched()`.
    pub matched: Vec<Option<Vec<u8>>>,
}

impl Ctx<'_> {
    pub fn fail(&mut self, message: impl Into<String>) -> i64 {
        self.error = Some(message.into());
        1
    }

    fn max_len(&self) -> usize {
        self.tables.max_len
    }

    /// The string an argument slot points to.
    ///
    /// # Safety
    /// `p` is a string buffer or constant of the running code.
    pub unsafe fn str_arg<'s>(&self, p: i64) -> &'s [u8] {
        // SAFETY: the generated code passes string buffers of `str_size` bytes.
        unsafe { strings::read(p as *const u8, self.tables.str_size) }
    }

    /// Writes a string result into a buffer of the running code.
    ///
    /// # Safety
    /// `dst` is a string buffer of the running code (or null).
    pub unsafe fn put_str(&self, dst: *mut u8, s: &[u8]) {
        // SAFETY: buffers hold `str_size >= max_len` bytes.
        unsafe { strings::write(dst, s, self.max_len()) }
    }

    /// A frame of at least `size` bytes for call depth `depth`.
    pub fn frame(&mut self, depth: usize, size: usize) -> *mut u8 {
        while self.frames.len() <= depth {
            self.frames.push(Vec::new());
        }
        let Some(f) = self.frames.get_mut(depth) else { return std::ptr::null_mut() };
        let words = size.div_ceil(8).max(1);
        if f.len() < words {
            f.resize(words, 0);
        }
        f.as_mut_ptr().cast()
    }
}

/// Reborrows the context the generated code passes.
///
/// # Safety
/// `ctx` is the context of the run in progress.
unsafe fn cx<'a, 'b>(ctx: *mut Ctx<'b>) -> &'a mut Ctx<'b> {
    // SAFETY: the generated code passes the pointer `Jit::run` gave it.
    unsafe { &mut *ctx }
}

/// The `i64` slots of an argument array.
///
/// # Safety
/// `p` points to `n` readable slots (or `n` is 0).
unsafe fn slots<'a>(p: *const i64, n: usize) -> &'a [i64] {
    if p.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: the generated code builds arrays of the size it says.
    unsafe { std::slice::from_raw_parts(p, n) }
}

pub unsafe extern "C" fn raise(ctx: *mut Ctx<'_>, code: i64, site: i64) {
    // SAFETY: see `cx`.
    let c = unsafe { cx(ctx) };
    c.site = site;
    c.error = Some(
        match code {
            E_DIVISION => "division by 0",
            E_MAXACTION => "MAXACTION exceeded",
            E_EXHAUSTED => "all functions exhausted",
            _ => "unknown error",
        }
        .to_string(),
    );
}

/// `error(msg)`.
pub unsafe extern "C" fn raise_msg(ctx: *mut Ctx<'_>, msg: *const u8, site: i64) {
    // SAFETY: see `cx`; `msg` is a string of the running code.
    let c = unsafe { cx(ctx) };
    let m = unsafe { c.str_arg(msg as i64) };
    c.site = site;
    c.error = Some(String::from_utf8_lossy(m).into_owned());
}

/// Takes the pending error into `dst` (if not null) for a `catch`.
/// Returns non-zero when the error cannot be caught (`abort()`).
pub unsafe extern "C" fn catch(ctx: *mut Ctx<'_>, dst: *mut u8) -> i64 {
    // SAFETY: see `cx`.
    let c = unsafe { cx(ctx) };
    if c.aborting {
        return 1;
    }
    let m = c.error.take().unwrap_or_default();
    // SAFETY: `dst` is a string variable's buffer.
    unsafe { c.put_str(dst, m.as_bytes()) };
    0
}

/// Before a call: the callee's frame, or null past MAXNESTING.
pub unsafe extern "C" fn call_enter(ctx: *mut Ctx<'_>, size: i64, site: i64) -> *mut u8 {
    // SAFETY: see `cx`.
    let c = unsafe { cx(ctx) };
    if c.depth as u64 >= c.tables.layout.limits.max_nesting {
        c.site = site;
        c.fail("MAXNESTING exceeded");
        return std::ptr::null_mut();
    }
    c.depth += 1;
    c.frame(c.depth, usize::try_from(size).unwrap_or(0))
}

pub unsafe extern "C" fn call_leave(ctx: *mut Ctx<'_>) {
    // SAFETY: see `cx`.
    let c = unsafe { cx(ctx) };
    c.depth = c.depth.saturating_sub(1);
}

pub unsafe extern "C" fn str_copy(ctx: *mut Ctx<'_>, dst: *mut u8, src: *const u8) {
    // SAFETY: see `cx`; both are strings of the running code.
    let c = unsafe { cx(ctx) };
    unsafe { c.put_str(dst, c.str_arg(src as i64)) };
}

/// A string into the globals record: NUL-padded to its slot's size.
pub unsafe extern "C" fn str_store(ctx: *mut Ctx<'_>, dst: *mut u8, src: *const u8) {
    // SAFETY: see `cx`; `dst` is a string slot of the globals record.
    let c = unsafe { cx(ctx) };
    let s = unsafe { c.str_arg(src as i64) };
    unsafe { strings::write_padded(dst, s, c.tables.max_len, c.tables.str_size) };
}

pub unsafe extern "C" fn concat(ctx: *mut Ctx<'_>, dst: *mut u8, a: *const u8, b: *const u8) {
    // SAFETY: see `cx`; all are strings of the running code.
    let c = unsafe { cx(ctx) };
    let mut s = unsafe { c.str_arg(a as i64) }.to_vec();
    s.extend_from_slice(unsafe { c.str_arg(b as i64) });
    unsafe { c.put_str(dst, &s) };
}

/// -1, 0 or 1, as `strcmp`.
pub unsafe extern "C" fn str_cmp(ctx: *mut Ctx<'_>, a: *const u8, b: *const u8) -> i64 {
    // SAFETY: see `cx`.
    let c = unsafe { cx(ctx) };
    let (a, b) = unsafe { (c.str_arg(a as i64), c.str_arg(b as i64)) };
    match a.cmp(b) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

/// `s =~ re`: 1 or 0; a match keeps its groups for `matched()`.
pub unsafe extern "C" fn regex_match(ctx: *mut Ctx<'_>, re: i64, s: *const u8) -> i64 {
    // SAFETY: see `cx`.
    let c = unsafe { cx(ctx) };
    let s = unsafe { c.str_arg(s as i64) };
    let Some(re) = usize::try_from(re).ok().and_then(|i| c.tables.regexes.get(i)) else { return 0 };
    match re.captures(s) {
        Some(caps) => {
            c.matched = caps.iter().map(|m| m.map(|m| m.as_bytes().to_vec())).collect();
            1
        }
        None => 0,
    }
}

/// A map's layout; it borrows the tables, not the context, so that the
/// context stays free to use.
fn map_layout(tables: &Tables, map: i64) -> Option<&MapLayout> {
    tables.layout.map(GlobalId(u32::try_from(map).ok()?))
}

/// The bytes key `i` takes in a key record.
fn key_field(m: &MapLayout, i: usize) -> Option<std::ops::Range<usize>> {
    let s = m.keys.get(i)?;
    let end = m.keys.get(i + 1).map_or(m.key_size, |n| n.offset);
    Some(s.offset as usize..end as usize)
}

/// A key record from key slots.
///
/// # Safety
/// String slots point to strings of the running code.
unsafe fn key_record(c: &Ctx<'_>, m: &MapLayout, keys: &[i64], mask: i64) -> Vec<u8> {
    let mut rec = vec![0u8; m.key_size as usize];
    for (i, (slot, &k)) in m.keys.iter().zip(keys).enumerate() {
        if i < 64 && mask & (1 << i) != 0 {
            continue;
        }
        let at = slot.offset as usize;
        let bytes: Vec<u8> = match slot.ty {
            Ty::Long => k.to_ne_bytes().to_vec(),
            // SAFETY: the caller's promise.
            Ty::Str => strings::truncate(unsafe { c.str_arg(k) }, c.max_len().min(slot.size as usize)).to_vec(),
        };
        if let Some(dst) = rec.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(&bytes);
        }
    }
    rec
}

/// Whether a key record matches the slots not masked out.
fn key_matches(m: &MapLayout, rec: &[u8], want: &[u8], mask: i64) -> bool {
    m.keys.iter().enumerate().all(|(i, slot)| {
        if i < 64 && mask & (1 << i) != 0 {
            return true;
        }
        let range = key_field(m, i).unwrap_or_default();
        let field = |r: &[u8]| -> Vec<u8> {
            let f = r.get(range.clone()).unwrap_or_default();
            if slot.ty == Ty::Str { strings::from_field(f).to_vec() } else { f.to_vec() }
        };
        field(rec) == field(want)
    })
}

fn mask_is_empty(m: &MapLayout, mask: i64) -> bool {
    (0..m.keys.len().min(64)).all(|i| mask & (1 << i) == 0)
}

/// `a[k...]`: a long's value, or writes a string's into `dst`.
pub unsafe extern "C" fn map_get(ctx: *mut Ctx<'_>, map: i64, keys: *const i64, dst: *mut u8) -> i64 {
    // SAFETY: see `cx`; `keys` holds one slot per key.
    let c = unsafe { cx(ctx) };
    let Some(m) = map_layout(c.tables, map) else { return 0 };
    let rec = unsafe { key_record(c, m, slots(keys, m.keys.len()), 0) };
    let mut value = vec![0u8; m.value_size as usize];
    let found = c.host.map_get(GlobalId(map as u32), &rec, &mut value);
    match m.value {
        ValueLayout::Str => {
            let s = if found { strings::from_field(&value) } else { &[] };
            // SAFETY: `dst` is the destination variable's buffer.
            unsafe { c.put_str(dst, s) };
            0
        }
        _ => {
            found.then(|| value.get(..8).and_then(|b| b.try_into().ok()).map(i64::from_ne_bytes)).flatten().unwrap_or(0)
        }
    }
}

/// `a[k...] = v`; fails when the array is full.
pub unsafe extern "C" fn map_set(ctx: *mut Ctx<'_>, map: i64, keys: *const i64, value: i64) -> i64 {
    // SAFETY: see `cx`; `keys` holds one slot per key.
    let c = unsafe { cx(ctx) };
    let Some(m) = map_layout(c.tables, map) else { return 0 };
    let rec = unsafe { key_record(c, m, slots(keys, m.keys.len()), 0) };
    let val = match m.value {
        ValueLayout::Str => {
            let mut v = vec![0u8; m.value_size as usize];
            // SAFETY: a string value is a string of the running code.
            let s = strings::truncate(unsafe { c.str_arg(value) }, c.max_len());
            if let Some(d) = v.get_mut(..s.len()) {
                d.copy_from_slice(s);
            }
            v
        }
        _ => value.to_ne_bytes().to_vec(),
    };
    match c.host.map_set(GlobalId(map as u32), &rec, &val) {
        Ok(()) => 0,
        Err(e) => c.fail(e),
    }
}

/// `delete a[k...]`, with `*` keys; `keys` null: the whole array.
pub unsafe extern "C" fn map_delete(ctx: *mut Ctx<'_>, map: i64, keys: *const i64, mask: i64) {
    // SAFETY: see `cx`; `keys` holds one slot per key.
    let c = unsafe { cx(ctx) };
    let Some(m) = map_layout(c.tables, map) else { return };
    let g = GlobalId(map as u32);
    if keys.is_null() {
        c.host.map_delete(g, None);
        return;
    }
    let rec = unsafe { key_record(c, m, slots(keys, m.keys.len()), mask) };
    if mask_is_empty(m, mask) {
        c.host.map_delete(g, Some(&rec));
        return;
    }
    for k in c.host.map_keys(g) {
        if key_matches(m, &k, &rec, mask) {
            c.host.map_delete(g, Some(&k));
        }
    }
}

/// `[k...] in a`, with `*` keys.
pub unsafe extern "C" fn map_has(ctx: *mut Ctx<'_>, map: i64, keys: *const i64, mask: i64) -> i64 {
    // SAFETY: see `cx`; `keys` holds one slot per key.
    let c = unsafe { cx(ctx) };
    let Some(m) = map_layout(c.tables, map) else { return 0 };
    let g = GlobalId(map as u32);
    let rec = unsafe { key_record(c, m, slots(keys, m.keys.len()), mask) };
    if !mask_is_empty(m, mask) {
        return i64::from(c.host.map_keys(g).iter().any(|k| key_matches(m, k, &rec, mask)));
    }
    if let ValueLayout::Stat(_) = m.value {
        return i64::from(c.host.stat_get(g, &rec).is_some_and(|s| s.count > 0));
    }
    let mut value = vec![0u8; m.value_size as usize];
    i64::from(c.host.map_get(g, &rec, &mut value))
}

pub unsafe extern "C" fn stat_add(ctx: *mut Ctx<'_>, stat: i64, keys: *const i64, value: i64) {
    // SAFETY: see `cx`; `keys` holds one slot per key.
    let c = unsafe { cx(ctx) };
    let Some(m) = map_layout(c.tables, stat) else { return };
    let rec = unsafe { key_record(c, m, slots(keys, m.keys.len()), 0) };
    c.host.stat_add(GlobalId(stat as u32), &rec, value);
}

fn stat_op(code: i64) -> StatOp {
    match code {
        0 => StatOp::Count,
        1 => StatOp::Sum,
        2 => StatOp::Min,
        3 => StatOp::Max,
        4 => StatOp::Avg,
        _ => StatOp::Variance,
    }
}

pub fn stat_op_code(op: StatOp) -> i64 {
    match op {
        StatOp::Count => 0,
        StatOp::Sum => 1,
        StatOp::Min => 2,
        StatOp::Max => 3,
        StatOp::Avg => 4,
        StatOp::Variance => 5,
    }
}

/// An extractor's value as stap gives it: `@count` and `@sum` of an
/// empty statistic are 0, the others fail with "empty aggregate".
pub fn extract(stat: Option<&Stat>, op: StatOp) -> Result<i64, &'static str> {
    let empty = stat.is_none_or(|s| s.count == 0);
    match (empty, op) {
        (true, StatOp::Count | StatOp::Sum) => Ok(0),
        (true, _) => Err("empty aggregate"),
        (false, _) => stat.and_then(|s| s.extract(op)).ok_or("empty aggregate"),
    }
}

/// `@count(s[k...])` and the other extractors, into `out`.
pub unsafe extern "C" fn stat_get(ctx: *mut Ctx<'_>, stat: i64, keys: *const i64, op: i64, out: *mut i64) -> i64 {
    // SAFETY: see `cx`; `keys` holds one slot per key, `out` one long.
    let c = unsafe { cx(ctx) };
    let Some(m) = map_layout(c.tables, stat) else { return 0 };
    let rec = unsafe { key_record(c, m, slots(keys, m.keys.len()), 0) };
    let s = c.host.stat_get(GlobalId(stat as u32), &rec);
    match extract(s.as_ref(), stat_op(op)) {
        Ok(v) => {
            // SAFETY: `out` is a long slot.
            unsafe { out.write(v) };
            0
        }
        Err(e) => c.fail(e),
    }
}

fn stat_or_empty(c: &mut Ctx<'_>, stat: i64, rec: &[u8], m: &MapLayout) -> Stat {
    let hist = match m.value {
        ValueLayout::Stat(h) => h,
        _ => stp_compiler::layout::HistLayout::None,
    };
    c.host
        .stat_get(GlobalId(stat as u32), rec)
        .unwrap_or_else(|| Stat { buckets: vec![0; hist.buckets() as usize], ..Stat::default() })
}

/// `print(@hist_log(s[k...]))`: the histogram drawn.
pub unsafe extern "C" fn hist_print(ctx: *mut Ctx<'_>, stat: i64, keys: *const i64) {
    // SAFETY: see `cx`; `keys` holds one slot per key.
    let c = unsafe { cx(ctx) };
    let Some(m) = map_layout(c.tables, stat) else { return };
    let rec = unsafe { key_record(c, m, slots(keys, m.keys.len()), 0) };
    let s = stat_or_empty(c, stat, &rec, m);
    let hist = match m.value {
        ValueLayout::Stat(h) => h,
        _ => stp_compiler::layout::HistLayout::None,
    };
    c.host.hist(GlobalId(stat as u32), &rec, &s, hist);
}

/// `@hist_log(s[k...])[i]`: bucket `i` as the layout numbers them.
pub unsafe extern "C" fn hist_bucket(ctx: *mut Ctx<'_>, stat: i64, keys: *const i64, index: i64, out: *mut i64) -> i64 {
    // SAFETY: see `cx`; `keys` holds one slot per key, `out` one long.
    let c = unsafe { cx(ctx) };
    let Some(m) = map_layout(c.tables, stat) else { return 0 };
    let rec = unsafe { key_record(c, m, slots(keys, m.keys.len()), 0) };
    let s = stat_or_empty(c, stat, &rec, m);
    let hist = match m.value {
        ValueLayout::Stat(h) => h,
        _ => stp_compiler::layout::HistLayout::None,
    };
    let n = i64::from(hist.buckets());
    if !(0..n).contains(&index) {
        return c.fail("histogram index out of range");
    }
    let v = usize::try_from(index).ok().and_then(|i| s.buckets.get(i)).copied().unwrap_or(0);
    // SAFETY: `out` is a long slot.
    unsafe { out.write(v) };
    0
}

/// A key or value as an iteration hands it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scalar {
    Long(i64),
    Str(Vec<u8>),
}

impl Scalar {
    fn cmp(&self, other: &Scalar) -> Ordering {
        match (self, other) {
            (Scalar::Long(a), Scalar::Long(b)) => a.cmp(b),
            (Scalar::Str(a), Scalar::Str(b)) => a.cmp(b),
            (Scalar::Long(_), Scalar::Str(_)) => Ordering::Less,
            (Scalar::Str(_), Scalar::Long(_)) => Ordering::Greater,
        }
    }
}

/// A `foreach` in progress: the entries as they were when it started.
pub struct Iteration {
    entries: Vec<(Vec<Scalar>, Scalar)>,
    next: usize,
}

fn decode_keys(m: &MapLayout, rec: &[u8]) -> Vec<Scalar> {
    m.keys
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let f = key_field(m, i).and_then(|r| rec.get(r)).unwrap_or_default();
            match s.ty {
                Ty::Long => Scalar::Long(f.try_into().map(i64::from_ne_bytes).unwrap_or(0)),
                Ty::Str => Scalar::Str(strings::from_field(f).to_vec()),
            }
        })
        .collect()
}

/// Starts a `foreach`: reuses `handle`'s slot (the same loop run again)
/// or takes a new one; returns the handle.
pub unsafe extern "C" fn iter_start(
    ctx: *mut Ctx<'_>,
    desc: i64,
    handle: i64,
    limit: i64,
    slice: *const i64,
    mask: i64,
) -> i64 {
    // SAFETY: see `cx`; `slice` holds one slot per key.
    let c = unsafe { cx(ctx) };
    let tables = c.tables;
    let Some(d) = usize::try_from(desc).ok().and_then(|i| tables.iters.get(i)) else { return 0 };
    let Some(m) = tables.layout.map(d.map) else { return 0 };
    let want = if d.slice { Some(unsafe { key_record(c, m, slots(slice, m.keys.len()), mask) }) } else { None };
    // The entries in one batch read (or a few), rather than a lookup
    // per key.
    let mut entries = Vec::new();
    let keep = |rec: &[u8]| want.as_ref().is_none_or(|w| key_matches(m, rec, w, mask));
    match m.value {
        ValueLayout::Long | ValueLayout::Str => {
            for (rec, v) in c.host.map_entries(d.map, m.value_size as usize) {
                if !keep(&rec) {
                    continue;
                }
                let value = if m.value == ValueLayout::Long {
                    Scalar::Long(v.get(..8).and_then(|b| b.try_into().ok()).map_or(0, i64::from_ne_bytes))
                } else {
                    Scalar::Str(strings::from_field(&v).to_vec())
                };
                entries.push((decode_keys(m, &rec), value));
            }
        }
        ValueLayout::Stat(_) => {
            let op = d.aggregate.unwrap_or(StatOp::Count);
            for (rec, s) in c.host.stat_entries(d.map) {
                if keep(&rec) {
                    entries.push((decode_keys(m, &rec), Scalar::Long(s.extract(op).unwrap_or(0))));
                }
            }
        }
    }
    // Unsorted, the keys come ascending, which stap leaves unspecified.
    // Ties of a sort on one key or on the value fall back on the keys.
    let by_keys = |a: &(Vec<Scalar>, Scalar), b: &(Vec<Scalar>, Scalar)| {
        a.0.iter().zip(&b.0).map(|(x, y)| x.cmp(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    };
    match d.sort {
        None => entries.sort_by(by_keys),
        Some(sort) => entries.sort_by(|a, b| {
            let primary = match sort.by {
                SortBy::Value => a.1.cmp(&b.1),
                SortBy::Key(i) => match (a.0.get(i), b.0.get(i)) {
                    (Some(x), Some(y)) => x.cmp(y),
                    _ => Ordering::Equal,
                },
            };
            let primary = if sort.descending { primary.reverse() } else { primary };
            primary.then_with(|| by_keys(a, b))
        }),
    }
    if d.limit {
        entries.truncate(usize::try_from(limit).unwrap_or(0));
    }
    let it = Iteration { entries, next: 0 };
    match usize::try_from(handle).ok().and_then(|h| h.checked_sub(1)).and_then(|i| c.iters.get_mut(i)) {
        Some(slot) => {
            *slot = it;
            handle
        }
        None => {
            c.iters.push(it);
            c.iters.len() as i64
        }
    }
}

/// The next entry of a `foreach`: 1 with the keys (and the value) in
/// `outs` (a long written there, a string into the buffer the slot
/// points to), or 0 at the end.
pub unsafe extern "C" fn iter_next(ctx: *mut Ctx<'_>, handle: i64, outs: *mut i64, n: i64) -> i64 {
    // SAFETY: see `cx`; `outs` holds `n` slots.
    let c = unsafe { cx(ctx) };
    let max_len = c.max_len();
    let Some(it) = usize::try_from(handle).ok().and_then(|h| h.checked_sub(1)).and_then(|i| c.iters.get_mut(i)) else {
        return 0;
    };
    let Some((keys, value)) = it.entries.get(it.next) else { return 0 };
    it.next += 1;
    let n = usize::try_from(n).unwrap_or(0);
    for (i, v) in keys.iter().chain(std::iter::once(value)).enumerate().take(n) {
        // SAFETY: `outs` holds `n` slots; string slots point to buffers.
        unsafe {
            let slot = outs.add(i);
            match v {
                Scalar::Long(x) => slot.write(*x),
                Scalar::Str(s) => strings::write(slot.read() as *mut u8, s, max_len),
            }
        }
    }
    1
}

/// The print family, as `Tables::prints[desc]` describes the call; `args`
/// holds the delimiter (if any) then the values. `sprint*` write `dst`.
pub unsafe extern "C" fn print(ctx: *mut Ctx<'_>, desc: i64, args: *const i64, dst: *mut u8) {
    // SAFETY: see `cx`; `args` holds the slots the description says.
    let c = unsafe { cx(ctx) };
    let tables = c.tables;
    let Some(d) = usize::try_from(desc).ok().and_then(|i| tables.prints.get(i)) else { return };
    let n = d.tys.len() + usize::from(d.delimiter);
    let all = unsafe { slots(args, n) };
    let (delim, values) = if d.delimiter { all.split_at(1.min(all.len())) } else { (&[][..], all) };
    let delim = delim.first().map(|&p| unsafe { c.str_arg(p) }).unwrap_or_default();
    let values: Vec<Scalar> = values
        .iter()
        .zip(&d.tys)
        .map(|(&v, ty)| match ty {
            Ty::Long => Scalar::Long(v),
            Ty::Str => Scalar::Str(unsafe { c.str_arg(v) }.to_vec()),
        })
        .collect();
    let text = super::output::render(d, delim, &values);
    if dst.is_null() {
        c.host.output(&text);
    } else {
        // SAFETY: `dst` is the destination variable's buffer.
        unsafe { c.put_str(dst, &text) };
    }
}

/// A user-side intrinsic, as `Tables::builtins[desc]` says; a long
/// result goes to `out`, a string one into the buffer `out` points to.
pub unsafe extern "C" fn builtin(ctx: *mut Ctx<'_>, desc: i64, args: *const i64, out: *mut i64) -> i64 {
    // SAFETY: see `cx`; `args` holds the intrinsic's parameters.
    let c = unsafe { cx(ctx) };
    let tables = c.tables;
    let Some(b) = usize::try_from(desc).ok().and_then(|i| tables.builtins.get(i)) else { return 0 };
    let args = unsafe { slots(args, b.params.len()) };
    let values: Vec<Scalar> = args
        .iter()
        .zip(&b.params)
        .map(|(&v, ty)| match ty {
            Ty::Long => Scalar::Long(v),
            Ty::Str => Scalar::Str(unsafe { c.str_arg(v) }.to_vec()),
        })
        .collect();
    match builtins::call(c, b.which, &values) {
        Ok(Scalar::Long(v)) => {
            if !out.is_null() {
                // SAFETY: `out` is a long slot for a long intrinsic.
                unsafe { out.write(v) };
            }
            0
        }
        Ok(Scalar::Str(s)) => {
            // SAFETY: for a string intrinsic, `out` is the destination buffer.
            unsafe { c.put_str(out.cast(), &s) };
            0
        }
        Err(e) => c.fail(e),
    }
}
