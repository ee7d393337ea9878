//! `&@cast(N, "type")...` with constant N and indexes is an address known
//! from the type alone: `@cast_sizeof`, `@offsetof` and their kin work in
//! user-placed handlers (`begin`), and agree with the kernel's BTF as
//! bpftool reads it.

use std::process::Command;

use super::{PASS5, as_root, stp_run_clean};

/// `task_struct`'s size and `pid`'s byte offset, from `bpftool btf dump`.
fn bpftool_task_struct() -> (u64, u64) {
    let out = Command::new("bpftool").args(["btf", "dump", "file", "/sys/kernel/btf/vmlinux"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().skip_while(|l| !l.contains("STRUCT 'task_struct' size="));
    let head = lines.next().expect("task_struct in the kernel's BTF");
    let size = head.split("size=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let pid = lines.take_while(|l| l.starts_with('\t')).find(|l| l.trim_start().starts_with("'pid' ")).unwrap();
    let bits: u64 = pid.split("bits_offset=").nth(1).unwrap().trim().parse().unwrap();
    (size, bits / 8)
}

#[test]
fn sizeof_and_offsetof_are_constants_in_begin() {
    if !as_root("a begin probe") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (size, pid) = bpftool_task_struct();
    let script = "probe begin {\n\
           println(@cast_module_sizeof(\"kernel<include/linux/sched.h>\", \"task_struct\"))\n\
           println(@offsetof(\"task_struct\", pid))\n\
           println(&@cast(100, \"task_struct\")[2]->pid)\n\
           exit()\n\
         }\n";
    let (status, out, err) = stp_run_clean(&["-e", script]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, format!("{size}\n{pid}\n{}\n", 100 + 2 * size + pid), "{err}");
}
