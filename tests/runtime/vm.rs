//! Kernel-function probes (kprobes and kretprobes), which the host kernel
//! may lack: run by a static stp inside the VM of `tests/common/vm.rs`,
//! every check in one boot.

use std::time::Duration;

use super::c_program;
use super::common::vm::{Vm, command_line};

/// Opens its argument and reads 77 bytes of it with one read(2).
const READ77: &str = r#"
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char buf[128];
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0)
        return 2;
    return read(fd, buf, 77) == 77 ? 0 : 3;
}
"#;

/// `stp -e SCRIPT -c '/root/read77 /root/data100'`: the test program reads
/// a file of 100 bytes.
fn on_read77(script: &str) -> String {
    command_line(&["stp", "-e", script, "-c", "/root/read77 /root/data100"])
}

#[test]
fn kernel_functions_fire_in_the_vm() {
    let Some(read77) = c_program::build("kernel functions in the VM", "read77", READ77, &["-static", "-O1"]) else {
        return;
    };
    let data = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(data.path(), [b'x'; 100]).expect("the data written");

    let mut vm = Vm::new();
    vm.copy(std::path::Path::new(&read77.text()), "/root/read77")
        .copy(data.path(), "/root/data100")
        .case_timeout(Duration::from_secs(60));
    let begin = vm.case(command_line(&["stp", "-e", "probe begin { println(\"hi\") exit() }"]));
    // The entry: the argument, and a field reached through pointers.
    let entry = vm.case(on_read77(
        "probe kernel.function(\"vfs_read\") {\n\
           if (pid() == target() && execname() == \"read77\") {\n\
             printf(\"%d %s\\n\", $count, kernel_string($file->f_path->dentry->d_name->name))\n\
             exit()\n\
           }\n\
         }",
    ));
    // The return: the value returned, and the entry's argument.
    let ret = vm.case(on_read77(
        "probe kernel.function(\"vfs_read\").return {\n\
           if (pid() == target() && execname() == \"read77\") {\n\
             printf(\"%d %d\\n\", $return, @entry($count))\n\
             exit()\n\
           }\n\
         }",
    ));
    // kprobe.function, and a probe on two functions naming the one that
    // fired.
    let kprobe = vm.case(on_read77(
        "probe kprobe.function(\"vfs_read\"), kernel.function(\"vfs_write\") {\n\
           if (execname() == \"read77\") { println(ppfunc()); exit() }\n\
         }",
    ));
    let Some(run) = vm.run("kernel functions in the VM") else { return };
    println!("VM: {} cases, boot {:?} s, wall {:.1} s", run.outcomes.len(), run.boot, run.wall.as_secs_f64());

    let check = |i: usize, want: &str| {
        let o = &run.outcomes[i];
        assert_eq!((o.status, o.stdout.as_str()), (Some(0), want), "case {}: stderr:\n{}", i + 1, o.stderr);
    };
    check(begin, "hi\n");
    check(entry, "77 data100\n");
    check(ret, "77 77\n");
    check(kprobe, "vfs_read\n");
}
