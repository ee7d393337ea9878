//! The page cache aliases of the vfs tapset on the host kernel (its
//! filemap tracepoints): a C program writes a three-page file, drops it
//! from the page cache and reads it back. `vfs.remove_from_page_cache`
//! must drop the file's folios from index 0, `vfs.add_to_page_cache`
//! must bring them back until the file's mapping holds its three pages,
//! each with the file's inode and device (and the device's name, where
//! sysfs has one for it).

use super::c_program;
use super::{PASS5, as_root, stp_run_clean};

const PROGRAM: &str = include_str!("families/pagecache.c");

const SCRIPT: &str = r#"
probe vfs.add_to_page_cache {
  if (pid() == target()) printf("add %d %d %d %s %d\n", ino, index, dev, devname, nrpages)
}
probe vfs.remove_from_page_cache {
  if (pid() == target()) printf("remove %d %d %d %s\n", ino, index, dev, devname)
}
"#;

#[test]
fn a_file_dropped_from_the_page_cache_and_read_back() {
    if !as_root("vfs page cache aliases") {
        return;
    }
    let Some(prog) = c_program::build("vfs page cache aliases", "pagecache", PROGRAM, &["-O1"]) else { return };
    let _one = PASS5.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory");
    let log = dir.path().join("did");
    let cmd = format!("{} {} {}", prog.text(), dir.path().join("data").display(), log.display());
    let (status, out, err) = stp_run_clean(&["-c", &cmd, "-e", SCRIPT]);
    assert_eq!(status, 0, "{err}");
    let did = std::fs::read_to_string(&log).expect("the program's log");
    let w: Vec<u64> = did.split_whitespace().map(|n| n.parse().unwrap()).collect();
    let (ino, major, minor) = (w[0], w[1], w[2]);
    // The kernel's dev_t: the major number above 20 bits of minor.
    let dev = (major << 20) | minor;
    let devname = std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
        .ok()
        .and_then(|u| u.lines().find_map(|l| l.strip_prefix("DEVNAME=")).map(str::to_string))
        .unwrap_or_else(|| "N/A".to_string());
    let ours: Vec<Vec<&str>> =
        out.lines().map(|l| l.split(' ').collect::<Vec<_>>()).filter(|w| w[1] == ino.to_string()).collect();
    for w in &ours {
        assert_eq!((w[3], w[4]), (dev.to_string().as_str(), devname.as_str()), "{out}");
        assert!(w[2].parse::<u64>().unwrap() < 3, "{out}");
    }
    let removed: Vec<&Vec<&str>> = ours.iter().filter(|w| w[0] == "remove").collect();
    assert!(removed.iter().any(|w| w[2] == "0"), "{out}");
    let last_remove = ours.iter().rposition(|w| w[0] == "remove").unwrap();
    let readds: Vec<&Vec<&str>> = ours[last_remove..].iter().filter(|w| w[0] == "add").collect();
    assert!(readds.first().is_some_and(|w| w[2] == "0"), "{out}");
    assert_eq!(readds.last().map(|w| w[5]), Some("3"), "{out}");
}
