//! Name tables and constants of the library: `sock_prot_num2str()` and
//! `sock_prot_str2num()` (stdlib/sock_prot.stp) against libc's
//! `getprotobynumber` (the system's /etc/protocols), `remote_id()` and
//! `remote_uri()` outside a `--remote` swarm, and `task_ns_uid()` and
//! `task_ns_pid()` of the traced process against its own ids, and
//! `stringat()`, `kernel_string_quoted()`, `user_string_warn()` and
//! `probe_type()` in both placements.

use std::ffi::CStr;
use std::process::Command;

use super::{PASS5, as_root, assert_nothing_left, bpf_objects, getppid_command};

/// The names of IP protocol `n` in /etc/protocols (its name and its
/// aliases), if listed.
fn protocol_names(n: i32) -> Option<Vec<String>> {
    // SAFETY: getprotobynumber returns null or a valid entry whose
    // aliases end with a null pointer, read at once in this
    // single-threaded use.
    unsafe {
        let p = libc::getprotobynumber(n);
        if p.is_null() {
            return None;
        }
        let mut names = vec![CStr::from_ptr((*p).p_name).to_string_lossy().into_owned()];
        let mut alias = (*p).p_aliases;
        while !alias.is_null() && !(*alias).is_null() {
            names.push(CStr::from_ptr(*alias).to_string_lossy().into_owned());
            alias = alias.add(1);
        }
        Some(names)
    }
}

#[test]
fn protocol_names_are_the_systems() {
    if !as_root("sock_prot_num2str") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    if !std::path::Path::new("/etc/protocols").exists() {
        println!("skipped: no /etc/protocols");
        return;
    }
    // stap's names are /etc/protocols' in its spelling (50 is left out:
    // stap keeps its older name, IPV6-CRYPT).
    let nums = [0, 1, 2, 6, 17, 41, 47, 58, 132, 136];
    let known: Vec<(i32, Vec<String>)> = nums.iter().filter_map(|&n| Some((n, protocol_names(n)?))).collect();
    assert!(known.len() >= 5, "/etc/protocols names the common protocols");
    let body: String = known.iter().map(|(n, _)| format!("println(sock_prot_num2str({n}))\n")).collect();
    let script = format!("probe begin {{ {body} println(sock_prot_num2str(99999)) exit() }}");
    let out = stp_begin(&script);
    let names: Vec<&str> = out.lines().collect();
    assert_eq!(names.len(), known.len() + 1, "{out}");
    for ((n, system), name) in known.iter().zip(&names) {
        assert!(system.iter().any(|s| s.eq_ignore_ascii_case(name)), "{n}: {name} is not one of {system:?}");
    }
    assert_eq!(names.last(), Some(&"UNDEF"));
    // The inverse, of the names stap gave.
    let body: String =
        names.iter().take(known.len()).map(|name| format!("println(sock_prot_str2num(\"{name}\"))\n")).collect();
    let script = format!(
        "probe begin {{ {body} println(sock_prot_str2num(\"NOPE\"))\n println(remote_id(), \" [\", remote_uri(), \"]\") exit() }}"
    );
    let want: String = known.iter().map(|(n, _)| format!("{n}\n")).collect();
    assert_eq!(stp_begin(&script), format!("{want}-1\n-1 []\n"));
}

/// The output of a script of `begin` probes.
fn stp_begin(script: &str) -> String {
    let before = bpf_objects();
    let out = Command::new(env!("CARGO_BIN_EXE_stp")).args(["-e", script]).output().expect("stp runs");
    assert_nothing_left(&before, "sock_prot");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn namespace_ids_from_the_first_namespaces_are_the_plain_ones() {
    if !as_root("task_ns_*") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "global once\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() != target() || once++) next\n\
          t = task_current()\n\
          printf(\"%d %d %d %d\\n\", task_ns_pid(t), task_ns_tid(t), task_ns_uid(t), task_ns_egid(t))\n\
        }";
    let before = bpf_objects();
    let child = Command::new(env!("CARGO_BIN_EXE_stp"))
        .args(["-g", "-c", &getppid_command(1, 0), "-e", script])
        .output()
        .expect("stp runs");
    assert_nothing_left(&before, "task_ns");
    let err = String::from_utf8_lossy(&child.stderr);
    if err.contains("outside the first pid and user namespaces") {
        println!("skipped: stp runs outside the first namespaces");
        return;
    }
    assert!(child.status.success(), "{err}");
    let out = String::from_utf8_lossy(&child.stdout);
    let f: Vec<i64> = out.split_whitespace().map(|w| w.parse().unwrap()).collect();
    assert_eq!(f.len(), 4, "{out}");
    // The perl child's pid is its tid; it runs as this test's user.
    assert_eq!(f[0], f[1], "{out}");
    assert!(f[0] > 0);
    // SAFETY: getuid and getegid have no preconditions.
    let (uid, egid) = unsafe { (libc::getuid(), libc::getegid()) };
    assert_eq!((f[2], f[3]), (i64::from(uid), i64::from(egid)), "{out}");
}

#[test]
fn small_functions_agree_in_both_placements() {
    if !as_root("stringat() in the kernel") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let body = "println(stringat(\"abc\", 2), \" \", stringat(execname(), 0), \" \", kernel_string_quoted(0), \" \", \
                user_string_warn(1, \"w\"), \" \", probe_type())\n\
                try { println(stringat(\"abc\", 3)) } catch (e) { println(e) }";
    let script = format!(
        "global once\n\
         probe begin {{ {body} }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() != target() || once++) next\n\
           {body}\n\
         }}\n"
    );
    let before = bpf_objects();
    let out = Command::new(env!("CARGO_BIN_EXE_stp"))
        .args(["-c", &getppid_command(1, 0), "-e", &script])
        .output()
        .expect("stp runs");
    assert_nothing_left(&before, "stringat");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // The first byte of the names: stp's own in `begin`, perl's there.
    let (stp, perl) = (i64::from(b's'), i64::from(b'p'));
    let c = i64::from(b'c');
    let want = format!(
        "{c} {stp} 0x0 w begin_end\nPosition out of range\n{c} {perl} 0x0 w kernel_tracepoint\nPosition out of range\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    assert_eq!(err.matches("user string copy fault -14 at 0x1 [man error::fault]").count(), 2, "{err}");
}
