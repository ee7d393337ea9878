//! Kernel- and user-placed handlers in whole runs: strings and task
//! fields, sprintf padding, extractors over every CPU, full arrays,
//! MAXERRORS, in-place updates, `-v`'s pass 5, every example through the
//! verifier, the ring buffer's size and bursts, `-c` command lists.

use super::*;

#[test]
fn kernel_handlers_build_strings_and_read_the_task() {
    if !as_root("strings in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target() && execname() == \"perl\") {\n\
            n++\n\
            s = sprintf(\"%s-%d-%x-%X-%o-%c-%u|\", execname(), -n * 1000, 255 * n, 255, 8, 65 + n, n)\n\
            t = sprint(n, \"x\", -9223372036854775807 - 1)\n\
            printf(\"%s %s %s %s %d\\n\", s, t, substr(s, 5, 6), substr(s, 99, 1) . \"|\", strlen(s))\n\
            printf(\"%d %d %s\\n\", ppid(), euid() == uid(), pp())\n\
          }\n\
        }\n\
        probe end { printf(\"%d\\n\", stp_pid()) }\n";
    let cmd = getppid_command(2, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    // The command is stp's child: its parent is stp itself.
    let stp_pid = out.lines().last().expect("the end probe's line");
    let pp = "kernel.trace(\"syscalls:sys_enter_getppid\")";
    let want = format!(
        "perl--1000-ff-FF-10-B-1| 1x-9223372036854775808 -1000- | 24\n{stp_pid} 1 {pp}\n\
         perl--2000-1fe-FF-10-C-2| 2x-9223372036854775808 -2000- | 25\n{stp_pid} 1 {pp}\n{stp_pid}\n"
    );
    assert_eq!(out, want, "{err}");
}

#[test]
fn kernel_sprintf_pads_as_the_printer_does() {
    if !as_root("sprintf widths in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // The same format built in the kernel (sprintf) and by the runtime's
    // printer (printf): the two lines must be the same.
    let format = "[%5d][%05d][%p][%3x][%08X][%o][%c][%-6s][%6s][%2s]";
    let args = "n, n, 4096, 255, 48879, 8, 65, execname(), execname(), \"abc\"";
    let script = format!(
        "probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() == target() && execname() == \"perl\") {{\n\
             n = -42\n\
             println(sprintf(\"{format}\", {args}))\n\
             printf(\"{format}\\n\", {args})\n\
           }}\n\
         }}\n"
    );
    let cmd = getppid_command(1, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let line = "[  -42][-0042][0x0000000000001000][ ff][0000BEEF][10][A][perl  ][  perl][abc]\n";
    assert_eq!(out, format!("{line}{line}"), "{err}");
}

#[test]
fn kernel_extractors_add_up_every_cpu() {
    if !as_root("statistics extractors in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // One perl per CPU, one after the other, each adding 1..=5 (as 10n-7)
    // on its own CPU: the last event's extractors see every CPU's record.
    let runs: Vec<String> =
        (0..cpus.min(4)).map(|c| format!("taskset -c {c} perl -e \"getppid() for 1..5\"")).collect();
    let cmd = format!("sh -c '{}'", runs.join("; "));
    let script = "global s, n, last\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (execname() == \"perl\") {\n\
            n++; s <<< (n - 1) % 5 * 10 - 7\n\
            last = sprintf(\"%d %d %d %d %d\", @count(s), @sum(s), @min(s), @max(s), @avg(s))\n\
          }\n\
        }\n\
        probe end { println(last) }\n";
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let k = cpus.min(4) as i64;
    let want = format!("{} {} -7 33 13\n", 5 * k, 65 * k);
    assert_eq!(out, want, "{err}");
}

#[test]
fn a_full_array_is_an_error_on_both_sides() {
    if !as_root("array overflow") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // In the kernel: the fourth key of a three-entry array.
    let script = "global a[3], n\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target() && execname() == \"perl\") { n++; a[n] = n; printf(\"%d\\n\", n) }\n\
        }\n";
    let cmd = getppid_command(5, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 1, "{out}");
    assert_eq!(out, "1\n2\n3\n", "the fourth event failed before its printf");
    assert!(err.contains("ERROR: Array overflow, check size limit (3) near operator '=' at <input>:3:"), "{err}");
    // In a user-side handler, with the default size.
    let (status, _, err) = stp_run_clean(&[
        "-D",
        "MAXMAPENTRIES=4",
        "-e",
        "global b\nprobe begin { for (i = 0; i < 10; i++) b[i] = i }\n",
    ]);
    assert_eq!(status, 1);
    assert!(err.contains("ERROR: Array overflow, check MAXMAPENTRIES"), "{err}");
}

#[test]
fn maxerrors_tolerates_that_many_errors() {
    if !as_root("MAXERRORS") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global n\n\
        probe timer.ms(10) { n++; println(1 / (n - n)) }\n\
        probe end { println(\"end \", n) }\n\
        probe error { println(\"error probe \", n) }\n";
    let (status, out, err) = stp_run_clean(&["-D", "MAXERRORS=2", "-e", script]);
    assert_eq!(status, 1);
    // The third error ends the session: error probes run, end probes do not.
    assert_eq!(out, "error probe 3\n", "{err}");
    assert_eq!(err.matches("ERROR: division by 0 near operator '/' at <input>:2:").count(), 3, "{err}");
    assert!(err.contains("WARNING: Number of errors: 3, skipped probes: 0\n"), "{err}");
}

#[test]
fn read_modify_write_of_an_entry_updates_it_in_place() {
    if !as_root("in-place map updates") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // `c[k]++` reads the entry and writes it back: the first event
    // inserts, the others store in the entry found.
    let script = "global c, s\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target() && execname() == \"perl\") { c[execname()]++; c[\"x\"] += 2; s[pid()] = s[pid()] . \"a\" }\n\
        }\n\
        probe end { foreach (k+ in c) printf(\"%s %d\\n\", k, c[k]); foreach (p in s) println(s[p]) }\n";
    let cmd = getppid_command(5, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "perl 5\nx 10\naaaaa\n", "{err}");
}

/// Process names as map keys are copied from where `execname()` put them
/// (NUL-padded to 16 bytes) rather than as strings: the keys must still
/// be the names, in maps whose keys are wider than a name, beside other
/// keys, and where a variable holds a name on one path only.
#[test]
fn process_names_as_keys_are_the_names() {
    if !as_root("process names as keys") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global c, d, e\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() != target()) next\n\
          n = execname(); c[n]++; c[\"a key longer than sixteen bytes\"]++\n\
          d[execname(), 7] += 2\n\
          m = \"other\"; if (c[n] % 2) m = execname(); e[m]++\n\
        }\n\
        probe end { printf(\"%d %d %d %d %d\\n\", c[\"perl\"], c[\"a key longer than sixteen bytes\"], d[\"perl\", 7], e[\"perl\"], e[\"other\"])\n\
          foreach ([k, i] in d) printf(\"%s|%d\\n\", k, i) }\n";
    let cmd = getppid_command(5, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    // Five calls by perl: c counts each, d adds 2 each; e's name is perl
    // on the odd counts (1, 3, 5), "other" on the even ones.
    assert_eq!(out, "5 5 10 3 2\nperl|7\n", "{err}");
}

#[test]
fn verbose_runs_report_pass_5() {
    if !as_root("pass 5 -v") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (status, out, err) = stp_run_clean(&["-v", "-e", "probe begin { println(\"hi\") exit() }"]);
    assert_eq!((status, out.as_str()), (0, "hi\n"), "{err}");
    let starting = err.find("Pass 5: starting run.\n").expect("the starting line");
    let completed = err.find("Pass 5: run completed in ").expect("the completed line");
    assert!(starting < completed, "{err}");
    assert!(err[completed..].trim_end().ends_with("real ms."), "{err}");
}

#[test]
fn every_example_passes_the_verifier() {
    if !as_root("examples through the verifier") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "stp") {
            continue;
        }
        let (status, _, err) = stp_run(&["-p4", "--verify", path.to_str().expect("utf-8")]);
        assert_eq!(status, 0, "{}: {err}", path.display());
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} examples");
}

#[test]
fn isinstr_in_a_kernel_handler_agrees_with_the_user_side() {
    if !as_root("isinstr in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let tests = "isinstr(s, \"world\"), isinstr(s, \"hello\"), isinstr(s, \"xyz\"), isinstr(s, \"\"), \
                 isinstr(s, \"d!\"), isinstr(s, \"o w\")";
    let script = format!(
        "probe begin {{ s = \"hello world\"; printf(\"%d%d%d%d%d%d\\n\", {tests}) }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() == target() && execname() == \"perl\") {{ s = \"hello world\"; printf(\"%d%d%d%d%d%d\\n\", {tests}) }}\n\
         }}\n"
    );
    let cmd = getppid_command(1, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", &script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "110101\n110101\n", "{err}");
}

/// The size of the ring buffer process `pid` holds open, from its file
/// descriptors' fdinfo (`map_type` 27, BPF_MAP_TYPE_RINGBUF): other
/// sessions' buffers on the machine are not it.
fn own_ring_buffer(pid: u32) -> Option<u64> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fdinfo")).ok()?;
    fds.flatten().find_map(|fd| {
        let info = std::fs::read_to_string(fd.path()).ok()?;
        let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok());
        (field("map_type:")? == 27).then(|| field("max_entries:")).flatten()
    })
}

/// The ring buffer, whose pages are resident from the start, is sized to
/// the script: small when the kernel's handlers print nothing, a share per
/// online CPU when they print, and as `-s` says.
#[test]
fn the_ring_buffer_is_sized_to_the_script() {
    if !as_root("the ring buffer's size") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let quiet = "global n\nprobe kernel.trace(\"syscalls:sys_enter_getppid\") { n++ }\nprobe timer.s(2) { exit() }\n";
    // Backtraces and histograms are output too.
    let drawing = "global s\nprobe kernel.trace(\"syscalls:sys_enter_getppid\") { s <<< 1; print(@hist_log(s)); print_backtrace() }\n\
                   probe timer.s(2) { exit() }\n";
    let printing =
        "probe kernel.trace(\"syscalls:sys_enter_getppid\") { println(pid()) }\nprobe timer.s(2) { exit() }\n";
    // Without -s, a buffer the handlers print into gets 4 MiB per online
    // CPU (at least 2, at most 64 MiB, a power of two); -s is exact.
    // SAFETY: sysconf reads a value.
    let online = u64::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).unwrap_or(1).max(1);
    let default = (online * (4 << 20)).clamp(2 << 20, 64 << 20).next_power_of_two();
    for (options, script, want) in [
        (&[][..], quiet, 1 << 16),
        (&[][..], printing, default),
        (&[][..], drawing, default),
        (&["-s", "2"][..], printing, 1 << 21),
        (&["-s", "8"][..], printing, 1 << 23),
    ] {
        let mut child = Command::new(common::stp())
            .args(options)
            .args(["-e", script])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("stp starts");
        let mut size = None;
        for _ in 0..100 {
            size = own_ring_buffer(child.id());
            if size.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.wait();
        assert_eq!(size, Some(want), "{options:?} {script}");
    }
}

/// With the default buffer, four threads printing 10,000 records each
/// as fast as they can (some 6 MB of records, three times what the buffer
/// held when it did not grow with the CPUs) lose none of them.
#[test]
fn a_moderate_burst_from_four_threads_loses_nothing() {
    if !as_root("pass 5 output from four threads") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (threads, each) = (4, 10_000);
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target()) printf(\"%d %s\\n\", tid(), execname())\n\
        }\n";
    let cmd = format!(
        "perl -Mthreads -e 'my @t = map {{ threads->create(sub {{ getppid() for 1..{each} }}) }} 1..{threads}; $_->join for @t'"
    );
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    assert!(!err.contains("WARNING: There were"), "{err}");
    let mut per_thread: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in out.lines() {
        *per_thread.entry(l.split(' ').next().unwrap_or_default()).or_default() += 1;
    }
    // Each thread's records, all of them (perl's main thread calls no
    // getppid()).
    let counts: Vec<usize> = per_thread.values().copied().collect();
    assert_eq!(counts, vec![each; threads], "records per thread: {per_thread:?}");
}

/// `-c` with a list of commands runs all of them, in one shell whose pid
/// is `target()`, as stap's `/bin/sh -c` does; a simple command is
/// itself the target.
#[test]
fn a_command_list_runs_whole_in_its_shell() {
    if !as_root("-c with a list") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe begin { printf(\"target %d\\n\", target()) }";
    let (status, out, err) = stp_run_clean(&["-c", "echo shell $$; sleep 0.1; echo two", "-e", script]);
    assert_eq!(status, 0, "{err}");
    let target = out.lines().find_map(|l| l.strip_prefix("target ")).unwrap_or("none");
    assert!(out.contains(&format!("shell {target}\n")), "{out}");
    assert!(out.ends_with("two\n"), "{out}");
    let (status, out, err) = stp_run_clean(&[
        "-c",
        "perl -e 'print \"perl $$\\n\"'",
        "-e",
        "probe begin { printf(\"target %d\\n\", target()) }",
    ]);
    assert_eq!(status, 0, "{err}");
    let target = out.lines().find_map(|l| l.strip_prefix("target ")).unwrap_or("none");
    assert!(out.contains(&format!("perl {target}\n")), "{out}");
}
