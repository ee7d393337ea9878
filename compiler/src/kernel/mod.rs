//! What stp knows about the kernel it compiles for.
//!
//! One model, two sources: the running kernel (`/proc`, `/sys`) or a
//! snapshot of the same files in a directory (`--kernel DIR`), so that tests
//! and cross-compilation do not depend on the machine. Everything is read
//! lazily: a script that never asks about `CONFIG_` options never reads the
//! kernel configuration.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod btf;
mod cache;
mod machine;
use btf_rs::BtfType as _;
pub use machine::PossibleCpus;
mod snapshot;
pub use snapshot::Prune;
pub mod syscall_nr;
mod tracefs;

/// Where the kernel's description comes from.
#[derive(Clone, Debug)]
pub enum KernelSource {
    /// The running kernel.
    Live,
    /// A directory written by `stp --snapshot-kernel DIR`.
    Snapshot(PathBuf),
    /// Only a release, architecture and configuration (tests): no functions,
    /// tracepoints or types.
    Fixed,
}

/// The kernel model.
#[derive(Debug)]
pub struct Kernel {
    pub source: KernelSource,
    /// The release, as `uname -r` prints it.
    pub release: String,
    /// The architecture, as stap names it (`x86_64`).
    pub arch: String,
    config: OnceLock<HashMap<String, String>>,
    lazy: Lazy,
    /// Whether the traceable-function list may be read from and written to
    /// the cache.
    cache: bool,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

impl Kernel {
    /// The running kernel.
    pub fn live() -> Kernel {
        let release = read_trimmed(Path::new("/proc/sys/kernel/osrelease")).unwrap_or_else(|| "unknown".into());
        Kernel {
            source: KernelSource::Live,
            release,
            arch: std::env::consts::ARCH.to_string(),
            config: OnceLock::new(),
            lazy: Lazy::default(),
            cache: true,
        }
    }

    /// The same kernel, never using the on-disk cache (`--disable-cache`).
    pub fn without_cache(self) -> Kernel {
        Kernel { cache: false, ..self }
    }

    /// A snapshot directory: `release` and `arch` files name the kernel.
    pub fn snapshot(dir: &Path) -> Kernel {
        let release = read_trimmed(&dir.join("release")).unwrap_or_else(|| "unknown".into());
        let arch = read_trimmed(&dir.join("arch")).unwrap_or_else(|| std::env::consts::ARCH.to_string());
        Kernel {
            source: KernelSource::Snapshot(dir.to_path_buf()),
            release,
            arch,
            config: OnceLock::new(),
            lazy: Lazy::default(),
            cache: false,
        }
    }

    /// A kernel described only by its release and architecture (tests).
    pub fn fixed(release: &str, arch: &str, config: HashMap<String, String>) -> Kernel {
        let cell = OnceLock::new();
        let _ = cell.set(config);
        Kernel {
            source: KernelSource::Fixed,
            release: release.into(),
            arch: arch.into(),
            config: cell,
            lazy: Lazy::default(),
            cache: false,
        }
    }

    /// The version without the release suffix (`6.1.0` of `6.1.0-27-cloud-amd64`).
    pub fn version(&self) -> &str {
        self.release.split('-').next().unwrap_or(&self.release)
    }

    /// The value of a `CONFIG_` option (`y`, `m`, a number, a quoted
    /// string without its quotes), or `None` when it is not set.
    pub fn config(&self, name: &str) -> Option<String> {
        self.config.get_or_init(|| self.read_config()).get(name).cloned()
    }

