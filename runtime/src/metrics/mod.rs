//! `--metrics ADDR:PORT`: the script's measures served over HTTP as a
//! Prometheus target (`GET /metrics`, text exposition format 0.0.4).
//!
//! Each scrape is answered on the event loop's thread, between two reads
//! of the ring buffer: with `prometheus` probes, their handlers run on
//! the user side and what they print (their `$value .= ...` included) is
//! the answer; without, the script's numeric globals are read from the
//! kernel's maps at that moment and written as metric families
//! ([`exposition`]): `stp_NAME` gauges for longs and arrays of longs
//! (keys as labels `key`, or `key1`..`keyN`), statistics as summaries
//! (`_sum`, `_count`) or, with a histogram, as Prometheus histograms.
//!
//! The HTTP side is tiny_http's: it accepts and parses requests on its
//! own thread; the loop takes them with `try_recv`, never waiting.

pub mod text;

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use stp_compiler::ir::{FuncId, GlobalId, GlobalKind, Ty};
use stp_compiler::layout::{HistLayout, LOG_BUCKETS, ValueLayout};
use stp_compiler::source::SourceMap;

use crate::host::{Host, State};
use crate::report::Value as KeyValue;
use crate::run::{Failure, UserCode};
use crate::stats::Stat;
use text::{Family, Kind, Series, Value};

/// The HTTP endpoint and the `prometheus` handlers it runs.
pub(crate) struct Exporter<'a> {
    server: tiny_http::Server,
    /// Each `prometheus` probe's handler and point, in the script's order.
    handlers: Vec<(FuncId, &'a str)>,
}

impl<'a> Exporter<'a> {
    /// Listens on `addr` (`HOST:PORT`).
    pub(crate) fn bind(addr: &str, handlers: Vec<(FuncId, &'a str)>) -> Result<Exporter<'a>, Failure> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| crate::run::Failure(format!("cannot serve metrics on {addr}: {e}")))?;
        Ok(Exporter { server, handlers })
    }

    /// Answers the requests that have come in; a handler's error is
    /// reported as a timer's is, and `failed` set past MAXERRORS.
    pub(crate) fn serve(&self, st: &mut State<'_>, sm: &SourceMap, user: &dyn UserCode, failed: &mut bool) {
        while let Ok(Some(request)) = self.server.try_recv() {
            let path = request.url().split('?').next().unwrap_or_default().to_string();
            let method = request.method().clone();
            let response = match (&method, path.as_str()) {
                (tiny_http::Method::Get | tiny_http::Method::Head, "/metrics") => {
                    match self.scrape(st, sm, user, failed) {
                        Ok(body) => respond(body, 200, text::CONTENT_TYPE),
                        Err(message) => respond(message.into_bytes(), 500, "text/plain; charset=utf-8"),
                    }
                }
                (tiny_http::Method::Get | tiny_http::Method::Head, _) => {
                    respond(b"stp serves its metrics at /metrics\n".to_vec(), 404, "text/plain; charset=utf-8")
                }
                _ => respond(b"only GET and HEAD\n".to_vec(), 405, "text/plain; charset=utf-8"),
            };
            let _ = request.respond(response);
        }
    }

    /// The answer to one scrape, or why there is none.
    fn scrape(
        &self,
        st: &mut State<'_>,
        sm: &SourceMap,
        user: &dyn UserCode,
        failed: &mut bool,
    ) -> Result<Vec<u8>, String> {
        if self.handlers.is_empty() {
            return Ok(text::render(&exposition(st)).into_bytes());
        }
        let _ = st.out.flush();
        let captured = Rc::new(RefCell::new(Vec::new()));
        let saved = std::mem::replace(&mut st.out, Box::new(Capture(Rc::clone(&captured))));
        // The scrape's answer is the text the handlers print, whatever the
        // run's own output format.
        let format = std::mem::replace(&mut st.format, crate::json::OutputFormat::Text);
        let mut errors = Vec::new();
        for (f, point) in &self.handlers {
            if let Err(e) = user.run(*f, point, st) {
                errors.push(e);
                break;
            }
        }
        st.out = saved;
        st.format = format;
        if let Some(e) = errors.into_iter().next() {
            crate::events::report(st, sm, &e.message, e.span);
            *failed = st.errors > st.c.layout.limits.max_errors;
            return Err(format!("the prometheus probe failed: {}\n", e.message));
        }
        Ok(captured.take())
    }
}

fn respond(body: Vec<u8>, status: u16, content_type: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut r = tiny_http::Response::from_data(body).with_status_code(status);
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        r.add_header(h);
    }
    r
}

