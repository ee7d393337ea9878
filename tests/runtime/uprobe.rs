//! `process("PATH").function("NAME")` and its `.return`: uprobes by
//! symbol in a program the test builds, and in the C library.

use super::c_program::{self, CProgram};
use super::{PASS5, as_root, stp_run_clean};

/// Calls `twice` 7 times and `malloc` 9 times.
const CALLS: &str = r#"
#include <stdlib.h>

__attribute__((noipa)) int twice(int x) { return 2 * x; }

int main(void) {
    int sum = 0;
    for (int i = 0; i < 7; i++) sum += twice(i);
    for (int i = 0; i < 9; i++) {
        void *volatile p = malloc(64 + i);
        free(p);
    }
    return sum == 42 ? 0 : 1;
}
"#;

fn calls(test: &str) -> Option<CProgram> {
    c_program::build(test, "calls", CALLS, &["-O2"])
}

#[test]
fn a_uprobe_counts_the_calls_of_a_function() {
    if !as_root("uprobe by symbol") {
        return;
    }
    let Some(prog) = calls("uprobe by symbol") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        "global n\n\
         probe process(\"{}\").function(\"twice\") {{ if (pid() == target()) n++ }}\n\
         probe end {{ printf(\"%d\\n\", n) }}\n",
        prog.text()
    );
    let (status, out, err) = stp_run_clean(&["-c", &prog.text(), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "7\n", "{err}");
}

#[test]
fn a_uretprobe_reads_the_return_value() {
    if !as_root("uretprobe $return") {
        return;
    }
    let Some(prog) = calls("uretprobe $return") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // Without debuginfo $return is the return register, as a long.
    let script = format!(
        "probe process(\"{}\").function(\"twice\").return {{ if (pid() == target()) printf(\"%d\\n\", $return) }}\n",
        prog.text()
    );
    let (status, out, err) = stp_run_clean(&["-c", &prog.text(), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let want: String = (0..7).map(|i| format!("{}\n", 2 * i)).collect();
    assert_eq!(out, want, "{err}");
}

/// stap's `int_arg(n)` family and `returnval()` read the registers of
/// the calling convention; `is_return()` tells the return probe.
#[test]
fn arguments_by_number_and_the_return_value() {
    if !as_root("int_arg and returnval") {
        return;
    }
    let Some(prog) = calls("int_arg and returnval") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        "probe process(\"{0}\").function(\"twice\") {{\n\
           if (pid() == target()) printf(\"%d %d %d %d \", int_arg(1), uint_arg(1), long_arg(1), is_return())\n\
         }}\n\
         probe process(\"{0}\").function(\"twice\").return {{\n\
           if (pid() == target()) printf(\"%d %d\\n\", returnval(), is_return())\n\
         }}\n",
        prog.text()
    );
    let (status, out, err) = stp_run_clean(&["-c", &prog.text(), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let want: String = (0..7).map(|i| format!("{i} {i} {i} 0 {} 1\n", 2 * i)).collect();
    assert_eq!(out, want, "{err}");
}

/// The C library this process runs with, from its memory map.
fn libc_path() -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let path = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.rsplit('/').next().is_some_and(|f| f.starts_with("libc.so") || f.starts_with("libc-")))
        .expect("libc is mapped");
    std::fs::canonicalize(path).expect("libc's path").display().to_string()
}

#[test]
fn a_uprobe_in_a_shared_library_counts_malloc() {
    if !as_root("uprobe in libc") {
        return;
    }
    let Some(prog) = calls("uprobe in libc") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // By the library's path, and by .library() of the program.
    let points = [
        format!("process(\"{}\").function(\"malloc\")", libc_path()),
        format!("process(\"{}\").library(\"libc.so.6\").function(\"malloc\")", prog.text()),
    ];
    for point in points {
        let script = format!(
            "global n\n\
             probe {point} {{ if (pid() == target()) n++ }}\n\
             probe end {{ printf(\"%d\\n\", n) }}\n"
        );
        let (status, out, err) = stp_run_clean(&["-c", &prog.text(), "-e", &script]);
        assert_eq!(status, 0, "{point}: {err}");
        // The C library calls malloc itself too.
        let n: u64 = out.trim().parse().unwrap_or_else(|_| panic!("{point}: a count, not {out:?} ({err})"));
        assert!((9..1000).contains(&n), "{point}: {n} calls of malloc for the program's 9");
    }
}

#[test]
fn entry_values_reach_the_return_probe() {
    if !as_root("@entry on a uretprobe") {
        return;
    }
    let Some(prog) = calls("@entry on a uretprobe") else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    // @entry(n++) counts at entry: the return sees the count of its own
    // call, beside the value the call returned.
    let script = format!(
        "global n\n\
         probe process(\"{}\").function(\"twice\").return {{\n\
           if (pid() == target()) printf(\"%d %d %s\\n\", @entry(n++), $return, @entry(execname()))\n\
         }}\n",
        prog.text()
    );
    let (status, out, err) = stp_run_clean(&["-c", &prog.text(), "-e", &script]);
    assert_eq!(status, 0, "{err}");
    let want: String = (0..7).map(|i| format!("{i} {} calls\n", 2 * i)).collect();
    assert_eq!(out, want, "{err}");
}
