//! The block I/O tapsets on the host kernel: a C program writes and syncs
//! a file, asks the file system where its data went (FIEMAP), and reads
//! it back with O_DIRECT. `ioblock_trace.request` must show the write of
//! the file's inode at that sector and the 4 KiB read, on the device
//! sysfs names for the file's device number; `ioscheduler.*` must name
//! the disk's scheduler and number as sysfs has them. Skipped, with the
//! reason, where the test's directory is on no block device.

use super::c_program;
use super::{PASS5, as_root, stp_run_clean};

const PROGRAM: &str = include_str!("families/block.c");

const SCRIPT: &str = r#"
probe ioblock_trace.request {
  if (pid() == target())
    printf("request %s %s %d %d %d\n", devname, bio_rw_str(rw), size, sector, ino)
}
probe ioscheduler.elv_add_request {
  if (pid() == target())
    printf("add %s %d %d\n", elevator_name, disk_major, disk_minor)
}
"#;

/// A sysfs file's text, trimmed.
fn sysfs(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

#[test]
fn a_written_and_read_file_as_the_block_layer_sees_it() {
    use std::os::unix::fs::MetadataExt;
    if !as_root("block I/O tapsets") {
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory");
    let dev = std::fs::metadata(dir.path()).expect("its metadata").dev();
    // glibc's encoding of a device number.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let Some(uevent) = sysfs(&format!("/sys/dev/block/{major}:{minor}/uevent")) else {
        eprintln!("skipped block I/O tapsets: {} is on device {major}:{minor}, no block device", dir.path().display());
        return;
    };
    let devname = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")).expect("DEVNAME").to_string();
    // The disk: the device itself, or the disk a partition is on.
    let disk_dir = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).expect("its sysfs directory");
    let disk_dir =
        if disk_dir.join("partition").exists() { disk_dir.parent().unwrap().to_path_buf() } else { disk_dir };
    let disk_dev = sysfs(&format!("{}/dev", disk_dir.display())).expect("the disk's number").replace(':', " ");
    let scheduler = sysfs(&format!("{}/queue/scheduler", disk_dir.display())).unwrap_or_default();
    let scheduler = scheduler.split_once('[').and_then(|(_, r)| r.split_once(']')).map_or("", |(s, _)| s).to_string();

    let Some(prog) = c_program::build("block I/O tapsets", "block", PROGRAM, &["-O1"]) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let log = dir.path().join("did");
    let cmd = format!("{} {} {}", prog.text(), dir.path().join("data").display(), log.display());
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", SCRIPT]);
    assert_eq!(status, 0, "{err}");
    let Ok(did) = std::fs::read_to_string(&log) else {
        eprintln!("skipped block I/O tapsets: the file system does not map the file's blocks (FIEMAP): {out}{err}");
        return;
    };
    let w: Vec<&str> = did.split_whitespace().collect();
    let (ino, sector) = (w[0], w[1]);
    assert_eq!(format!("{} {}", w[2], w[3]), format!("{major} {minor}"), "{did}");
    let lines: Vec<&str> = out.lines().collect();
    // The 8 KiB of data go out as one write of the file's pages (the
    // file system may write its journal and metadata too), and the
    // direct read comes back in as one 4 KiB read of user memory, which
    // belongs to no file (-1).
    assert!(lines.contains(&format!("request {devname} W 8192 {sector} {ino}").as_str()), "{out}");
    assert!(lines.contains(&format!("request {devname} R 4096 {sector} -1").as_str()), "{out}");
    if !scheduler.is_empty() && scheduler != "none" {
        assert!(lines.contains(&format!("add {scheduler} {disk_dev}").as_str()), "{out}");
    }
}
