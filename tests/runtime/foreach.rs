//! `foreach`, whole-array `delete` and `*` patterns in kernel handlers:
//! the same code runs in a `begin` probe (user side) and in a tracepoint
//! handler (the kernel), and both must print what the script says.

use super::{PASS5, as_root, getppid_command, stp_run_clean};

/// Runs `body` once in `begin` and once in the first getppid of the
/// command's perl; returns (status, what begin printed, what the kernel
/// printed, stderr).
pub(super) fn on_both_sides(globals: &str, body: &str, options: &[&str]) -> (i32, String, String, String) {
    let script = format!(
        "global {globals}, once\n\
         probe begin {{ {body}\n println(\"--\") }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() != target() || execname() != \"perl\" || once++) next\n\
           {body}\n\
           println(\"--\")\n\
         }}\n"
    );
    let cmd = getppid_command(1, 0);
    let mut args: Vec<&str> = options.to_vec();
    args.extend(["-c", &cmd, "-e", &script]);
    let (status, out, err) = stp_run_clean(&args);
    let mut parts = out.split("--\n");
    let user = parts.next().unwrap_or_default().to_string();
    let kernel = parts.next().unwrap_or_default().to_string();
    (status, user, kernel, err)
}

const SETUP: &str = "delete a; delete b; delete s; delete v\n\
    a[\"x\"] = 3; a[\"yy\"] = 1; a[\"zzz\"] = 2; a[\"w\"] = 4\n\
    b[1, \"p\"] = 10; b[1, \"q\"] = 20; b[2, \"p\"] = 30\n\
    for (i = 1; i <= 5; i++) s[i % 2] <<< i\n\
    v[\"k1\"] = \"beta\"; v[\"k2\"] = \"alpha\"; v[\"k3\"] = \"gamma\"\n";

#[test]
fn sorted_and_sliced_foreach_agree_with_the_user_side() {
    if !as_root("foreach in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let body = format!(
        "{SETUP}\
         foreach (k in a-) printf(\"%s=%d \", k, a[k]); println(\"\")\n\
         foreach (k+ in a limit 2) printf(\"%s \", k); println(\"\")\n\
         foreach (n = k in a+) printf(\"%s:%d \", k, n); println(\"\")\n\
         foreach ([i, t] in b[*, \"p\"]-) printf(\"%d%s=%d \", i, t, b[i, t]); println(\"\")\n\
         foreach ([i, t+] in b[1, *]) printf(\"%d%s=%d \", i, t, b[i, t]); println(\"\")\n\
         foreach (j in s @sum-) printf(\"%d:%d:%d \", j, @count(s[j]), @sum(s[j])); println(\"\")\n\
         foreach (q = j in s @count+) printf(\"%d/%d \", j, q); println(\"\")\n\
         foreach (k in v-) printf(\"%s \", k); println(\"\")\n\
         foreach (k in v+ limit 1) printf(\"%s \", k); println(\"\")\n\
         foreach (k in a limit 0) printf(\"never \"); println(\"|\")\n"
    );
    let (status, user, kernel, err) = on_both_sides("a, b, s, v", &body, &[]);
    assert_eq!(status, 0, "{err}");
    let want = "w=4 x=3 zzz=2 yy=1 \n\
                w x \n\
                yy:1 zzz:2 x:3 w:4 \n\
                2p=30 1p=10 \n\
                1p=10 1q=20 \n\
                1:3:9 0:2:6 \n\
                0/2 1/3 \n\
                k3 k1 k2 \n\
                k2 \n\
                |\n";
    assert_eq!(user, want, "the user side: {err}");
    assert_eq!(kernel, want, "the kernel: {err}");
}

#[test]
fn loops_break_continue_nest_and_catch_in_the_kernel() {
    if !as_root("foreach control flow in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let body = format!(
        "{SETUP}\
         foreach (k+ in a) {{ if (k == \"x\") continue; foreach (t+ in a) {{ if (t == \"x\") break; printf(\"%s%s \", k, t) }} }}\n\
         println(\"\")\n\
         sum = 0; foreach (k in a) sum += a[k]\n\
         printf(\"%d %d %d %d\\n\", sum, [\"yy\"] in a, [1, *] in b, [3, *] in b)\n\
         try {{ foreach (k+ in a) {{ if (k == \"yy\") error(\"stop at \" . k); printf(\"%s \", k) }} }} catch (e) {{ printf(\"caught %s\\n\", e) }}\n\
         foreach (k+ in a) {{ try {{ if (a[k] == 3) error(\"three\"); printf(\"%s \", k) }} catch (e) {{ printf(\"(%s) \", e) }} }}\n\
         println(\"\")\n\
         delete b[1, *]; c = 0; foreach ([i, t] in b) c++; printf(\"%d \", c)\n\
         delete a; c = 0; foreach (k in a) c++; printf(\"%d %d\\n\", c, [\"x\"] in a)\n"
    );
    let (status, user, kernel, err) = on_both_sides("a, b, s, v", &body, &[]);
    assert_eq!(status, 0, "{err}");
    let want = "ww yyw zzzw \n\
                10 1 1 0\n\
                w x caught stop at yy\n\
                w (three) yy zzz \n\
                1 0 0\n";
    assert_eq!(user, want, "the user side: {err}");
    assert_eq!(kernel, want, "the kernel: {err}");
}

