//! The syscall tapset on the host kernel: a C program (syscalls/calls.c)
//! makes system calls whose arguments it knows and writes the line the
//! tapset should print for each (`name(argstr) = retstr`, in stap's
//! format, with the return values it got); a script on the `syscall.NAME`
//! and `syscall.NAME.return` aliases prints what it saw, and the two must
//! agree line for line. strace decodes a second run as a witness for the
//! calls whose format stap and strace share. Every alias of the family
//! also goes through the kernel's verifier (`-p4 --verify`).

use std::process::Command;

use super::c_program;
use super::{PASS5, as_root, in_ci, stp_run_clean};

/// The calls the program makes (the script names them: attaching the
/// whole family one tracepoint at a time would take half a minute).
const CALLS: &[&str] = &[
    "close",
    "openat",
    "write",
    "lseek",
    "read",
    "open",
    "mmap2",
    "mprotect",
    "munmap",
    "brk",
    "kill",
    "tgkill",
    "socket",
    "dup3",
    "fcntl",
    "ioctl",
    "getdents64",
    "renameat2",
    "unlinkat",
    "execve",
    "getpid",
    "stat",
    "fstat",
    "fstatat",
    "lstat",
    "pread",
    "pwrite",
    "nanosleep",
    "clock_nanosleep",
    "pipe2",
    "statx",
    "clone",
    "fork",
    "futex",
    "prctl",
    "bind",
    "connect",
    "rt_sigaction",
    "accept4",
    "recvfrom",
    "access",
    "faccessat",
    "chmod",
    "fchmod",
    "fchownat",
    "umask",
    "mkdirat",
    "symlinkat",
    "readlinkat",
    "renameat",
    "linkat",
    "utimensat",
    "utimes",
    "flock",
    "fadvise64",
    "writev",
    "fsync",
    "msync",
    "madvise",
    "getrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "getpriority",
    "sched_setscheduler",
    "wait4",
    "waitid",
    "setitimer",
    "getitimer",
    "clock_gettime",
    "clock_settime",
    "rt_sigprocmask",
    "eventfd2",
    "inotify_init1",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "socketpair",
    "sendto",
    "shutdown",
    "listen",
    "timerfd_create",
    "timerfd_settime",
    "memfd_create",
    "getrandom",
    "signalfd4",
    "mount",
    "umount",
    "splice",
    "fallocate",
    "sync_file_range",
    "inotify_add_watch",
    "kcmp",
    "membarrier",
    "personality",
    "sched_get_priority_max",
    "preadv2",
    "capget",
    "execveat",
    "setsockopt",
    "getsockopt",
    "settimeofday",
    "io_getevents",
    "semtimedop",
    "semget",
    "msgget",
    "shmget",
    "shmat",
    "msgsnd",
    "msgrcv",
    "mknodat",
    "times",
    "sigaltstack",
    "semctl",
    "shmctl",
    "seccomp",
    "ioprio_get",
    "ioprio_set",
];

/// The calls of the program's second part (its third argument): buffers
/// as stap's user_buffer_quoted cuts them, and the calls whose arguments
/// stap decodes with its own structures and names.
const DECODED_CALLS: &[&str] = &[
    "close",
    "write",
    "mmap2",
    "set_mempolicy",
    "get_mempolicy",
    "mbind",
    "move_pages",
    "remap_file_pages",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "rt_sigtimedwait",
    "ptrace",
    "reboot",
    "bpf",
    "perf_event_open",
    "msgctl",
    "swapon",
    "add_key",
    "fanotify_init",
    "fanotify_mark",
    "userfaultfd",
    "memfd_secret",
    "pkey_alloc",
    "sysinfo",
    "clock_adjtime",
    "sched_setattr",
    "sched_getattr",
    "utime",
    "adjtimex",
    "arch_prctl",
    "mq_open",
    "mq_unlink",
    "wait4",
    "sysfs",
];

/// What the decoders' part prints besides `name(argstr) = retstr`: the
/// variables stap sets on ptrace's and wait4's return, and mq_open's
/// unquoted name on entry.
const DECODED_EXTRA: &str = "probe syscall.ptrace.return { if (pid() == target()) \
     printf(\"ptrace geteventmsg_data=%d arch_prctl_addr=0x%x\\n\", geteventmsg_data, arch_prctl_addr) }\n\
     probe syscall.wait4.return { if (pid() == target()) printf(\"wait4 status_str=%s\\n\", status_str) }\n\
     probe syscall.mq_open { if (pid() == target()) printf(\"mq_open filename_unquoted=%s\\n\", filename_unquoted) }\n";

