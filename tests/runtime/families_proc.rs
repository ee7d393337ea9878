//! The process families: `signal.*`, `scheduler.*`, `kprocess.*` and the
//! `process(...)` life-cycle points, fired by a program the test builds
//! that forks, starts a thread, signals its child and waits for it. The
//! program writes down what it did (its pids, the thread's id, a
//! syscall's result, the child's exit status), and the probes' values
//! are checked against that.

use std::collections::BTreeMap;

use super::c_program::{self, CProgram};
use super::{PASS5, as_root, stp_run, stp_run_clean};

/// Calls getpriority(PRIO_PROCESS, 0) directly; forks a child that starts
/// a thread, joins it, tells the parent and waits for SIGUSR1, whose
/// handler exits with status 3; the parent sends SIGUSR1 and reaps it.
const FAMPROC: &str = r#"
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static FILE *out;

static void *thread_main(void *arg) {
    (void)arg;
    fprintf(out, "thread %ld\n", (long)syscall(SYS_gettid));
    fflush(out);
    return NULL;
}

static void on_usr1(int sig) { (void)sig; _exit(3); }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    out = fopen(argv[1], "w");
    if (!out) return 2;
    long prio = syscall(SYS_getpriority, 0, 0);
    fprintf(out, "parent %d\ngetpriority %ld\n", getpid(), prio);
    fflush(out);
    int ready[2];
    if (pipe(ready) != 0) return 2;
    signal(SIGUSR1, on_usr1);
    pid_t child = fork();
    if (child == 0) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, NULL);
        pthread_join(t, NULL);
        if (write(ready[1], "x", 1) != 1) _exit(2);
        for (;;) pause();
    }
    char c;
    if (read(ready[0], &c, 1) != 1) return 2;
    kill(child, SIGUSR1);
    int status = 0;
    waitpid(child, &status, 0);
    fprintf(out, "child %d\nstatus %d\n", child, status);
    fclose(out);
    return 0;
}
"#;

/// What the program wrote down.
struct Did {
    parent: i64,
    child: i64,
    thread: i64,
    getpriority: i64,
    status: i64,
}

fn famproc(test: &str) -> Option<CProgram> {
    c_program::build(test, "famproc", FAMPROC, &["-O2", "-pthread"])
}

/// Runs the program under `script` (stp -c); the script's output lines,
/// sorted, and what the program did.
fn run(prog: &CProgram, script: &str) -> (Vec<String>, Did) {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("did");
    let cmd = format!("{} {}", prog.text(), file.display());
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let text = std::fs::read_to_string(&file).expect("the program's record");
    let kv: BTreeMap<&str, i64> =
        text.lines().filter_map(|l| l.split_once(' ')).map(|(k, v)| (k, v.trim().parse().expect("a number"))).collect();
    let get = |k: &str| *kv.get(k).unwrap_or_else(|| panic!("{k} in {text}"));
    let did = Did {
        parent: get("parent"),
        child: get("child"),
        thread: get("thread"),
        getpriority: get("getpriority"),
        status: get("status"),
    };
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    (lines, did)
}

fn sorted(lines: Vec<String>) -> Vec<String> {
    let mut lines = lines;
    lines.sort();
    lines
}

#[test]
fn process_life_cycle_points_of_a_program() {
    if !as_root("process life-cycle points") {
        return;
    }
    let Some(prog) = famproc("process life-cycle points") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        "probe process(\"{0}\").begin {{ printf(\"begin %d %d %s\\n\", pid(), tid(), pp()) }}\n\
         probe process(\"{0}\").thread.begin {{ printf(\"thread.begin %d %d\\n\", pid(), tid()) }}\n\
         probe process(\"{0}\").thread.end {{ printf(\"thread.end %d %d\\n\", pid(), tid()) }}\n\
         probe process(\"{0}\").end {{ printf(\"end %d %d\\n\", pid(), tid()) }}\n\
         probe process(\"{0}\").syscall {{ if ($syscall == {1}) printf(\"syscall %d %d %d\\n\", pid(), $arg1, $arg2) }}\n\
         probe process(\"{0}\").syscall.return {{ if ($syscall == {1}) printf(\"return %d %d\\n\", pid(), $return) }}\n",
        prog.text(),
        libc::SYS_getpriority,
    );
    let (lines, did) = run(&prog, &script);
    let (p, c, t) = (did.parent, did.child, did.thread);
    let pp = format!("process(\"{}\").begin", prog.text());
    let want = sorted(vec![
        // The exec of the program, and the fork of its child.
        format!("begin {p} {p} {pp}"),
        format!("begin {c} {c} {pp}"),
        format!("thread.begin {c} {t}"),
        format!("thread.end {c} {t}"),
        format!("end {c} {c}"),
        format!("end {p} {p}"),
        // getpriority(PRIO_PROCESS, 0) and what it returned.
        format!("syscall {p} 0 0"),
        format!("return {p} {}", did.getpriority),
    ]);
    assert_eq!(lines, want);
}

