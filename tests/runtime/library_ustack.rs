//! The user stack: `ustack(n)`, `ucallers(n)` and `ubacktrace()` in a
//! handler of the system call a test program makes from `inner()`,
//! called by `middle()`, called by `main()` (built with frame pointers,
//! which the kernel's walk of a user stack follows); each frame checked
//! against the program's own symbols (`nm`).

use std::process::Command;

use super::{PASS5, as_root, assert_nothing_left, bpf_objects, c_program};

const CALLS: &str = r#"
#include <sys/syscall.h>

__attribute__((noinline)) long inner(void) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(SYS_getppid) : "rcx", "r11", "memory");
    return r;
}

__attribute__((noinline)) long middle(void) {
    return inner() + 1;
}

int main(void) {
    return middle() > 0 ? 0 : 1;
}
"#;

/// Where each named function of the program starts and ends.
fn functions(path: &str, names: &[&str]) -> Vec<(u64, u64)> {
    let out = Command::new("nm").args(["-S", "--defined-only", path]).output().expect("nm runs");
    let text = String::from_utf8_lossy(&out.stdout);
    names
        .iter()
        .map(|name| {
            let line = text.lines().find(|l| l.split_whitespace().nth(3) == Some(name)).expect("the symbol");
            let f: Vec<&str> = line.split_whitespace().collect();
            let start = u64::from_str_radix(f[0], 16).unwrap();
            (start, start + u64::from_str_radix(f[1], 16).unwrap())
        })
        .collect()
}

#[test]
fn user_frames_are_in_the_programs_functions() {
    if !as_root("ustack()") {
        return;
    }
    let flags = ["-static", "-O0", "-fno-omit-frame-pointer", "-no-pie"];
    let Some(calls) = c_program::build("ustack()", "calls", CALLS, &flags) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = "probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() != target()) next\n\
          printf(\"%d %d %d\\n\", ustack(0), ustack(1), ustack(2))\n\
          println(ucallers(2))\n\
          println(ubacktrace())\n\
        }";
    let before = bpf_objects();
    let out =
        Command::new(env!("CARGO_BIN_EXE_stp")).args(["-c", &calls.text(), "-e", script]).output().expect("stp runs");
    assert_nothing_left(&before, "ustack");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let frames: Vec<u64> = lines[0].split(' ').map(|w| w.parse().unwrap()).collect();
    let ranges = functions(&calls.text(), &["inner", "middle", "main"]);
    for (k, (&a, &(start, end))) in frames.iter().zip(&ranges).enumerate() {
        assert!(start < a && a <= end, "frame {k} at {a:#x} is not in [{start:#x}, {end:#x}]");
    }
    let hex: Vec<String> = frames.iter().map(|a| format!("{a:#x}")).collect();
    assert_eq!(lines[1], hex.join(" "));
    let padded: Vec<String> = frames.iter().map(|a| format!("0x{a:016x}")).collect();
    assert!(lines[2].starts_with(&padded.join(" ")), "{}", lines[2]);
}
