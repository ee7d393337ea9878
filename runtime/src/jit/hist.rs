//! Drawing a histogram for `print(@hist_log(s))` and
//! `print(@hist_linear(s, lo, hi, step))`.
//!
//! The drawing itself belongs to [`crate::stats`] (stap's exact text
//! layout, shared with the kernel side's output); this is the one place
//! the user-side code calls it from.

use stp_compiler::layout::HistLayout;

use crate::stats::Stat;

/// The histogram's text.
pub fn render(stat: &Stat, hist: HistLayout) -> String {
    draw(stat, hist)
}

fn draw(stat: &Stat, hist: HistLayout) -> String {
    crate::stats::render_hist(stat, hist)
}
