//! The scripts of `examples/`, each run for real under a workload this
//! test drives, and its output checked for the shape the script's header
//! promises and, where the workload fixes them, for values: the program
//! the exec tracer shows is the one started here, the bytes the file
//! tracer counts are the file's size, the port the TCP tracers show is
//! the one the workload listened on. Host scripts run in parallel (a few
//! at a time); scripts that need kernel-function probes run in the VM,
//! all in one boot. Every script in `examples/` must have a case here,
//! and a line in `examples/README.md`. (What runs leave in the kernel is
//! checked by `cleanup.rs`: this test runs for most of a minute, while
//! other BPF users on the machine come and go.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::PASS5;
use super::common::vm::{Vm, command_line};
use super::common::{as_root, in_ci, root, stp_files};

/// Scripts that need kernel-function probes: run in the VM.
const IN_VM: &[&str] = &["tcp-send-sizes", "vfs-reads"];

/// Scripts with a test of their own here.
const OWN_TEST: &[&str] = &["prometheus-exporter"];

/// The host scripts that take longest (the verifier's time, mostly).
const SLOW: &[&str] =
    &["exec-args", "tcp-connections", "tcp-retransmits", "offcpu-stacks", "kmalloc-sizes", "slow-syscalls"];

/// How many stp runs go at once.
const AT_ONCE: usize = 8;

/// What a run printed.
struct Run {
    status: Option<i32>,
    out: String,
    err: String,
    took: Duration,
}

type Check = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// One script's run: stp's arguments (the script's path goes last, before
/// any script arguments) and what its output must show.
struct Case {
    name: &'static str,
    options: Vec<String>,
    script_args: Vec<String>,
    check: Check,
}

fn case(
    name: &'static str,
    options: &[&str],
    check: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
) -> Case {
    Case {
        name,
        options: options.iter().map(|s| s.to_string()).collect(),
        script_args: Vec::new(),
        check: Box::new(check),
    }
}

/// The lines of `out` split into words.
fn rows(out: &str) -> Vec<Vec<&str>> {
    out.lines().map(|l| l.split_whitespace().collect()).collect()
}

/// A number in a row's column, if there is one.
fn num(row: &[&str], i: usize) -> Option<i64> {
    row.get(i)?.parse().ok()
}

/// Ok when some line satisfies `pred`, else an error naming `what`.
fn some_line(out: &str, what: &str, pred: impl Fn(&[&str]) -> bool) -> Result<(), String> {
    if rows(out).iter().any(|r| pred(r)) { Ok(()) } else { Err(format!("no line with {what}")) }
}

/// Ok when `out` contains `text`.
fn has(out: &str, text: &str) -> Result<(), String> {
    if out.contains(text) { Ok(()) } else { Err(format!("no {text:?}")) }
}

/// The lines of a `print(@hist_log(...))` histogram: `value |@@@ count`
/// rows, as (value, count).
fn histogram(out: &str) -> Vec<(i64, i64)> {
    out.lines()
        .filter_map(|l| {
            let (value, rest) = l.split_once('|')?;
            let value = value.trim().parse().ok()?;
            let count = rest.split_whitespace().last()?.parse().ok()?;
            Some((value, count))
        })
        .collect()
}

fn has_histogram(out: &str) -> Result<(), String> {
    if histogram(out).iter().any(|&(_, c)| c > 0) { Ok(()) } else { Err("no histogram with a count".into()) }
}

/// A command that calls getppid `n` times (the shell that becomes perl
/// may call it too).
fn getppid(n: usize) -> String {
    format!("perl -e 'getppid() for 1..{n}'")
}

/// The workloads' files: Python programs and data, in a directory of
/// their own.
struct Files {
    dir: tempfile::TempDir,
    /// On a disk (not tmpfs), for block I/O.
    disk: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory on disk");
        let files = [
            ("tcpwork.py", TCP_WORK),
            ("synretry.py", SYN_RETRY),
            ("gil.py", GIL),
            ("calls.py", CALLS),
            ("lookup.py", LOOKUP),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("a workload written");
        }
        Files { dir, disk }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn on_disk(&self, name: &str) -> String {
        self.disk.path().join(name).display().to_string()
    }
}

