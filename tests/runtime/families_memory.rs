//! The memory tapset (`vm.*`) on the host kernel: a C program maps pages
//! at a fixed address, faults them in with a write and a read, has the
//! kernel kmalloc and kfree a buffer of a size it chose, and unmaps the
//! pages; it writes each event as the script should print it, and the
//! script's lines (filtered to the program and its addresses) must be
//! those. The tracepoint-based aliases run here; `vm.pagefault.return`,
//! `vm.brk` and `vm.write_shared` are kernel functions (the VM test).

use super::c_program;
use super::{PASS5, as_root, stp_run_clean};

const PROGRAM: &str = include_str!("families/memory.c");

const SCRIPT: &str = r#"
global p
probe vm.pagefault {
  if (pid() == target() && address >= 0x200000000 && address < 0x200100000)
    printf("pf %x %d\n", address, write_access)
}
probe vm.kmalloc {
  if (pid() == target() && bytes_req == 777) {
    p = ptr
    printf("kmalloc %d\n", bytes_req)
    printf("alloc %d %s\n", bytes_alloc, gfp_flag_name)
  }
}
probe vm.kfree {
  if (pid() == target() && p != 0 && ptr == p) {
    println(name)
    p = 0
  }
}
probe vm.mmap, vm.munmap {
  if (pid() == target() && address == 0x200000000)
    printf("%s %x %d\n", name, address, length)
}
"#;

#[test]
fn page_faults_mappings_and_kmalloc_as_the_program_made_them() {
    if !as_root("vm.* tapset") {
        return;
    }
    let Some(prog) = c_program::build("vm.* tapset", "memory", PROGRAM, &["-O1"]) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("a directory");
    let log = dir.path().join("did");
    let cmd = format!("{} {}", prog.text(), log.display());
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", SCRIPT]);
    assert_eq!(status, 0, "{err}");
    let did = std::fs::read_to_string(&log).expect("the program's log");
    // The allocation's size class and flags: kmalloc rounds 777 bytes up
    // to its 1 KiB cache, and setxattr's copy of the value is
    // vmemdup_user()'s GFP_USER allocation (mm/util.c).
    let seen: Vec<&str> = out.lines().filter(|l| !l.starts_with("alloc ")).collect();
    // vm.brk is a kernel function: the VM test checks it.
    let want: Vec<&str> = did.lines().filter(|l| !l.starts_with("brk ")).collect();
    assert_eq!(seen, want, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.lines().any(|l| l == "alloc 1024 GFP_USER"), "{out}");
}
