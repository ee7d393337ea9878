//! `--format json`: every line stp writes is parsed with serde_json, and
//! the values are checked against what the test did: the writes a
//! command made, histograms whose buckets the test computes itself, the
//! order of a `begin` probe's prints, a warning, an error and the exit
//! status.

use serde_json::{Value, json};

use super::{PASS5, as_root, stp_run, stp_run_clean};

/// Every line of `out`, each one JSON object with a `type`; the last
/// is the exit object.
fn objects(out: &str) -> Vec<Value> {
    assert!(out.ends_with('\n'), "the stream ends with a newline:\n{out}");
    let all: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\nin:\n{out}")))
        .collect();
    for o in &all {
        assert!(o["type"].is_string(), "an object with a type: {o}");
    }
    assert_eq!(all.last().map(|o| o["type"].clone()), Some(json!("exit")), "the exit object is last:\n{out}");
    assert_eq!(all.iter().filter(|o| o["type"] == "exit").count(), 1, "one exit object:\n{out}");
    all
}

fn of_type<'a>(all: &'a [Value], t: &str) -> Vec<&'a Value> {
    all.iter().filter(|o| o["type"] == t).collect()
}

/// The `output` objects' texts, in order.
fn texts(all: &[Value]) -> Vec<String> {
    of_type(all, "output").iter().map(|o| o["text"].as_str().expect("text is a string").to_string()).collect()
}

/// The `@hist_log` bucket of a value, as powers of two: (min, max).
fn log_bucket(v: i64) -> (i64, i64) {
    assert!(v > 0, "this helper knows positive values");
    let bits = 64 - v.leading_zeros();
    let lo = 1i64 << (bits - 1);
    (lo, lo * 2 - 1)
}

/// The buckets of `values` as the test expects them: counted by (min,
/// max), lowest first, empty ones left out.
fn buckets(values: &[i64], bucket: impl Fn(i64) -> (i64, i64)) -> Value {
    let mut counts: std::collections::BTreeMap<(i64, i64), i64> = Default::default();
    for &v in values {
        *counts.entry(bucket(v)).or_default() += 1;
    }
    Value::Array(
        counts.into_iter().map(|((min, max), count)| json!({"min": min, "max": max, "count": count})).collect(),
    )
}

#[test]
fn writes_of_known_sizes_as_output_histogram_and_globals() {
    if !as_root("--format json of a tracepoint") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let sizes = [3i64, 100, 4097, 7, 100];
    let list: Vec<String> = sizes.iter().map(i64::to_string).collect();
    // It prints too: its stdout goes to stderr, out of the stream.
    let cmd = format!(
        "perl -e 'open(my $f, \">\", \"/dev/null\") or die; syswrite($f, \"x\" x $_) for {}; print \"noise\\n\"'",
        list.join(", ")
    );
    // Kernel handlers print and collect; the end probe (user side) draws
    // the histogram; `last`, `last_by` and `by_name` are written and
    // never read, so they are shown at exit.
    let script = "global last, last_by, by_name, sizes\n\
        probe kernel.trace(\"syscalls:sys_enter_write\") {\n\
          if (pid() == target() && $fd > 2) {\n\
            printf(\"write %d\\n\", $count); last = $count; last_by[execname()] = $count\n\
            by_name[execname(), $fd] <<< $count; sizes <<< $count\n\
          }\n\
        }\n\
        probe end { print(@hist_log(sizes)) }\n";
    let (status, out, err) = stp_run_clean(&["--format", "json", "-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let all = objects(&out);
    let expected: Vec<String> = sizes.iter().map(|n| format!("write {n}\n")).collect();
    assert_eq!(texts(&all), expected, "one output object per printf, in order");

    let hists = of_type(&all, "hist");
    assert_eq!(hists.len(), 1, "{out}");
    assert_eq!(hists[0]["name"], "sizes");
    assert_eq!(hists[0]["key"], json!([]));
    assert_eq!(hists[0]["buckets"], buckets(&sizes, log_bucket));

    let maps = of_type(&all, "map");
    let map = |name: &str| {
        maps.iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("no map {name} in:\n{out}")).to_owned()
    };
    let n = sizes.len() as i64;
    let sum: i64 = sizes.iter().sum();
    let final_size = sizes[sizes.len() - 1];
    assert_eq!(map("last")["entries"], json!([{"key": [], "value": final_size}]));
    assert_eq!(map("last_by")["entries"], json!([{"key": ["perl"], "value": final_size}]));
    let min = *sizes.iter().min().unwrap();
    let max = *sizes.iter().max().unwrap();
    let entries = map("by_name")["entries"].clone();
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "{entries}");
    assert_eq!(entries[0]["key"][0], "perl");
    assert!(entries[0]["key"][1].as_i64().is_some_and(|fd| fd > 2), "{entries}");
    assert_eq!(entries[0]["value"], json!({"count": n, "sum": sum, "min": min, "max": max, "avg": sum / n}));
    assert_eq!(all.last().unwrap()["status"], 0);
    assert!(!err.contains("WARNING") && !err.contains("ERROR"), "{err}");
    assert!(err.contains("noise\n"), "the command's stdout: {err}");
}

