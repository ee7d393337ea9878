//! The script's output stream. A reader that goes away (`stp ... | head
//! -1`) ends the script as stap's does: the first write that finds the
//! pipe closed (`EPIPE`) marks the stream broken, the session stops, its
//! `end` probes run, and what they print is discarded.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A writer that turns `EPIPE` into a flag and discards from then on.
pub struct PipeGuard<W> {
    inner: W,
    broken: Arc<AtomicBool>,
}

impl<W: Write> PipeGuard<W> {
    /// The writer and the flag it raises when its reader is gone.
    pub fn new(inner: W) -> (PipeGuard<W>, Arc<AtomicBool>) {
        let broken = Arc::new(AtomicBool::new(false));
        (PipeGuard { inner, broken: Arc::clone(&broken) }, broken)
    }

    fn check<T>(&self, r: io::Result<T>, done: T) -> io::Result<T> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.broken.store(true, Ordering::SeqCst);
                Ok(done)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for PipeGuard<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.broken.load(Ordering::SeqCst) {
            return Ok(buf.len());
        }
        let r = self.inner.write(buf);
        self.check(r, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.broken.load(Ordering::SeqCst) {
            return Ok(());
        }
        let r = self.inner.flush();
        self.check(r, ())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_raises_the_flag_and_later_writes_are_discarded() {
        let (mut w, broken) = PipeGuard::new(Closed);
        assert!(!broken.load(Ordering::SeqCst));
        w.write_all(b"tick\n").unwrap();
        assert!(broken.load(Ordering::SeqCst));
        w.write_all(b"end\n").unwrap();
        w.flush().unwrap();
    }
}
