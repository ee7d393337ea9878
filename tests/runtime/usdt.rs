//! `process("PATH").mark("NAME")`: USDT marks (`sys/sdt.h`) and their
//! arguments, in registers, in memory and constant, and marks guarded by
//! a semaphore.

use super::c_program::{self, CProgram};
use super::{PASS5, as_root, stp_run_clean};

/// Five `tick`s, three `name`s with a string in a stack buffer, and one
/// mark whose arguments are constants of every size. Built with -O0 the
/// variable arguments are in memory (`-4@-4(%rbp)`), with -O2 in
/// registers (`-4@%eax`).
const MARKS: &str = r#"
#include <stdio.h>
#include <sys/sdt.h>

int main(void) {
    for (int i = 0; i < 5; i++) DTRACE_PROBE2(stp_test, tick, i, 100 - i);
    for (int i = 0; i < 3; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "item-%d", i);
        DTRACE_PROBE2(stp_test, name, buf, -i);
    }
    long big = -5000000000L;
    unsigned char small = 200;
    short neg = -3;
    DTRACE_PROBE4(stp_test, sizes, 42, big, small, neg);
    return 0;
}
"#;

fn marks(test: &str, opt: &str) -> Option<CProgram> {
    c_program::build(test, "marks", MARKS, &[opt])
}

/// The script printing every mark's arguments.
fn print_marks(prog: &CProgram) -> String {
    let p = prog.text();
    format!(
        "probe process(\"{p}\").mark(\"tick\") {{ printf(\"tick %d %d\\n\", $arg1, $arg2) }}\n\
         probe process(\"{p}\").mark(\"name\") {{ printf(\"name %s %d\\n\", user_string($arg1), $arg2) }}\n\
         probe process(\"{p}\").provider(\"stp_test\").mark(\"sizes\") {{\n\
           printf(\"sizes %d %d %d %d\\n\", $arg1, $arg2, $arg3, $arg4)\n\
         }}\n"
    )
}

fn expected_marks() -> String {
    let mut want: String = (0..5).map(|i| format!("tick {i} {}\n", 100 - i)).collect();
    want.extend((0..3).map(|i| format!("name item-{i} {}\n", -i)));
    want.push_str("sizes 42 -5000000000 200 -3\n");
    want
}

#[test]
fn mark_arguments_in_memory() {
    if !as_root("USDT arguments in memory") {
        return;
    }
    let Some(prog) = marks("USDT arguments in memory", "-O0") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (status, out, err) = stp_run_clean(&["-c", &prog.text(), "-e", &print_marks(&prog)]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, expected_marks(), "{err}");
}

#[test]
fn mark_arguments_in_registers() {
    if !as_root("USDT arguments in registers") {
        return;
    }
    let Some(prog) = marks("USDT arguments in registers", "-O2") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (status, out, err) = stp_run_clean(&["-c", &prog.text(), "-e", &print_marks(&prog)]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, expected_marks(), "{err}");
}

/// A mark that fires only while its semaphore is non-zero, as
/// `PROVIDER_NAME_ENABLED()` guards it: stp must raise the semaphore.
const GUARDED: &str = r#"
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

__extension__ unsigned short stp_test_guarded_semaphore __attribute__((unused))
    __attribute__((section(".probes")));

int main(void) {
    for (int i = 0; i < 3; i++)
        if (*(volatile unsigned short *)&stp_test_guarded_semaphore)
            STAP_PROBE1(stp_test, guarded, i * 7);
    return 0;
}
"#;

#[test]
fn a_mark_guarded_by_a_semaphore_fires() {
    if !as_root("USDT semaphores") {
        return;
    }
    let Some(prog) = c_program::build("USDT semaphores", "guarded", GUARDED, &["-O2"]) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!("probe process(\"{}\").mark(\"guarded\") {{ printf(\"%d\\n\", $arg1) }}\n", prog.text());
    let (status, out, err) = stp_run_clean(&["-c", &prog.text(), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "0\n7\n14\n", "{err}");
}

/// An argument the mark does not have is refused in pass 2, with those it
/// has. (No root needed: it stops before pass 5.)
#[test]
fn a_missing_argument_is_refused_with_the_alternatives() {
    let Some(prog) = marks("USDT missing argument", "-O2") else { return };
    let script = format!("probe process(\"{}\").mark(\"tick\") {{ println($arg3) }}\n", prog.text());
    let (status, _, err) = super::stp_run(&["-p2", "-e", &script]);
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("semantic error: unable to find local 'arg3' in process("), "{err}");
    assert!(err.contains("alternatives: $arg1 $arg2"), "{err}");
}

/// One mark at two sites (an inlined function's), its argument in a
/// different register at each: both sites fire, each read its own way.
const SITES: &str = r#"
#include <sys/sdt.h>

static inline __attribute__((always_inline)) void hit(long v) { DTRACE_PROBE1(stp_test, hit, v); }

__attribute__((noipa)) long tripled(long x) {
    hit(x * 3);
    return x;
}

int main(void) {
    long sum = 0;
    for (long i = 0; i < 3; i++) {
        hit(i);
        sum += tripled(i + 10);
    }
    return sum == 33 ? 0 : 1;
}
"#;

#[test]
fn every_site_of_a_mark_fires() {
    if !as_root("USDT sites") {
        return;
    }
    let Some(prog) = c_program::build("USDT sites", "sites", SITES, &["-O2"]) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!("probe process(\"{}\").mark(\"hit\") {{ printf(\"%d\\n\", $arg1) }}\n", prog.text());
    let (status, out, err) = stp_run_clean(&["-c", &prog.text(), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "0\n30\n1\n33\n2\n36\n", "{err}");
}
