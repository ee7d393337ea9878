//! The expected lines come from SystemTap's testsuite where it has them:
//! `systemtap.base/global_end.exp` (displayed globals),
//! `systemtap.base/global_stat.exp` (an empty statistic),
//! `systemtap.base/error_context.exp` and `error_dedup.exp` (error lines
//! and the closing warning).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use stp_compiler::layout::HistLayout;

fn s(text: &str) -> Value {
    Value::Str(text.as_bytes().to_vec())
}

fn stat(values: &[i64]) -> Stat {
    let mut cpu = Stat::empty(HistLayout::None, 0);
    for &v in values {
        cpu.add(v, HistLayout::None);
    }
    Stat::aggregate([&cpu])
}

fn show(name: &str, g: &Global) -> String {
    String::from_utf8(global_display(name, g, StatNumbers::Decimal)).unwrap()
}

/// `global_end.stp`: gamma, iota, alpha and phi are written, never read.
#[test]
fn global_end_lines() {
    assert_eq!(
        show("gamma", &Global::Scalar(s("abcdefghijklmnopqrstuvwxyz"))),
        "gamma=\"abcdefghijklmnopqrstuvwxyz\"\n"
    );
    let iota = Global::Array(vec![(vec![s("one")], s("eleven")), (vec![s("two")], s("twelve"))]);
    // By value, largest first: "twelve" > "eleven".
    assert_eq!(show("iota", &iota), "iota[\"two\"]=\"twelve\"\niota[\"one\"]=\"eleven\"\n");
    let alpha = Global::Array(
        [("one", 1, 1), ("one", 2, 2), ("two", 1, 3), ("two", 2, 4)]
            .into_iter()
            .map(|(a, b, v)| (vec![s(a), Value::Long(b)], Value::Long(v)))
            .collect(),
    );
    assert_eq!(
        show("alpha", &alpha),
        "alpha[\"two\",2]=4\nalpha[\"two\",1]=3\nalpha[\"one\",2]=2\nalpha[\"one\",1]=1\n"
    );
    assert_eq!(show("phi", &Global::Stat(stat(&[1, 2, 3, 4]))), "phi @count=4 @min=1 @max=4 @sum=10 @avg=2\n");
}

#[test]
fn scalars_and_empty_things() {
    assert_eq!(show("x", &Global::Scalar(Value::Long(-5))), "x=-5\n");
    assert_eq!(show("x", &Global::Scalar(s(""))), "x=\"\"\n");
    // No escaping: stap's %#s prints strings as they are.
    assert_eq!(show("x", &Global::Scalar(s("a\"b\n"))), "x=\"a\"b\n\"\n");
    // global_stat.exp.
    assert_eq!(show("var", &Global::Stat(Stat::default())), "var @count=0x0\n");
    assert_eq!(show("a", &Global::Array(Vec::new())), "");
    assert_eq!(show("a", &Global::StatArray(Vec::new())), "");
}

#[test]
fn statistics_arrays_sort_by_count() {
    let g = Global::StatArray(vec![
        (vec![Value::Long(1)], stat(&[10, 20])),
        (vec![Value::Long(2)], stat(&[1, 2, 3])),
        (vec![Value::Long(3)], stat(&[-7, 0])),
    ]);
    assert_eq!(
        show("lat", &g),
        "lat[2] @count=3 @min=1 @max=3 @sum=6 @avg=2\n\
         lat[1] @count=2 @min=10 @max=20 @sum=30 @avg=15\n\
         lat[3] @count=2 @min=-7 @max=0 @sum=-7 @avg=-3\n"
    );
}

#[test]
fn equal_values_keep_their_order() {
    let g = Global::Array(vec![
        (vec![s("b")], Value::Long(1)),
        (vec![s("a")], Value::Long(1)),
        (vec![s("c")], Value::Long(2)),
    ]);
    assert_eq!(show("n", &g), "n[\"c\"]=2\nn[\"b\"]=1\nn[\"a\"]=1\n");
}

#[test]
fn old_compatible_prints_statistics_in_hex() {
    assert_eq!(StatNumbers::for_compatible(Some("1.3")), StatNumbers::Hex);
    assert_eq!(StatNumbers::for_compatible(Some("1.4")), StatNumbers::Decimal);
    assert_eq!(StatNumbers::for_compatible(Some("1.10")), StatNumbers::Decimal);
    assert_eq!(StatNumbers::for_compatible(Some("4.1")), StatNumbers::Decimal);
    assert_eq!(StatNumbers::for_compatible(None), StatNumbers::Decimal);
    let text = global_display("phi", &Global::Stat(stat(&[0, 31, -1])), StatNumbers::Hex);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "phi @count=0x3 @min=0xffffffffffffffff @max=0x1f @sum=0x1e @avg=0xa\n"
    );
}

