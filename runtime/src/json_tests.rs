#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
use serde_json::{Value as Json, json};
use stp_compiler::layout::HistLayout;

use super::*;
use crate::report::{Global, Value};
use crate::stats::Stat;

fn parse(line: &str) -> Json {
    assert!(line.ends_with('\n'), "one line: {line:?}");
    assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
    serde_json::from_str(line).unwrap()
}

fn collect(values: &[i64], hist: HistLayout) -> Stat {
    let mut s = Stat::empty(hist, 0);
    for &v in values {
        s.add(v, hist);
    }
    s
}

#[test]
fn output_keeps_the_text_and_escapes_it() {
    let v = parse(&output(b"a \"b\"\n\tc\\"));
    assert_eq!(v, json!({"type": "output", "text": "a \"b\"\n\tc\\"}));
    // Bytes that are not UTF-8 are replaced, the line stays JSON.
    let v = parse(&output(b"x\xffy"));
    assert_eq!(v["text"], "x\u{fffd}y");
}

#[test]
fn log_buckets_hold_the_values_they_say() {
    let h = HistLayout::Log;
    for v in [0i64, 1, 2, 3, 4, 7, 8, 1000, -1, -2, -3, -4, -1000, i64::MAX, i64::MIN, i64::MIN + 1] {
        let b = h.bucket(v).unwrap();
        let (lo, hi) = bucket_range(h, b).unwrap();
        assert!(lo <= v && v <= hi, "{v} in bucket {b} = [{lo}, {hi}]");
        // The bounds fall in the same bucket, and one past them does not.
        assert_eq!(h.bucket(lo), Some(b));
        assert_eq!(h.bucket(hi), Some(b));
        if lo > i64::MIN {
            assert_ne!(h.bucket(lo - 1), Some(b));
        }
        if hi < i64::MAX {
            assert_ne!(h.bucket(hi + 1), Some(b));
        }
    }
    assert_eq!(bucket_range(h, 64), Some((0, 0)));
    assert_eq!(bucket_range(h, 67), Some((4, 7)));
    assert_eq!(bucket_range(h, 62), Some((-3, -2)));
    assert_eq!(bucket_range(h, 128), None);
}

#[test]
fn linear_buckets_hold_the_values_they_say() {
    let h = HistLayout::Linear { lo: 0, hi: 12, step: 4 };
    // Buckets: <0, [0,3], [4,7], [8,11], [12,15], >=16.
    assert_eq!(h.buckets(), 6);
    let expected = [(i64::MIN, -1), (0, 3), (4, 7), (8, 11), (12, 15), (16, i64::MAX)];
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(bucket_range(h, i), Some(*want), "bucket {i}");
    }
    for v in -5..40 {
        let (lo, hi) = bucket_range(h, h.bucket(v).unwrap()).unwrap();
        assert!(lo <= v && v <= hi, "{v}");
    }
    assert_eq!(bucket_range(h, 6), None);
}

#[test]
fn a_histogram_lists_its_non_empty_buckets_lowest_first() {
    let h = HistLayout::Linear { lo: 0, hi: 12, step: 4 };
    let s = collect(&[-3, 1, 2, 5, 14, 30, 31, 99], h);
    let key = [Value::Str(b"a".to_vec()), Value::Long(1)];
    let v = parse(&hist("k", &key, &s, h));
    assert_eq!(
        v,
        json!({"type": "hist", "name": "k", "key": ["a", 1], "buckets": [
            {"min": i64::MIN, "max": -1, "count": 1},
            {"min": 0, "max": 3, "count": 2},
            {"min": 4, "max": 7, "count": 1},
            {"min": 12, "max": 15, "count": 1},
            {"min": 16, "max": i64::MAX, "count": 3},
        ]})
    );
    let v = parse(&hist("e", &[], &Stat::empty(HistLayout::Log, 0), HistLayout::Log));
    assert_eq!(v, json!({"type": "hist", "name": "e", "key": [], "buckets": []}));
}

