//! Kernel-function probes, which the host kernel may lack (kprobes) or
//! refuse (fentry/fexit): run by a static stp inside the VM of
//! `tests/common/vm.rs`, every check in one boot. The VM's kernel allows
//! both, and each is checked.

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

/// `stp OPTIONS -e SCRIPT -c '/root/read77 /root/data100'`: the test
/// program reads a file of 100 bytes.
fn on_read77(options: &[&str], script: &str) -> String {
    let mut words = vec!["stp"];
    words.extend(options);
    words.extend(["-e", script, "-c", "/root/read77 /root/data100"]);
    command_line(&words)
}

/// The entry: the argument, and a field reached through pointers.
const ENTRY: &str = "probe kernel.function(\"vfs_read\") {\n\
      if (pid() == target() && execname() == \"read77\") {\n\
        printf(\"%d %s\\n\", $count, kernel_string($file->f_path->dentry->d_name->name))\n\
        exit()\n\
      }\n\
    }";

/// The return: the value returned, and the entry's argument.
const RETURN: &str = "probe kernel.function(\"vfs_read\").return {\n\
      if (pid() == target() && execname() == \"read77\") {\n\
        printf(\"%d %d\\n\", $return, @entry($count))\n\
        exit()\n\
      }\n\
    }";

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
    let fentry = vm.case(on_read77(&["--function-probes=fentry"], ENTRY));
    let fexit = vm.case(on_read77(&["--function-probes=fentry"], RETURN));
    let kprobe = vm.case(on_read77(&["--function-probes=kprobe"], ENTRY));
    let kretprobe = vm.case(on_read77(&["--function-probes=kprobe"], RETURN));
    // kprobe.function, and a probe on two functions naming the one that
    // fired.
    let two = vm.case(on_read77(
        &[],
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
    check(fentry, "77 data100\n");
    check(fexit, "77 77\n");
    check(kprobe, "77 data100\n");
    check(kretprobe, "77 77\n");
    check(two, "vfs_read\n");
}