#[test]
fn process_points_by_pid_and_for_the_target_tree() {
    if !as_root("process(PID) and process.* under -c") {
        return;
    }
    let Some(prog) = famproc("process(PID) and process.* under -c") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Without a path under -c: the command and its descendants only (the
    // shell stp starts the command with is the target).
    let script = "probe process.begin { if (execname() == \"famproc\") printf(\"begin %d\\n\", pid()) }\n\
                  probe process.thread.end { printf(\"thread.end %d %d %s\\n\", pid(), tid(), execname()) }\n\
                  probe process.syscall.return { if ($syscall == 140 && execname() == \"famproc\") printf(\"return %d\\n\", $return) }\n";
    let (lines, did) = run(&prog, script);
    let (p, c, t) = (did.parent, did.child, did.thread);
    let want = sorted(vec![
        format!("begin {p}"),
        format!("begin {c}"),
        format!("thread.end {c} {t} famproc"),
        format!("return {}", did.getpriority),
    ]);
    assert_eq!(lines, want);
    // process(PID): this test's own process, which makes a getppid call.
    let me = std::process::id();
    let script = format!(
        "probe process({me}).syscall {{ if ($syscall == {}) {{ printf(\"%d %d\\n\", pid(), $syscall); exit() }} }}\n",
        libc::SYS_getppid
    );
    let child = std::thread::spawn(move || {
        for _ in 0..200 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            // SAFETY: getppid has no preconditions.
            unsafe { libc::getppid() };
        }
    });
    let (status, out, err) = stp_run(&["-T", "20", "-e", &script]);
    child.join().expect("the getppid thread");
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, format!("{me} {}\n", libc::SYS_getppid), "{err}");
}

#[test]
fn signal_scheduler_and_kprocess_aliases_report_what_the_program_did() {
    if !as_root("signal, scheduler and kprocess aliases") {
        return;
    }
    let Some(prog) = famproc("signal, scheduler and kprocess aliases") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let f = "execname() == \"famproc\"";
    let script = format!(
        "probe signal.send {{ if (sig == 10 && pid() == target()) printf(\"signal.send %s %d %s %d %s %s\\n\", sig_name, sig_pid, pid_name, shared, name, si_code) }}\n\
         probe signal.handle {{ if (sig == 10 && {f}) printf(\"signal.handle %d %d %s\\n\", pid(), sig, sig_name) }}\n\
         probe signal.syskill {{ if (pid() == target()) printf(\"signal.syskill %d %s %d\\n\", sig_pid, sig_name, sig) }}\n\
         probe signal.syskill.return {{ if (pid() == target()) printf(\"signal.syskill.return %s\\n\", retstr) }}\n\
         probe kprocess.create {{ if ({f}) printf(\"kprocess.create %d %d %d\\n\", pid(), new_pid, new_tid) }}\n\
         probe kprocess.exec {{ if (pid() == target()) printf(\"kprocess.exec %s\\n\", filename) }}\n\
         probe kprocess.exec_complete {{ if (pid() == target()) printf(\"kprocess.exec_complete %d %d\\n\", errno, success) }}\n\
         probe kprocess.exit {{ if ({f}) printf(\"kprocess.exit %d %d %d\\n\", pid(), tid(), code) }}\n\
         probe scheduler.process_fork {{ if ({f}) printf(\"scheduler.process_fork %d %d\\n\", parent_pid, child_pid) }}\n\
         probe scheduler.process_exit {{ if ({f}) printf(\"scheduler.process_exit %d %d\\n\", pid, tid()) }}\n\
         probe scheduler.process_wait {{ if ({f}) printf(\"scheduler.process_wait %d\\n\", pid) }}\n\
         probe scheduler.signal_send {{ if (signal_number == 10 && pid() == target()) printf(\"scheduler.signal_send %d %d\\n\", pid, signal_number) }}\n\
         probe scheduler.wakeup_new {{ if ({f}) printf(\"scheduler.wakeup_new %d %d\\n\", task_pid, task_tid) }}\n\
         probe scheduler.ctxswitch {{ if (prev_task_name == \"famproc\" && prev_pid != prev_tid) printf(\"scheduler.ctxswitch %d %d\\n\", prev_pid, prev_tid) }}\n"
    );
    let (lines, did) = run(&prog, &script);
    let (p, c, t) = (did.parent, did.child, did.thread);
    let mut lines = lines;
    // A thread may leave its CPU more than once before it exits.
    lines.dedup();
    let want = sorted(vec![
        // kill() passes a siginfo on the kernel's stack: an address that is
        // negative as a long, which stap's test reads as a user's signal.
        format!("signal.send SIGUSR1 {c} famproc 1 signal_generate SI_USER or SI_TIMER or SI_ASYNCIO"),
        format!("signal.handle {c} 10 SIGUSR1"),
        format!("signal.syskill {c} SIGUSR1 10"),
        "signal.syskill.return 0".to_string(),
        // The fork (new process) and the child's thread.
        format!("kprocess.create {p} {c} {c}"),
        format!("kprocess.create {c} {c} {t}"),
        format!("kprocess.exec \"{}\"", prog.text()),
        "kprocess.exec_complete 0 1".to_string(),
        format!("kprocess.exit {p} {p} 0"),
        format!("kprocess.exit {c} {t} 0"),
        format!("kprocess.exit {c} {c} {}", did.status),
        format!("scheduler.process_fork {p} {c}"),
        format!("scheduler.process_fork {c} {c}"),
        format!("scheduler.process_exit {p} {p}"),
        format!("scheduler.process_exit {c} {t}"),
        format!("scheduler.process_exit {c} {c}"),
        format!("scheduler.process_wait {c}"),
        format!("scheduler.signal_send {c} 10"),
        format!("scheduler.wakeup_new {c} {c}"),
        format!("scheduler.wakeup_new {c} {t}"),
        // The thread leaves the CPU for the last time as it exits.
        format!("scheduler.ctxswitch {c} {t}"),
    ]);
    assert_eq!(lines, want);
    // The status the parent got from waitpid: exit(3).
    assert_eq!(did.status, 3 << 8);
}