fn near<'a>(kind: TokenKind, text: &'a str, line: usize, column: usize) -> Near<'a> {
    Near { kind, text, file: "s.stp", line, column }
}

#[test]
fn tokens_as_stap_describes_them() {
    assert_eq!(near(TokenKind::Operator, "/", 12, 5).to_string(), "operator '/' at s.stp:12:5");
    assert_eq!(near(TokenKind::Identifier, "x", 1, 2).to_string(), "identifier 'x' at s.stp:1:2");
    assert_eq!(near(TokenKind::Number, "0x10", 1, 2).to_string(), "number '0x10' at s.stp:1:2");
    assert_eq!(near(TokenKind::String, "a\tb", 1, 2).to_string(), "string 'a?b' at s.stp:1:2");
    assert_eq!(near(TokenKind::Keyword, "delete", 4, 1).to_string(), "keyword at s.stp:4:1");
    assert_eq!(near(TokenKind::Embedded, "%{ x %}", 4, 1).to_string(), "embedded-code at s.stp:4:1");
}

#[test]
fn error_lines() {
    assert_eq!(
        error_line("division by 0", &[near(TokenKind::Operator, "/", 12, 5)], Some("begin"), 512),
        "ERROR: division by 0 near operator '/' at s.stp:12:5 in probe begin\n"
    );
    // error_context.stp: error() inside bad(), called from a timer probe.
    assert_eq!(
        error_line(
            "context test fail",
            &[near(TokenKind::Identifier, "error", 10, 5), near(TokenKind::Identifier, "bad", 17, 5)],
            Some("timer.s(1)"),
            512
        ),
        "ERROR: context test fail near identifier 'error' at s.stp:10:5 \
         (called from identifier 'bad' at s.stp:17:5) in probe timer.s(1)\n"
    );
    assert_eq!(error_line("synthetic error", &[], Some("begin"), 512), "ERROR: synthetic error\n");
    // Cut to MAXSTRINGLEN - 1 bytes after "ERROR: ".
    let line = error_line("division by 0", &[near(TokenKind::Operator, "/", 1, 1)], None, 20);
    assert_eq!(line, "ERROR: division by 0 near \n");
}

#[test]
fn closing_lines() {
    assert_eq!(errors_warning(0, 0), None);
    assert_eq!(errors_warning(1, 0).unwrap(), "WARNING: Number of errors: 1, skipped probes: 0\n");
    assert_eq!(errors_warning(0, 3).unwrap(), "WARNING: Number of errors: 0, skipped probes: 3\n");
    assert_eq!(pass5_completed(10, 20, 312), "Pass 5: run completed in 10usr/20sys/312real ms.\n");
    assert_eq!(PASS5_FAILED, "Pass 5: run failed.  [man error::pass5]\n");
    use stp_compiler::bpf::codegen::array_overflow;
    assert_eq!(array_overflow(None), "Array overflow, check MAXMAPENTRIES");
    assert_eq!(array_overflow(Some(100)), "Array overflow, check size limit (100)");
}

#[test]
fn warnings_print_once_unless_verbose() {
    let mut quiet = WarningFilter::new(false);
    assert_eq!(quiet.admit("slow"), "WARNING: slow\n");
    assert_eq!(quiet.admit("slow\n"), "");
    assert_eq!(quiet.admit("other"), "WARNING: other\n");
    let mut verbose = WarningFilter::new(true);
    assert_eq!(verbose.admit("slow"), "WARNING: slow\n");
    assert_eq!(verbose.admit("slow"), "WARNING: slow\n");
}

#[test]
fn the_warning_table_fills_up() {
    let mut f = WarningFilter::new(false);
    for i in 0..1024 {
        assert_eq!(f.admit(&i.to_string()), format!("WARNING: {i}\n"));
    }
    assert_eq!(f.admit("0"), "");
    // The 1024th was never stored, as in stap; printing it again fills
    // the table, and from then on new messages print every time.
    assert_eq!(f.admit("1023"), "WARNING: 1023\nWARNING deduplication table full\n");
    assert_eq!(f.admit("1023"), "WARNING: 1023\n");
    assert_eq!(f.admit("1"), "");
}
