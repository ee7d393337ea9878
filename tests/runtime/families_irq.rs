//! The interrupt tapsets on the host kernel: while a command writes and
//! syncs a file (disk interrupts), `irq_handler.entry` and `.exit` must
//! name each interrupt as /proc/interrupts does, and `workqueue.execute`
//! must give each work item's function at an address /proc/kallsyms has
//! a symbol at.

use std::collections::HashSet;

use super::{PASS5, as_root, stp_run_clean};

const SCRIPT: &str = r#"
global n, m
probe irq_handler.entry {
  if (n < 20) { printf("irq %d %s\n", irq, kernel_string(dev_name)); n++ }
}
probe irq_handler.exit {
  if (n < 20) printf("ret %d %d\n", irq, ret)
}
probe workqueue.execute {
  if (m < 5) { printf("work %x %d\n", work_func, wq_thread == task_current()); m++ }
}
"#;

#[test]
fn interrupts_and_work_items_as_the_kernel_lists_them() {
    if !as_root("interrupt tapsets") {
        return;
    }
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory");
    let file = dir.path().join("f");
    let cmd = format!(
        "sh -c 'i=0; while [ $i -lt 20 ]; do echo $i > {0}; sync {0}; i=$((i+1)); sleep 0.05; done'",
        file.display()
    );
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", SCRIPT]);
    assert_eq!(status, 0, "{err}");
    let interrupts = std::fs::read_to_string("/proc/interrupts").expect("/proc/interrupts");
    let line_of = |irq: &str| interrupts.lines().find(|l| l.trim_start().starts_with(&format!("{irq}:"))).unwrap_or("");
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").expect("/proc/kallsyms");
    let symbols: HashSet<&str> = kallsyms.lines().filter_map(|l| l.split(' ').next()).collect();
    let (mut irqs, mut works) = (0, 0);
    for l in out.lines() {
        let w: Vec<&str> = l.split(' ').collect();
        match w[0] {
            "irq" => {
                irqs += 1;
                assert!(line_of(w[1]).contains(w[2]), "interrupt {} is not {}:\n{interrupts}", w[1], w[2]);
            }
            // IRQ_NONE, IRQ_HANDLED or IRQ_WAKE_THREAD.
            "ret" => assert!(["0", "1", "2"].contains(&w[2]), "{l}"),
            "work" => {
                works += 1;
                assert!(symbols.contains(format!("{:0>16}", w[1]).as_str()), "no symbol at {}", w[1]);
                // A work item runs in its worker thread.
                assert_eq!(w[2], "1", "{l}");
            }
            _ => panic!("{l}"),
        }
    }
    assert!(irqs > 0 && works > 0, "{irqs} interrupts, {works} work items:\n{out}");
}