/// stap's aliases of the families (`scheduler.cpu_on` is left out: its
/// `finish_task_switch` is a local function most kernels' BTF does not
/// describe, and stap's alias is optional too).
const ALIASES: &[&str] = &[
    "signal.send",
    "signal.checkperm",
    "signal.checkperm.return",
    "signal.wakeup",
    "signal.check_ignored",
    "signal.check_ignored.return",
    "signal.force_segv",
    "signal.force_segv.return",
    "signal.syskill",
    "signal.syskill.return",
    "signal.systkill",
    "signal.systkill.return",
    "signal.systgkill",
    "signal.systgkill.return",
    "signal.send_sig_queue",
    "signal.send_sig_queue.return",
    "signal.pending",
    "signal.pending.return",
    "signal.handle",
    "signal.do_action",
    "signal.do_action.return",
    "signal.procmask",
    "signal.procmask.return",
    "signal.flush",
    "scheduler.cpu_off",
    "scheduler.tick",
    "scheduler.balance",
    "scheduler.ctxswitch",
    "scheduler.kthread_stop",
    "scheduler.kthread_stop.return",
    "scheduler.wait_task",
    "scheduler.wakeup",
    "scheduler.wakeup_new",
    "scheduler.migrate",
    "scheduler.process_free",
    "scheduler.process_exit",
    "scheduler.process_wait",
    "scheduler.process_fork",
    "scheduler.signal_send",
    "kprocess.create",
    "kprocess.start",
    "kprocess.exec",
    "kprocess.exec_complete",
    "kprocess.exit",
    "kprocess.release",
    "process.begin",
    "process.end",
    "process.thread.begin",
    "process.thread.end",
    "process.syscall",
    "process.syscall.return",
];

#[test]
fn every_alias_of_the_families_resolves() {
    if !as_root("the process families at -p2") {
        return;
    }
    // What -L lists of each family: every alias with its variables.
    let mut vars: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for family in ["signal.*", "signal.*.*", "scheduler.*", "scheduler.*.*", "kprocess.*", "process.*", "process.*.*"] {
        let (status, listed, err) = stp_run(&["-L", family]);
        assert_eq!(status, 0, "-L {family}: {err}");
        for line in listed.lines() {
            let mut words = line.split_whitespace();
            let Some(name) = words.next() else { continue };
            let names = words.filter_map(|v| v.split_once(':').map(|(n, _)| n.to_string())).collect();
            vars.insert(name.to_string(), names);
        }
    }
    let missing: Vec<&&str> = ALIASES.iter().filter(|a| !vars.contains_key(**a)).collect();
    assert!(missing.is_empty(), "not listed: {missing:?}");
    // One script reads every variable of every alias, so that every part
    // of each alias's body resolves.
    let mut script = String::new();
    for alias in ALIASES {
        let reads: String =
            vars.get(*alias).into_iter().flatten().enumerate().map(|(i, v)| format!(" x{i} = {v};")).collect();
        script.push_str(&format!("probe {alias} {{{reads} }}\n"));
    }
    let (status, _, err) = stp_run(&["-p2", "-u", "-e", &script]);
    assert_eq!(status, 0, "{err}");
    // stap 2.1's name, gone since.
    let script = "probe signal.send.return { x = retstr } probe begin { exit() }";
    let (status, _, err) = stp_run(&["--compatible=2.1", "-p2", "-e", script]);
    assert_eq!(status, 0, "{err}");
}

