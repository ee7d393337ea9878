//! `system(cmd)`: the command runs under `/bin/sh -c`, started by the
//! runtime when it meets the call (the kernel's record of it, or a
//! user-placed handler's call), after the script's output so far is
//! written, so that what the script printed before the call comes
//! before what the command prints. As stap's, the command runs in the
//! background, its output going to stp's own stdout and stderr; the
//! session waits for the commands it started before it ends. With
//! `--format json` the command's stdout is read line by line instead
//! ([`captured`]), for the runtime to write each line as an `output`
//! object: its bytes would otherwise break the stream.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// The commands started and not yet waited for.
static STARTED: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// The threads reading captured commands' output.
static READERS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Lines the captured commands wrote, not yet taken.
static LINES: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Starts `cmd`, after flushing `out`; a command that cannot start is
/// a warning, as stap's (returned, for the caller to print). `capture`:
/// its stdout is read into [`captured`] rather than shared with stp's.
pub(crate) fn start(cmd: &[u8], out: &mut dyn Write, capture: bool) -> Option<String> {
    let _ = out.flush();
    let _ = std::io::stdout().flush();
    let stdout = if capture { Stdio::piped() } else { Stdio::inherit() };
    let started = Command::new("/bin/sh")
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(cmd))
        .stdin(Stdio::null())
        .stdout(stdout)
        .spawn();
    match started {
        Ok(mut child) => {
            if let Some(pipe) = child.stdout.take() {
                let reader = std::thread::spawn(move || {
                    let mut pipe = BufReader::new(pipe);
                    loop {
                        let mut line = Vec::new();
                        match pipe.read_until(b'\n', &mut line) {
                            Ok(n) if n > 0 => LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line),
                            _ => break,
                        }
                    }
                });
                READERS.lock().unwrap_or_else(|e| e.into_inner()).push(reader);
            }
            let mut list = STARTED.lock().unwrap_or_else(|e| e.into_inner());
            // Reap those already done.
            list.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
            list.push(child);
            None
        }
        Err(e) => Some(format!("system(\"{}\") failed: {e}", String::from_utf8_lossy(cmd))),
    }
}

/// The lines captured commands wrote since the last call.
pub(crate) fn captured() -> Vec<Vec<u8>> {
    std::mem::take(&mut *LINES.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Waits for every command `start` began.
pub(crate) fn wait_all() {
    let children: Vec<Child> = std::mem::take(&mut *STARTED.lock().unwrap_or_else(|e| e.into_inner()));
    for mut c in children {
        let _ = c.wait();
    }
    // The readers end at their pipe's end (once every process holding
    // it is gone).
    let readers: Vec<JoinHandle<()>> = std::mem::take(&mut *READERS.lock().unwrap_or_else(|e| e.into_inner()));
    for r in readers {
        let _ = r.join();
    }
}
