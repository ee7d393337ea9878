//! The progress line of a slow attach: when loading and attaching a
//! script's probes takes longer than [`DELAY`] (hundreds of probes, each
//! checked by the verifier), "attaching N probes ..." appears on stderr,
//! and is erased once they are attached. Only on a terminal: when stderr
//! is a file or a pipe nothing is written, so logs and tests that read
//! stderr see stap's lines alone.

use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use stp_compiler::artifact::{Artifact, Attach, Dispatch};

/// How long attaching runs before the line appears.
pub const DELAY: Duration = Duration::from_millis(500);

/// The probes a run attaches: each kernel-placed program with an attach
/// point, not counting the fallback twins of others nor the syscall
/// dispatchers that serve some of them.
pub fn probe_count(c: &Artifact) -> usize {
    let twins: std::collections::HashSet<usize> = c.programs.iter().filter_map(|p| p.twin).collect();
    c.programs
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            p.attach != Attach::None && !twins.contains(i) && !matches!(p.dispatch, Some(Dispatch::Dispatcher { .. }))
        })
        .count()
}

/// The line, as it is shown.
pub fn line(probes: usize) -> String {
    format!("attaching {probes} probe{} ...", if probes == 1 { "" } else { "s" })
}

/// A progress line waiting to appear; dropping it (attaching is over)
/// cancels it, or erases it if it was shown.
pub struct Progress {
    done: Option<mpsc::Sender<()>>,
    shown: Option<JoinHandle<bool>>,
}

impl Progress {
    /// Starts waiting, when stderr is a terminal; otherwise does nothing.
    pub fn start(probes: usize) -> Progress {
        if probes == 0 || !std::io::stderr().is_terminal() {
            return Progress { done: None, shown: None };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let text = line(probes);
        let shown = std::thread::Builder::new()
            .name("stp-progress".to_string())
            .spawn(move || match rx.recv_timeout(DELAY) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "{text}");
                    let _ = err.flush();
                    true
                }
                _ => false,
            })
            .ok();
        Progress { done: Some(tx), shown }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
        if let Some(Ok(true)) = self.shown.take().map(JoinHandle::join) {
            // Back to the start of the line, and clear it.
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_probes() {
        assert_eq!(line(361), "attaching 361 probes ...");
        assert_eq!(line(1), "attaching 1 probe ...");
    }
}
