//! The kernel's symbols, from /proc/kallsyms, for `print_backtrace()`:
//! each address printed as stap prints a frame, with the function it is
//! in, its offset and the function's size, and its module.

use std::sync::OnceLock;

/// The kernel's text symbols by address.
#[derive(Debug, Default)]
pub struct KernelSymbols {
    /// (address, name, module), sorted by address.
    syms: Vec<(u64, String, Option<String>)>,
}

impl KernelSymbols {
    /// The running kernel's, read once. Without root, kallsyms shows
    /// zero addresses, which are left out: frames then print bare.
    pub fn live() -> &'static KernelSymbols {
        static SYMS: OnceLock<KernelSymbols> = OnceLock::new();
        SYMS.get_or_init(|| {
            std::fs::read_to_string("/proc/kallsyms").map(|t| KernelSymbols::parse(&t)).unwrap_or_default()
        })
    }

    /// From kallsyms' text: `ADDRESS TYPE NAME [MODULE]` lines, of which
    /// the text symbols count.
    pub fn parse(text: &str) -> KernelSymbols {
        let mut syms: Vec<(u64, String, Option<String>)> = text
            .lines()
            .filter_map(|line| {
                let mut f = line.split_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok().filter(|&a| a != 0)?;
                let kind = f.next()?;
                if !matches!(kind, "t" | "T" | "w" | "W") {
                    return None;
                }
                let name = f.next()?.to_string();
                let module = f.next().map(|m| m.trim_matches(|c| c == '[' || c == ']').to_string());
                Some((addr, name, module))
            })
            .collect();
        syms.sort_by_key(|s| s.0);
        KernelSymbols { syms }
    }

    /// The text symbol holding `addr`: its name (`module:name` for a
    /// module's) and `addr`'s offset in it, for a kprobe on an address.
    pub fn locate(&self, addr: u64) -> Option<(String, u64)> {
        let k = self.syms.partition_point(|s| s.0 <= addr);
        let (start, name, module) = self.syms.get(k.checked_sub(1)?)?;
        let name = match module {
            Some(m) => format!("{m}:{name}"),
            None => name.clone(),
        };
        Some((name, addr - start))
    }

    /// Whether `addr` is in BPF code (a program or its trampoline): the
    /// frames of stp's own handler, above the probed function's.
    pub fn in_bpf(&self, addr: u64) -> bool {
        let k = self.syms.partition_point(|s| s.0 <= addr);
        k.checked_sub(1).and_then(|i| self.syms.get(i)).is_some_and(|s| s.2.as_deref() == Some("bpf"))
    }

    /// The text symbol holding `addr`: its name, `addr`'s offset in it,
    /// its size (up to the next symbol at a higher address; 0 for the
    /// last) and its module (`kernel` for the kernel's own).
    pub fn symbol(&self, addr: u64) -> Option<(&str, u64, u64, &str)> {
        let k = self.syms.partition_point(|s| s.0 <= addr);
        let (start, name, module) = k.checked_sub(1).and_then(|i| self.syms.get(i))?;
        let size = self.syms.get(k..).and_then(|rest| rest.iter().find(|s| s.0 > *start)).map_or(0, |s| s.0 - start);
        Some((name, addr - start, size, module.as_deref().unwrap_or("kernel")))
    }

    /// `symdata(addr)`: `vfs_read+0x0/0x190 [kernel]`, or the address in
    /// hex where no symbol holds it (`0x1000`, as the kernel's `%pS`).
    pub fn data(&self, addr: u64) -> String {
        match self.symbol(addr) {
            Some((name, off, size, module)) => format!("{name}+0x{off:x}/0x{size:x} [{module}]"),
            None => format!("0x{addr:x}"),
        }
    }

    /// What `symname(addr)` (`data` false) and `symdata(addr)` (`data`
    /// true) return: the name of the text symbol holding `addr`, with
    /// `+0xOFFSET/0xSIZE [MODULE]` for symdata, else the address as
    /// `0x` and 16 hexadecimal digits (stap's `%p`).
    pub fn describe(&self, addr: u64, data: bool) -> String {
        match self.symbol(addr) {
            Some(_) if data => self.data(addr),
            Some((name, ..)) => name.to_string(),
            None => format!("0x{addr:016x}"),
        }
    }

    /// One frame as stap prints it:
    /// ` 0xffffffff8120d9c0 : vfs_read+0x0/0x190 [kernel]`, or the bare
    /// address where no symbol holds it.
    pub fn frame(&self, addr: u64) -> String {
        match self.symbol(addr) {
            Some(_) => format!(" 0x{addr:016x} : {}\n", self.data(addr)),
            None => format!(" 0x{addr:016x}\n"),
        }
    }
}

/// What `print_stack(stk)` prints of a `backtrace()` string: a frame per
/// hexadecimal address in it, from the probed code on (the handler's own
/// BPF frames left out).
pub fn stack_text(syms: &KernelSymbols, addrs: impl IntoIterator<Item = u64>) -> String {
    addrs.into_iter().skip_while(|&a| syms.in_bpf(a)).map(|a| syms.frame(a)).collect()
}