fn script(calls: &[&str], extra: &str) -> String {
    let entries: Vec<String> = calls.iter().map(|c| format!("syscall.{c}")).collect();
    let returns: Vec<String> = calls.iter().map(|c| format!("syscall.{c}.return")).collect();
    format!(
        "global seen\n\
         probe {} {{ if (pid() == target()) seen[tid()] = argstr }}\n\
         probe {} {{ if (pid() == target()) printf(\"%s(%s) = %s\\n\", name, seen[tid()], retstr) }}\n{extra}",
        entries.join(", "),
        returns.join(", ")
    )
}

/// The lines from the first marker (close(-1000)) to the last (close(-1001)).
fn between_markers(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("close(-1000)")).unwrap_or(lines.len());
    let end = lines.iter().position(|l| l.starts_with("close(-1001)")).map_or(lines.len(), |e| e + 1);
    lines.get(start..end).unwrap_or_default().iter().map(|s| s.to_string()).collect()
}

/// Runs the program (with `part` as its third argument, if any) under a
/// script on `calls`, and checks that stp printed the lines the program
/// wrote; with the program, its directory and what stp printed.
fn run_calls(
    what: &str,
    calls: &[&str],
    extra: &str,
    part: Option<&str>,
) -> Option<(c_program::CProgram, tempfile::TempDir, String)> {
    if !as_root(what) {
        return None;
    }
    let prog = c_program::build(what, "calls", include_str!("syscalls/calls.c"), &["-O1"])?;
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let work = dir.path().join("w");
    std::fs::create_dir(&work).expect("a work directory");
    let expected = dir.path().join("expected");
    let cmd = format!("{} {} {} {}", prog.text(), expected.display(), work.display(), part.unwrap_or(""));
    let (status, out, err) = stp_run_clean(&["-c", cmd.trim_end(), "-e", &script(calls, extra)]);
    assert_eq!(status, 0, "{err}");
    let want = std::fs::read_to_string(&expected).expect("the program wrote its lines");
    let want: Vec<&str> = want.lines().collect();
    assert!(want.len() > 40, "{want:?}");
    let have = between_markers(&out);
    for (i, w) in want.iter().enumerate() {
        assert_eq!(have.get(i).map(String::as_str), Some(*w), "line {i}; all that stp printed:\n{out}");
    }
    assert_eq!(have.len(), want.len(), "{out}");
    Some((prog, dir, out))
}

/// The calls stap decodes with its own structures and names (memory
/// policies, xattr values, siginfo, ptrace, reboot, bpf, fanotify, ...),
/// and buffers cut as stap's user_buffer_quoted cuts them.
#[test]
fn syscall_probes_decode_what_stap_decodes() {
    run_calls("syscall tapset decoders", DECODED_CALLS, DECODED_EXTRA, Some("decoders"));
}

#[test]
fn syscall_probes_show_the_arguments_and_results_as_stap_does() {
    let Some((prog, dir, out)) = run_calls("syscall tapset", CALLS, "", None) else {
        return;
    };
    let work = dir.path().join("w");
    let have = between_markers(&out);
    assert!(have.len() > 100, "{out}");

    // strace decodes a second run (the same directory, the same fds): the
    // calls whose format stap shares must read the same.
    let trace = dir.path().join("strace");
    let run = Command::new("strace")
        .arg("-o")
        .arg(&trace)
        .args([
            "-e",
            "trace=openat,lseek,dup3,close,getpid,access,chmod,fchmod,umask,mkdirat,symlinkat,renameat,linkat,\
             flock,fadvise64,fsync,getpriority,inotify_init1,epoll_create1,shutdown,sync_file_range,\
             inotify_add_watch,sched_get_priority_max",
        ])
        .arg(prog.text())
        .arg(dir.path().join("expected2"))
        .arg(&work)
        .output();
    match run {
        Ok(o) if o.status.success() => {}
        other => {
            assert!(!in_ci(), "CI has strace (tests/run.sh): {other:?}");
            eprintln!("no strace witness: {other:?}");
            return;
        }
    }
    let traced = std::fs::read_to_string(&trace).expect("strace's output");
    let traced = between_markers(&traced);
    let mut compared = 0;
    for line in traced.iter().filter(|l| !l.contains("= -1 ") && !l.starts_with("getpid")) {
        // strace pads the call to a column before " = ".
        let Some((call, ret)) = line.rsplit_once(" = ") else { continue };
        let line = format!("{} = {ret}", call.trim_end());
        assert!(have.contains(&line), "strace shows {line:?}, stp did not; stp:\n{out}");
        compared += 1;
    }
    assert!(compared >= 25, "strace lines compared: {compared}\n{traced:?}");
}

