//! Statistics (`<<<`): the per-CPU records the kernel's handlers keep,
//! their aggregation, the extractors and the histograms stap draws.
//!
//! Everything here reproduces SystemTap's own integer arithmetic (its
//! runtime's `stat-common.c`, `stat.c` and `map.c`), truncations
//! included, because scripts print what it computes: `@variance` is a
//! Welford running variance with a 32-bit difference, combined over CPUs
//! with the total-variance formula, and `print(@hist_log(s))` is stap's
//! text layout to the byte.
//!
//! A statistic without keys is combined over CPUs with
//! [`Stat::aggregate`] (stap's `_stp_stat_get`), an element of a
//! statistics array with [`Stat::merge`], CPU by CPU (stap's pairwise
//! `_new_map_copy_stat`); the two differ in the last digits of
//! `@variance` when more than two CPUs hold values, as they do in stap.

use stp_compiler::ir::StatOp;
use stp_compiler::layout::{HistLayout, LOG_BUCKETS, STAT_FIELDS};

/// A statistic's values: one CPU's record, or their aggregate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
    /// The running mean, scaled by `2^shift`.
    pub avg_s: i64,
    /// The running sum of squared differences (one CPU's; stap's `_M2`).
    pub m2: i64,
    /// The sample variance scaled by `4^shift`: one CPU's `m2 / (count -
    /// 1)`, or the combination of the CPUs'.
    pub variance_s: i64,
    /// The bit shift of `@variance(s, shift)`, 0 by default.
    pub shift: u32,
    /// The histogram's bucket counts (as `HistLayout::bucket` numbers
    /// them); empty without a histogram.
    pub buckets: Vec<i64>,
}

/// stap's `_stp_div64`: truncating division where dividing by 0 gives 0
/// and by -1 negates (wrapping).
fn div64(x: i64, y: i64) -> i64 {
    match y {
        0 => 0,
        -1 => x.wrapping_neg(),
        _ => x.wrapping_div(y),
    }
}

/// `v << shift` as C computes it on a two's complement machine.
fn scale(v: i64, shift: u32) -> i64 {
    v.wrapping_shl(shift)
}

impl Stat {
    /// A statistic with no values.
    pub fn empty(hist: HistLayout, shift: u32) -> Stat {
        Stat { shift, buckets: vec![0; hist.buckets() as usize], ..Stat::default() }
    }

    /// Decodes one CPU's record: `STAT_FIELDS` longs (see
    /// [`stp_compiler::layout::STAT_FIELDS`]), then the buckets, in the
    /// machine's byte order. `shift` is the statistic's `@variance` bit
    /// shift, which the kernel's handlers used.
    pub fn from_record(bytes: &[u8], shift: u32) -> Stat {
        let longs: Vec<i64> =
            bytes.chunks_exact(8).map(|c| i64::from_ne_bytes(c.try_into().unwrap_or([0; 8]))).collect();
        let at = |i: usize| longs.get(i).copied().unwrap_or(0);
        let (count, m2) = (at(0), at(5));
        Stat {
            count,
            sum: at(1),
            min: at(2),
            max: at(3),
            avg_s: at(4),
            m2,
            // stap stores m2 / (count - 1) after each value past the first;
            // a CPU with one value keeps the 0 it started with.
            variance_s: if count >= 2 { div64(m2, count - 1) } else { 0 },
            shift,
            buckets: longs.get(STAT_FIELDS as usize..).map(<[i64]>::to_vec).unwrap_or_default(),
        }
    }

    /// The record of a statistic holding the one value `v`.
    pub fn of(v: i64, hist: HistLayout) -> Stat {
        let mut s = Stat::empty(hist, 0);
        s.add(v, hist);
        s
    }

    /// Adds a value, as the kernel's handlers do to their CPU's record
    /// (stap's `__stp_stat_add`).
    pub fn add(&mut self, v: i64, hist: HistLayout) {
        let vs = scale(v, self.shift);
        if self.count == 0 {
            self.count = 1;
            self.sum = v;
            self.min = v;
            self.max = v;
            self.avg_s = vs;
            self.m2 = 0;
        } else {
            self.count += 1;
            self.sum = self.sum.wrapping_add(v);
            self.max = self.max.max(v);
            self.min = self.min.min(v);
            // stap keeps the difference in a C int.
            let delta = i64::from(vs.wrapping_sub(self.avg_s) as i32);
            self.avg_s = self.avg_s.wrapping_add(div64(delta, self.count));
            self.m2 = self.m2.wrapping_add(delta.wrapping_mul(vs.wrapping_sub(self.avg_s)));
            self.variance_s = div64(self.m2, self.count - 1);
        }
        if self.buckets.len() < hist.buckets() as usize {
            self.buckets.resize(hist.buckets() as usize, 0);
        }
        if let Some(b) = hist.bucket(v).and_then(|i| self.buckets.get_mut(i)) {
            *b += 1;
        }
    }

