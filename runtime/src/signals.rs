//! The signals that stop stp: SIGINT, SIGTERM and SIGHUP. stp catches
//! them from its start, so that one arriving while the script compiles
//! stops it after the pass under way (nothing is loaded then), and one
//! arriving while it runs ends the session as `exit()` does. A third
//! signal, as stap's, ends stp at once.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// The last signal caught (0: none).
static CAUGHT: AtomicI32 = AtomicI32::new(0);
/// How many were caught.
static COUNT: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    CAUGHT.store(sig, Ordering::SeqCst);
    if COUNT.fetch_add(1, Ordering::SeqCst) >= 2 {
        let msg = b"Too many interrupts received, exiting.\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer
        // is a static string.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(1);
        }
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP from now on.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler touches only atomics and async-signal-safe
        // calls; the struct is zeroed and then filled.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether a stopping signal has arrived.
pub fn pending() -> bool {
    CAUGHT.load(Ordering::SeqCst) != 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_caught_signal_is_pending() {
        super::install();
        // SAFETY: raising a signal this process now catches.
        unsafe { libc::raise(libc::SIGHUP) };
        assert!(super::pending());
    }
}