/// Every alias of the family, entry and return, through the verifier.
#[test]
fn every_syscall_alias_passes_the_verifier() {
    if !as_root("syscall tapset under the verifier") {
        return;
    }
    // Its hundreds of programs must not show up in another test's count
    // of what a run left behind.
    let _one = super::PASS5.lock().unwrap_or_else(|e| e.into_inner());
    for family in ["syscall", "nd_syscall"] {
        let script = format!(
            "probe {family}.* {{ printf(\"%s(%s)\\n\", name, argstr) }}\n\
             probe {family}.*.return {{ printf(\"%s = %s %d\\n\", name, retstr, retval) }}\n"
        );
        // Hundreds of programs: longer than stp_run's watchdog allows.
        let cwd = tempfile::tempdir().expect("a directory");
        let out = Command::new(env!("CARGO_BIN_EXE_stp"))
            .current_dir(cwd.path())
            .args(["-p4", "--verify", "-e", &script])
            .output()
            .expect("stp runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{family}: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).trim_end().ends_with(".o"), "{family}: {err}");
    }
}

/// The variables `-L` lists that the argstr and retstr test above do not
/// read (the unquoted strings, and what the return probes set beside
/// retstr) work in kernel handlers: a script printing each of them, for
/// every alias that has them, passes the verifier.
#[test]
fn the_unquoted_and_return_variables_pass_the_verifier() {
    if !as_root("the syscall tapset's further variables under the verifier") {
        return;
    }
    let _one = super::PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let mut script = String::new();
    for pattern in ["syscall.*", "syscall.*.return"] {
        let out = Command::new(env!("CARGO_BIN_EXE_stp")).args(["-L", pattern]).output().expect("stp -L runs");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut words = line.split_whitespace();
            let Some(point) = words.next() else { continue };
            let vars: Vec<(&str, &str)> = words
                .filter_map(|w| w.split_once(':'))
                .filter(|(v, _)| {
                    v.ends_with("_unquoted")
                        || (point.ends_with(".return") && !["name", "retval", "retstr"].contains(v))
                })
                .collect();
            if vars.is_empty() {
                continue;
            }
            let format: Vec<&str> = vars.iter().map(|(_, t)| if *t == "string" { "%s" } else { "%d" }).collect();
            let names: Vec<&str> = vars.iter().map(|(v, _)| *v).collect();
            script.push_str(&format!(
                "probe {point} {{ printf(\"{}\\n\", {}) }}\n",
                format.join(" "),
                names.join(", ")
            ));
        }
    }
    for want in ["syscall.openat {", "syscall.wait4.return {", "syscall.ptrace.return {", "syscall.mount {"] {
        assert!(script.contains(&format!("probe {want}")), "{want}: {script}");
    }
    let cwd = tempfile::tempdir().expect("a directory");
    let out = Command::new(env!("CARGO_BIN_EXE_stp"))
        .current_dir(cwd.path())
        .args(["-p4", "--verify", "-e", &script])
        .output()
        .expect("stp runs");
    assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
}

