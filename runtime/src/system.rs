//! `system(cmd)`: the command runs under `/bin/sh -c`, started by the
//! runtime when it meets the call (the kernel's record of it, or a
//! user-placed handler's call), after the script's output so far is
//! written, so that what the script printed before the call comes
//! before what the command prints. As stap's, the command runs in the
//! background, its output going to stp's own stdout and stderr; the
//! session waits for the commands it started before it ends.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// The commands started and not yet waited for.
static STARTED: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// Starts `cmd`, after flushing `out`; a command that cannot start is
/// a warning, as stap's.
pub(crate) fn start(cmd: &[u8], out: &mut dyn Write) {
    let _ = out.flush();
    let _ = std::io::stdout().flush();
    let started = Command::new("/bin/sh").arg("-c").arg(std::ffi::OsStr::from_bytes(cmd)).stdin(Stdio::null()).spawn();
    match started {
        Ok(child) => {
            let mut list = STARTED.lock().unwrap_or_else(|e| e.into_inner());
            // Reap those already done.
            list.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
            list.push(child);
        }
        Err(e) => eprintln!("WARNING: system(\"{}\") failed: {e}", String::from_utf8_lossy(cmd)),
    }
}

/// Waits for every command `start` began.
pub(crate) fn wait_all() {
    let children: Vec<Child> = std::mem::take(&mut *STARTED.lock().unwrap_or_else(|e| e.into_inner()));
    for mut c in children {
        let _ = c.wait();
    }
}
