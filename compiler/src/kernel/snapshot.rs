//! Writing kernel snapshots: the files the kernel model reads, saved in a
//! directory that `--kernel DIR` reads back.
//!
//! Layout: `release`, `arch`, `config`, `btf/vmlinux` (and module BTF),
//! `kallsyms` (text symbols only), `tracing/available_events`,
//! `tracing/events/SYSTEM/NAME/format`, and the machine's facts:
//! `cpus_possible` (the possible CPUs' list) and `uid` (the user stp ran
//! as), which snapshots written before them lack (see `machine`).

use std::fmt::Write as _;
use std::path::Path;

use super::{Kernel, KernelError, btf};

/// What a pruned snapshot keeps; everything else of the kernel is left out.
#[derive(Clone, Debug, Default)]
pub struct Prune {
    /// Function name globs (vmlinux).
    pub functions: Vec<String>,
    /// Tracepoint globs, `system:name`.
    pub events: Vec<String>,
    /// Type names kept whole (`struct task_struct`).
    pub types: Vec<String>,
    /// Pointer hops from a kept function or type after which structs are
    /// kept as declarations only.
    pub depth: u32,
}

impl Prune {
    /// Reads a prune list: `function GLOB`, `event SYSTEM:NAME`, `type NAME`,
    /// `depth N` lines; `#` comments.
    pub fn parse(text: &str) -> Result<Prune, KernelError> {
        let mut p = Prune { depth: 3, ..Prune::default() };
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (kw, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let arg = arg.trim().to_string();
            match kw {
                "function" => p.functions.push(arg),
                "event" => p.events.push(arg),
                "type" => p.types.push(arg),
                "depth" => {
                    p.depth = arg.parse().map_err(|_| KernelError(format!("line {}: bad depth '{arg}'", i + 1)))?
                }
                _ => return Err(KernelError(format!("line {}: unknown keyword '{kw}'", i + 1))),
            }
        }
        Ok(p)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> KernelError + '_ {
    move |e| KernelError(format!("{}: {e}", path.display()))
}

fn write(path: &Path, data: impl AsRef<[u8]>) -> Result<(), KernelError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, data).map_err(io(path))
}

impl Kernel {
    /// Writes a snapshot of this kernel's description to `dir`; with
    /// `prune`, only the parts it names.
    pub fn write_snapshot(&self, dir: &Path, prune: Option<&Prune>) -> Result<(), KernelError> {
        write(&dir.join("release"), format!("{}\n", self.release))?;
        write(&dir.join("arch"), format!("{}\n", self.arch))?;
        let mut config: Vec<(String, String)> =
            self.config.get_or_init(|| self.read_config()).clone().into_iter().collect();
        config.sort();
        let mut text = String::new();
        for (k, v) in &config {
            let quoted = !v.is_empty() && !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            let _ = if quoted { writeln!(text, "{k}=\"{v}\"") } else { writeln!(text, "{k}={v}") };
        }
        write(&dir.join("config"), text)?;
        if let Some(cpus) = self.possible_cpus() {
            write(&dir.join("cpus_possible"), format!("{}\n", cpus.text()))?;
        }
        write(&dir.join("uid"), format!("{}\n", self.user()))?;

        // Functions and kallsyms.
        let functions = match prune {
            None => self.match_functions(None, "*")?,
            Some(p) => {
                let mut v = Vec::new();
                for g in &p.functions {
                    v.extend(self.match_functions(None, g)?);
                }
                v.sort();
                v.dedup();
                v
            }
        };
        let syms = self.symbols()?;
        let mut kallsyms = String::new();
        let keep: std::collections::HashSet<&str> = functions.iter().map(|f| f.name.as_str()).collect();
        let mut entries: Vec<(u64, &str, Option<&str>)> =
            syms.iter().filter(|(_, n, m)| prune.is_none() || (m.is_none() && keep.contains(n))).collect();
        entries.sort();
        entries.dedup();
        for (addr, name, module) in entries {
            let _ = match module {
                Some(m) => writeln!(kallsyms, "{addr:016x} t {name}\t[{m}]"),
                None => writeln!(kallsyms, "{addr:016x} T {name}"),
            };
        }
        write(&dir.join("kallsyms"), kallsyms)?;

        // Tracepoints.
        let events = match prune {
            None => self.match_tracepoints("*:*").unwrap_or_default(),
            Some(p) => {
                let mut v = Vec::new();
                for g in &p.events {
                    v.extend(self.match_tracepoints(g)?);
                }
                v.sort();
                v.dedup();
                v
            }
        };
        let mut available = String::new();
        if let Some(src) = self.tracefs() {
            for tp in &events {
                let rel = Path::new("events").join(&tp.system).join(&tp.name).join("format");
                let Ok(format) = std::fs::read(src.join(&rel)) else { continue };
                write(&dir.join("tracing").join(&rel), format)?;
                let _ = writeln!(available, "{}:{}", tp.system, tp.name);
            }
        }
        write(&dir.join("tracing/available_events"), available)?;

        // BTF.
        let set = self.btf_set()?;
        match prune {
            None => {
                let src = self.file("/sys/kernel/btf", "btf");
                let copy = |name: &str| -> Result<(), KernelError> {
                    let data = std::fs::read(src.join(name)).map_err(io(&src))?;
                    write(&dir.join("btf").join(name), data)
                };
                copy("vmlinux")?;
                for (m, _) in &set.modules {
                    copy(m)?;
                }
            }
            Some(p) => {
                let file = &set.vmlinux;
                let mut roots: Vec<u32> = Vec::new();
                for f in &functions {
                    roots.extend(file.func(&f.name));
                }
                for tp in &events {
                    roots.extend(file.func(&format!("__bpf_trace_{}", tp.name)));
                    roots.extend(file.func(&format!("__traceiter_{}", tp.name)));
                    roots.extend(file.type_named(&format!("btf_trace_{}", tp.name)));
                }
                for t in &p.types {
                    match file.type_named(&super::normalize_type_name(t)) {
                        Some(id) => roots.push(id),
                        None => return Err(KernelError(format!("no type '{t}' in the kernel's BTF"))),
                    }
                }
                write(&dir.join("btf/vmlinux"), btf::write_pruned(file, &roots, p.depth))?;
            }
        }
        Ok(())
    }
}
