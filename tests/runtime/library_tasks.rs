//! A task's files and ancestry (stdlib/task_files.stp):
//! `task_open_file_handles()`, `task_fd_lookup()`, `task_exe_file()`,
//! `current_exe_file()` and `task_ancestry()` of a traced perl, checked
//! against what perl itself reads in /proc/self.

use std::process::Command;

use super::{PASS5, as_root, assert_nothing_left, bpf_objects};

#[test]
fn a_tasks_files_are_the_ones_proc_shows() {
    if !as_root("task_fd_lookup()") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a directory");
    let out_file = dir.path().join("out.txt");
    let seen = dir.path().join("seen.txt");
    // perl counts its open descriptors (less the directory's own) and
    // names its executable, then calls getppid with stdout on out.txt.
    let perl = format!(
        "perl -e 'opendir D, \"/proc/self/fd\"; @f = grep !/^\\./, readdir D; closedir D; \
         open S, \">{}\"; print S scalar(@f) - 1, \"\\n\", readlink(\"/proc/self/exe\"), \"\\n\"; close S; getppid()' > {}",
        seen.display(),
        out_file.display()
    );
    // Each in a handler of its own (the loops of task_open_file_handles
    // and task_ancestry together are more than the verifier follows).
    let script = "global done\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target()) printf(\"%d\\n\", task_open_file_handles(task_current()))\n\
        }\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() != target()) next\n\
          t = task_current()\n\
          printf(\"%s\\n%s\\n\", fullpath_struct_file(t, task_fd_lookup(t, 1)), fullpath_struct_file(t, task_exe_file(t)))\n\
          printf(\"%d %d %d\\n\", task_fd_lookup(t, 1000000), current_exe_file() == task_exe_file(t), task_max_file_handles(t) >= 64)\n\
        }\n\
        probe kernel.trace(\"syscalls:sys_enter_getppid\") {\n\
          if (pid() == target()) printf(\"%s\\n\", task_ancestry(task_current(), 0))\n\
        }";
    let before = bpf_objects();
    let out = Command::new(env!("CARGO_BIN_EXE_stp")).args(["-c", &perl, "-e", script]).output().expect("stp runs");
    assert_nothing_left(&before, "task_files");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    let seen = std::fs::read_to_string(&seen).expect("perl's own view");
    let mut seen = seen.lines();
    // perl's count was taken with one descriptor more open (S), then
    // closed: the same number.
    assert_eq!(lines[0], seen.next().unwrap(), "open descriptors");
    assert_eq!(lines[1], out_file.to_string_lossy(), "descriptor 1");
    assert_eq!(lines[2], seen.next().unwrap(), "the executable");
    assert_eq!(lines[3], "0 1 1");
    // The ancestry ends with this test's stp and its perl, and starts at
    // the first task (pid 0's).
    assert!(lines[4].ends_with("=>stp=>perl"), "{}", lines[4]);
    assert!(lines[4].starts_with("swapper"), "{}", lines[4]);
}