    /// Combines every CPU's record of a statistic without keys, as
    /// stap's `_stp_stat_get` does: counts, sums and buckets add up, and
    /// the variance is the total variance of the CPUs' means and
    /// variances.
    pub fn aggregate<'a>(cpus: impl IntoIterator<Item = &'a Stat> + Clone) -> Stat {
        let mut agg = Stat::default();
        for sd in cpus.clone().into_iter().filter(|sd| sd.count != 0) {
            agg.shift = sd.shift;
            if agg.count == 0 {
                agg.min = sd.min;
                agg.max = sd.max;
            }
            agg.count += sd.count;
            agg.sum = agg.sum.wrapping_add(sd.sum);
            agg.max = agg.max.max(sd.max);
            agg.min = agg.min.min(sd.min);
            add_buckets(&mut agg.buckets, &sd.buckets);
        }
        if let Some(width) = cpus.clone().into_iter().map(|sd| sd.buckets.len()).max() {
            agg.buckets.resize(agg.buckets.len().max(width), 0);
        }
        agg.avg_s = div64(scale(agg.sum, agg.shift), agg.count);
        let (mut s1, mut s2) = (0i64, 0i64);
        for sd in cpus.into_iter().filter(|sd| sd.count != 0) {
            let d = sd.avg_s.wrapping_sub(agg.avg_s);
            s1 = s1.wrapping_add(sd.count.wrapping_mul(d).wrapping_mul(d));
            s2 = s2.wrapping_add((sd.count - 1).wrapping_mul(sd.variance_s));
        }
        agg.variance_s = div64(s1.wrapping_add(s2), agg.count - 1);
        agg
    }

    /// Adds another CPU's record of an array element to this one, as
    /// stap's `_new_map_copy_stat` does when it aggregates statistics
    /// arrays CPU by CPU. Merging into an empty statistic copies.
    pub fn merge(&mut self, other: &Stat) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            let buckets = std::mem::take(&mut self.buckets);
            *self = other.clone();
            add_buckets(&mut self.buckets, &buckets);
            return;
        }
        let (count1, avg1) = (self.count, self.avg_s);
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.shift = other.shift;
        self.avg_s = div64(scale(self.sum, other.shift), self.count);
        let spread = |n: i64, avg: i64| {
            let d = avg.wrapping_sub(self.avg_s);
            n.wrapping_mul(d).wrapping_mul(d)
        };
        let s11 = spread(count1, avg1);
        let s12 = (count1 - 1).wrapping_mul(self.variance_s);
        let s21 = spread(other.count, other.avg_s);
        let s22 = (other.count - 1).wrapping_mul(other.variance_s);
        self.variance_s = div64(s11.wrapping_add(s12).wrapping_add(s21).wrapping_add(s22), self.count - 1);
        add_buckets(&mut self.buckets, &other.buckets);
    }

    /// An extractor's value, or `None` where stap reports the runtime
    /// error "empty aggregate": `@min`, `@max`, `@avg` and `@variance` of
    /// a statistic with no values. (`@count` and `@sum` give 0; under
    /// `--compatible` older than 1.5 stap refuses `@sum` too, which is the
    /// caller's to check.) `self` must be an aggregate ([`Stat::aggregate`]
    /// or [`Stat::merge`]), not one CPU's record.
    pub fn extract(&self, op: StatOp) -> Option<i64> {
        match op {
            StatOp::Count => Some(self.count),
            StatOp::Sum => Some(self.sum),
            _ if self.count == 0 => None,
            StatOp::Min => Some(self.min),
            StatOp::Max => Some(self.max),
            // Truncating towards zero, as C's `/`.
            StatOp::Avg => Some(div64(self.sum, self.count)),
            StatOp::Variance => Some(self.variance_s >> (2 * self.shift).min(63)),
        }
    }
}

fn add_buckets(into: &mut Vec<i64>, from: &[i64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.wrapping_add(*b);
    }
}

/// The knobs of stap's histogram drawing, set with `-D`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistStyle {
    /// `HIST_WIDTH`: the longest bar, in `@` (50).
    pub width: i64,
    /// `HIST_ELISION`: zero rows kept next to data before a run of zero
    /// rows becomes one `~` row (2); negative keeps every row.
    pub elision: i64,
}

impl Default for HistStyle {
    fn default() -> HistStyle {
        HistStyle { width: 50, elision: 2 }
    }
}

impl HistStyle {
    /// Reads `-D HIST_WIDTH=N` and `-D HIST_ELISION=N`; other names and
    /// unreadable values are left alone.
    pub fn from_defines(defines: &[String]) -> HistStyle {
        let mut style = HistStyle::default();
        for d in defines {
            let Some((name, value)) = d.split_once('=') else { continue };
            let Ok(v) = value.trim().parse::<i64>() else { continue };
            match name.trim() {
                "HIST_WIDTH" if v > 0 => style.width = v,
                "HIST_ELISION" => style.elision = v,
                _ => {}
            }
        }
        style
    }
}

/// The characters `v` takes in decimal (stap's `needed_space`).
fn needed_space(v: i64) -> usize {
    let digits = v.unsigned_abs().checked_ilog10().map_or(1, |d| d as usize + 1);
    digits + usize::from(v < 0)
}