/// The addresses of a `backtrace()` string: `0x...` words.
pub fn hex_addresses(stk: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(stk)
        .split_whitespace()
        .filter_map(|w| u64::from_str_radix(w.strip_prefix("0x")?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::KernelSymbols;

    const KALLSYMS: &str = "ffffffff81000000 T _stext\n\
        ffffffff81000000 T startup_64\n\
        ffffffff81200000 D some_data\n\
        ffffffff8120d9c0 T vfs_read\n\
        ffffffff8120db50 t vfs_readv\n\
        ffffffffc0100000 t ext4_open\t[ext4]\n\
        ffffffffc0100080 t ext4_close\t[ext4]\n";

    #[test]
    fn symname_and_symdata_describe_an_address() {
        let k = KernelSymbols::parse(KALLSYMS);
        assert_eq!(k.describe(0xffffffff8120d9d5, false), "vfs_read");
        assert_eq!(k.describe(0xffffffff8120d9d5, true), "vfs_read+0x15/0x190 [kernel]");
        assert_eq!(k.describe(0xffffffffc0100004, false), "ext4_open");
        assert_eq!(k.describe(0xffffffffc0100004, true), "ext4_open+0x4/0x80 [ext4]");
        assert_eq!(k.describe(0x1000, false), "0x0000000000001000");
        assert_eq!(k.describe(0x1000, true), "0x0000000000001000");
    }

    #[test]
    fn frames_name_the_function_its_offset_size_and_module() {
        let k = KernelSymbols::parse(KALLSYMS);
        assert_eq!(k.frame(0xffffffff8120d9c0), " 0xffffffff8120d9c0 : vfs_read+0x0/0x190 [kernel]\n");
        assert_eq!(k.frame(0xffffffff8120d9d5), " 0xffffffff8120d9d5 : vfs_read+0x15/0x190 [kernel]\n");
        assert_eq!(k.frame(0xffffffffc0100010), " 0xffffffffc0100010 : ext4_open+0x10/0x80 [ext4]\n");
        // Data symbols do not count: the text symbol before holds it.
        assert_eq!(k.frame(0xffffffff81200010), " 0xffffffff81200010 : startup_64+0x200010/0x20d9c0 [kernel]\n");
        // Before every symbol: the bare address. The last one: no size known.
        assert_eq!(k.frame(0x1000), " 0x0000000000001000\n");
        assert_eq!(k.frame(0xffffffffc0100090), " 0xffffffffc0100090 : ext4_close+0x10/0x0 [ext4]\n");
        assert_eq!(k.data(0xffffffff8120d9d5), "vfs_read+0x15/0x190 [kernel]");
        assert_eq!(k.symbol(0xffffffffc0100010).map(|s| (s.0, s.3)), Some(("ext4_open", "ext4")));
        assert_eq!(k.data(0x1000), "0x1000");
    }

    #[test]
    fn an_address_is_located_in_its_function() {
        let k = KernelSymbols::parse(KALLSYMS);
        assert_eq!(k.locate(0xffffffff8120d9c4), Some(("vfs_read".to_string(), 4)));
        assert_eq!(k.locate(0xffffffffc0100000), Some(("ext4:ext4_open".to_string(), 0)));
        assert_eq!(k.locate(0x1000), None);
    }

    #[test]
    fn bpf_frames_are_told_apart() {
        let k = KernelSymbols::parse(
            "ffffffffc00c3658 t bpf_prog_3fe9709d3ff414ec_probe_0_0_fentry\t[bpf]\n\
             ffffffffc02c6000 t bpf_trampoline_6442492247\t[bpf]\n\
             ffffffffc1000000 t ext4_open\t[ext4]\n",
        );
        assert!(k.in_bpf(0xffffffffc00c370c));
        assert!(k.in_bpf(0xffffffffc02c604c));
        assert!(!k.in_bpf(0xffffffffc1000004));
        assert!(!k.in_bpf(0x1000));
    }

    #[test]
    fn a_hex_backtrace_prints_frame_by_frame() {
        let k = KernelSymbols::parse(KALLSYMS);
        let addrs = super::hex_addresses(b"0xffffffff8120d9c4 0xffffffffc0100010 junk 0x");
        assert_eq!(addrs, [0xffffffff8120d9c4, 0xffffffffc0100010]);
        assert_eq!(
            super::stack_text(&k, addrs),
            " 0xffffffff8120d9c4 : vfs_read+0x4/0x190 [kernel]\n 0xffffffffc0100010 : ext4_open+0x10/0x80 [ext4]\n"
        );
    }

    #[test]
    fn kallsyms_without_addresses_gives_bare_frames() {
        let k = KernelSymbols::parse("0000000000000000 T vfs_read\n");
        assert_eq!(k.frame(0xffffffff8120d9c0), " 0xffffffff8120d9c0\n");
    }
}
