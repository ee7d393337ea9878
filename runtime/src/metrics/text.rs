//! The Prometheus text exposition format, version 0.0.4: metric families
//! with their `# HELP` and `# TYPE` lines, samples with labels, and
//! histograms as cumulative `_bucket{le="..."}` counts ending at `+Inf`,
//! then `_sum` and `_count`.
//!
//! In: families built by the caller (names as the script has them).
//! Out: the text. Invariants: every name written matches the format's
//! grammar (`[a-zA-Z_:][a-zA-Z0-9_:]*` for metrics,
//! `[a-zA-Z_][a-zA-Z0-9_]*` and no leading `__` for labels), every label
//! value and help text is escaped, each family's lines are contiguous.

use std::fmt::Write;

/// The content type of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a family's `# TYPE` line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// `_sum` and `_count` without quantiles.
    Summary,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
            Kind::Histogram => "histogram",
        }
    }
}

/// One labelled series of a family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    /// Label names (sanitized when written) and values (escaped).
    pub labels: Vec<(String, String)>,
    pub value: Value,
}

/// A series' value, by its family's kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Gauge(i64),
    Summary {
        count: i64,
        sum: i64,
    },
    /// Buckets as (inclusive upper bound, count in that bucket alone), in
    /// increasing order of bound; the count above the last bound is
    /// `count` less their sum.
    Histogram {
        buckets: Vec<(i64, i64)>,
        count: i64,
        sum: i64,
    },
}

/// A metric family: one name, one `# HELP`, one `# TYPE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub series: Vec<Series>,
}

/// A metric name the format accepts: characters outside
/// `[a-zA-Z0-9_:]` become `_`, and a leading digit gets a `_` before it.
pub fn metric_name(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label name the format accepts: as [`metric_name`] without `:`, and
/// the leading `__` Prometheus reserves for itself reduced to one `_`.
pub fn label_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    while out.starts_with("__") {
        out.remove(0);
    }
    out
}