    fn read_config(&self) -> HashMap<String, String> {
        let text = match &self.source {
            KernelSource::Live => read_gzip(Path::new("/proc/config.gz"))
                .or_else(|| std::fs::read_to_string(format!("/boot/config-{}", self.release)).ok()),
            KernelSource::Snapshot(dir) => {
                std::fs::read_to_string(dir.join("config")).ok().or_else(|| read_gzip(&dir.join("config.gz")))
            }
            KernelSource::Fixed => None,
        };
        text.map(|t| parse_config(&t)).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------
// Kernel functions, tracepoints and BTF types.
// ---------------------------------------------------------------------

/// Why part of the kernel's description is not available.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError(pub String);

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A probeable kernel function.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KFunc {
    pub name: String,
    /// `None` for vmlinux, else the module's name.
    pub module: Option<String>,
}

/// A BTF type: which BTF (0 = vmlinux, else a module's) and its id there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeId {
    pub btf: u32,
    pub id: u32,
}

/// A type with typedefs and `const`/`volatile`/`restrict` qualifiers
/// looked through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeKind {
    Void,
    /// `bool_` is C's `_Bool`, `char_` a character type.
    Int {
        size: u32,
        signed: bool,
        char_: bool,
        bool_: bool,
    },
    Float {
        size: u32,
    },
    Enum {
        size: u32,
        signed: bool,
    },
    Pointer(TypeId),
    Array {
        elem: TypeId,
        len: u32,
    },
    Struct {
        size: u32,
    },
    Union {
        size: u32,
    },
    Function,
}

/// A member of a struct or union, members of anonymous members included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub ty: TypeId,
    /// From the start of the outer struct, in bits.
    pub bit_offset: u32,
    /// Set for bitfields.
    pub bitfield_size: Option<u32>,
}

/// A function's parameters and return type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncProto {
    pub params: Vec<(String, TypeId)>,
    /// `None`: returns void.
    pub ret: Option<TypeId>,
}

/// A tracepoint, `system:name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tracepoint {
    pub system: String,
    pub name: String,
}

impl Tracepoint {
    /// The entry tracepoint of a system call's exit tracepoint:
    /// `syscalls:sys_enter_NAME` for `syscalls:sys_exit_NAME`.
    pub fn syscall_entry(&self) -> Option<Tracepoint> {
        let name = self.name.strip_prefix("sys_exit_").filter(|_| self.system == "syscalls")?;
        Some(Tracepoint { system: self.system.clone(), name: format!("sys_enter_{name}") })
    }
}

/// A field of a tracepoint's tracefs `format` (the `common_` fields left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpField {
    pub name: String,
    /// The C type as the format file writes it (`const char *`, `char[16]`).
    pub c_type: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
    /// `__data_loc`: a 32-bit (offset, length) pair pointing into the record.
    pub data_loc: bool,
    /// `char comm[16]`: the element count.
    pub array_len: Option<u32>,
}

/// The kernel's BTF objects: vmlinux (index 0) and the modules that have
/// BTF, each opened on first use.
struct BtfSet {
    vmlinux: btf::BtfFile,
    /// Module names, sorted; `TypeId::btf` is the position plus one.
    modules: Vec<(String, OnceLock<Option<btf::BtfFile>>)>,
}

/// Text symbols from kallsyms, by the hash of their name (and module):
/// no string is allocated for the 100k+ lines.
struct Symbols {
    text: String,
    /// Key: `symbol_key`; value: the line's offset in `text`.
    lines: HashMap<u64, u32, std::hash::BuildHasherDefault<btf::IdHasher>>,
    modules: Vec<String>,
}

fn symbol_key(name: &str, module: Option<&str>) -> u64 {
    let h = btf::fnv(name.as_bytes());
    match module {
        None => h,
        Some(m) => h.rotate_left(17) ^ btf::fnv(m.as_bytes()),
    }
}

/// A kallsyms line: (address, name, module).
fn kallsyms_line(line: &str) -> Option<(u64, &str, Option<&str>)> {
    let mut it = line.split_ascii_whitespace();
    let (addr, kind, name) = (it.next()?, it.next()?, it.next()?);
    if !matches!(kind, "t" | "T") {
        return None;
    }
    let module = it.next().and_then(|m| m.strip_prefix('[')).and_then(|m| m.strip_suffix(']'));
    Some((u64::from_str_radix(addr, 16).unwrap_or(0), name, module))
}

impl Symbols {
    /// The address of a text symbol, checked against its line.
    fn get(&self, name: &str, module: Option<&str>) -> Option<u64> {
        let &at = self.lines.get(&symbol_key(name, module))?;
        let line = self.text.get(at as usize..)?.lines().next()?;
        let (addr, n, m) = kallsyms_line(line)?;
        (n == name && m == module).then_some(addr)
    }

