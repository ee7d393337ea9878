//! The ring buffer's size at load time. A script whose kernel handlers
//! print, compiled without `-s`, gets a share per online CPU (every CPU
//! writes into the one buffer while one reader drains it), never less
//! than what pass 4 wrote and with a cap; `-s` sizes it exactly, and a
//! buffer for handlers that print nothing keeps its small size.

/// What each online CPU adds.
pub const PER_CPU: u32 = 4 << 20;
/// The most the default grows to.
pub const CAP: u32 = 64 << 20;

/// The size for `cpus` online CPUs of a buffer compiled at `compiled`
/// bytes: a power of two, as the kernel wants.
pub fn scaled(compiled: u32, cpus: u32) -> u32 {
    let want = PER_CPU.saturating_mul(cpus.max(1)).min(CAP);
    want.max(compiled).checked_next_power_of_two().unwrap_or(compiled)
}

/// The size to load the compiled script's buffer with, where it differs
/// from the object's.
pub fn load_size(c: &stp_compiler::artifact::Artifact) -> Option<u32> {
    if !c.ringbuf_default {
        return None;
    }
    let compiled = c.ringbuf_size()?;
    if compiled < stp_compiler::artifact::DEFAULT_RINGBUF {
        return None;
    }
    let cpus = aya::util::online_cpus().map_or(1, |v| v.len() as u32);
    Some(scaled(compiled, cpus)).filter(|&s| s != compiled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_per_cpu_between_the_compiled_size_and_the_cap() {
        let d = stp_compiler::artifact::DEFAULT_RINGBUF;
        assert_eq!(scaled(d, 1), 4 << 20);
        assert_eq!(scaled(d, 2), 8 << 20);
        assert_eq!(scaled(d, 3), 16 << 20);
        assert_eq!(scaled(d, 64), CAP);
        assert_eq!(scaled(d, 0), 4 << 20);
        // Never below the compiled size.
        assert_eq!(scaled(128 << 20, 2), 128 << 20);
    }
}