/// A label value between its quotes: `\`, `"` and newlines escaped.
pub fn label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A `# HELP` text: `\` and newlines escaped (quotes stay).
pub fn help_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn labels(out: &mut String, labels: &[(String, String)], extra: Option<(&str, &str)>) {
    let all: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (label_name(k), label_value(v)))
        .chain(extra.map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    if all.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in all.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{v}\"");
    }
    out.push('}');
}

/// The text of the families, one after the other.
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        let name = metric_name(&f.name);
        let _ = writeln!(out, "# HELP {name} {}", help_text(&f.help));
        let _ = writeln!(out, "# TYPE {name} {}", f.kind.name());
        for s in &f.series {
            match &s.value {
                Value::Gauge(v) => {
                    out.push_str(&name);
                    labels(&mut out, &s.labels, None);
                    let _ = writeln!(out, " {v}");
                }
                Value::Summary { count, sum } => {
                    sample(&mut out, &name, "_sum", &s.labels, None, &sum.to_string());
                    sample(&mut out, &name, "_count", &s.labels, None, &count.to_string());
                }
                Value::Histogram { buckets, count, sum } => {
                    let mut running: i64 = 0;
                    for (le, n) in buckets {
                        running = running.saturating_add(*n);
                        let le = le.to_string();
                        sample(&mut out, &name, "_bucket", &s.labels, Some(("le", &le)), &running.to_string());
                    }
                    sample(&mut out, &name, "_bucket", &s.labels, Some(("le", "+Inf")), &count.to_string());
                    sample(&mut out, &name, "_sum", &s.labels, None, &sum.to_string());
                    sample(&mut out, &name, "_count", &s.labels, None, &count.to_string());
                }
            }
        }
    }
    out
}

fn sample(out: &mut String, name: &str, suffix: &str, ls: &[(String, String)], extra: Option<(&str, &str)>, v: &str) {
    out.push_str(name);
    out.push_str(suffix);
    labels(out, ls, extra);
    let _ = writeln!(out, " {v}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge(name: &str, series: Vec<Series>) -> Family {
        Family { name: name.into(), help: "h".into(), kind: Kind::Gauge, series }
    }

    /// The format's grammar for a sample line, checked independently of
    /// the writer: `name{label="value",...} number`.
    fn well_formed(line: &str) -> bool {
        let (head, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => return false,
        };
        let value_ok = value == "+Inf" || value.parse::<f64>().is_ok();
        let name_end = head.find('{').unwrap_or(head.len());
        let name = &head[..name_end];
        let name_ok = name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
            && !name.is_empty();
        name_ok && value_ok && (name_end == head.len() || head.ends_with('}'))
    }

    #[test]
    fn metric_names_are_sanitized() {
        assert_eq!(metric_name("stp_reads"), "stp_reads");
        assert_eq!(metric_name("stp_a.b-c"), "stp_a_b_c");
        assert_eq!(metric_name("9lives"), "_9lives");
        assert_eq!(metric_name("ns:sub"), "ns:sub");
        assert_eq!(metric_name("é"), "_");
        assert_eq!(metric_name(""), "_");
    }

    #[test]
    fn label_names_are_sanitized_and_not_reserved() {
        assert_eq!(label_name("key"), "key");
        assert_eq!(label_name("a:b"), "a_b");
        assert_eq!(label_name("1st"), "_1st");
        assert_eq!(label_name("__name__"), "_name__");
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(label_value("two\nlines"), "two\\nlines");
        assert_eq!(label_value("tab\tstays"), "tab\tstays");
        assert_eq!(help_text("say \"x\"\\\n"), "say \"x\"\\\\\\n");
    }

    #[test]
    fn a_gauge_family_has_help_type_and_one_line_per_series() {
        let f = gauge(
            "stp_reads",
            vec![
                Series { labels: vec![("key".into(), "cat \"x\"\n".into())], value: Value::Gauge(12) },
                Series { labels: vec![("key".into(), "sh".into())], value: Value::Gauge(-3) },
            ],
        );
        let text = render(&[f]);
        assert_eq!(
            text,
            "# HELP stp_reads h\n# TYPE stp_reads gauge\nstp_reads{key=\"cat \\\"x\\\"\\n\"} 12\nstp_reads{key=\"sh\"} -3\n"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(well_formed(line), "{line}");
        }
    }

    #[test]
    fn a_scalar_has_no_braces() {
        let text = render(&[gauge("stp_n", vec![Series { labels: vec![], value: Value::Gauge(5) }])]);
        assert!(text.ends_with("\nstp_n 5\n"), "{text}");
    }

    #[test]
    fn a_summary_is_sum_and_count() {
        let f = Family {
            name: "stp_sizes".into(),
            help: "h".into(),
            kind: Kind::Summary,
            series: vec![Series { labels: vec![], value: Value::Summary { count: 3, sum: 60 } }],
        };
        assert_eq!(render(&[f]), "# HELP stp_sizes h\n# TYPE stp_sizes summary\nstp_sizes_sum 60\nstp_sizes_count 3\n");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_inf() {
        // Values 0, 1, 1, 3, 100: buckets le 0, 1, 3 hold 1, 2, 1; one
        // value is above them all.
        let f = Family {
            name: "stp_lat".into(),
            help: "h".into(),
            kind: Kind::Histogram,
            series: vec![Series {
                labels: vec![("key".into(), "a".into())],
                value: Value::Histogram { buckets: vec![(0, 1), (1, 2), (3, 1)], count: 5, sum: 105 },
            }],
        };
        let text = render(&[f]);
        assert_eq!(
            text,
            "# HELP stp_lat h\n# TYPE stp_lat histogram\n\
             stp_lat_bucket{key=\"a\",le=\"0\"} 1\n\
             stp_lat_bucket{key=\"a\",le=\"1\"} 3\n\
             stp_lat_bucket{key=\"a\",le=\"3\"} 4\n\
             stp_lat_bucket{key=\"a\",le=\"+Inf\"} 5\n\
             stp_lat_sum{key=\"a\"} 105\n\
             stp_lat_count{key=\"a\"} 5\n"
        );
        // Cumulative: never decreasing, and the +Inf bucket is the count.
        let counts: Vec<i64> = text
            .lines()
            .filter(|l| l.contains("_bucket"))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()))
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        assert_eq!(counts.last(), Some(&5));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(well_formed(line), "{line}");
        }
    }

    #[test]
    fn each_family_is_contiguous_with_help_before_type() {
        let text = render(&[
            gauge("a", vec![Series { labels: vec![], value: Value::Gauge(1) }]),
            gauge("b", vec![Series { labels: vec![], value: Value::Gauge(2) }]),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, ["# HELP a h", "# TYPE a gauge", "a 1", "# HELP b h", "# TYPE b gauge", "b 2"]);
    }
}
