//! Updates of globals from kernel handlers running on every CPU at once
//! are exact: threads pinned to each CPU call getppid a known number of
//! times, and the script's counts, sums and bit operations are checked
//! against what the test did.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{PASS5, as_root, assert_nothing_left, bpf_objects};

/// The script: a marker thread (`$1`) says when the probes are in place
/// (its first getppid) and ends the run (getpgid); every other thread of
/// this process counts.
const SCRIPT: &str = r#"
global ready, pv, qv, n, pre, post, add3, sub2, orv, andv, xorv, k, b, c, x, y
probe begin { andv = -1 }
probe kernel.trace("syscalls:sys_enter_getppid") {
  if (pid() != target()) next
  if (tid() == $1) {
    if (ready++ == 0) println("ready")
    next
  }
  i = k++
  n++
  pre <<< ++pv
  post <<< qv++
  add3 += 3
  sub2 -= 2
  orv |= 1 << (i % 64)
  andv &= ~(1 << (i % 64))
  xorv ^= i
  b[i % 7] += 2
  c[execname()]++
  x = x + 1
  y = 5 + y
}
probe kernel.trace("syscalls:sys_enter_getpgid") {
  if (pid() == target() && tid() == $1) exit()
}
probe end {
  printf("n %d\nadd3 %d\nsub2 %d\nor %d\nand %d\nxor %d\nx %d\ny %d\n", n, add3, sub2, orv, andv, xorv, x, y)
  printf("pre %d %d %d %d\n", @count(pre), @sum(pre), @min(pre), @max(pre))
  printf("post %d %d %d %d\n", @count(post), @sum(post), @min(post), @max(post))
  foreach (j+ in b) printf("b %d %d\n", j, b[j])
  foreach (s in c) printf("c %s %d\n", s, c[s])
}
"#;

fn gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and
    // sched_setaffinity get a valid set of the right size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[test]
fn global_updates_from_every_cpu_are_exact() {
    if !as_root("concurrent updates of globals") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (2 * cpus).max(4);
    let calls: usize = 200_000;
    let before = bpf_objects();
    let me = std::process::id().to_string();
    let marker = gettid().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stp"))
        .args(["-x", &me, "-e", SCRIPT, &marker])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stp runs");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The marker's getppid until the probes are there.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                assert_eq!(line, "ready");
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(e) => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("stp's output");
                panic!("stp never got ready ({e}): {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
    // The workers, spread over every CPU, all starting at once.
    let start = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let start = start.clone();
            std::thread::spawn(move || {
                pin(t % cpus);
                let comm = std::fs::read_to_string(format!("/proc/self/task/{}/comm", gettid())).expect("comm");
                start.wait();
                for _ in 0..calls {
                    // SAFETY: getppid has no preconditions.
                    unsafe { libc::getppid() };
                }
                comm.trim_end().to_string()
            })
        })
        .collect();
    let comms: Vec<String> = workers.into_iter().map(|w| w.join().expect("a worker")).collect();
    // The marker's getpgid until the script ends.
    let status = loop {
        // SAFETY: getpgid has no preconditions.
        unsafe { libc::getpgid(0) };
        if let Some(status) = child.try_wait().expect("stp's status") {
            break status;
        }
        assert!(Instant::now() < deadline, "stp did not end");
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().expect("the reader");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).expect("stderr");
    }
    let out: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "{err}");
    assert_nothing_left(&before, "the concurrency script");

    // What the script must have seen: events numbered 0..total by `k++`.
    let total = (threads * calls) as i64;
    let (mut or, mut and, mut xor) = (0i64, -1i64, 0i64);
    let mut b = [0i64; 7];
    for i in 0..total {
        or |= 1 << (i % 64);
        and &= !(1 << (i % 64));
        xor ^= i;
        b[(i % 7) as usize] += 2;
    }
    let mut want = vec![
        format!("n {total}"),
        format!("add3 {}", 3 * total),
        format!("sub2 {}", -2 * total),
        format!("or {or}"),
        format!("and {and}"),
        format!("xor {xor}"),
        format!("x {total}"),
        format!("y {}", 5 * total),
        // `++v` gave each of 1..=total once, `v++` each of 0..total.
        format!("pre {total} {} 1 {total}", total * (total + 1) / 2),
        format!("post {total} {} 0 {}", total * (total - 1) / 2, total - 1),
    ];
    want.extend(b.iter().enumerate().map(|(j, v)| format!("b {j} {v}")));
    let mut per_comm: Vec<(String, i64)> = Vec::new();
    for c in &comms {
        match per_comm.iter_mut().find(|(n, _)| n == c) {
            Some((_, v)) => *v += calls as i64,
            None => per_comm.push((c.clone(), calls as i64)),
        }
    }
    let mut got_c: Vec<&String> = out.iter().filter(|l| l.starts_with("c ")).collect();
    got_c.sort();
    let mut want_c: Vec<String> = per_comm.iter().map(|(n, v)| format!("c {n} {v}")).collect();
    want_c.sort();
    let got: Vec<&String> = out.iter().filter(|l| !l.starts_with("c ")).collect();
    assert_eq!(got, want.iter().collect::<Vec<_>>(), "{err}");
    assert_eq!(got_c, want_c.iter().collect::<Vec<_>>(), "{err}");
}

/// An atomic update of a key a full array does not have fails as a
/// write does: "array overflow" at the operator, the handler ended.
#[test]
fn an_update_of_a_full_array_is_an_overflow() {
    if !as_root("array overflow of an update") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let cmd = super::getppid_command(5, 0);
    for (update, near) in [("a[n] += 5", "operator '+='"), ("a[n]++", "identifier 'a'")] {
        let script = format!(
            "global a[3], n\n\
             probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
               if (pid() == target() && execname() == \"perl\") {{ n++; {update}; printf(\"%d %d\\n\", n, a[n]) }}\n\
             }}\n"
        );
        let (status, out, err) = super::stp_run_clean(&["-c", &cmd, "-e", &script]);
        assert_eq!(status, 1, "{update}: {out}");
        let step = if update.ends_with("++") { 1 } else { 5 };
        assert_eq!(
            out,
            format!("1 {step}\n2 {step}\n3 {step}\n"),
            "{update}: the fourth event failed before its printf"
        );
        assert!(
            err.contains(&format!("ERROR: Array overflow, check size limit (3) near {near} at <input>:3:")),
            "{err}"
        );
    }
}
