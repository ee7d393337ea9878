//! Reads that fault in kernel handlers are stap's errors, never a silent
//! 0 or "": `kernel_string` and `user_string`, the `kernel_long` family
//! and `->` through a pointer end the run with the error at the script
//! line (exit status 1); `try`/`catch` catches them; the variants with
//! an error string return it, and the plain user_long family reads 0 as
//! stap's does (its `_error` forms raise).

use super::{PASS5, as_root, stp_run_clean};

/// `<input>:LINE:COL` of the first `needle` in `script`.
fn location(script: &str, needle: &str) -> String {
    let at = script.find(needle).expect("the needle is in the script");
    let line = script[..at].matches('\n').count() + 1;
    let col = at - script[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    format!("<input>:{line}:{col}")
}

/// A handler on the traced perl's getppid() running `body`.
fn on_getppid(body: &str) -> String {
    format!("probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n  if (pid() != target()) next\n{body}\n}}\n")
}

fn run(script: &str) -> (i32, String, String) {
    stp_run_clean(&["-c", "perl -e 'getppid()'", "-e", script])
}

#[test]
fn faults_in_kernel_handlers_are_caught_or_fall_back() {
    if !as_root("faults in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = on_getppid(
        "  try { println(kernel_string(8)) } catch (e) { println(\"1 \", e) }\n\
           try { println(kernel_int(16)) } catch (e) { println(\"2 \", e) }\n\
           try { println(@cast(16, \"task_struct\")->pid) } catch (e) { println(\"3 \", e) }\n\
           try { println(user_string(0)) } catch (e) { println(\"4 \", e) }\n\
           try { println(user_long_error(0)) } catch (e) { println(\"5 \", e) }\n\
           println(user_long(0), \" \", user_int(0), \" \", user_char(0), \" \", user_uint16(0))\n\
           println(user_string(0, \"fallback\"), \" \", kernel_string(8, \"other\"))\n\
           exit()",
    );
    let (status, out, err) = run(&script);
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        out,
        "1 kernel string copy fault [man error::fault]\n\
         2 kernel int copy fault [man error::fault]\n\
         3 read fault [man error::fault]\n\
         4 user string copy fault [man error::fault]\n\
         5 user long copy fault [man error::fault]\n\
         0 0 0 0\n\
         fallback other\n",
        "{err}"
    );
}

#[test]
fn an_uncaught_fault_ends_the_run_with_stap_s_error() {
    if !as_root("faults in kernel handlers") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    for (body, needle, message) in [
        ("  println(user_string(0))", "user_string", "user string copy fault at 0x0 [man error::fault]".to_string()),
        ("  println(kernel_long(24))", "kernel_long", "kernel long copy fault at 0x18 [man error::fault]".to_string()),
        // The address read is the pointer plus the member's offset.
        ("  println(@cast(0, \"task_struct\")->pid)", "@cast", "read fault [man error::fault] at 0x".to_string()),
    ] {
        let script = on_getppid(&format!("{body}\n  println(\"after\")"));
        let (status, out, err) = run(&script);
        assert_eq!(status, 1, "{body}: {err}");
        assert_eq!(out, "", "{body}: nothing after the fault: {err}");
        let line = err.lines().find(|l| l.starts_with("ERROR: ")).unwrap_or_default();
        assert!(line.starts_with(&format!("ERROR: {message}")), "{body}: {err}");
        assert!(line.ends_with(&format!(" at {}", location(&script, needle))), "{body}: {err}");
    }
}
