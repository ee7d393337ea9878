//! Runtime tests on the host kernel: objects stp writes, loaded by aya (and
//! bpftool), attached, and firing for real. They need root; outside CI
//! they skip with a reason, in CI (`CI=true`) they must run.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::process::Command;

use stp_compiler::bpf::btf::MapDef;
use stp_compiler::bpf::elf::{LineInfo, Program, write_object, write_object_with_lines};
use stp_compiler::bpf::insn::{AluOp, Cond, Insn, Reg, Size};

use common::{as_root, in_ci};

/// Compiles `script` with `stp -p4 -m NAME`, loads the object, runs its
/// first handler's program on `syscalls:sys_enter_getppid` while this
/// process makes `calls` getppid calls, and returns the loaded object
/// (its maps hold what the program left).
fn run_on_getppid(name: &str, script: &str, calls: usize) -> aya::Ebpf {
    fire(&compile(name, script), "probe_0_0", "sys_enter_getppid", &mut getppid_calls(calls)).0
}

/// The object `stp -p4 -m NAME` writes for `script`.
fn compile(name: &str, script: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = Command::new(env!("CARGO_BIN_EXE_stp"))
        .current_dir(dir.path())
        .args(["-p4", "-m", name, "-e", script])
        .output()
        .expect("stp runs");
    assert!(out.status.success(), "stp -p4: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{name}.o"), "-p4 prints the object's path");
    std::fs::read(dir.path().join(format!("{name}.o"))).expect("the object")
}

/// Loads an object, attaches `program` to `syscalls:EVENT`, runs `action`
/// and detaches; with the kernel's count of the program's runs.
fn fire(bytes: &[u8], program: &str, event: &str, action: &mut dyn FnMut()) -> (aya::Ebpf, u64) {
    let mut ebpf = aya::Ebpf::load(bytes).expect("aya loads the object");
    let prog: &mut aya::programs::TracePoint =
        ebpf.program_mut(program).expect("the program").try_into().expect("a tracepoint program");
    prog.load().expect("the verifier accepts the code");
    let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).expect("run statistics");
    let link = prog.attach("syscalls", event).expect("attached");
    action();
    let runs = prog.info().expect("program info").run_count();
    prog.detach(link).expect("detached");
    (ebpf, runs)
}

fn getppid_calls(n: usize) -> impl FnMut() {
    move || {
        for _ in 0..n {
            // SAFETY: getppid has no preconditions.
            unsafe { libc::getppid() };
        }
    }
}

/// The first N longs of the `globals` map's value: the script's long
/// globals in order (the runtime's own slots follow them).
fn globals<const N: usize>(ebpf: &aya::Ebpf) -> [u64; N] {
    use std::os::fd::{AsFd, AsRawFd};
    let Some(aya::maps::Map::Array(data)) = ebpf.map("globals") else { panic!("the globals map") };
    let size = data.info().expect("map info").value_size() as usize;
    let mut value = vec![0u8; size];
    let found =
        stp_runtime::sys::lookup(data.fd().as_fd().as_raw_fd(), &0u32.to_ne_bytes(), &mut value).expect("lookup");
    assert!(found, "the globals record");
    std::array::from_fn(|i| u64::from_ne_bytes(value[8 * i..8 * i + 8].try_into().unwrap()))
}

/// `r0 = 0; exit` on `syscalls:sys_enter_getppid`.
fn getppid_object() -> Vec<u8> {
    let prog = Program {
        name: "probe_0".into(),
        section: "tracepoint/syscalls/sys_enter_getppid".into(),
        insns: vec![Insn::mov64_imm(Reg::R0, 0), Insn::exit()],
        map_loads: Vec::new(),
        funcs: Vec::new(),
    };
    write_object(&[prog], &[], "GPL").expect("an object")
}

