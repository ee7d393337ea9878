//! `stp --metrics ADDR:PORT` scraped by a real Prometheus server (Debian's
//! `prometheus`, which tests/run.sh installs): one run answers scrapes
//! with its `prometheus` probe (`@prometheus_dump_array1`), one with its
//! globals exposed by stp itself. The workload is `dd` writing a known
//! number of one-byte blocks; the test asks Prometheus' HTTP API what it
//! stored and compares with that number.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{PASS5, as_root, in_ci};

/// dd's one-byte writes.
const WRITES: u64 = 37;

/// A port free now (the listener that found it is closed at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Ends a child when the test ends, passed or not: SIGTERM (stp then
/// detaches and ends as `exit()` does), SIGKILL after 10 s.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `stp --metrics 127.0.0.1:PORT -e SCRIPT -c CMD`, which runs dd then
/// sleeps so that the scrapes come while the script still runs.
fn stp_exporter(port: u16, script: &str) -> Reaped {
    let cmd = format!("dd if=/dev/zero of=/dev/null bs=1 count={WRITES} status=none; sleep 60");
    let child = Command::new(env!("CARGO_BIN_EXE_stp"))
        .args(["--metrics", &format!("127.0.0.1:{port}"), "-T", "60", "-c", &cmd, "-e", script])
        .stdout(Stdio::null())
        .spawn()
        .expect("stp starts");
    Reaped(child)
}