/// The first script of the SystemTap Beginners' Guide, as printed there.
#[test]
fn the_beginners_guide_open_script_runs() {
    if !as_root("the Beginners' Guide's syscall.open script") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe syscall.open\n{\n  printf (\"%s(%d) open\\n\", execname(), pid())\n}\n";
    // perl's syscall() makes open(2) itself (number 2 on x86_64), then
    // says its pid.
    let cmd = "perl -e 'my $f = \"/etc/hostname\"; syscall(2, $f, 0); print \"pid $$\\n\"'";
    let (status, out, err) = stp_run_clean(&["-c", cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let pid = out.lines().find_map(|l| l.strip_prefix("pid ")).expect("perl's pid");
    assert!(out.lines().any(|l| l == format!("perl({pid}) open")), "{out}");
}

/// syscall_any's name is the kernel's name of the number (mmap, umount2,
/// pread64, not the tapset's mmap2, umount, pread), as stap's
/// syscall_name() gives it; syscall_num() maps it back.
#[test]
fn syscall_any_names_calls_as_the_kernel_does() {
    if !as_root("syscall_any's kernel names") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe syscall_any.return { if (pid() == target() && (syscall_nr == 9 || syscall_nr == 17 || syscall_nr == 166)) \
                  printf(\"%d %s %d %d\\n\", syscall_nr, name, syscall_num(name), retval) }\n";
    let cmd = format!(
        "perl -e 'my $p = \"/nonexistent/x\"; syscall({}, 0, 4096, 1, 0x22, -1, 0); syscall({}, -1, 0, 0, 0); syscall({}, $p, 0)'",
        libc::SYS_mmap,
        libc::SYS_pread64,
        libc::SYS_umount2
    );
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let n = |nr: i64, name: &str| format!("{nr} {name} {nr}");
    assert!(out.lines().any(|l| l.starts_with(&format!("{} ", n(libc::SYS_mmap, "mmap")))), "{out}");
    assert!(out.lines().any(|l| l == format!("{} {}", n(libc::SYS_pread64, "pread64"), -libc::EBADF)), "{out}");
    assert!(out.lines().any(|l| l == format!("{} {}", n(libc::SYS_umount2, "umount2"), -libc::ENOENT)), "{out}");
}

/// syscall_any names the call by its number, on entry and return.
#[test]
fn syscall_any_names_the_call_and_its_result() {
    if !as_root("syscall_any") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n\n\
        probe syscall_any { if (pid() == target() && name == \"getppid\") n++ }\n\
        probe syscall_any.return { if (pid() == target() && name == \"getppid\") printf(\"%d %d %d\\n\", syscall_nr, retval, n) }\n";
    let cmd = "perl -e 'print \"ppid \", getppid(), \"\\n\"'";
    let (status, out, err) = stp_run_clean(&["-c", cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let ppid = out.lines().find_map(|l| l.strip_prefix("ppid ")).expect("perl's line");
    let want = format!("{} {ppid} 1", libc::SYS_getppid);
    assert!(out.lines().any(|l| l == want), "want {want:?} in:\n{out}");
}

/// The README's syscall example runs and shows what it says.
#[test]
fn the_readme_syscall_example_runs() {
    if !as_root("the README's syscall example") {
        return;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let prefix = "stp -c 'cat /etc/hostname' -e '";
    let line = readme.lines().find(|l| l.starts_with(prefix)).expect("the example in the README");
    let script = line.strip_prefix(prefix).and_then(|s| s.strip_suffix('\'')).expect("one quoted script");
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (status, out, err) = stp_run_clean(&["-c", "cat /etc/hostname", "-e", script]);
    assert_eq!(status, 0, "{err}");
    let opened = out
        .lines()
        .filter_map(|l| l.strip_prefix("openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY) = "))
        .filter_map(|fd| fd.parse::<u32>().ok())
        .count();
    assert_eq!(opened, 1, "{out}");
}

/// The locals of the script functions in `text` (the names a function
/// body uses that are not its parameters, keywords, `$`/`@` names or
/// calls), comments and strings left out.
fn function_locals(text: &str) -> std::collections::BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "if", "else", "for", "while", "return", "try", "catch", "break", "continue", "next", "delete", "in", "foreach",
        "function", "long", "string", "probe", "global",
    ];
    // Comments and strings become spaces, so that nothing in them counts.
    let bytes = text.as_bytes();
    let mut code = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let skip = if rest.starts_with(b"//") || rest.starts_with(b"#") {
            rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            rest.windows(2).skip(2).position(|w| w == b"*/").map_or(rest.len(), |p| p + 4)
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else {
            0
        };
        if skip == 0 {
            code.push(bytes[i]);
            i += 1;
        } else {
            code.extend(rest[..skip].iter().map(|&b| if b == b'\n' { b'\n' } else { b' ' }));
            i += skip;
        }
    }
    let code = String::from_utf8(code).expect("ASCII");
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    // The identifiers of s with what follows each, skipping blanks.
    let idents = |s: &str| -> Vec<(String, Option<u8>)> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let start = i;
            if (b[i].is_ascii_alphabetic() || b[i] == b'_')
                && (i == 0 || !(word(b[i - 1]) || b"$@".contains(&b[i - 1])))
            {
                while i < b.len() && word(b[i]) {
                    i += 1;
                }
                let next = b[i..].iter().copied().find(|c| !c.is_ascii_whitespace());
                out.push((s[start..i].to_string(), next));
            } else {
                i += 1;
            }
        }
        out
    };
    let mut locals = std::collections::BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("function ") {
        rest = &rest[at + "function ".len()..];
        let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else { break };
        let params: Vec<String> = rest[open + 1..close]
            .split(',')
            .filter_map(|p| p.split(':').next())
            .map(|p| p.trim().to_string())
            .collect();
        let Some(brace) = rest[close..].find('{').map(|b| close + b) else { break };
        let mut depth = 0;
        let mut end = rest.len();
        for (k, c) in rest[brace..].char_indices() {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
            if depth == 0 {
                end = brace + k;
                break;
            }
        }
        for (name, next) in idents(&rest[brace..end]) {
            if next != Some(b'(') && !KEYWORDS.contains(&name.as_str()) && !params.contains(&name) {
                locals.insert(name);
            }
        }
        rest = &rest[end..];
    }
    locals
}

/// A user's global named like a local of the syscall library's functions
/// (without the `__` that marks the library's own names) stays the user's:
/// the decoders and formatters must not read or write it. The locals come
/// from the library's files and from `-p2`'s list of the functions the
/// family uses (those of other files, such as return_str); names that are
/// the aliases' public variables are left out, since a global of that
/// name takes them over, in stap as here.
#[test]
fn user_globals_named_like_the_syscall_librarys_locals_stay_the_users() {
    if !as_root("the syscall tapset's locals") {
        return;
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/linux");
    let mut locals = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("stdlib/linux") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.starts_with("syscalls") && name.ends_with(".stp") {
            locals.extend(function_locals(&std::fs::read_to_string(&path).expect("a tapset file")));
        }
    }
    assert!(locals.len() > 20, "{locals:?}");
    let handlers = "probe syscall.* { printf(\"%s\\n\", argstr) }\n\
                    probe syscall.*.return { printf(\"%s\\n\", retstr) }\n";
    let out = Command::new(env!("CARGO_BIN_EXE_stp")).args(["-p2", "-e", handlers]).output().expect("stp runs");
    let p2 = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // "# functions", then each function with its "  # locals", "  NAME:type".
    let functions = p2.split("# functions").nth(1).and_then(|f| f.split("\n# ").next()).expect("-p2's functions");
    let mut in_locals = false;
    for line in functions.lines() {
        if line == "  # locals" {
            in_locals = true;
        } else if let Some(local) = line.strip_prefix("  ").filter(|_| in_locals) {
            locals.insert(local.split(':').next().unwrap_or_default().to_string());
        } else {
            in_locals = false;
        }
    }
    let mut public = std::collections::BTreeSet::new();
    for pattern in ["syscall.*", "syscall.*.return"] {
        let out = Command::new(env!("CARGO_BIN_EXE_stp")).args(["-L", pattern]).output().expect("stp -L runs");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            public.extend(line.split_whitespace().skip(1).filter_map(|v| v.split(':').next()).map(String::from));
        }
    }
    assert!(public.contains("argstr") && public.contains("retstr"), "{public:?}");
    let users: std::collections::BTreeSet<&str> = locals
        .iter()
        .map(|l| l.trim_start_matches('_'))
        .filter(|u| !u.is_empty() && !public.contains(*u) && !["in", "if"].contains(u))
        .collect();
    assert!(users.len() > 20, "{users:?}");
    let names: Vec<&str> = users.iter().copied().collect();
    let uses: String = names.iter().map(|n| format!(" {n}[argstr] = 1;")).collect();
    let script = format!(
        "global {}\nprobe syscall.* {{{uses} printf(\"%s\\n\", argstr) }}\n\
         probe syscall.*.return {{ printf(\"%s\\n\", retstr) }}\n",
        names.join(", ")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_stp")).args(["-p2", "-e", &script]).output().expect("stp runs");
    assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
}