#[test]
fn next_and_errors_in_a_foreach_end_the_handler() {
    if !as_root("foreach and the end of kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let body = "a[1] = 1; a[2] = 2; a[3] = 3\n\
                foreach (k+ in a) { if (k == 2) next; printf(\"%d \", k) }\n\
                println(\"not reached\")\n";
    let (status, user, kernel, err) = on_both_sides("a", body, &[]);
    assert_eq!(status, 0, "{err}");
    // `next` leaves the handler before its "--" line: the kernel's output
    // follows the user side's on the same part.
    assert_eq!((user.as_str(), kernel.as_str()), ("1 1 ", ""), "{err}");

    let body = "a[1] = 1; a[2] = 0; a[3] = 3\n\
                foreach (k+ in a) printf(\"%d \", 6 / a[k])\n\
                println(\"not reached\")\n";
    let script = format!(
        "global a\nprobe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() != target() || execname() != \"perl\") next\n{body}}}\n"
    );
    let cmd = getppid_command(1, 0);
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", &script]);
    assert_eq!(status, 1, "{out}{err}");
    assert_eq!(out, "6 ", "{err}");
    assert!(err.contains("ERROR: division by 0 near operator '/'"), "{err}");
}

#[test]
fn maxaction_counts_the_turns_of_a_kernel_foreach() {
    if !as_root("MAXACTION in kernel foreach") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global a\nprobe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
                    if (pid() != target() || execname() != \"perl\") next\n\
                    a[1] = 1; a[2] = 2; a[3] = 3; a[4] = 4; a[5] = 5; a[6] = 6\n\
                    foreach (k+ in a) printf(\"%d \", k)\n\
                    println(\"done\")\n\
                  }\n";
    let cmd = getppid_command(1, 0);
    let (status, out, err) = stp_run_clean(&["-DMAXACTION=4", "-c", &cmd, "-e", script]);
    assert_eq!(status, 1, "{out}{err}");
    assert_eq!(out, "1 2 3 4 5 ", "{err}");
    assert!(err.contains("MAXACTION exceeded"), "{err}");
}

#[test]
fn a_kernel_foreach_sorts_hundreds_of_entries() {
    if !as_root("sorting in kernel foreach") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Values in a scrambled order (i * 37 mod 500 visits every number
    // below 500 once), sorted back in the kernel.
    let body = "for (i = 0; i < 500; i++) a[i] = i * 37 % 500\n\
                n = 0; last = -1; ok = 1\n\
                foreach (k in a+) { if (a[k] <= last) ok = 0; last = a[k]; n++ }\n\
                foreach (k in a- limit 3) printf(\"%d \", a[k])\n\
                printf(\"%d %d\\n\", n, ok)\n";
    let (status, user, kernel, err) = on_both_sides("a", body, &["-DMAXACTION=10000"]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(user, "499 498 497 500 1\n", "the user side: {err}");
    assert_eq!(kernel, "499 498 497 500 1\n", "the kernel: {err}");
}

/// libbpf (under bpftool) links the callbacks from `.text` as aya does,
/// and makes the frozen map of `.rodata` (a regular expression's table).
#[test]
fn bpftool_loads_a_program_with_callbacks() {
    if !as_root("bpftool and callbacks") || !super::has_bpftool("bpftool and callbacks") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script = "global a\n\
                  probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
                    a[pid()]++\n\
                    foreach (k in a- limit 2) printf(\"%d\\n\", k)\n\
                    if (execname() =~ \"^p(erl|ython)\") println(\"p\")\n\
                    delete a\n\
                  }\n";
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stp"))
        .current_dir(dir.path())
        .args(["-p4", "-m", "callbacks", "-e", script])
        .output()
        .expect("stp runs");
    assert!(out.status.success(), "stp -p4: {}", String::from_utf8_lossy(&out.stderr));
    let pin = format!("/sys/fs/bpf/stp-callbacks-{}", std::process::id());
    let load = std::process::Command::new("bpftool")
        .args(["prog", "loadall"])
        .arg(dir.path().join("callbacks.o"))
        .arg(&pin)
        .output()
        .expect("bpftool runs");
    let pinned = std::fs::read_dir(&pin).map(|d| d.count()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&pin);
    assert!(load.status.success(), "bpftool prog loadall: {}", String::from_utf8_lossy(&load.stderr));
    assert_eq!(pinned, 1, "the program pinned, its callbacks inside it");
}

/// A loop's body runs as a callback, which reads the probe's context as
/// its handler does: `pp()` and a tracepoint's field inside `foreach`.
#[test]
fn a_foreach_body_reads_the_probe_context() {
    if !as_root("the context in foreach bodies") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global a\n\
        probe kernel.trace(\"syscalls:sys_enter_read\") {\n\
          if (pid() != target() || $count != 77) next\n\
          a[1] = 1; a[2] = 2\n\
          foreach (k+ in a) printf(\"%d %d %s\\n\", k, $count, pp())\n\
          exit()\n\
        }\n";
    let cmd = "perl -e 'sysread(STDIN, $x, 77)'";
    let (status, out, err) = stp_run_clean(&["-c", cmd, "-e", script]);
    assert_eq!(status, 0, "{err}");
    let pp = "kernel.trace(\"syscalls:sys_enter_read\")";
    assert_eq!(out, format!("1 77 {pp}\n2 77 {pp}\n"), "{err}");
}