    fn contains(&self, name: &str, module: Option<&str>) -> bool {
        self.get(name, module).is_some()
    }

    /// Every text symbol: (address, name, module).
    fn iter(&self) -> impl Iterator<Item = (u64, &str, Option<&str>)> {
        self.text.lines().filter_map(kallsyms_line)
    }
}

/// The traceable functions with their BTF FUNC ids: vmlinux's sorted by
/// name, modules' built when a module pattern first asks.
struct Functions {
    vmlinux: Vec<(Box<str>, u32)>,
    modules: OnceLock<Vec<(KFunc, u32)>>,
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

/// What is read from the kernel on first use.
#[derive(Default)]
struct Lazy {
    btf: OnceLock<Result<BtfSet, KernelError>>,
    symbols: OnceLock<Result<Symbols, KernelError>>,
    functions: OnceLock<Result<Functions, KernelError>>,
    events: OnceLock<Result<Vec<Tracepoint>, KernelError>>,
    tracefs: OnceLock<Option<PathBuf>>,
    /// Tracepoint formats already read: each `$field` asks again.
    formats: std::sync::Mutex<HashMap<Tracepoint, Vec<TpField>>>,
}

impl Kernel {
    /// A file of the kernel's description: `live` is its place on a running
    /// system, `snap` its place in a snapshot directory.
    fn file(&self, live: &str, snap: &str) -> PathBuf {
        match &self.source {
            KernelSource::Live => PathBuf::from(live),
            KernelSource::Snapshot(dir) => dir.join(snap),
            // Nothing to read: a path that does not exist.
            KernelSource::Fixed => Path::new("/nonexistent/stp-fixed-kernel").join(snap),
        }
    }