/// Counts `syscalls:sys_enter_getppid` in slot 0 of an array map, as a
/// global counter will: look the slot up, add 1 atomically.
fn counter_object() -> Vec<u8> {
    let mut insns = Insn::ld_map_fd(Reg::R1, 0).to_vec();
    insns.extend([
        Insn::store_imm(Size::W, Reg::FP, -4, 0),
        Insn::mov64_reg(Reg::R2, Reg::FP),
        Insn::alu64_imm(AluOp::Add, Reg::R2, -4),
        Insn::call(1), // bpf_map_lookup_elem
        Insn::jump_imm(Cond::Eq, Reg::R0, 0, 2),
        Insn::mov64_imm(Reg::R1, 1),
        Insn::atomic_add(Size::DW, Reg::R0, 0, Reg::R1),
        Insn::mov64_imm(Reg::R0, 0),
        Insn::exit(),
    ]);
    let prog = Program {
        name: "probe_0".into(),
        section: "tracepoint/syscalls/sys_enter_getppid".into(),
        insns,
        map_loads: vec![(0, "globals".into())],
        funcs: Vec::new(),
    };
    let globals = MapDef { name: "globals".into(), map_type: 2, key_size: 4, value_size: 8, max_entries: 1, flags: 0 };
    write_object(&[prog], &[globals], "GPL").expect("an object")
}

#[test]
fn tracepoint_program_loads_attaches_and_fires() {
    if !as_root("tracepoint_program_loads_attaches_and_fires") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (_, runs) = fire(&getppid_object(), "probe_0", "sys_enter_getppid", &mut getppid_calls(100));
    // Other processes may call getppid too: at least ours.
    assert!(runs >= 100, "the program ran {runs} times for 100 getppid calls");
}

#[test]
fn a_btf_defined_map_counts_events() {
    if !as_root("a_btf_defined_map_counts_events") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (ebpf, _) = fire(&counter_object(), "probe_0", "sys_enter_getppid", &mut getppid_calls(100));
    let map: aya::maps::Array<_, u64> =
        aya::maps::Array::try_from(ebpf.map("globals").expect("the map")).expect("an array of u64");
    let count = map.get(&0, 0).expect("slot 0");
    assert!(count >= 100, "counted {count} for 100 getppid calls");
}

