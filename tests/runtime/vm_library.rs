//! Library functions the host kernel refuses: `set_user_*()` (guru mode)
//! write user memory through `bpf_probe_write_user`, which this host's
//! kernel does not offer its tracing programs; run by a static stp inside
//! the VM of `tests/common/vm.rs`. The test program writes a buffer to
//! /dev/null, then prints it: what the probe wrote shows.

use std::time::Duration;

use super::c_program;
use super::common::vm::{Vm, command_line};

/// Writes 16 bytes to /dev/null with one write(2), then prints them
/// (a NUL as `0`).
const WRITE16: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char buf[17] = "abcdefghijklmnop";
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0 || write(fd, buf, 16) != 16)
        return 2;
    for (int i = 0; i < 16; i++)
        putchar(buf[i] ? buf[i] : '0');
    putchar('\n');
    return 0;
}
"#;

#[test]
fn user_memory_is_written_in_guru_mode_in_the_vm() {
    let Some(write16) = c_program::build("set_user_* in the VM", "write16", WRITE16, &["-static", "-O1"]) else {
        return;
    };
    let mut vm = Vm::new();
    vm.copy(std::path::Path::new(&write16.text()), "/root/write16").case_timeout(Duration::from_secs(60));
    let script = "probe kernel.trace(\"syscalls:sys_enter_write\") {\n\
          if (pid() != target() || $count != 16) next\n\
          set_user_string($buf, \"hey\")\n\
          set_user_short($buf + 4, 0x4241)\n\
          set_user_int($buf + 6, 0x44434241)\n\
          set_user_string_n($buf + 10, 2, \"xyz\")\n\
          set_user_char($buf + 13, 0x5a)\n\
        }";
    let written = vm.case(command_line(&["stp", "-g", "-e", script, "-c", "/root/write16"]));
    let Some(run) = vm.run("set_user_* in the VM") else { return };
    let o = &run.outcomes[written];
    // "hey" and its NUL over "abcd"; "AB" over "ef"; "ABCD" over
    // "ghij"; "xy" and a NUL over "klm"; "Z" over "n".
    assert_eq!((o.status, o.stdout.as_str()), (Some(0), "hey0ABABCDxy0Zop\n"), "stderr:\n{}", o.stderr);
}