    fn btf_set(&self) -> Result<&BtfSet, KernelError> {
        self.lazy
            .btf
            .get_or_init(|| {
                let dir = self.file("/sys/kernel/btf", "btf");
                let vmlinux = btf::BtfFile::open_base(&dir.join("vmlinux")).map_err(|e| {
                    KernelError(format!(
                        "kernel BTF is not available ({e}); stp needs a kernel built with CONFIG_DEBUG_INFO_BTF"
                    ))
                })?;
                let mut modules: Vec<String> = std::fs::read_dir(&dir)
                    .map(|rd| {
                        rd.filter_map(|e| e.ok())
                            .filter_map(|e| e.file_name().into_string().ok())
                            .filter(|n| n != "vmlinux")
                            .collect()
                    })
                    .unwrap_or_default();
                modules.sort();
                Ok(BtfSet { vmlinux, modules: modules.into_iter().map(|m| (m, OnceLock::new())).collect() })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The BTF object `index` names (0: vmlinux).
    fn btf_file(&self, index: u32) -> Option<&btf::BtfFile> {
        let set = self.btf_set().ok()?;
        if index == 0 {
            return Some(&set.vmlinux);
        }
        let (name, cell) = set.modules.get(index as usize - 1)?;
        cell.get_or_init(|| {
            let dir = self.file("/sys/kernel/btf", "btf");
            btf::BtfFile::open_split(&dir.join(name), &set.vmlinux).ok()
        })
        .as_ref()
    }

    fn module_index(&self, module: &str) -> Option<u32> {
        let set = self.btf_set().ok()?;
        set.modules.iter().position(|(m, _)| m == module).map(|i| i as u32 + 1)
    }

    fn symbols(&self) -> Result<&Symbols, KernelError> {
        self.lazy
            .symbols
            .get_or_init(|| {
                let path = self.file("/proc/kallsyms", "kallsyms");
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| KernelError(format!("cannot read {}: {e}", path.display())))?;
                Ok(parse_kallsyms(text))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn functions(&self) -> Result<&Functions, KernelError> {
        self.lazy
            .functions
            .get_or_init(|| {
                let set = self.btf_set()?;
                let cache = match self.source {
                    KernelSource::Live if self.cache => cache::functions_file(&self.release, set.vmlinux.len()),
                    _ => None,
                };
                if let Some(list) = cache.as_deref().and_then(cache::read_functions) {
                    return Ok(Functions { vmlinux: list, modules: OnceLock::new() });
                }
                let syms = self.symbols()?;
                let traceable = self.traceable();
                // Init code is gone once the kernel has booted.
                let init = match (syms.get("_sinittext", None), syms.get("_einittext", None)) {
                    (Some(a), Some(b)) if a > 0 && a < b => a..b,
                    _ => 0..0,
                };
                let mut list: Vec<(Box<str>, u32)> = set
                    .vmlinux
                    .func_names()
                    .filter(|(name, _)| syms.get(name, None).is_some_and(|a| !init.contains(&a)))
                    .filter(|(name, _)| traceable.as_ref().is_none_or(|t| t.contains(*name)))
                    .map(|(name, id)| (Box::from(name), id))
                    .collect();
                list.sort_unstable();
                list.dedup_by(|a, b| a.0 == b.0);
                if let Some(path) = &cache {
                    cache::write_functions(path, &list);
                }
                Ok(Functions { vmlinux: list, modules: OnceLock::new() })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Names ftrace can attach to, where the kernel lets us read them.
    fn traceable(&self) -> Option<std::collections::HashSet<String>> {
        let text = std::fs::read_to_string(self.tracefs()?.join("available_filter_functions")).ok()?;
        Some(text.lines().filter_map(|l| l.split_whitespace().next()).map(String::from).collect())
    }

    fn module_functions(&self) -> Result<&Vec<(KFunc, u32)>, KernelError> {
        let funcs = self.functions()?;
        if let Some(m) = funcs.modules.get() {
            return Ok(m);
        }
        let set = self.btf_set()?;
        let syms = self.symbols()?;
        let mut list = Vec::new();
        for (i, (m, _)) in set.modules.iter().enumerate() {
            let Some(file) = self.btf_file(i as u32 + 1) else { continue };
            for (name, id) in file.func_names() {
                if syms.contains(name, Some(m)) {
                    list.push((KFunc { name: name.to_string(), module: Some(m.clone()) }, id));
                }
            }
        }
        list.sort();
        list.dedup_by(|a, b| a.0 == b.0);
        Ok(funcs.modules.get_or_init(|| list))
    }

    /// The tracefs directory, mounting tracefs at its usual place when it
    /// is not mounted and we may.
    fn tracefs(&self) -> Option<&PathBuf> {
        self.lazy
            .tracefs
            .get_or_init(|| match &self.source {
                KernelSource::Snapshot(dir) => Some(dir.join("tracing")),
                KernelSource::Fixed => None,
                KernelSource::Live => {
                    for d in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
                        if Path::new(d).join("events").is_dir() {
                            return Some(PathBuf::from(d));
                        }
                    }
                    tracefs::mount("/sys/kernel/tracing").then(|| PathBuf::from("/sys/kernel/tracing"))
                }
            })
            .as_ref()
    }

    /// Probeable functions of vmlinux (`module == None`) or of the modules
    /// matching `module` (a glob), whose names match the glob `pattern`
    /// (`*`, `?`, `[...]`), sorted by module then name.
    pub fn match_functions(&self, module: Option<&str>, pattern: &str) -> Result<Vec<KFunc>, KernelError> {
        let wild = crate::glob::has_glob(pattern);
        let matches = |name: &str| if wild { crate::glob::glob_match(pattern, name) } else { name == pattern };
        match module {
            None => {
                let funcs = self.functions()?;
                if !wild {
                    let found = funcs.vmlinux.binary_search_by(|(n, _)| (**n).cmp(pattern)).is_ok();
                    return Ok(found.then(|| KFunc { name: pattern.to_string(), module: None }).into_iter().collect());
                }
                Ok(funcs
                    .vmlinux
                    .iter()
                    .filter(|(n, _)| matches(n))
                    .map(|(n, _)| KFunc { name: n.to_string(), module: None })
                    .collect())
            }
            Some(mpat) => Ok(self
                .module_functions()?
                .iter()
                .filter(|(f, _)| {
                    f.module.as_deref().is_some_and(|m| crate::glob::glob_match(mpat, m)) && matches(&f.name)
                })
                .map(|(f, _)| f.clone())
                .collect()),
        }
    }

    /// Loaded modules whose names match the glob `pattern`.
    pub fn match_modules(&self, pattern: &str) -> Result<Vec<String>, KernelError> {
        let syms = self.symbols()?;
        Ok(syms.modules.iter().filter(|m| crate::glob::glob_match(pattern, m)).cloned().collect())
    }

    /// A function's BTF prototype.
    pub fn function_proto(&self, func: &KFunc) -> Option<FuncProto> {
        let index = match &func.module {
            None => 0,
            Some(m) => self.module_index(m)?,
        };
        let file = self.btf_file(index)?;
        let cached = match (&func.module, self.functions()) {
            (None, Ok(f)) => {
                f.vmlinux.binary_search_by(|(n, _)| (**n).cmp(func.name.as_str())).ok().and_then(|i| f.vmlinux.get(i))
            }
            _ => None,
        };
        let id = match cached {
            Some(&(_, id)) => id,
            None => file.func(&func.name)?,
        };
        let proto_id = file.ty(id)?.as_btf_type()?.get_type_id()?;
        self.proto_of(index, proto_id)
    }

    fn proto_of(&self, index: u32, proto_id: u32) -> Option<FuncProto> {
        let file = self.btf_file(index)?;
        let btf_rs::Type::FuncProto(p) = file.ty(proto_id)? else { return None };
        let params = p
            .parameters
            .iter()
            .filter(|a| !a.is_variadic())
            .map(|a| (file.name_of(a), TypeId { btf: index, id: a.get_type_id().unwrap_or(0) }))
            .collect();
        let ret = p.return_type_id();
        Some(FuncProto { params, ret: (ret != 0).then_some(TypeId { btf: index, id: ret }) })
    }

    /// The address of a kernel symbol (kallsyms), 0 when hidden.
    pub fn symbol_address(&self, name: &str) -> Option<u64> {
        self.symbols().ok()?.get(name, None)
    }

    fn events(&self) -> Result<&Vec<Tracepoint>, KernelError> {
        self.lazy
            .events
            .get_or_init(|| {
                let dir = self.tracefs().ok_or_else(tracefs::missing)?;
                tracefs::events(dir)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Tracepoints matching `pattern`: `system:name` or `name`, globs in
    /// either part, sorted.
    pub fn match_tracepoints(&self, pattern: &str) -> Result<Vec<Tracepoint>, KernelError> {
        let events = self.events()?;
        let (sys, name) = match pattern.split_once(':') {
            Some((s, n)) => (Some(s), n),
            None => (None, pattern),
        };
        Ok(events
            .iter()
            .filter(|t| sys.is_none_or(|s| crate::glob::glob_match(s, &t.system)))
            .filter(|t| crate::glob::glob_match(name, &t.name))
            .cloned()
            .collect())
    }

    /// A tracepoint's fields from its tracefs format.
    pub fn tracepoint_fields(&self, tp: &Tracepoint) -> Result<Vec<TpField>, KernelError> {
        if let Some(fields) = self.lazy.formats.lock().ok().and_then(|m| m.get(tp).cloned()) {
            return Ok(fields);
        }
        let fields = self.read_tracepoint_fields(tp)?;
        if let Ok(mut m) = self.lazy.formats.lock() {
            m.insert(tp.clone(), fields.clone());
        }
        Ok(fields)
    }

    fn read_tracepoint_fields(&self, tp: &Tracepoint) -> Result<Vec<TpField>, KernelError> {
        let dir = self.tracefs().ok_or_else(tracefs::missing)?;
        let path = dir.join("events").join(&tp.system).join(&tp.name).join("format");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            KernelError(format!(
                "cannot read the format of tracepoint {}:{} ({}): {e}",
                tp.system,
                tp.name,
                path.display()
            ))
        })?;
        Ok(tracefs::parse_format(&text))
    }

    /// A tracepoint's typed arguments from BTF (`btf_trace_NAME`, the
    /// leading `void *` left out), where the kernel has them.
    pub fn tracepoint_proto(&self, tp: &Tracepoint) -> Option<FuncProto> {
        let file = self.btf_file(0)?;
        let id = file.type_named(&format!("btf_trace_{}", tp.name))?;
        // typedef -> pointer -> function prototype
        let ptr = file.ty(id)?.as_btf_type()?.get_type_id()?;
        let proto = file.ty(ptr)?.as_btf_type()?.get_type_id()?;
        let mut p = self.proto_of(0, proto)?;
        if !p.params.is_empty() {
            p.params.remove(0);
        }
        Some(p)
    }

    /// A type by name: `struct task_struct`, `union x`, `enum y`, a typedef
    /// or base type name (`u32`, `unsigned long`); `module` searches that
    /// module's BTF first.
    pub fn find_type(&self, name: &str, module: Option<&str>) -> Option<TypeId> {
        let name = normalize_type_name(name);
        if let Some(m) = module
            && let Some(i) = self.module_index(m)
            && let Some(file) = self.btf_file(i)
        {
            if let Some(id) = file.type_named(&name) {
                return Some(TypeId { btf: i, id });
            }
            // A bare tag name, as for vmlinux below.
            if !name.contains(' ') {
                for tag in ["struct", "union", "enum"] {
                    if let Some(id) = file.type_named(&format!("{tag} {name}")) {
                        return Some(TypeId { btf: i, id });
                    }
                }
            }
        }
        let vmlinux = self.btf_file(0)?;
        if let Some(id) = vmlinux.type_named(&name) {
            return Some(TypeId { btf: 0, id });
        }
        // `@cast(p, "task_struct")`: stap takes a bare tag name too.
        if !name.contains(' ') {
            for tag in ["struct", "union", "enum"] {
                if let Some(id) = vmlinux.type_named(&format!("{tag} {name}")) {
                    return Some(TypeId { btf: 0, id });
                }
            }
        }
        None
    }

    fn raw_type(&self, ty: TypeId) -> Option<btf_rs::Type> {
        self.btf_file(ty.btf)?.ty(ty.id)
    }

    /// Looks through typedefs and qualifiers.
    fn strip(&self, mut ty: TypeId) -> (TypeId, Option<btf_rs::Type>) {
        for _ in 0..64 {
            let Some(t) = self.raw_type(ty) else { return (ty, None) };
            match &t {
                btf_rs::Type::Typedef(_)
                | btf_rs::Type::Const(_)
                | btf_rs::Type::Volatile(_)
                | btf_rs::Type::Restrict(_)
                | btf_rs::Type::TypeTag(_) => match t.as_btf_type().and_then(|b| b.get_type_id()) {
                    Some(next) => ty = TypeId { btf: ty.btf, id: next },
                    None => return (ty, None),
                },
                _ => return (ty, Some(t)),
            }
        }
        (ty, None)
    }

    pub fn type_kind(&self, ty: TypeId) -> TypeKind {
        use btf_rs::Type as T;
        let (ty, t) = self.strip(ty);
        let Some(t) = t else { return TypeKind::Void };
        let sub = |id: Option<u32>| TypeId { btf: ty.btf, id: id.unwrap_or(0) };
        match &t {
            T::Int(i) => {
                TypeKind::Int { size: i.size() as u32, signed: i.is_signed(), char_: i.is_char(), bool_: i.is_bool() }
            }
            T::Float(f) => TypeKind::Float { size: f.size() as u32 },
            T::Enum(e) => TypeKind::Enum { size: e.size() as u32, signed: e.is_signed() },
            T::Enum64(e) => TypeKind::Enum { size: e.size() as u32, signed: e.is_signed() },
            T::Ptr(_) => TypeKind::Pointer(sub(t.as_btf_type().and_then(|b| b.get_type_id()))),
            T::Array(a) => TypeKind::Array { elem: sub(a.get_type_id()), len: a.len() as u32 },
            T::Struct(s) => TypeKind::Struct { size: s.size() as u32 },
            T::Union(s) => TypeKind::Union { size: s.size() as u32 },
            T::Fwd(f) => {
                if f.is_union() {
                    TypeKind::Union { size: 0 }
                } else {
                    TypeKind::Struct { size: 0 }
                }
            }
            T::FuncProto(_) | T::Func(_) => TypeKind::Function,
            _ => TypeKind::Void,
        }
    }

    /// The type as stap's listings write it: `struct file*`, `long int`,
    /// `char[16]`, `size_t`.
    pub fn type_name(&self, ty: TypeId) -> String {
        self.type_name_depth(ty, 0)
    }

    fn type_name_depth(&self, ty: TypeId, depth: u32) -> String {
        use btf_rs::Type as T;
        if depth > 32 {
            return "...".into();
        }
        let Some(file) = self.btf_file(ty.btf) else { return "void".into() };
        let Some(t) = file.ty(ty.id) else { return "void".into() };
        let sub = |t: &T| TypeId { btf: ty.btf, id: t.as_btf_type().and_then(|b| b.get_type_id()).unwrap_or(0) };
        let named = |kw: &str, t: &dyn btf_rs::BtfType| {
            let n = file.name_of(t);
            if n.is_empty() { format!("{kw} {{...}}") } else { format!("{kw} {n}") }
        };
        match &t {
            T::Int(_) | T::Float(_) | T::Typedef(_) => t.as_btf_type().map(|b| file.name_of(b)).unwrap_or_default(),
            T::Struct(s) => named("struct", s),
            T::Union(s) => named("union", s),
            T::Enum(e) => named("enum", e),
            T::Enum64(e) => named("enum", e),
            T::Fwd(f) => named(if f.is_union() { "union" } else { "struct" }, f),
            T::Ptr(_) => {
                let inner = sub(&t);
                if matches!(self.raw_type(inner), Some(T::FuncProto(_))) {
                    return "void*".into();
                }
                format!("{}*", self.type_name_depth(inner, depth + 1))
            }
            T::Const(_) => format!("{} const", self.type_name_depth(sub(&t), depth + 1)),
            T::Volatile(_) => format!("{} volatile", self.type_name_depth(sub(&t), depth + 1)),
            T::Restrict(_) | T::TypeTag(_) => self.type_name_depth(sub(&t), depth + 1),
            T::Array(a) => {
                format!(
                    "{}[{}]",
                    self.type_name_depth(TypeId { btf: ty.btf, id: a.get_type_id().unwrap_or(0) }, depth + 1),
                    a.len()
                )
            }
            T::FuncProto(_) | T::Func(_) => "void".into(),
            _ => "void".into(),
        }
    }

    pub fn type_size(&self, ty: TypeId) -> Option<u32> {
        match self.type_kind(ty) {
            TypeKind::Void | TypeKind::Function => None,
            TypeKind::Int { size, .. } | TypeKind::Float { size } | TypeKind::Enum { size, .. } => Some(size),
            TypeKind::Pointer(_) => Some(8),
            TypeKind::Array { elem, len } => self.type_size(elem)?.checked_mul(len),
            TypeKind::Struct { size } | TypeKind::Union { size } => (size > 0).then_some(size),
        }
    }

    /// A member by name, searching anonymous struct/union members.
    pub fn member(&self, ty: TypeId, name: &str) -> Option<Member> {
        self.members(ty).into_iter().find(|m| m.name == name)
    }

    /// All members, anonymous ones flattened.
    pub fn members(&self, ty: TypeId) -> Vec<Member> {
        let mut out = Vec::new();
        self.collect_members(ty, 0, &mut out, 0);
        out
    }

    fn collect_members(&self, ty: TypeId, base: u32, out: &mut Vec<Member>, depth: u32) {
        let (ty, t) = self.strip(ty);
        let (Some(btf_rs::Type::Struct(s) | btf_rs::Type::Union(s)), Some(file)) = (t, self.btf_file(ty.btf)) else {
            return;
        };
        for m in &s.members {
            let name = file.name_of(m);
            let mty = TypeId { btf: ty.btf, id: m.get_type_id().unwrap_or(0) };
            let bit_offset = base + m.bit_offset();
            if name.is_empty() {
                if depth < 16 {
                    self.collect_members(mty, bit_offset, out, depth + 1);
                }
            } else {
                out.push(Member { name, ty: mty, bit_offset, bitfield_size: m.bitfield_size().filter(|&b| b != 0) });
            }
        }
    }
}

/// `unsigned long` and `long unsigned int` are one type; BTF spells base
/// types as GCC does.
fn normalize_type_name(name: &str) -> String {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    match name.as_str() {
        "unsigned" | "unsigned int" => "unsigned int".into(),
        "long" | "signed long" | "long signed int" => "long int".into(),
        "unsigned long" | "long unsigned" => "long unsigned int".into(),
        "long long" | "signed long long" => "long long int".into(),
        "unsigned long long" | "long long unsigned" => "long long unsigned int".into(),
        "short" | "signed short" => "short int".into(),
        "unsigned short" | "short unsigned" => "short unsigned int".into(),
        "signed" | "signed int" => "int".into(),
        _ => name,
    }
}

/// `ADDR TYPE NAME [MODULE]` lines; text symbols are indexed.
fn parse_kallsyms(text: String) -> Symbols {
    let mut lines = HashMap::with_capacity_and_hasher(text.len() / 40, Default::default());
    let mut modules = std::collections::BTreeSet::new();
    let mut at = 0usize;
    for line in text.split_inclusive('\n') {
        if let Some((_, name, module)) = kallsyms_line(line) {
            if let Some(m) = module
                && !modules.contains(m)
            {
                modules.insert(m.to_string());
            }
            lines.entry(symbol_key(name, module)).or_insert(at as u32);
        }
        at += line.len();
    }
    Symbols { lines, modules: modules.into_iter().collect(), text }
}

fn read_gzip(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Parses a kernel `.config`: `CONFIG_X=value` lines; `# ... is not set`
/// lines and comments are skipped.
pub fn parse_config(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines() {
        let c = parse_config("# CONFIG_A is not set\nCONFIG_B=y\nCONFIG_C=\"x y\"\nCONFIG_NR_CPUS=64\n");
        assert_eq!(c.get("CONFIG_A"), None);
        assert_eq!(c.get("CONFIG_B").map(String::as_str), Some("y"));
        assert_eq!(c.get("CONFIG_C").map(String::as_str), Some("x y"));
        assert_eq!(c.get("CONFIG_NR_CPUS").map(String::as_str), Some("64"));
    }

    #[test]
    fn version_drops_the_suffix() {
        let k = Kernel::fixed("6.1.0-27-cloud-amd64", "x86_64", HashMap::new());
        assert_eq!(k.version(), "6.1.0");
    }
}

#[cfg(test)]
mod live_tests {
    use super::*;

    /// The running kernel, where it has BTF (skipped with a reason elsewhere).
    fn live() -> Option<Kernel> {
        if !Path::new("/sys/kernel/btf/vmlinux").exists() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI machines have kernel BTF");
            eprintln!("skipped: no /sys/kernel/btf/vmlinux");
            return None;
        }
        Some(Kernel::live())
    }

    #[test]
    fn live_functions_and_types() {
        let Some(k) = live() else { return };
        let t = std::time::Instant::now();
        let f = k.match_functions(None, "vfs_*").expect("functions");
        eprintln!("vfs_*: {} in {:?}", f.len(), t.elapsed());
        assert!(f.iter().any(|f| f.name == "vfs_read"));
        assert!(f.iter().all(|f| f.name.starts_with("vfs_") && f.module.is_none()));
        let proto = k.function_proto(&KFunc { name: "vfs_read".into(), module: None }).expect("vfs_read proto");
        let names: Vec<&str> = proto.params.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(names, ["file", "buf", "count", "pos"]);
        let file = proto.params.first().map(|p| p.1).expect("file");
        assert_eq!(k.type_name(file), "struct file*");
        assert_eq!(k.type_name(proto.params.get(2).map(|p| p.1).expect("count")), "size_t");
        let TypeKind::Pointer(s) = k.type_kind(file) else { panic!("file is a pointer") };
        let m = k.member(s, "f_path").expect("f_path");
        assert!(k.type_name(m.ty).starts_with("struct path"));
        let task = k.find_type("struct task_struct", None).expect("task_struct");
        assert!(k.member(task, "comm").is_some_and(|m| k.type_name(m.ty) == "char[16]"));
        assert!(k.find_type("unsigned long", None).is_some());
        eprintln!("total {:?}", t.elapsed());
    }
}