#[test]
fn globals_are_maps_and_scalars_one_entry_without_a_key() {
    let v = parse(&global("n", &Global::Scalar(Value::Long(-5))));
    assert_eq!(v, json!({"type": "map", "name": "n", "entries": [{"key": [], "value": -5}]}));
    let v = parse(&global("s", &Global::Scalar(Value::Str(b"hi".to_vec()))));
    assert_eq!(v["entries"][0]["value"], "hi");

    let s = collect(&[1, 2, 4, 10], HistLayout::None);
    let v = parse(&global("t", &Global::Stat(s)));
    assert_eq!(v["entries"], json!([{"key": [], "value": {"count": 4, "sum": 17, "min": 1, "max": 10, "avg": 4}}]));
    let v = parse(&global("u", &Global::Stat(Stat::default())));
    assert_eq!(v["entries"][0]["value"], json!({"count": 0, "sum": 0, "min": null, "max": null, "avg": null}));

    // Largest value first, as the text display; equal values keep their
    // order.
    let a = Global::Array(vec![
        (vec![Value::Str(b"x".to_vec())], Value::Long(2)),
        (vec![Value::Str(b"y".to_vec())], Value::Long(9)),
        (vec![Value::Str(b"z".to_vec())], Value::Long(2)),
    ]);
    let v = parse(&global("reads", &a));
    assert_eq!(
        v,
        json!({"type": "map", "name": "reads", "entries": [
            {"key": ["y"], "value": 9}, {"key": ["x"], "value": 2}, {"key": ["z"], "value": 2}
        ]})
    );
    let v = parse(&global("empty", &Global::Array(Vec::new())));
    assert_eq!(v["entries"], json!([]));

    let sa = Global::StatArray(vec![
        (vec![Value::Long(1), Value::Str(b"a".to_vec())], collect(&[3], HistLayout::None)),
        (vec![Value::Long(2), Value::Str(b"b".to_vec())], collect(&[5, 7], HistLayout::None)),
    ]);
    let v = parse(&global("lat", &sa));
    assert_eq!(
        v["entries"][0],
        json!({"key": [2, "b"], "value": {"count": 2, "sum": 12, "min": 5, "max": 7, "avg": 6}})
    );
    assert_eq!(v["entries"][1]["key"], json!([1, "a"]));
}

#[test]
fn warnings_errors_lost_and_exit() {
    assert_eq!(parse(&warning("watch out\n")), json!({"type": "warning", "message": "watch out"}));
    let at = Location { file: "<input>".into(), line: 3, column: 7 };
    let v = parse(&error("division by 0", "ERROR: division by 0 near operator '/' at <input>:3:7\n", Some(&at)));
    assert_eq!(
        v,
        json!({"type": "error", "message": "division by 0", "text": "division by 0 near operator '/' at <input>:3:7",
               "file": "<input>", "line": 3, "column": 7})
    );
    let v = parse(&error("oops", "ERROR: oops\n", None));
    assert_eq!(v, json!({"type": "error", "message": "oops", "text": "oops"}));
    assert_eq!(parse(&lost(12)), json!({"type": "lost", "count": 12}));
    assert_eq!(parse(&exit(1)), json!({"type": "exit", "status": 1}));
}

#[test]
fn the_type_comes_first_and_members_keep_their_order() {
    assert_eq!(output(b"x"), "{\"type\":\"output\",\"text\":\"x\"}\n");
    let s = collect(&[5], HistLayout::Log);
    assert_eq!(
        hist("h", &[Value::Long(2)], &s, HistLayout::Log),
        "{\"type\":\"hist\",\"name\":\"h\",\"key\":[2],\"buckets\":[{\"min\":4,\"max\":7,\"count\":1}]}\n"
    );
    assert_eq!(
        global("t", &Global::Stat(s)),
        "{\"type\":\"map\",\"name\":\"t\",\"entries\":[{\"key\":[],\"value\":\
         {\"count\":1,\"sum\":5,\"min\":5,\"max\":5,\"avg\":5}}]}\n"
    );
    assert_eq!(exit(0), "{\"type\":\"exit\",\"status\":0}\n");
}

#[test]
fn a_failure_ends_a_new_or_opened_stream() {
    let path = std::env::temp_dir().join(format!("stp-json-failure-{}.json", std::process::id()));
    std::fs::write(&path, "stale\n").unwrap();
    let at = Location { file: "s.stp".into(), line: 2, column: 5 };
    write_failure(Some(&path), false, &[("semantic error: no match".into(), Some(at))]);
    let lines = |p: &std::path::Path| -> Vec<Json> {
        std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let first = lines(&path);
    assert_eq!(
        first,
        [
            json!({"type": "error", "message": "semantic error: no match", "text": "semantic error: no match",
                   "file": "s.stp", "line": 2, "column": 5}),
            json!({"type": "exit", "status": 1}),
        ]
    );
    // A run that opened the file and failed later appends.
    write_failure(Some(&path), true, &[("cannot attach".into(), None)]);
    let second = lines(&path);
    assert_eq!(second.len(), 4);
    assert_eq!(second[2], json!({"type": "error", "message": "cannot attach", "text": "cannot attach"}));
    let _ = std::fs::remove_file(&path);
}