#[test]
fn begin_prints_in_order_then_a_warning_an_error_and_the_exit_status() {
    if !as_root("--format json of begin") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global zero\n\
        probe begin { printf(\"one\\n\"); printf(\"%d-%s|\", 2, \"two\"); println(\"\\\"q\\\"\\tt\")\n\
          warn(\"careful\"); print(3)\n\
          printf(\"%d\\n\", 10 / zero) }\n";
    let (status, out, err) = stp_run_clean(&["--format", "json", "-e", script]);
    assert_eq!(status, 1, "a runtime error fails the run: {err}");
    let all = objects(&out);
    let kinds: Vec<&str> = all.iter().map(|o| o["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["output", "output", "output", "warning", "output", "error", "warning", "exit"], "{out}");
    assert_eq!(texts(&all), ["one\n", "2-two|", "\"q\"\tt\n", "3"]);
    assert_eq!(all[3]["message"], "careful");
    let e = &all[5];
    assert_eq!(e["message"], "division by 0");
    // The operator `/` of the script's fourth line.
    let line4 = script.lines().nth(3).unwrap();
    assert_eq!((e["file"].as_str(), e["line"].as_i64()), (Some("<input>"), Some(4)), "{e}");
    assert_eq!(e["column"].as_u64(), Some(line4.find('/').unwrap() as u64 + 1), "{e}");
    assert!(e["text"].as_str().unwrap().starts_with("division by 0 near operator '/' at <input>:4:"), "{e}");
    assert_eq!(all[6]["message"], "Number of errors: 1, skipped probes: 0");
    assert_eq!(all[7], json!({"type": "exit", "status": 1}));
    // The run's events are in the stream, not on stderr (where the
    // compiler's warning about `zero` is).
    assert!(!err.contains("careful") && !err.contains("ERROR") && !err.contains("Number of errors"), "{err}");

    // The text: the same prints, stap's lines on stderr; `--format text`
    // is the default.
    let (status, text, text_err) = stp_run_clean(&["-e", script]);
    assert_eq!(status, 1);
    assert_eq!(text, texts(&all).concat());
    let (status, named, named_err) = stp_run_clean(&["--format", "text", "-e", script]);
    assert_eq!((status, &named, &named_err), (1, &text, &text_err));
    for line in
        ["WARNING: careful\n", "ERROR: division by 0 near operator '/' at <input>:4:", "WARNING: Number of errors: 1"]
    {
        assert!(text_err.contains(line), "{line:?} in {text_err}");
    }
}

#[test]
fn kernel_histograms_of_array_elements_go_to_the_output_file() {
    if !as_root("--format json with -o") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    // getppid 10 times: the i-th call adds 7*i under key ("p", i % 2);
    // the 10th prints both elements' histograms from the kernel.
    let script = "global n, k\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target()) {\n\
            i = ++n; k[\"p\", i % 2] <<< i * 7\n\
            if (i == 10) { print(@hist_linear(k[\"p\", 0], 0, 50, 10)); print(@hist_linear(k[\"p\", 1], 0, 50, 10)) }\n\
          }\n\
        }\n";
    let cmd = super::getppid_command(10, 0);
    let (status, out, err) =
        stp_run_clean(&["--format", "json", "-o", file.to_str().unwrap(), "-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "", "-o takes the stream");
    let text = std::fs::read_to_string(&file).unwrap();
    let all = objects(&text);
    // stap's linear buckets: [lo + j*step, lo + (j+1)*step - 1] up to
    // hi's, then everything from hi + step.
    let linear = |v: i64| if v >= 60 { (60, i64::MAX) } else { (v / 10 * 10, v / 10 * 10 + 9) };
    let hists = of_type(&all, "hist");
    assert_eq!(hists.len(), 2, "{text}");
    for (h, rest) in hists.iter().zip([0, 1]) {
        let values: Vec<i64> = (1..=10).filter(|i| i % 2 == rest).map(|i| i * 7).collect();
        assert_eq!(h["name"], "k");
        assert_eq!(h["key"], json!(["p", rest]), "{h}");
        assert_eq!(h["buckets"], buckets(&values, linear), "{h}");
    }
    assert_eq!(all.last().unwrap()["status"], 0);
}

#[test]
fn records_the_ring_buffer_had_no_room_for_are_counted_as_lost() {
    if !as_root("--format json lost records") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // One event prints far more than the ring buffer (1 MiB with -s 1)
    // holds before the runtime can read it: records of 4 KiB strings.
    // What does not arrive is counted.
    let total = 1000;
    let width = 4000;
    let script = format!(
        "global s\n\
         probe begin {{ s = sprintf(\"%{width}s\", \"x\") }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() == target() && execname() == \"perl\") {{ for (i = 0; i < {total}; i++) printf(\"%d %s\\n\", i, s) }}\n\
         }}\n"
    );
    let cmd = super::getppid_command(1, 0);
    let (status, out, err) =
        stp_run(&["--format", "json", "-s", "1", "-D", "MAXSTRINGLEN=4096", "-c", &cmd, "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let all = objects(&out);
    let printed = texts(&all);
    let lost: Vec<i64> = of_type(&all, "lost").iter().map(|o| o["count"].as_i64().unwrap()).collect();
    assert_eq!(lost.len(), 1, "a full buffer loses records: {} printed", printed.len());
    // Those printed come in order, each whole; with those lost they are
    // every record.
    let padded = format!("{:>width$}\n", "x");
    let mut numbers = Vec::new();
    for t in &printed {
        let (n, rest) = t.split_once(' ').unwrap_or_else(|| panic!("{t:?}"));
        assert_eq!(rest, padded);
        numbers.push(n.parse::<i64>().unwrap());
    }
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in order: {numbers:?}");
    assert_eq!(printed.len() as i64 + lost[0], total);
    assert!(!err.contains("transport failures"), "the count is in the stream: {err}");
}

#[test]
fn a_script_that_does_not_compile_ends_the_stream_with_its_error() {
    if !as_root("--format json of a parse error") {
        return;
    }
    let (status, out, err) = stp_run(&["--format", "json", "-e", "probe begin {\n  x = \n}\n"]);
    assert_eq!(status, 1);
    let all = objects(&out);
    assert_eq!(all.len(), 2, "{out}");
    assert_eq!(all[0]["type"], "error");
    assert!(all[0]["message"].as_str().unwrap().starts_with("parse error"), "{out}");
    assert_eq!((all[0]["line"].as_i64(), all[0]["column"].as_i64()), (Some(3), Some(1)), "{out}");
    assert_eq!(all[1], json!({"type": "exit", "status": 1}));
    // The rendered diagnostic stays on stderr.
    assert!(err.contains("parse error"), "{err}");
}

#[test]
fn a_compiled_object_runs_with_format_json() {
    if !as_root("--run with --format json") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let object = dir.path().join("jt.o");
    let built = std::process::Command::new(env!("CARGO_BIN_EXE_stp"))
        .current_dir(dir.path())
        .args([
            "-p4",
            "-m",
            "jt",
            "-e",
            "global n, s; probe begin { n = 7; s = \"seven\"; printf(\"%d\\n\", 6 * 7); exit() }",
        ])
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let (status, out, err) = stp_run_clean(&["--run", object.to_str().unwrap(), "--format", "json"]);
    assert_eq!(status, 0, "{err}");
    let all = objects(&out);
    assert_eq!(
        all,
        [
            json!({"type": "output", "text": "42\n"}),
            json!({"type": "map", "name": "n", "entries": [{"key": [], "value": 7}]}),
            json!({"type": "map", "name": "s", "entries": [{"key": [], "value": "seven"}]}),
            json!({"type": "exit", "status": 0}),
        ]
    );
}