/// The aliases built on kernel functions (kprobes or fentry: the VM),
/// fired by the same program, built static; and the process life-cycle
/// points on the VM's 6.1 kernel, whose sched_process_exit fires after
/// the task let go of its executable.
#[test]
fn function_aliases_in_the_vm() {
    let Some(prog) =
        c_program::build("process families in the VM", "famproc", FAMPROC, &["-O2", "-pthread", "-static"])
    else {
        return;
    };
    let mut vm = super::common::vm::Vm::new();
    vm.case_timeout(std::time::Duration::from_secs(100));
    vm.copy(std::path::Path::new(&prog.text()), "/famproc");
    let f = "execname() == \"famproc\"";
    let script = format!(
        "probe signal.do_action {{ if ({f} && sig == 10) printf(\"do_action %d %s %d\\n\", pid(), sig_name, sa_handler != 0) }}\n\
         probe signal.checkperm {{ if ({f} && sig == 10) printf(\"checkperm %d %s %d %s\\n\", pid(), sig_name, sig_pid, pid_name) }}\n\
         probe kprocess.start {{ if ({f}) printf(\"start %d %d\\n\", pid(), tid()) }}\n\
         probe kprocess.release {{ if (task_execname(task) == \"famproc\") printf(\"release %d %d\\n\", released_pid, released_tid) }}\n"
    );
    let quote = super::common::vm::quote;
    let functions =
        vm.case(format!("stp -e {} -c '/famproc /tmp/did' | sort -u\necho ---\ncat /tmp/did", quote(&script)));
    let life = "probe process(\"/famproc\").begin { printf(\"begin %d %d\\n\", pid(), tid()) }\n\
                probe process(\"/famproc\").thread.begin { printf(\"thread.begin %d %d\\n\", pid(), tid()) }\n\
                probe process.end { if (execname() == \"famproc\") printf(\"end %d %d\\n\", pid(), tid()) }\n";
    let lifecycle = vm.case(format!("stp -e {} -c '/famproc /tmp/did' | sort\necho ---\ncat /tmp/did", quote(life)));
    // The tick alone: a timer interrupt's program may run inside another
    // program on the same CPU.
    let tick = vm.case("stp -e 'probe scheduler.tick { printf(\"%s %d\\n\", name, idle == (pid() == 0)); exit() }'");
    let refused = vm.case("stp -p2 -e 'probe process(\"/famproc\").end { }'");
    let Some(run) = vm.run("process families in the VM") else { return };
    let record = |case: usize| {
        let o = &run.outcomes[case];
        assert_eq!(o.status, Some(0), "case {}: stderr:\n{}", case + 1, o.stderr);
        let (events, did) = o.stdout.split_once("---\n").expect("the program's record");
        let kv: BTreeMap<String, i64> = did
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
            .collect();
        let lines: Vec<String> = events.lines().map(str::to_string).collect();
        (lines, kv["parent"], kv["child"], kv["thread"])
    };
    let (mut lines, p, c, t) = record(functions);
    // The parent may be released before stp stops, or after.
    lines.retain(|l| *l != format!("release {p} {p}"));
    let want = sorted(vec![
        format!("do_action {p} SIGUSR1 1"),
        format!("checkperm {p} SIGUSR1 {c} famproc"),
        format!("start {c} {c}"),
        format!("start {c} {t}"),
        format!("release {c} {t}"),
        format!("release {c} {c}"),
    ]);
    assert_eq!(sorted(lines), want);
    let (mut lines, p, c, t) = record(lifecycle);
    // 6.1's exit tracepoint has no group_dead and fires late in the exit:
    // the thread's may come after the child's last thread died.
    lines.retain(|l| *l != format!("end {c} {t}"));
    let want = sorted(vec![
        format!("begin {p} {p}"),
        format!("begin {c} {c}"),
        format!("thread.begin {c} {t}"),
        format!("end {c} {c}"),
        format!("end {p} {p}"),
    ]);
    assert_eq!(lines, want);
    let o = &run.outcomes[tick];
    // (Both CPUs may tick before the exit takes hold.)
    assert_eq!(o.status, Some(0), "{}", o.stderr);
    assert!(!o.stdout.is_empty() && o.stdout.lines().all(|l| l == "tick 1"), "{}", o.stdout);
    let o = &run.outcomes[refused];
    assert_eq!(o.status, Some(1), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("process(\"/famproc\").end is not supported on this kernel: its sched_process_exit fires after"),
        "{}",
        o.stderr
    );
}