/// Listens on a port of 127.0.0.1, prints it, connects to it and sends
/// N bytes (the first argument), which the listener reads.
const TCP_WORK: &str = r#"import socket, sys, threading
n = int(sys.argv[1])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
print("port", port, flush=True)
def serve():
    c, _ = srv.accept(); got = 0
    while got < n:
        d = c.recv(65536)
        if not d: break
        got += len(d)
    c.close()
t = threading.Thread(target=serve); t.start()
cl = socket.create_connection(("127.0.0.1", port)); cl.sendall(b"x" * n); t.join(); cl.close()
"#;

/// A listener with a backlog of 0 that never accepts: one connection
/// fills its queue, and the second one's SYN is dropped and sent again
/// after a second.
const SYN_RETRY: &str = r#"import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(0)
port = srv.getsockname()[1]
a = socket.create_connection(("127.0.0.1", port))
b = socket.socket(); b.settimeout(1.6)
print("port", port, b.connect_ex(("127.0.0.1", port)), flush=True)
"#;

/// Four threads taking turns at the interpreter's lock.
const GIL: &str = r#"import threading
def spin():
    n = 0
    for i in range(300000): n += i
ts = [threading.Thread(target=spin) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
"#;

/// 1000 calls of square(); CPython 3.11 reaches its function markers
/// only under a profile function.
const CALLS: &str = r#"import sys; sys.setprofile(lambda *a: None)
def square(x): return x * x
print(sum(square(i) for i in range(1000)))
"#;

const LOOKUP: &str = r#"import socket
socket.getaddrinfo("localhost", 80)
"#;

/// The host's cases.
fn host_cases(f: &Files) -> Vec<Case> {
    let perl_size = std::fs::metadata("/usr/bin/perl").expect("perl").len() as i64;
    let copy = f.on_disk("perl.copy");
    let dd_copy = format!("dd if=/usr/bin/perl of={copy} bs=64k");
    let direct = format!("dd if=/dev/zero of={} bs=1M count=8 oflag=direct", f.on_disk("direct"));
    let fsync = format!("dd if=/dev/zero of={} bs=4k count=4 conv=fsync", f.on_disk("synced"));
    let (gone, never) = (f.on_disk("gone"), f.on_disk("never-there"));
    let deletes = format!("sh -c 'touch {gone}; rm -f {gone}; rm {never}; true'");
    let tcp_work = format!("/usr/bin/python3 {} 1000000", f.path("tcpwork.py"));
    // Ahead of the other runs' compiles on a busy machine.
    let busy = "nice -n -10 timeout 3 perl -e '1 while 1'";
    vec![
        case("hello", &[], |out| if out == "hello, world\n" { Ok(()) } else { Err("not the greeting".into()) }),
        case("count-calls", &["-c", &getppid(50)], |out| {
            some_line(out, "at least 50 getppid calls", |r| {
                r.get(1..) == Some(&["getppid", "calls"]) && num(r, 0) >= Some(50)
            })
        }),
        case("exec-trace", &["-c", "sh -c '/bin/echo exec-marker; true'"], |out| {
            some_line(out, "echo's exec", |r| r.get(1) == Some(&"sh") && r.get(2) == Some(&"\"/bin/echo\""))
        }),
        case("read-sizes", &["-c", "dd if=/dev/zero of=/dev/null bs=3000 count=200"], |out| {
            some_line(out, "the call count", |r| r.first() == Some(&"read") && num(r, 2).is_some_and(|n| n >= 200))?;
            // dd's 200 reads of 3000 bytes are in the 2048 bucket.
            let h = histogram(out);
            if h.iter().any(|&(v, c)| v == 2048 && c >= 200) { Ok(()) } else { Err(format!("2048 bucket: {h:?}")) }
        }),
        case("sched-switch", &[], |out| {
            has(out, "--- 2 s\n")?;
            has(out, "--- 10 s\n")?;
            some_line(out, "a process's switches", |r| r.len() >= 2 && num(r, r.len() - 1) > Some(0))
        }),
        case("syscalls-by-process", &["-c", &getppid(100_000)], |out| {
            has(out, "PROCESS")?;
            some_line(out, "perl's calls", |r| r.first() == Some(&"perl") && num(r, 1) >= Some(100_000))
        }),
        case("syscalls-by-name", &["-c", &getppid(5000)], |out| {
            some_line(out, "5000 getppid calls", |r| {
                r.first() == Some(&"getppid") && (5000..5005).contains(&num(r, 1).unwrap_or(0))
            })
        }),
        case("syscall-errors", &["-c", "ls /nonexistent-stp-example"], |out| {
            some_line(out, "ls's ENOENT", |r| {
                r.first() == Some(&"ls") && r.get(2) == Some(&"ENOENT") && num(r, 3) >= Some(1)
            })
        }),
        case("syscall-latency", &["-c", "sleep 0.3"], |out| {
            some_line(out, "a nanosleep of 0.3 s", |r| {
                r.first().is_some_and(|c| c.contains("nanosleep"))
                    && num(r, 4).is_some_and(|us| (300_000..2_000_000).contains(&us))
            })
        }),
        Case {
            script_args: vec!["100".into()],
            ..case("slow-syscalls", &["-c", "perl -e 'select(undef, undef, undef, 0.4)'"], |out| {
                has(out, "PROCESS")?;
                some_line(out, "perl's select", |r| {
                    r.first() == Some(&"perl")
                        && r.get(2).is_some_and(|c| c.contains("select"))
                        && r.get(3).and_then(|ms| ms.split('.').next()?.parse::<i64>().ok()) >= Some(100)
                })
            })
        },
        case("top-files-io", &["-c", &dd_copy], move |out| {
            some_line(out, "perl read whole", |r| {
                r.first() == Some(&"dd") && num(r, 1) == Some(perl_size) && r.get(2) == Some(&"/usr/bin/perl")
            })?;
            some_line(out, "the copy written whole", |r| {
                r.first() == Some(&"dd") && num(r, 1) == Some(perl_size) && r.get(2) == Some(&copy.as_str())
            })
        }),
        case("opens", &["-c", "cat /etc/hostname /nonexistent-stp-example"], |out| {
            some_line(out, "the hostname opened", |r| {
                r.first() == Some(&"cat") && num(r, 2).is_some() && r.last() == Some(&"/etc/hostname")
            })?;
            some_line(out, "ENOENT", |r| r.get(2) == Some(&"ENOENT") && r.last() == Some(&"/nonexistent-stp-example"))
        }),
        case("exec-args", &["-c", "sh -c '/bin/echo stp-marker \"two words\"'"], |out| {
            has(out, "ok      [\"/bin/echo\", \"stp-marker\", \"two words\"]")
        }),
        case("proc-lifetimes", &["-c", "sh -c 'sleep 0.3; exit 3'"], |out| {
            some_line(out, "sleep's 0.3 s", |r| {
                r.get(2) == Some(&"sleep") && (300..3000).contains(&num(r, 3).unwrap_or(0)) && num(r, 4) == Some(0)
            })?;
            some_line(out, "the shell's exit code", |r| r.get(2) == Some(&"sh") && num(r, 4) == Some(3))
        }),
        case("forks", &["-c", "sh -c 'sleep 0.1 & wait'"], |out| {
            some_line(out, "the shell's child", |r| {
                r.first() == Some(&"sh") && r.get(2) == Some(&"->") && r.get(4) == Some(&"process")
            })
        }),
        case("signals", &["-c", "sh -c 'sleep 5 & kill -USR1 $!; wait'"], |out| {
            some_line(out, "the SIGUSR1", |r| r.first() == Some(&"sh") && r.get(2) == Some(&"SIGUSR1"))?;
            some_line(out, "the summary", |r| r.first() == Some(&"SIGUSR1") && num(r, 2) == Some(1))
        }),
        case("runq-latency", &["-T", "2"], |out| {
            some_line(out, "the wakeup count", |r| {
                r.get(..3) == Some(&["run", "queue", "latency"])
                    && r.get(4).is_some_and(|n| n.parse::<i64>().is_ok_and(|n| n > 0))
            })?;
            has_histogram(out)?;
            has(out, "WORST(us)")
        }),
        case("offcpu-stacks", &["-D", "MAXSTRINGLEN=512", "-c", "sleep 1"], |out| {
            some_line(out, "a second asleep", |r| {
                r.first() == Some(&"sleep:") && (1_000_000..5_000_000).contains(&num(r, 1).unwrap_or(0))
            })?;
            has(out, "do_nanosleep")
        }),
        case("cpu-top", &["-c", busy], |out| {
            has(out, "KERNEL%")?;
            some_line(out, "perl's share", |r| r.first() == Some(&"perl") && num(r, 2) >= Some(1))
        }),
        case("flamegraph", &["-D", "MAXACTION=1000000", "-c", busy], |out| {
            // Every line: PROCESS;FRAME;... COUNT.
            for l in out.lines() {
                let (stack, count) = l.rsplit_once(' ').ok_or(format!("not folded: {l:?}"))?;
                if !stack.contains(';') || count.parse::<u64>().is_err() {
                    return Err(format!("not folded: {l:?}"));
                }
            }
            // Kernel frames by name (idle CPUs sample in the kernel too).
            let named = out.lines().any(|l| {
                l.split(' ')
                    .next()
                    .is_some_and(|s| s.split(';').skip(1).any(|f| f.len() > 2 && !f.starts_with("0x") && f != "[user]"))
            });
            if !named {
                return Err("no kernel frame by name".into());
            }
            some_line(out, "perl's samples", |r| {
                r.first().is_some_and(|s| s.starts_with("perl;")) && num(r, r.len() - 1) >= Some(5)
            })
        }),
        case("pagefaults", &["-c", "perl -e '$x = q(a) x 50_000_000'"], |out| {
            // 50 MB written: at least that many pages faulted in.
            some_line(out, "perl's faults", |r| {
                r.first() == Some(&"perl")
                    && num(r, 2) >= Some(50_000_000 / 4096)
                    && num(r, 3) >= Some(50_000_000 / 4096)
            })
        }),
        case("biolatency", &["-c", &direct], |out| {
            some_line(out, "8 MiB of requests", |r| r.get(2) == Some(&"requests,") && num(r, 3) >= Some(8 << 20))?;
            has_histogram(out)
        }),
        case("iotop", &["-c", "dd if=/dev/zero of=/dev/null bs=1M count=500"], |out| {
            some_line(out, "dd's 500 MiB", |r| {
                r.first() == Some(&"dd") && num(r, 2) >= Some(500 * 1024) && num(r, 3) >= Some(500 * 1024)
            })
        }),
        case("file-deletes", &["-c", &deletes], {
            let (gone, never) = (f.on_disk("gone"), f.on_disk("never-there"));
            move |out| {
                some_line(out, "the removed file", |r| {
                    r.first() == Some(&"rm") && r.get(2) == Some(&"ok") && r.get(3) == Some(&gone.as_str())
                })?;
                some_line(out, "the missing one", |r| {
                    r.first() == Some(&"rm") && r.get(2) == Some(&"ENOENT") && r.get(3) == Some(&never.as_str())
                })
            }
        }),
        case("fsync-latency", &["-c", &fsync], |out| {
            has(out, "dd fsync: 1 calls")?;
            has_histogram(out)
        }),
        case("tcp-connections", &["-c", &tcp_work], |out| {
            let port = workload_port(out)?;
            let remote = format!("127.0.0.1:{port}");
            some_line(out, "the connect", |r| {
                r.get(1) == Some(&"python3") && r.get(2) == Some(&"connect") && r.get(4) == Some(&remote.as_str())
            })?;
            some_line(out, "the accept", |r| r.get(2) == Some(&"accept") && r.get(3) == Some(&remote.as_str()))
        }),
        case("tcp-states", &["-c", &tcp_work], |out| {
            some_line(out, "the handshake", |r| {
                r.first() == Some(&"TCP_SYN_SENT") && r.get(2) == Some(&"TCP_ESTABLISHED") && num(r, 3) >= Some(1)
            })?;
            some_line(out, "the listener's SYN", |r| {
                r.first() == Some(&"TCP_LISTEN") && r.get(2) == Some(&"TCP_SYN_RECV")
            })
        }),
        case("tcp-retransmits", &["-c", &format!("/usr/bin/python3 {}", f.path("synretry.py"))], |out| {
            let port = workload_port(out)?;
            let remote = format!("127.0.0.1:{port}");
            some_line(out, "the SYN sent again", |r| {
                r.get(1) == Some(&remote.as_str()) && r.get(2) == Some(&"TCP_SYN_SENT")
            })?;
            some_line(out, "the count", |r| r.first() == Some(&"127.0.0.1") && num(r, 1) >= Some(1))
        }),
        case("socket-bytes", &["-c", &tcp_work], |out| {
            some_line(out, "a million bytes each way", |r| {
                r.first() == Some(&"python3")
                    && r.get(2) == Some(&"INET")
                    && num(r, 3) >= Some(1_000_000)
                    && num(r, 4) >= Some(1_000_000)
            })
        }),
        case("nettop", &["-c", &tcp_work], |out| {
            // A million bytes over lo, headers on top.
            some_line(out, "python3 on lo", |r| {
                r.get(1) == Some(&"python3") && r.get(2) == Some(&"lo") && num(r, 5) >= Some(1_000_000 / 1024)
            })
        }),
        case("futex-contention", &["-c", &format!("/usr/bin/python3 {}", f.path("gil.py"))], |out| {
            has(out, "FUTEX")?;
            some_line(out, "python's waits", |r| {
                r.first() == Some(&"python3") && r.get(2).is_some_and(|a| a.starts_with("0x")) && num(r, 3) >= Some(1)
            })
        }),
        case("kmalloc-sizes", &["-c", "ls -lR /usr/share/doc > /dev/null"], |out| {
            some_line(out, "the totals", |r| r.get(1) == Some(&"allocations:") && num(r, 0) > Some(0))?;
            has_histogram(out)?;
            has(out, "[kernel]")
        }),
        case("malloc-sizes", &["-c", "perl -e '$x = q(a) x 5_000_000'"], |out| {
            // perl asks for the 5 MB string in one malloc (at least).
            some_line(out, "perl's largest", |r| {
                r.first() == Some(&"perl:") && r.last().and_then(|n| n.parse::<i64>().ok()) >= Some(5_000_000)
            })?;
            has_histogram(out)
        }),
        case("python-calls", &["-c", &format!("/usr/bin/python3.11 {}", f.path("calls.py"))], {
            let square = format!("square ({}:2)", f.path("calls.py"));
            move |out| {
                some_line(out, "1000 calls of square", |r| {
                    num(r, 0) == Some(1000) && r.get(2..).is_some_and(|w| w.join(" ") == square)
                })
            }
        }),
        case("python-imports", &["-c", "/usr/bin/python3.11 -c 'import json'"], |out| {
            some_line(out, "json", |r| r.len() == 2 && num(r, 0) > Some(0) && r.get(1) == Some(&"json"))?;
            some_line(out, "json.decoder", |r| r.get(1) == Some(&"json.decoder"))
        }),
        case("dns-lookups", &["-c", &format!("/usr/bin/python3 {}", f.path("lookup.py"))], |out| {
            some_line(out, "the lookup of localhost", |r| {
                r.first().is_some_and(|p| p.starts_with("python3"))
                    && num(r, 3) == Some(0)
                    && r.get(4) == Some(&"localhost")
            })
        }),
        case("irq-counts", &["-c", &direct.replace("direct ", "direct2 ")], |out| {
            has(out, "DEVICE")?;
            some_line(out, "an interrupt", |r| r.len() == 4 && num(r, 0).is_some() && num(r, 2) > Some(0))
        }),
        case("softirq-time", &["-T", "2"], |out| {
            some_line(out, "timer softirqs", |r| {
                matches!(r.first(), Some(&"TIMER" | &"RCU" | &"SCHED")) && num(r, 1) > Some(0)
            })?;
            has_histogram(out)
        }),
        case("wakeups", &["-c", "sh -c 'sleep 0.2; echo x | cat > /dev/null'"], |out| {
            has(out, "WAKER")?;
            some_line(out, "a wakeup", |r| r.get(1) == Some(&"->") && num(r, 3) > Some(0))
        }),
        case("migrations", &["-c", busy], |out| {
            has(out, "MOVES")?;
            some_line(out, "the CPUs' table", |r| r.get(..2) == Some(&["FROM", "->"]))
        }),
        // The direct write may finish before any work item runs; two
        // seconds more see the kernel's periodic work (vmstat_update and
        // its kin) on an idle machine too.
        case("workqueue-top", &["-c", &format!("sh -c '{}; sleep 2'", direct.replace("direct ", "direct3 "))], |out| {
            has(out, "WORK FUNCTION")?;
            some_line(out, "a work function by name", |r| {
                r.len() == 2
                    && num(r, 1) > Some(0)
                    && r.first().is_some_and(|f| !f.starts_with("0x") && num(r, 0).is_none())
            })
        }),
        case("mmap-sizes", &["-c", "perl -e 'my $x = q(a) x 20_000_000'"], |out| {
            // The 20 MB string (and its copy) in anonymous mappings.
            some_line(out, "perl's big mappings", |r| {
                r.first() == Some(&"perl:")
                    && r.get(2) == Some(&"anonymous")
                    && num(r, 4) >= Some(2 * 20_000_000 / 1024)
            })?;
            has_histogram(out)
        }),
    ]
}

/// The port a TCP workload printed ("port N").
fn workload_port(out: &str) -> Result<u16, String> {
    rows(out)
        .iter()
        .find_map(|r| (r.first() == Some(&"port")).then(|| r.get(1)?.parse().ok()).flatten())
        .ok_or_else(|| "the workload's port".into())
}

fn example(name: &str) -> PathBuf {
    root().join("examples").join(format!("{name}.stp"))
}

fn run_one(c: &Case, dir: &Path) -> Run {
    let start = Instant::now();
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", "120"]).arg(super::common::stp()).args(&c.options).arg(example(c.name)).args(&c.script_args);
    let out = super::common::run_in(cmd.current_dir(dir), None);
    Run {
        status: out.status.code(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
    }
}

#[test]
fn every_example_has_a_case_and_an_index_line() {
    let index = std::fs::read_to_string(root().join("examples/README.md")).expect("examples/README.md");
    let files = Files::new();
    let mut named: BTreeSet<String> = host_cases(&files).iter().map(|c| c.name.to_string()).collect();
    named.extend(IN_VM.iter().chain(OWN_TEST).map(|s| s.to_string()));
    let mut missing = Vec::new();
    let mut scripts = 0;
    for path in stp_files(&root().join("examples")) {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("a name").to_string();
        let text = std::fs::read_to_string(&path).expect("the script");
        scripts += 1;
        if !named.contains(&name) {
            missing.push(format!("{name}: no case in tests/runtime/examples_collection.rs"));
        }
        if !index.contains(&format!("[{name}.stp]({name}.stp)")) {
            missing.push(format!("{name}: no line in examples/README.md"));
        }
        if !text.starts_with(&format!("// {name}.stp: ")) || !text.contains("//   stp ") {
            missing.push(format!("{name}: the header says what it shows and how to run it"));
        }
        if !text.contains("// Sample output") {
            missing.push(format!("{name}: no sample output in the header"));
        }
    }
    for name in &named {
        if !example(name).exists() {
            missing.push(format!("{name}: a case for a script that is not there"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(scripts >= 40, "only {scripts} examples");
}

#[test]
fn examples_run_on_the_host() {
    if !as_root("the examples") {
        return;
    }
    if !Path::new("/usr/bin/python3.11").exists() || !Path::new("/usr/bin/python3").exists() {
        assert!(!in_ci(), "CI has /usr/bin/python3.11 (Debian 12's python3)");
        eprintln!("skipped the examples: /usr/bin/python3.11 is missing");
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let files = Files::new();
    let mut cases = host_cases(&files);
    // The slowest to compile and load first, so that they overlap the rest.
    cases.sort_by_key(|c| !SLOW.contains(&c.name));
    let cases = Arc::new(cases);
    let next = Arc::new(Mutex::new(0usize));
    let results: Arc<Mutex<Vec<(usize, Run)>>> = Arc::default();
    let start = Instant::now();
    let workers: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let (cases, next, results) = (Arc::clone(&cases), Arc::clone(&next), Arc::clone(&results));
            std::thread::spawn(move || {
                let dir = tempfile::tempdir().expect("a working directory");
                loop {
                    let i = {
                        let mut n = next.lock().expect("the queue");
                        *n += 1;
                        *n - 1
                    };
                    let Some(c) = cases.get(i) else { break };
                    let run = run_one(c, dir.path());
                    results.lock().expect("the results").push((i, run));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker");
    }
    let wall = start.elapsed();
    let mut results = std::mem::take(&mut *results.lock().expect("the results"));
    results.sort_by_key(|(i, _)| *i);
    let mut failures = Vec::new();
    for (i, run) in &results {
        let c = &cases[*i];
        println!("{:<22} {:5.1} s", c.name, run.took.as_secs_f64());
        let verdict =
            if run.status != Some(0) { Err(format!("exit status {:?}", run.status)) } else { (c.check)(&run.out) };
        if let Err(why) = verdict {
            failures.push(format!("== {}: {why}\n-- stdout:\n{}\n-- stderr:\n{}", c.name, run.out, run.err));
        }
    }
    println!("{} examples on the host in {:.1} s", results.len(), wall.as_secs_f64());
    assert!(failures.is_empty(), "{} of {} examples failed:\n{}", failures.len(), results.len(), failures.join("\n"));
}

/// The scripts that need kernel-function probes, in the VM: one boot,
/// the examples copied in.
#[test]
fn examples_with_kernel_functions_run_in_the_vm() {
    let data = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(data.path(), [b'x'; 1000]).expect("the data written");
    let mut vm = Vm::new();
    vm.copy(&root().join("examples"), "/root/examples")
        .copy(data.path(), "/root/data1000")
        .case_timeout(Duration::from_secs(150));
    let stp = |name: &str, cmd: &str| command_line(&["stp", &format!("examples/{name}.stp"), "-c", cmd]);
    let reads = vm.case(stp("vfs-reads", "sh -c 'head -c 777 /root/data1000 > /dev/null'"));
    // A listener that reads everything, and a client that sends 30000
    // bytes from a file.
    let sends = vm.case(format!(
        "nc -l -p 5000 > /dev/null &\nsleep 1\n{}",
        stp("tcp-send-sizes", "sh -c 'nc -w 1 127.0.0.1 5000 < /root/data1000'")
    ));
    let Some(run) = vm.run("the examples in the VM") else { return };
    println!("VM: {} cases, boot {:?} s, wall {:.1} s", run.outcomes.len(), run.boot, run.wall.as_secs_f64());
    let check = |i: usize, name: &str, verdict: Result<(), String>| {
        let o = &run.outcomes[i];
        assert_eq!(o.status, Some(0), "{name}: stderr:\n{}", o.stderr);
        if let Err(why) = verdict {
            panic!("{name}: {why}\n-- stdout:\n{}\n-- stderr:\n{}", o.stdout, o.stderr);
        }
    };
    let out = &run.outcomes[reads].stdout;
    check(
        reads,
        "vfs-reads",
        some_line(out, "head's read of the file", |r| {
            // busybox head reads a buffer's worth: the whole file.
            r.first() == Some(&"head")
                && r.get(3) == Some(&"data1000")
                && num(r, 1) == Some(1000)
                && num(r, 2) >= Some(1)
        }),
    );
    let out = &run.outcomes[sends].stdout;
    check(
        sends,
        "tcp-send-sizes",
        some_line(out, "nc's 1000 bytes", |r| r.first() == Some(&"nc:") && r.get(3) == Some(&"1000")),
    );
}

/// `GET /metrics` from `addr`, the body; `None` while nothing answers.
fn scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    conn.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).ok()?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer).ok()?;
    Some(answer.split_once("\r\n\r\n")?.1.to_string())
}

/// The exporter answers a scrape with its counters: the getppid calls
/// this test made are among the system's.
#[test]
fn the_prometheus_exporter_example_serves_its_counters() {
    if !as_root("the prometheus example") {
        return;
    }
    let help = Command::new(super::common::stp()).arg("--help").output().expect("stp --help");
    if !String::from_utf8_lossy(&help.stdout).contains("--metrics") {
        // The `prometheus` probe and --metrics come together.
        eprintln!("skipped the prometheus example: this stp has no --metrics");
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let addr = format!("127.0.0.1:{port}");
    let stp = Command::new(super::common::stp())
        .args(["--metrics", &addr, "-T", "60"])
        .arg(example("prometheus-exporter"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("stp starts");
    // The server may answer before the probes are attached: the probes
    // are in once some system call is counted.
    let counted = |body: &Option<String>, call: &str| {
        body.as_deref()?
            .lines()
            .find_map(|l| l.strip_prefix(&format!("stp_syscalls_total{{syscall=\"{call}\"}} "))?.parse::<u64>().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(50);
    while counted(&scrape(&addr), "read").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    for _ in 0..500 {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
    }
    let body = scrape(&addr);
    // SAFETY: stopping the stp this test started.
    unsafe { libc::kill(stp.id() as i32, libc::SIGINT) };
    let out = stp.wait_with_output().expect("stp ends");
    let body = body.unwrap_or_else(|| panic!("no answer on {addr}: {}", String::from_utf8_lossy(&out.stderr)));
    let calls = counted(&Some(body.clone()), "getppid").unwrap_or_else(|| panic!("no getppid counter in:\n{body}"));
    assert!(calls >= 500, "{calls} getppid calls counted, 500 made:\n{body}");
    assert!(body.contains("# TYPE stp_read_bytes_total counter\n"), "{body}");
}
