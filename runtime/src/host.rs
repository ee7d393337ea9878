//! What user-placed handlers need from the running script: its globals,
//! maps and statistics, its output, and its control (`exit()`).
//!
//! The runtime implements [`Host`] over the kernel's maps; tests implement
//! it in memory. Keys and values are byte records laid out as
//! [`stp_compiler::layout`] says, so the same bytes go to the kernel's
//! maps unchanged.

use stp_compiler::ir::GlobalId;

use crate::stats::Stat;

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