/// `GET http://127.0.0.1:PORT/PATH_AND_QUERY`, its body when the answer
/// is 200.
fn get(port: u16, path: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-s", "-f", "-m", "5", "-G", &format!("http://127.0.0.1:{port}{path}")])
        .output()
        .expect("curl runs");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An instant query of Prometheus' API: the value of each series, by its
/// labels as JSON text.
fn query(port: u16, promql: &str) -> Vec<(serde_json::Value, f64)> {
    let out = Command::new("curl")
        .args(["-s", "-f", "-m", "5", "-G", &format!("http://127.0.0.1:{port}/api/v1/query")])
        .args(["--data-urlencode", &format!("query={promql}")])
        .output()
        .expect("curl runs");
    if !out.status.success() {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the API answers JSON");
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| Some((r["metric"].clone(), r["value"][1].as_str()?.parse::<f64>().ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The one value of a query, once Prometheus has it.
fn one(port: u16, promql: &str) -> Option<f64> {
    match query(port, promql).as_slice() {
        [(_, v)] => Some(*v),
        _ => None,
    }
}

fn prometheus_config(dir: &Path, probe_port: u16, globals_port: u16) -> std::path::PathBuf {
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: stp_probe\n    static_configs:\n      - targets: ['127.0.0.1:{probe_port}']\n\
         \x20 - job_name: stp_globals\n    static_configs:\n      - targets: ['127.0.0.1:{globals_port}']\n"
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).expect("the config is written");
    path
}

#[test]
fn prometheus_scrapes_what_the_script_counted() {
    if !as_root("stp --metrics") {
        return;
    }
    // Its programs are not another test's leftovers.
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let Ok(prometheus) = which("prometheus") else {
        assert!(!in_ci(), "CI needs Debian's prometheus package (tests/run.sh installs it)");
        eprintln!(
            "skipped stp --metrics under Prometheus: no prometheus server installed (apt-get install prometheus)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (probe_port, globals_port, web_port) = (free_port(), free_port(), free_port());

    // dd is the -c shell's child: ppid() is target().
    let from_dd = "ppid() == target() && execname() == \"dd\"";
    let _with_probe = stp_exporter(
        probe_port,
        &format!(
            "global writes probe syscall.write {{ if ({from_dd}) writes[execname()]++ }} \
             probe prometheus {{ @prometheus_dump_array1(writes, \"stp_test_writes\", \"process\") }}"
        ),
    );
    let _with_globals = stp_exporter(
        globals_port,
        &format!(
            "global writes, sizes probe syscall.write {{ if ({from_dd}) {{ writes[execname()]++; sizes <<< count }} }} \
             probe end {{ print(@hist_log(sizes)) }}"
        ),
    );
    let config = prometheus_config(dir.path(), probe_port, globals_port);
    let server = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{web_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let _server = Reaped(server);

    // Each target scraped twice at least, with the final counts.
    let deadline = Instant::now() + Duration::from_secs(25);
    let checks = [
        ("count_over_time(up{job=\"stp_probe\"}[1m])", None),
        ("count_over_time(up{job=\"stp_globals\"}[1m])", None),
        ("stp_test_writes{process=\"dd\"}", Some(WRITES)),
        ("stp_writes{key=\"dd\"}", Some(WRITES)),
    ];
    let last = loop {
        let got = checks.iter().map(|(q, _)| one(web_port, q)).collect::<Vec<_>>();
        let scraped_twice = got.iter().take(2).all(|n| n.is_some_and(|n| n >= 2.0));
        let counted = checks.iter().zip(&got).all(|((_, want), got)| want.is_none_or(|w| *got == Some(w as f64)));
        if (scraped_twice && counted) || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let up = |job: &str| one(web_port, &format!("up{{job=\"{job}\"}}"));
    assert_eq!(up("stp_probe"), Some(1.0), "the prometheus probe's target is up");
    assert_eq!(up("stp_globals"), Some(1.0), "the globals' target is up");
    for ((q, want), got) in checks.iter().zip(&last) {
        match want {
            Some(w) => assert_eq!(*got, Some(*w as f64), "{q}"),
            None => assert!(got.is_some_and(|n| n >= 2.0), "{q}: scraped {got:?} times"),
        }
    }
    // The statistic: WRITES values of 1 byte each, all in the bucket
    // `le="1"` (and so in every bucket above it), none at 0.
    assert_eq!(one(web_port, "stp_sizes_count"), Some(WRITES as f64));
    assert_eq!(one(web_port, "stp_sizes_sum"), Some(WRITES as f64));
    assert_eq!(one(web_port, "stp_sizes_bucket{le=\"0\"}"), Some(0.0));
    assert_eq!(one(web_port, "stp_sizes_bucket{le=\"1\"}"), Some(WRITES as f64));
    assert_eq!(one(web_port, "stp_sizes_bucket{le=\"+Inf\"}"), Some(WRITES as f64));
    // What stp answers is the text format Prometheus parsed: HELP and
    // TYPE lines for the families stp wrote itself.
    let text = get(globals_port, "/metrics").expect("stp answers a scrape");
    assert!(text.contains("# TYPE stp_sizes histogram\n"), "{text}");
    assert!(text.contains("# TYPE stp_writes gauge\n"), "{text}");
}

/// The macros of the prometheus tapset, `$value` and printing, scraped
/// with curl: the answer is the text the script built, keys escaped as
/// label values are (`\\`, `\"`, `\n`), and none of it on stdout.
#[test]
fn the_prometheus_probe_answers_a_scrape_with_what_it_printed() {
    if !as_root("probe prometheus") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let script = r#"global one, two, three
        function pname(n) { return sprintf("p%d", n) }
        function quoted(s) { return sprintf("\"<%s>\"", s) }
        probe begin { one["a\"b\\c\nd"] = 3; one["e"] = -4; two["x", 7] = 5; three["q"] = 6; printf("started\n") }
        probe prometheus {
          @prometheus_dump_array1(one, "one", "k")
          $value .= "lit{x=\"1\"} 1\n"
          printf("printed %d\n", 2)
        }
        probe prometheus {
          @prometheus_dump_array2_map(two, "two", "s", "n", sprint, sprint, pname)
          @prometheus_dump_array1_map_unquoted(three, "three", "k", sprint, quoted)
        }"#;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out_path = dir.path().join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_stp"))
        .args(["--metrics", &format!("127.0.0.1:{port}"), "-T", "30", "-o"])
        .arg(&out_path)
        .args(["-e", script])
        .spawn()
        .expect("stp starts");
    let mut stp = Reaped(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        if let Some(t) = get(port, "/metrics") {
            break t;
        }
        assert!(Instant::now() < deadline, "stp never answered on port {port}");
        assert!(stp.0.try_wait().expect("stp's status").is_none(), "stp ended before it answered");
        std::thread::sleep(Duration::from_millis(200));
    };
    // An array's entries come in no particular order; the handlers run
    // in the script's order.
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines.get(3..).is_some_and(|l| l.starts_with(&["printed 2"])), "{text}");
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "lit{x=\"1\"} 1",
            "one{k=\"a\\\"b\\\\c\\nd\"} 3",
            "one{k=\"e\"} -4",
            "printed 2",
            "three{k=\"<q>\"} 6",
            "two{s=\"x\",n=\"p7\"} 5",
        ],
        "{text}"
    );
    assert!(text.ends_with('\n'));
    // Another scrape runs the handlers again.
    assert_eq!(get(port, "/metrics").as_deref(), Some(text.as_str()));
    assert_eq!(get(port, "/other"), None, "only /metrics is served");
    drop(stp);
    let printed = std::fs::read_to_string(&out_path).expect("the output file");
    assert_eq!(printed, "started\n", "what the prometheus probes print goes to the scrapes alone");
}

/// An address stp cannot listen on ends the run before the script is
/// loaded, with one line saying why, and exit status 1.
#[test]
fn an_address_stp_cannot_listen_on_is_refused() {
    if !as_root("--metrics") {
        return;
    }
    let taken = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = taken.local_addr().expect("its address").port();
    for (addr, why) in [(format!("127.0.0.1:{port}"), "Address already in use"), ("nowhere".into(), "invalid")] {
        let out = Command::new(env!("CARGO_BIN_EXE_stp"))
            .args(["--metrics", &addr, "-e", "probe begin { println(\"ran\") exit() }"])
            .output()
            .expect("stp runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("cannot serve metrics on {addr}: ")) && err.contains(why), "{err}");
        assert!(out.stdout.is_empty(), "the script did not run");
    }
}

fn which(cmd: &str) -> Result<std::path::PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
        .ok_or(())
}