/// The output of handlers run for a scrape.
struct Capture(Rc<RefCell<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The script's numeric globals as metric families, read now. The
/// library's globals (and any named with a leading `__`) and strings are
/// left out.
pub(crate) fn exposition(st: &mut State<'_>) -> Vec<Family> {
    let c = st.c;
    let mut out = Vec::new();
    for (i, g) in c.module.globals.iter().enumerate() {
        let id = GlobalId(i as u32);
        if g.name.starts_with("__") || c.tapset_globals.contains(&id) {
            continue;
        }
        let name = format!("stp_{}", g.name);
        match &g.kind {
            GlobalKind::Scalar(Ty::Long) => {
                let Some(slot) = c.layout.scalar(id) else { continue };
                let v = st.globals.bytes(slot.offset, 8).try_into().map(i64::from_ne_bytes).unwrap_or(0);
                out.push(Family {
                    name,
                    help: format!("global {}", g.name),
                    kind: Kind::Gauge,
                    series: vec![Series { labels: Vec::new(), value: Value::Gauge(v) }],
                });
            }
            GlobalKind::Array { keys, value: Ty::Long } => {
                let Some(ml) = c.layout.map(id).cloned() else { continue };
                let mut series: Vec<(Vec<KeyValue>, i64)> = st
                    .map_entries(id, ml.value_size as usize)
                    .into_iter()
                    .map(|(k, v)| {
                        let n = v.get(..8).and_then(|b| b.try_into().ok()).map_or(0, i64::from_ne_bytes);
                        (crate::globals::decode_key(&c.layout, &ml, &k), n)
                    })
                    .collect();
                series.sort_by(|a, b| key_order(&a.0, &b.0));
                out.push(Family {
                    name,
                    help: format!("global array {}[{}]", g.name, type_list(keys)),
                    kind: Kind::Gauge,
                    series: series
                        .into_iter()
                        .map(|(k, v)| Series { labels: labels(&k), value: Value::Gauge(v) })
                        .collect(),
                });
            }
            GlobalKind::Stats { keys } => {
                let Some(ml) = c.layout.map(id).cloned() else { continue };
                let ValueLayout::Stat(hist) = ml.value else { continue };
                let mut entries: Vec<(Vec<KeyValue>, Stat)> = if keys.is_empty() {
                    let key = vec![0u8; ml.key_size as usize];
                    vec![(Vec::new(), st.stat_get(id, &key).unwrap_or_else(|| Stat::empty(hist, 0)))]
                } else {
                    st.stat_entries(id)
                        .into_iter()
                        .map(|(k, s)| (crate::globals::decode_key(&c.layout, &ml, &k), s))
                        .collect()
                };
                entries.sort_by(|a, b| key_order(&a.0, &b.0));
                let kind = if hist == HistLayout::None { Kind::Summary } else { Kind::Histogram };
                let help = if keys.is_empty() {
                    format!("statistic {}", g.name)
                } else {
                    format!("statistics array {}[{}]", g.name, type_list(keys))
                };
                let series = entries
                    .into_iter()
                    .map(|(k, s)| Series { labels: labels(&k), value: stat_value(&s, hist) })
                    .collect();
                out.push(Family { name, help, kind, series });
            }
            GlobalKind::Scalar(Ty::Str) | GlobalKind::Array { value: Ty::Str, .. } => {}
        }
    }
    out
}

fn type_list(keys: &[Ty]) -> String {
    keys.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
}

fn key_order(a: &[KeyValue], b: &[KeyValue]) -> std::cmp::Ordering {
    let text = |k: &[KeyValue]| k.iter().map(key_text).collect::<Vec<_>>();
    let long = |k: &[KeyValue]| k.iter().map(|v| if let KeyValue::Long(n) = v { *n } else { 0 }).collect::<Vec<_>>();
    long(a).cmp(&long(b)).then_with(|| text(a).cmp(&text(b)))
}

fn key_text(v: &KeyValue) -> String {
    match v {
        KeyValue::Long(n) => n.to_string(),
        KeyValue::Str(s) => String::from_utf8_lossy(s).into_owned(),
    }
}

/// An array's keys as labels: `key` for one, `key1`..`keyN` for more.
fn labels(keys: &[KeyValue]) -> Vec<(String, String)> {
    match keys {
        [one] => vec![("key".to_string(), key_text(one))],
        _ => keys.iter().enumerate().map(|(i, k)| (format!("key{}", i + 1), key_text(k))).collect(),
    }
}

fn stat_value(s: &Stat, hist: HistLayout) -> Value {
    if hist == HistLayout::None {
        return Value::Summary { count: s.count, sum: s.sum };
    }
    Value::Histogram { buckets: bucket_bounds(hist, &s.buckets), count: s.count, sum: s.sum }
}

/// A histogram's buckets as (inclusive upper bound, count). The values
/// are integers, so stap's `[a, b)` is Prometheus' `le = b - 1`. Of a
/// log histogram, the buckets from the lowest used (or 0) to the highest
/// used (or 0); of a linear one, every bucket but the overflow, whose
/// values only `+Inf` counts.
pub(crate) fn bucket_bounds(hist: HistLayout, buckets: &[i64]) -> Vec<(i64, i64)> {
    let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    match hist {
        HistLayout::None => Vec::new(),
        HistLayout::Log => {
            let zero = (LOG_BUCKETS / 2) as usize;
            let used: Vec<usize> = (0..buckets.len()).filter(|&b| buckets.get(b).is_some_and(|n| *n != 0)).collect();
            let first = used.first().copied().unwrap_or(zero).min(zero);
            let last = used.last().copied().unwrap_or(zero).max(zero);
            (first..=last)
                .map(|b| {
                    let bound = match b.cmp(&zero) {
                        std::cmp::Ordering::Equal => 0,
                        std::cmp::Ordering::Greater => (1i128 << (b - zero)) - 1,
                        std::cmp::Ordering::Less => -(1i128 << (zero - b - 1)),
                    };
                    (clamp(bound), buckets.get(b).copied().unwrap_or(0))
                })
                .collect()
        }
        HistLayout::Linear { lo, step, .. } => {
            let last = hist.buckets() as usize - 1;
            (0..last)
                .map(|b| {
                    let bound = i128::from(lo) + b as i128 * i128::from(step) - 1;
                    (clamp(bound), buckets.get(b).copied().unwrap_or(0))
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stp_compiler::layout::log_bucket;

    /// Puts each value in its bucket as the kernel's handlers do, then
    /// checks that every value is counted in the first bucket whose bound
    /// is at least the value, by an independent count.
    fn check(hist: HistLayout, values: &[i64]) {
        let mut buckets = vec![0i64; hist.buckets() as usize];
        for &v in values {
            if let Some(b) = hist.bucket(v).and_then(|b| buckets.get_mut(b)) {
                *b += 1;
            }
        }
        let bounds = bucket_bounds(hist, &buckets);
        let mut cumulative = 0;
        for (le, n) in &bounds {
            cumulative += n;
            let expected = values.iter().filter(|&&v| v <= *le).count() as i64;
            assert_eq!(cumulative, expected, "le {le} of {bounds:?}");
        }
        assert!(bounds.windows(2).all(|w| w[0].0 < w[1].0), "{bounds:?}");
    }

    #[test]
    fn log_buckets_bound_their_values() {
        check(HistLayout::Log, &[0, 1, 2, 3, 4, 7, 8, 1000, -1, -2, -3, -5]);
        check(HistLayout::Log, &[5, 6, 6, 9]);
        check(HistLayout::Log, &[i64::MAX, i64::MIN, 0]);
        // Without values: the bucket of 0 alone.
        assert_eq!(bucket_bounds(HistLayout::Log, &[0; LOG_BUCKETS as usize]), vec![(0, 0)]);
        assert_eq!(log_bucket(7), 67);
        let mut b = vec![0; LOG_BUCKETS as usize];
        if let Some(x) = b.get_mut(67) {
            *x = 2;
        }
        assert_eq!(bucket_bounds(HistLayout::Log, &b), vec![(0, 0), (1, 0), (3, 0), (7, 2)]);
    }

    #[test]
    fn linear_buckets_bound_their_values() {
        let hist = HistLayout::Linear { lo: 0, hi: 100, step: 10 };
        check(hist, &[-5, 0, 9, 10, 55, 99, 100, 109, 110, 5000]);
        let bounds = bucket_bounds(hist, &vec![0; hist.buckets() as usize]);
        assert_eq!(bounds.first(), Some(&(-1, 0)));
        assert_eq!(bounds.last(), Some(&(109, 0)));
        check(HistLayout::Linear { lo: -50, hi: 50, step: 25 }, &[-51, -50, -26, -25, 0, 49, 50, 74, 75]);
    }

    #[test]
    fn keys_become_key_or_numbered_labels() {
        assert_eq!(labels(&[KeyValue::Str(b"cat".to_vec())]), vec![("key".to_string(), "cat".to_string())]);
        assert_eq!(
            labels(&[KeyValue::Long(3), KeyValue::Str(b"x".to_vec())]),
            vec![("key1".to_string(), "3".to_string()), ("key2".to_string(), "x".to_string())]
        );
    }
}
