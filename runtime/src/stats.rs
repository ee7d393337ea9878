//! Statistics (`<<<`): the per-CPU records the kernel's handlers keep,
//! their aggregation, the extractors and the histograms stap draws.

use stp_compiler::layout::{HistLayout, STAT_FIELDS};
use stp_compiler::parse::ast::StatOp;

/// A statistic's values aggregated over every CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
    /// The sum of the squares of the values (wrapping).
    pub sum_sq: i64,
    /// The histogram's bucket counts (as `HistLayout::bucket` numbers
    /// them); empty without a histogram.
    pub buckets: Vec<i64>,
}

impl Stat {
    /// Decodes one CPU's record: `STAT_FIELDS` longs, then the buckets,
    /// in the machine's byte order.
    pub fn from_record(bytes: &[u8]) -> Stat {
        let longs: Vec<i64> =
            bytes.chunks_exact(8).map(|c| i64::from_ne_bytes(c.try_into().unwrap_or([0; 8]))).collect();
        let at = |i: usize| longs.get(i).copied().unwrap_or(0);
        Stat {
            count: at(0),
            sum: at(1),
            min: at(2),
            max: at(3),
            sum_sq: at(4),
            buckets: longs.get(STAT_FIELDS as usize..).map(<[i64]>::to_vec).unwrap_or_default(),
        }
    }

    /// The record of a statistic holding the one value `v`.
    pub fn of(v: i64, hist: HistLayout) -> Stat {
        let mut buckets = vec![0; hist.buckets() as usize];
        if let Some(b) = hist.bucket(v).and_then(|i| buckets.get_mut(i)) {
            *b = 1;
        }
        Stat { count: 1, sum: v, min: v, max: v, sum_sq: v.wrapping_mul(v), buckets }
    }

    /// Adds another CPU's record (or another value's) to this one.
    pub fn merge(&mut self, other: &Stat) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            self.min = other.min;
            self.max = other.max;
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
        self.sum_sq = self.sum_sq.wrapping_add(other.sum_sq);
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }

    /// An extractor's value. `@avg` and `@variance` of an empty statistic
    /// are errors (stap's wording is the caller's).
    pub fn extract(&self, op: StatOp) -> Option<i64> {
        match op {
            StatOp::Count => Some(self.count),
            StatOp::Sum => Some(self.sum),
            StatOp::Min => Some(self.min),
            StatOp::Max => Some(self.max),
            StatOp::Avg => (self.count > 0).then(|| self.sum / self.count),
            StatOp::Variance => variance(self),
        }
    }
}

/// The sample variance, as stap computes it in integers.
fn variance(s: &Stat) -> Option<i64> {
    if s.count == 0 {
        return None;
    }
    if s.count == 1 {
        return Some(0);
    }
    let n = i128::from(s.count);
    let sum = i128::from(s.sum);
    let sq = i128::from(s.sum_sq);
    Some(((sq - sum * sum / n) / (n - 1)) as i64)
}
