//! Kernel symbols: `symname()`, `symdata()` and `modname()` of an
//! address, and `sprint_stack()` of a string of addresses, in a `begin`
//! probe (the runtime reads kallsyms) and in a kernel handler (the
//! kernel's own `%ps`/`%pS`), checked against /proc/kallsyms as the test
//! reads it.

use std::process::Command;

use super::{PASS5, as_root, assert_nothing_left, bpf_objects, getppid_command};

/// The address of the kernel's text symbol `name` and the one after it
/// (its size), from /proc/kallsyms.
fn kernel_symbol(name: &str) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/kallsyms").ok()?;
    let mut text_syms: Vec<(u64, String)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            let kind = f.next()?;
            matches!(kind, "t" | "T" | "w" | "W").then(|| (addr, f.next().unwrap_or_default().to_string()))
        })
        .collect();
    text_syms.sort();
    let k = text_syms.iter().position(|(_, n)| n == name)?;
    let start = text_syms[k].0;
    let next = text_syms[k..].iter().find(|s| s.0 > start)?.0;
    (start != 0).then_some((start, next - start))
}

#[test]
fn symbols_are_the_kernels_in_both_placements() {
    if !as_root("symname()") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let (start, size) = kernel_symbol("vfs_read").expect("vfs_read in /proc/kallsyms");
    let a = start + 5;
    let body = format!("a = {a}\n println(symname(a), \"|\", symdata(a), \"|\", symname(1), \"|\", symdata(1))");
    let script = format!(
        "global once\n\
         probe begin {{ {body}\n println(modname(a)) print(sprint_stack(sprintf(\"0x%x 0x%x\", a, a + 1))) }}\n\
         probe kernel.trace(\"syscalls:sys_enter_getppid\") {{\n\
           if (pid() != target() || once++) next\n\
           {body}\n\
         }}\n"
    );
    let before = bpf_objects();
    let out = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_stp"))
        .args(["-c", &getppid_command(1, 0), "-e", &script])
        .output()
        .expect("stp runs");
    assert_nothing_left(&before, "symname");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data = format!("vfs_read+0x5/0x{size:x} [kernel]");
    // Where no symbol holds the address, the user side prints it as stap's
    // `%p` does (16 digits); the kernel's own `%ps` does not pad it.
    let user = format!("vfs_read|{data}|0x0000000000000001|0x0000000000000001\n");
    let kernel = format!("vfs_read|{data}|0x1|0x1\n");
    let want = format!("{user}kernel\n 0x{a:x} : {data}\n 0x{:x} : vfs_read+0x6/0x{size:x} [kernel]\n{kernel}", a + 1);
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
}