#[test]
fn bpftool_loads_the_object() {
    if !as_root("bpftool_loads_the_object") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let has_bpftool = Command::new("bpftool").arg("version").output().is_ok_and(|o| o.status.success());
    if !has_bpftool {
        assert!(!in_ci(), "CI installs bpftool (tests/run.sh)");
        eprintln!("skipped bpftool_loads_the_object: bpftool is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let obj = dir.path().join("probe.o");
    // With a BTF-defined map: libbpf (under bpftool) loads only those.
    std::fs::write(&obj, counter_object()).expect("the object written");
    let pin = format!("/sys/fs/bpf/stp-test-{}", std::process::id());
    let out = Command::new("bpftool").args(["prog", "loadall"]).arg(&obj).arg(&pin).output().expect("bpftool runs");
    let pinned = std::fs::read_dir(&pin).map(|d| d.count()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&pin);
    assert!(out.status.success(), "bpftool prog loadall: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(pinned, 1, "one program pinned");
}

/// The whole compiler: `stp -p4 -m NAME` writes the object of a script
/// whose tracepoint handler counts in a global; aya loads it, it runs for
/// real, and the global holds the count.
#[test]
fn a_compiled_script_counts_in_a_global() {
    if !as_root("a_compiled_script_counts_in_a_global") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n\nprobe kernel.trace(\"syscalls:sys_enter_getppid\") { n++ }\n";
    let [n] = globals::<1>(&run_on_getppid("count", script, 100));
    assert!(n >= 100, "n is {n} after 100 getppid calls");
}

/// Branches, comparisons, `!`, `&`, shifts and arithmetic in generated
/// code, checked against the same computation done here for each of the
/// `n` events the program counted.
#[test]
fn generated_code_computes_what_the_script_says() {
    if !as_root("generated_code_computes_what_the_script_says") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n, peak\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          n++\n\
          if (n > peak && !(n & 1)) peak = n * 2 - (n >> 1)\n\
        }\n";
    let [n, peak] = globals::<2>(&run_on_getppid("peak", script, 100));
    assert!(n >= 100, "n is {n} after 100 getppid calls");
    let mut want = 0u64;
    for i in 1..=n {
        if i > want && i & 1 == 0 {
            want = i * 2 - (i >> 1);
        }
    }
    assert_eq!(peak, want, "peak after n = {n}");
}

/// pid(), tid(), uid() and cpu() in a kernel handler, against this
/// thread's own: the handler records them when the caller is this thread
/// (other tests run in this process).
#[test]
fn context_intrinsics_name_the_caller() {
    if !as_root("context_intrinsics_name_the_caller") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: getpid, gettid and getuid have no preconditions.
    let (pid, tid, uid) = unsafe { (libc::getpid() as u64, libc::gettid() as u64, libc::getuid() as u64) };
    let script = format!(
        "global p, t, u, c, seen\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (tid() == {tid}) {{ p = pid(); t = tid(); u = uid(); c = cpu(); seen++ }}\n\
         }}\n"
    );
    let [p, t, u, c, seen] = globals::<5>(&run_on_getppid("ctx", &script, 1));
    assert_eq!(seen, 1, "the handler saw our one call");
    assert_eq!((p, t, u), (pid, tid, uid));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    assert!(c < cpus, "cpu() {c} on a machine with {cpus} processors");
}

/// `--verify` loads what -p4 wrote: the verifier accepts count-calls.
#[test]
fn p4_verify_passes_the_verifier() {
    if !as_root("p4_verify_passes_the_verifier") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/count-calls.stp");
    let out = Command::new(env!("CARGO_BIN_EXE_stp"))
        .current_dir(dir.path())
        .args(["-p4", "--verify", "-m", "checked"])
        .arg(example)
        .output()
        .expect("stp runs");
    assert!(out.status.success(), "stp -p4 --verify: {}", String::from_utf8_lossy(&out.stderr));
}

/// A program the verifier refuses comes back with the verifier's log, and
/// the log names the instruction it stopped at.
#[test]
fn a_refused_program_is_reported_at_its_instruction() {
    if !as_root("a_refused_program_is_reported_at_its_instruction") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Slot 1 returns without having set r0.
    let prog = Program {
        name: "bad".into(),
        section: "tracepoint/syscalls/sys_enter_getppid".into(),
        insns: vec![Insn::mov64_imm(Reg::R1, 0), Insn::exit()],
        map_loads: Vec::new(),
        funcs: Vec::new(),
    };
    let bytes = write_object(&[prog], &[], "GPL").expect("an object");
    let rejected = stp_runtime::verify(&bytes, &[]).expect_err("the verifier refuses it");
    assert_eq!(rejected.program, "bad");
    assert!(rejected.log.contains("R0 !read_ok"), "{}", rejected.log);
    assert_eq!(stp_runtime::failing_instruction(&rejected.log), Some(1), "{}", rejected.log);
}

/// Whether bpftool is there to ask; says why not when it is not.
fn has_bpftool(what: &str) -> bool {
    if Command::new("bpftool").arg("version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(!in_ci(), "CI installs bpftool (tests/run.sh)");
    eprintln!("skipped {what}: bpftool is not installed");
    false
}

/// `bpftool prog dump xlated ... linum` of a loaded program (`id N` or
/// `pinned PATH`): its instructions, each script line above its code.
fn dump_with_lines(which: &[&str]) -> String {
    let out =
        Command::new("bpftool").args(["prog", "dump", "xlated"]).args(which).arg("linum").output().expect("bpftool");
    assert!(out.status.success(), "bpftool prog dump: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The kernel keeps the line info of a compiled script, loaded by aya and
/// by libbpf (bpftool): dumps of both show each statement's line above its
/// code, with its file, line and column.
#[test]
fn the_kernel_keeps_the_script_lines() {
    if !as_root("the_kernel_keeps_the_script_lines") || !has_bpftool("the_kernel_keeps_the_script_lines") {
        return;
    }
    let script = "global n, peak\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          n++\n\
          if (n > peak) peak = n * 2\n\
        }\n";
    let want = [
        "; probe kernel.trace(\"syscalls:sys_enter_getppid\") { [file:<input> line_num:2 line_col:7]",
        "; n++ [file:<input> line_num:3 line_col:1]",
        // The assignment's store, at its operator (where a failed write
        // is reported), after the condition's code.
        "; if (n > peak) peak = n * 2 [file:<input> line_num:4 line_col:19]",
    ];
    let bytes = compile("lines", script);
    let mut ebpf = aya::Ebpf::load(&bytes).expect("aya loads the object");
    let prog: &mut aya::programs::TracePoint =
        ebpf.program_mut("probe_0_0").expect("the program").try_into().expect("a tracepoint program");
    prog.load().expect("the verifier accepts the code");
    let id = prog.info().expect("program info").id().to_string();
    let dump = dump_with_lines(&["id", &id]);
    assert!(dump.starts_with("int probe_0_0(void * ctx):\n"), "the program's BTF function:\n{dump}");
    for line in want {
        assert!(dump.contains(&format!("{line}\n")), "aya: no {line:?} in\n{dump}");
    }
    drop(ebpf);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let obj = dir.path().join("lines.o");
    std::fs::write(&obj, &bytes).expect("the object written");
    let pin = format!("/sys/fs/bpf/stp-lines-{}", std::process::id());
    let out = Command::new("bpftool").args(["prog", "loadall"]).arg(&obj).arg(&pin).output().expect("bpftool runs");
    let dump = out.status.success().then(|| dump_with_lines(&["pinned", &format!("{pin}/probe_0_0")]));
    let _ = std::fs::remove_dir_all(&pin);
    assert!(out.status.success(), "bpftool prog loadall: {}", String::from_utf8_lossy(&out.stderr));
    let dump = dump.unwrap_or_default();
    for line in want {
        assert!(dump.contains(&format!("{line}\n")), "libbpf: no {line:?} in\n{dump}");
    }
}

/// The verifier's log of a refused program shows the script line above
/// the instructions it refused.
#[test]
fn a_refused_program_is_reported_with_its_script_line() {
    if !as_root("a_refused_program_is_reported_with_its_script_line") {
        return;
    }
    // Slot 2 returns without having set r0.
    let prog = Program {
        name: "bad".into(),
        section: "tracepoint/syscalls/sys_enter_getppid".into(),
        insns: vec![Insn::mov64_imm(Reg::R1, 0), Insn::mov64_imm(Reg::R2, 0), Insn::exit()],
        map_loads: Vec::new(),
        funcs: Vec::new(),
    };
    let line =
        |slot: usize, line: u32, text: &str| LineInfo { slot, file: "<input>".into(), text: text.into(), line, col: 1 };
    let lines = [vec![line(0, 1, "probe begin {"), line(2, 2, "  return_without_a_value()")]];
    let bytes = write_object_with_lines(&[prog], &[], "GPL", &lines).expect("an object");
    let rejected = stp_runtime::verify(&bytes, &[]).expect_err("the verifier refuses it");
    assert_eq!(rejected.program, "bad");
    assert!(rejected.log.contains("R0 !read_ok"), "{}", rejected.log);
    // `; TEXT` (newer kernels add ` @ FILE:LINE`) above the refused exit.
    let log: Vec<&str> = rejected.log.lines().collect();
    let above = log.windows(2).find(|w| w[1].starts_with("2: (95) exit")).map(|w| w[0]);
    assert!(
        above.is_some_and(|l| l.starts_with("; return_without_a_value()")),
        "the script line above the refused instruction in\n{}",
        rejected.log
    );
    assert_eq!(stp_runtime::failing_instruction(&rejected.log), Some(2), "{}", rejected.log);
}

/// A tracepoint record's field (`$count` of `syscalls:sys_enter_read`):
/// the handler adds up the sizes of this process's reads.
#[test]
fn record_fields_are_read_from_the_context() {
    if !as_root("record_fields_are_read_from_the_context") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // This thread's reads only: other tests run in this process.
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let script = format!(
        "global total, reads\n\
         probe kernel.trace(\"syscalls:sys_enter_read\") {{ if (tid() == {tid}) {{ total += $count; reads++ }} }}\n"
    );
    let zero = std::fs::File::open("/dev/zero").expect("/dev/zero");
    let mut read = || {
        use std::io::Read as _;
        let mut buf = [0u8; 4096];
        for n in [10, 200, 3000] {
            let mut f = &zero;
            f.read_exact(buf.get_mut(..n).expect("a buffer")).expect("a read");
        }
    };
    let (ebpf, _) = fire(&compile("fields", &script), "probe_0_0", "sys_enter_read", &mut read);
    let [total, reads] = globals::<2>(&ebpf);
    assert_eq!((total, reads), (3210, 3));
}

/// ktime_get_ns() in a kernel handler is CLOCK_MONOTONIC: between this
/// thread's readings before and after its call. jiffies() advances by
/// HZ/10 over 100 ms (HZ is 100 to 1000).
#[test]
fn clocks_in_kernel_handlers() {
    if !as_root("clocks_in_kernel_handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let script = format!(
        "global t, j1, j2, n\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (tid() == {tid}) {{ if (n == 0) {{ t = ktime_get_ns(); j1 = jiffies() }} else j2 = jiffies(); n++ }}\n\
         }}\n"
    );
    let monotonic = || {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid timespec to write.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    let (mut before, mut after) = (0, 0);
    let mut calls = || {
        before = monotonic();
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
        after = monotonic();
        std::thread::sleep(std::time::Duration::from_millis(100));
        // SAFETY: as above.
        unsafe { libc::getppid() };
    };
    let (ebpf, _) = fire(&compile("clocks", &script), "probe_0_0", "sys_enter_getppid", &mut calls);
    let [t, j1, j2, n] = globals::<4>(&ebpf);
    assert_eq!(n, 2);
    assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
    assert!((8..=150).contains(&j2.saturating_sub(j1)), "jiffies went from {j1} to {j2} in 100 ms");
}

/// Tests that create BPF objects run one at a time: pass 5 tests compare
/// the kernel's lists of programs, maps and links before and after.
static PASS5: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `stp ARGS` to its end, with a limit; (status, stdout, stderr).
fn stp_run(args: &[&str]) -> (i32, String, String) {
    // `-p4` writes its object in the working directory: a private one.
    let cwd = tempfile::tempdir().expect("a directory");
    let child = Command::new(env!("CARGO_BIN_EXE_stp"))
        .current_dir(cwd.path())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("stp runs");
    // A watchdog kills a run that goes on too long, while the output is
    // read as it comes (a full pipe would stop stp).
    let pid = child.id() as i32;
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let late = wait.recv_timeout(std::time::Duration::from_secs(60)).is_err();
        if late {
            // SAFETY: signalling the child we started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        late
    });
    let out = child.wait_with_output().expect("output");
    let _ = done.send(());
    assert!(!watchdog.join().expect("the watchdog"), "stp {args:?} ran for more than 60 s");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The ids of the kernel's BPF objects of one kind (`prog`, `map`, `link`).
fn bpf_ids(kind: &str) -> Vec<u64> {
    let out = Command::new("bpftool").args([kind, "list", "-j"]).output().expect("bpftool runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.match_indices("\"id\":")
        .filter_map(|(i, _)| {
            let rest = &text[i + 5..];
            rest.trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
        .collect()
}

/// The ids of the kernel's programs, maps and links, by kind.
fn bpf_objects() -> Vec<(&'static str, Vec<u64>)> {
    ["prog", "map", "link"].into_iter().map(|k| (k, bpf_ids(k))).collect()
}

/// Checks that no program, map or link is there that was not `before`.
/// The kernel frees them after their last reference goes, in deferred
/// work: it gets a moment.
fn assert_nothing_left(before: &[(&str, Vec<u64>)], what: &str) {
    for (k, b) in before {
        let mut left = Vec::new();
        for _ in 0..50 {
            left = bpf_ids(k).into_iter().filter(|id| !b.contains(id)).collect();
            if left.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(40));
        }
        assert!(left.is_empty(), "{what} left {k}s {left:?} behind");
    }
}

/// Runs stp and checks that it leaves no program, map or link behind.
fn stp_run_clean(args: &[&str]) -> (i32, String, String) {
    let before = bpf_objects();
    let result = stp_run(args);
    assert_nothing_left(&before, &format!("stp {args:?}"));
    result
}

/// A command that calls getppid `n` times (perl is in every Debian). The
/// shell that starts it (with the same pid) may call getppid too.
fn getppid_command(n: usize, then_sleep: u32) -> String {
    format!("perl -e 'getppid() for 1..{n}; sleep {then_sleep}'")
}

#[test]
fn a_script_prints_from_a_tracepoint_until_its_command_ends() {
    if !as_root("pass 5 with -c") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target() && execname() == \"perl\") { n++; printf(\"%s %d %d|%-4s|\\n\", execname(), n, n * 10 / 3, \"ab\") }\n\
        }\n";
    let cmd = getppid_command(5, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let want: String = (1..=5).map(|n| format!("perl {n} {}|ab  |\n", n * 10 / 3)).collect();
    assert_eq!(out, want, "{err}");
}

#[test]
fn a_runtime_error_names_the_operator_and_fails_the_run() {
    if !as_root("pass 5 errors") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n  if (pid() == target()) { println(10 / (pid() - target())) }\n}\n";
    let cmd = getppid_command(1, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 1, "{out}{err}");
    assert!(err.contains("ERROR: division by 0 near operator '/' at <input>:2:"), "{err}");
    assert_eq!(out, "", "nothing printed after the error");
}

#[test]
fn exit_in_a_kernel_handler_stops_the_run_and_unread_globals_are_printed() {
    if !as_root("pass 5 exit") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global last, seen, sizes\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target() && execname() == \"perl\") { last = pid(); seen[execname(), 7] = \"yes\"; sizes <<< 3; sizes <<< 5; exit() }\n\
        }\n";
    // The command would sleep a minute: exit() must end the run first.
    let cmd = getppid_command(1, 60);
    let start = std::time::Instant::now();
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert!(start.elapsed() < std::time::Duration::from_secs(30), "exit() did not stop the run");
    assert_eq!(status, 0, "{err}");
    assert!(out.starts_with("last="), "{out}");
    let pid: i64 = out.lines().next().unwrap()["last=".len()..].parse().expect("a pid");
    assert!(pid > 0);
    assert!(out.contains("seen[\"perl\",7]=\"yes\"\n"), "{out}");
    assert!(out.contains("sizes @count=2 @min=3 @max=5 @sum=8 @avg=4\n"), "{out}");
}

#[test]
fn a_timeout_ends_the_run() {
    if !as_root("pass 5 -T") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let start = std::time::Instant::now();
    let (status, out, err) =
        stp_run_clean(&["-T", "1", "-e", "global n\nprobe kernel.trace(\"sched:sched_switch\") { n = 2 }\n"]);
    let took = start.elapsed();
    assert_eq!(status, 0, "{err}");
    assert!(took >= std::time::Duration::from_secs(1) && took < std::time::Duration::from_secs(10), "{took:?}");
    // Context switches happen every second; n is written, never read.
    assert_eq!(out, "n=2\n");
}

#[test]
fn btf_tracepoint_arguments_follow_pointers() {
    if !as_root("raw tracepoints") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // $next is sched_switch's BTF argument: the handler runs as a BTF
    // tracepoint where the kernel allows tracing programs (this one does),
    // else (or with kprobes forced) as a raw tracepoint, and reads the
    // task through it.
    let script = "global hits\n\
        probe kernel.trace(\"sched:sched_switch\") {\n\
          if ($next->pid == target() && kernel_string($next->comm) == \"perl\") hits++\n\
        }\n\
        probe end { printf(\"%s\\n\", hits > 0 ? \"seen\" : \"not seen\") }\n";
    for (mode, used) in [("auto", "tp_btf"), ("kprobe", "raw")] {
        let option = format!("--function-probes={mode}");
        let cmd = "perl -e 'select(undef, undef, undef, 0.05) for 1..5'";
        let (status, out, err) = stp_run_clean(&["-vv", &option, "-c", cmd, "-e", script]);
        assert_eq!(status, 0, "{err}");
        assert_eq!(out, "seen\n", "{err}");
        let said = err.contains("kernel.trace(\"sched:sched_switch\"): tp_btf");
        assert_eq!(said, used == "tp_btf", "{mode}: {err}");
    }
}

#[test]
fn error_probes_run_instead_of_end_probes() {
    if !as_root("pass 5 error probes") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n = 3\n\
        probe begin { println(10 / (n - 3)) }\n\
        probe end { println(\"end\") }\n\
        probe error(2) { println(\"second \", n) }\n\
        probe error(1) { n++; println(\"first\") }\n";
    let (status, out, err) = stp_run_clean(&["-e", script]);
    assert_eq!(status, 1);
    assert_eq!(out, "first\nsecond 4\n");
    assert!(err.contains("ERROR: division by 0 near operator '/' at <input>:2:"), "{err}");
    assert!(err.ends_with("Pass 5: run failed.  [man error::pass5]\n"), "{err}");
}

#[test]
fn kernel_handlers_call_script_functions() {
    if !as_root("functions in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n\n\
        function add(a, b) { return a + b * 2 }\n\
        function pick(x) { if (x > 10) next; return x }\n\
        function pick(x) { return x - 10 }\n\
        function check(x) { if (x > 2) error(\"too big\"); return x }\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target() && execname() == \"perl\") {\n\
            n++\n\
            try { printf(\"%d %d %d\\n\", add(n, 3), pick(n * 4), check(n)) } catch (m) { printf(\"caught %s\\n\", m) }\n\
          }\n\
        }\n";
    let cmd = getppid_command(3, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "7 4 1\n8 8 2\ncaught too big\n", "{err}");
    // A kernel handler cannot recurse: pass 3 says so at the call.
    let (status, _, err) = stp_run(&[
        "-p4",
        "-e",
        "function f(x) { return x > 0 ? f(x - 1) : 0 }\nprobe kernel.trace(\"sched:sched_switch\") { println(f(3)) }\n",
    ]);
    assert_eq!(status, 1);
    assert!(err.contains("function 'f' calls itself") && err.contains("<input>:1:32"), "{err}");
}

#[test]
fn sigint_ends_the_run_with_end_probes_and_leaves_nothing() {
    if !as_root("pass 5 SIGINT") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let before = bpf_objects();
    let child = Command::new(env!("CARGO_BIN_EXE_stp"))
        .args(["-e", "global n\nprobe kernel.trace(\"sched:sched_switch\") { n++ }\nprobe end { printf(\"end %d\\n\", n > 0) }\n"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("stp runs");
    // Attached once its programs are in the kernel's list.
    let start = std::time::Instant::now();
    while bpf_ids("link").len() <= before[2].1.len() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "stp never attached");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("stp ends");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "end 1\n");
    assert_nothing_left(&before, "SIGINT");
}

#[test]
fn output_goes_to_the_o_file_and_x_sets_target() {
    if !as_root("pass 5 -o and -x") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("out.txt");
    let (status, out, err) = stp_run_clean(&[
        "-o",
        file.to_str().expect("utf-8"),
        "-x",
        "4242",
        "-e",
        "probe begin { printf(\"target %d\\n\", target()); exit() }",
    ]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "", "nothing on stdout with -o");
    assert_eq!(std::fs::read_to_string(&file).expect("the -o file"), "target 4242\n");
}

#[test]
fn every_record_is_printed_or_counted_as_lost() {
    if !as_root("pass 5 lost records") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // 100,000 records into a 1 MiB ring buffer as fast as perl can make
    // them: what the runtime does not print, it must count.
    let n = 100_000;
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target() && execname() == \"perl\") printf(\"%d %s\\n\", tid(), execname())\n\
        }\n";
    let cmd = getppid_command(n, 0);
    let (status, out, err) = stp_run_clean(&["-s", "1", "-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let printed = out.lines().count();
    let lost: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("WARNING: There were ")?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert_eq!(printed + lost, n, "printed {printed}, lost {lost}: {err}");
    assert!(out.lines().all(|l| l.ends_with(" perl")), "whole records only");
}

// One file per probe kind, in tests/runtime/.
#[path = "runtime/begin_end.rs"]
mod begin_end;
#[path = "runtime/c_program.rs"]
mod c_program;
#[path = "runtime/cleanup.rs"]
mod cleanup;
#[path = "runtime/concurrency.rs"]
mod concurrency;
#[path = "runtime/constant_casts.rs"]
mod constant_casts;
#[path = "runtime/context.rs"]
mod context;
#[path = "runtime/families_block.rs"]
mod families_block;
#[path = "runtime/families_irq.rs"]
mod families_irq;
#[path = "runtime/families_memory.rs"]
mod families_memory;
#[path = "runtime/families_mib.rs"]
mod families_mib;
#[path = "runtime/families_misc.rs"]
mod families_misc;
#[path = "runtime/families_net.rs"]
mod families_net;
#[path = "runtime/families_proc.rs"]
mod families_proc;
#[path = "runtime/families_resolve.rs"]
mod families_resolve;
#[path = "runtime/families_vfs.rs"]
mod families_vfs;
#[path = "runtime/families_vm.rs"]
mod families_vm;
#[path = "runtime/families_vm_more.rs"]
mod families_vm_more;
#[path = "runtime/faults.rs"]
mod faults;
#[path = "runtime/foreach.rs"]
mod foreach;
#[path = "runtime/handlers.rs"]
mod handlers;
#[path = "runtime/json_output.rs"]
mod json_output;
#[path = "runtime/kernel_hist.rs"]
mod kernel_hist;
#[path = "runtime/kernel_regex.rs"]
mod kernel_regex;
#[path = "runtime/kernel_strings.rs"]
mod kernel_strings;
#[path = "runtime/library.rs"]
mod library;
#[path = "runtime/library_fp.rs"]
mod library_fp;
#[path = "runtime/library_more.rs"]
mod library_more;
#[path = "runtime/library_names.rs"]
mod library_names;
#[path = "runtime/library_symbols.rs"]
mod library_symbols;
#[path = "runtime/library_tasks.rs"]
mod library_tasks;
#[path = "runtime/library_ustack.rs"]
mod library_ustack;
#[path = "runtime/metrics.rs"]
mod metrics;
#[path = "runtime/operands.rs"]
mod operands;
#[path = "runtime/perf.rs"]
mod perf;
#[path = "runtime/privilege.rs"]
mod privilege;
#[path = "runtime/progress.rs"]
mod progress;
#[path = "runtime/syscalls.rs"]
mod syscalls;
#[path = "runtime/timer.rs"]
mod timer;
#[path = "runtime/uprobe.rs"]
mod uprobe;
#[path = "runtime/usdt.rs"]
mod usdt;
#[path = "runtime/verify.rs"]
mod verify;
#[path = "runtime/vm.rs"]
mod vm;
#[path = "runtime/vm_kprobes.rs"]
mod vm_kprobes;
#[path = "runtime/vm_library.rs"]
mod vm_library;

#[path = "runtime/example_support.rs"]
mod example_support;
#[path = "runtime/examples_collection.rs"]
mod examples_collection;
#[path = "runtime/raw_tracepoints.rs"]
mod raw_tracepoints;
#[path = "runtime/stat_bounds.rs"]
mod stat_bounds;
#[path = "runtime/syscall_dispatch.rs"]
mod syscall_dispatch;
#[cfg(target_arch = "x86_64")]
#[path = "runtime/syscall_entry.rs"]
mod syscall_entry;
