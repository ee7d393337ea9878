//! What `-v` reports of each pass, as stap reports it: the pass's own user,
//! system and wall time, and the process's memory when it ended.

use std::time::{Duration, Instant};

/// One pass's report line: `Pass N: WHAT using ...kb, in Uusr/Ssys/Rreal ms.`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassTiming {
    pub pass: u8,
    pub what: String,
    pub real: Duration,
    pub usr: Duration,
    pub sys: Duration,
    /// The process's memory at the pass's end (`/proc/self/statm`), where
    /// it could be read.
    pub memory: Option<Memory>,
}

/// Memory as stap's pass lines give it, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub virt: u64,
    pub res: u64,
    pub shr: u64,
    pub data: u64,
}

impl Memory {
    /// The process's memory now.
    pub fn now() -> Option<Memory> {
        Memory::parse(&std::fs::read_to_string("/proc/self/statm").ok()?, page_size())
    }

    /// `/proc/PID/statm`: size resident shared text lib data dt, in pages.
    fn parse(statm: &str, page: u64) -> Option<Memory> {
        let pages: Vec<u64> = statm.split_whitespace().map(|w| w.parse().ok()).collect::<Option<_>>()?;
        let kb = |i: usize| pages.get(i).map(|p| p * page / 1024);
        Some(Memory { virt: kb(0)?, res: kb(1)?, shr: kb(2)?, data: kb(5)? })
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

impl std::fmt::Display for PassTiming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pass {}: {} ", self.pass, self.what)?;
        if let Some(m) = self.memory {
            write!(f, "using {}virt/{}res/{}shr/{}data kb, ", m.virt, m.res, m.shr, m.data)?;
        }
        write!(f, "in {}usr/{}sys/{}real ms.", self.usr.as_millis(), self.sys.as_millis(), self.real.as_millis())
    }
}

/// The process's user and system time so far.
fn cpu_times() -> (Duration, Duration) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    // SAFETY: zeroed, then filled by a successful getrusage.
    let usage = unsafe { usage.assume_init() };
    let d = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    (d(usage.ru_utime), d(usage.ru_stime))
}

/// Times the passes one after the other.
pub struct PassClock {
    wall: Instant,
    usr: Duration,
    sys: Duration,
}

impl PassClock {
    pub fn start() -> PassClock {
        let (usr, sys) = cpu_times();
        PassClock { wall: Instant::now(), usr, sys }
    }

    /// Ends the pass that ran since the last lap (or the start) and
    /// starts the next one.
    pub fn lap(&mut self, pass: u8, what: String) -> PassTiming {
        let (usr, sys) = cpu_times();
        let now = Instant::now();
        let timing = PassTiming {
            pass,
            what,
            real: now.duration_since(self.wall),
            usr: usr.saturating_sub(self.usr),
            sys: sys.saturating_sub(self.sys),
            memory: Memory::now(),
        };
        *self = PassClock { wall: now, usr, sys };
        timing
    }
}

impl PassClock {
    /// Moves `d` of wall time from the pass `last` timed to the next one
    /// (work done in one go whose part belongs to the next pass).
    pub fn move_to_next(&mut self, last: &mut PassTiming, d: Duration) {
        let d = d.min(last.real);
        last.real -= d;
        self.wall = self.wall.checked_sub(d).unwrap_or(self.wall);
    }
}

/// `N thing` or `N things`, as stap counts in its pass lines.
pub fn count(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statm_is_read_in_kib() {
        let m = Memory::parse("100 50 10 5 0 40 0\n", 4096);
        assert_eq!(m, Some(Memory { virt: 400, res: 200, shr: 40, data: 160 }));
        assert_eq!(Memory::parse("1 2", 4096), None);
    }

    #[test]
    fn the_line_is_stap_s() {
        let t = PassTiming {
            pass: 2,
            what: format!("analyzed script: {}, {}", count(1, "probe"), count(3, "function")),
            real: Duration::from_millis(11),
            usr: Duration::from_millis(10),
            sys: Duration::ZERO,
            memory: Some(Memory { virt: 1, res: 2, shr: 3, data: 4 }),
        };
        assert_eq!(
            t.to_string(),
            "Pass 2: analyzed script: 1 probe, 3 functions using 1virt/2res/3shr/4data kb, in 10usr/0sys/11real ms."
        );
    }

    #[test]
    fn this_process_has_memory() {
        assert!(Memory::now().is_some_and(|m| m.res > 0 && m.virt >= m.res));
    }
}