/// The smallest value of a `@hist_log` bucket, as stap labels it.
fn log_bucket_value(bucket: usize) -> i64 {
    let zero = (LOG_BUCKETS / 2) as usize;
    if bucket == zero {
        0
    } else if bucket < zero {
        i64::MIN >> bucket
    } else {
        1i64.checked_shl((bucket - zero - 1) as u32).unwrap_or(0)
    }
}

/// `print(@hist_log(s))` or `print(@hist_linear(s, lo, hi, step))`: the
/// text stap prints, final empty line included.
///
/// stap refuses to print a statistic with no values ("empty aggregate");
/// the caller reports that. Given one anyway, this draws only the header.
pub fn render_hist(stat: &Stat, hist: HistLayout) -> String {
    render_hist_with(stat, hist, HistStyle::default())
}

/// [`render_hist`] with `-D HIST_WIDTH`/`HIST_ELISION` settings.
///
/// The rules (stap's `_stp_stat_print_histogram_buf`):
/// - rows run from the first to the last non-empty bucket, widened by up
///   to two buckets each way; a log histogram widens down to bucket 0
///   (the value 0) but not past it unless it holds negative values; a
///   linear histogram shows its underflow (`<lo`) and overflow (`>hi`)
///   rows only when they are not empty;
/// - a zero row whose neighbours within `elision` rows (clipped to the
///   shown range) are all zero is left out, and each run of left-out rows
///   is drawn as one `~` row when the next row is printed;
/// - a bar has `count / scale` `@`, where `scale` is 1 up to `width`
///   and else `ceil(max / width)`;
/// - the value column is as wide as the widest label (at least
///   `value`), the count column as wide as the largest count, right
///   aligned after the bar's padding.
pub fn render_hist_with(stat: &Stat, hist: HistLayout, style: HistStyle) -> String {
    let b = &stat.buckets;
    let n = b.len();
    if n == 0 || hist == HistLayout::None {
        return String::new();
    }
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let width = style.width.max(1);
    let valmax = b.iter().copied().max().unwrap_or(0).max(0);
    let (Some(first), Some(last)) = (b.iter().position(|&c| c > 0), b.iter().rposition(|&c| c > 0)) else {
        return format!("{:>5} |{} count\n\n", "value", "-".repeat(width as usize));
    };
    let zero_bucket = (LOG_BUCKETS / 2) as usize;
    let (mut low, mut high) = (first, last);
    for _ in 0..2 {
        let log_stop = matches!(hist, HistLayout::Log) && low == zero_bucket;
        if low > 0 && !log_stop {
            low -= 1;
        }
        if high < n - 1 {
            high += 1;
        }
    }
    let (mut under, mut over) = (false, false);
    if let HistLayout::Linear { .. } = hist {
        if low == 0 && at(0) == 0 {
            low += 1;
        }
        if high == n - 1 && at(high) == 0 {
            high -= 1;
        }
        under = low == 0;
        over = high == n - 1;
    }

    let scale = if valmax <= width { 1 } else { (valmax + width - 1) / width };
    let cnt_space = needed_space(valmax) as i64;
    let val_space = match hist {
        HistLayout::Linear { lo, step, .. } => (needed_space(lo) + usize::from(under))
            .max(needed_space(lo.wrapping_add(step.wrapping_mul(high as i64))) + usize::from(over)),
        _ => needed_space(log_bucket_value(high)).max(needed_space(log_bucket_value(low))),
    }
    .max("value".len());

    let mut out = format!("{:>val_space$} |{} count\n", "value", "-".repeat(width as usize));
    let mut eliding = false;
    for i in low..=high {
        if style.elision >= 0 {
            let reach = style.elision.min(n as i64);
            let from = (i as i64 - reach).max(low as i64) as usize;
            let to = (i as i64 + reach).min(high as i64) as usize;
            if (from..=to).all(|k| at(k) == 0) {
                eliding = true;
                continue;
            }
            if eliding {
                out.push_str(&format!("{:>val_space$} ~\n", ""));
                eliding = false;
            }
        }
        let (prefix, value) = match hist {
            HistLayout::Linear { lo, .. } if i == 0 => ("<", lo),
            HistLayout::Linear { lo, step, .. } if i == n - 1 => {
                (">", lo.wrapping_add((i as i64 - 2).wrapping_mul(step)))
            }
            HistLayout::Linear { lo, step, .. } => ("", lo.wrapping_add((i as i64 - 1).wrapping_mul(step))),
            _ => ("", log_bucket_value(i)),
        };
        let pad = val_space.saturating_sub(needed_space(value));
        let count = at(i);
        let bar = (count.max(0) / scale).min(width);
        out.push_str(&format!("{prefix:>pad$}{value} |{}", "@".repeat(bar as usize)));
        let count_width = (width - bar + 1 + cnt_space) as usize;
        out.push_str(&format!("{count:>count_width$}\n"));
    }
    out.push('\n');
    out
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
