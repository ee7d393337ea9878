//! The artifact: everything the runtime needs to run a compiled script,
//! in one value that travels inside the ELF object.
//!
//! In: what pass 4 has — the ELF bytes, the elaborated program, the IR,
//! the layout, the eBPF back end's output and the kernel compiled for.
//! Out: an [`Artifact`] that names, per eBPF program, how to attach it
//! ([`ProgramSpec`]), the record formats, the globals' layout, the
//! user-placed handlers as IR (for the Cranelift back end), the kernel's
//! identity, and the script texts its spans point into. `-p4` writes it,
//! serialised, into the object's `.stp.artifact` section
//! ([`Artifact::to_object`]); `stp --run` reads it back
//! ([`Artifact::from_object`]) and needs no script.
//!
//! Invariants: the runtime depends on this type (and the IR it embeds)
//! alone, never on the AST or the elaborated program. Every span in it
//! points into a file of [`Artifact::sources`] (or is a dummy). The IR
//! keeps every function, at its index, but kernel-placed ones have no
//! body: only user-placed code runs from the IR.

mod section;

use serde::{Deserialize, Serialize};

pub use crate::bpf::btf::MapDef;
use crate::bpf::records::RecordKind;
use crate::elab::points::ProbeKind;
use crate::ir::{FuncId, GlobalId, InstKind, Module, Placement};
use crate::kernel::Kernel;
use crate::layout::Layout;
use crate::source::{FileKind, SourceMap, Span};

pub use section::{ArtifactError, KernelIdentity, SECTION};

// The artifact's vocabulary, named here so that the runtime reaches
// nothing of the compiler's passes but through the artifact: the records
// the programs send, the maps the object defines, the ring buffer's
// default size and the message for a map the kernel refuses.
pub use crate::bpf::codegen::DEFAULT_RINGBUF;
pub use crate::bpf::mapmem::create_failure;
pub use crate::bpf::records;

/// The version of the serialised form; objects of another are refused.
pub const FORMAT: u32 = 1;

/// What the runtime needs to run a script.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Artifact {
    /// The ELF object the programs and maps load from (the section holding
    /// the artifact included, once written).
    #[serde(skip)]
    pub object: Vec<u8>,
    pub format: u32,
    /// The stp that built it.
    pub stp_version: String,
    /// The kernel it was built for: it runs on that kernel only.
    pub kernel: KernelIdentity,
    /// One per eBPF program of the object, in the object's order.
    pub programs: Vec<ProgramSpec>,
    /// The ring buffer's record kinds, by tag.
    pub records: Vec<RecordKind>,
    pub layout: Layout,
    /// The IR: every global, every user-placed function (kernel-placed
    /// ones are there without a body, to keep the indices).
    pub module: Module,
    /// What `pp()` says in each probe's handler, by probe.
    pub points: Vec<String>,
    /// The user-placed handlers, one per probe point they serve.
    pub user_handlers: Vec<UserHandler>,
    /// The object's maps, with the global each holds.
    pub maps: Vec<(MapDef, Option<String>)>,
    /// The ring buffer kept its default size (no `-s`): the runtime may
    /// size it to the machine.
    pub ringbuf_default: bool,
    /// Each global's map name, for arrays and statistics.
    pub map_names: Vec<Option<String>>,
    /// The globals the script writes and never reads (printed at exit).
    pub unread: Vec<GlobalId>,
    /// The globals the tapset library declares rather than the script
    /// (`--metrics` leaves them out).
    #[serde(default)]
    pub tapset_globals: Vec<GlobalId>,
    /// The texts the spans point into.
    pub sources: Vec<Source>,
    /// `--compatible`: the SystemTap version whose output formats to use.
    pub compatible: String,
    /// The `-D` settings compiled with (the runtime reads the overload
    /// limits from them).
    pub defines: Vec<String>,
}

/// The options compiled with that the run reads.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `--compatible`.
    pub compatible: String,
    /// The `-D` settings.
    pub defines: Vec<String>,
    /// No `-s`: the ring buffer has its default size.
    pub ringbuf_default: bool,
}

/// How one eBPF program attaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramSpec {
    /// Its symbol in the object.
    pub name: String,
    /// Its section (program type and attach point, as loaders read them).
    pub section: String,
    pub attach: Attach,
    /// The probe point, as `pp()` names it.
    pub point: String,
    /// The probe's span, for errors attaching it.
    pub span: Span,
    /// The program doing the same through the other mechanism (fentry
    /// and kprobe, tp_btf and raw tracepoint): the fallback.
    pub twin: Option<usize>,
    /// Its part in a syscall dispatcher, if any.
    pub dispatch: Option<Dispatch>,
    /// Where each script line's code starts: (instruction slot, span),
    /// to map a verifier refusal to the line.
    pub lines: Vec<(usize, Span)>,
}

/// What a kernel-placed program attaches to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attach {
    KernelFunction {
        func: String,
        ret: bool,
        maxactive: Option<i64>,
    },
    KernelStatement {
        addr: u64,
    },
    Tracepoint {
        system: String,
        name: String,
    },
    Uprobe {
        path: String,
        symbol: String,
        offset: u64,
        ret: bool,
        pid: Option<u32>,
    },
    Usdt {
        path: String,
        provider: String,
        name: String,
        offset: u64,
        semaphore: u64,
        pid: Option<u32>,
    },
    Profile,
    Perf {
        type_: u32,
        config: u64,
        sample_period: u64,
        frequency: bool,
        process: Option<String>,
    },
    Lsm {
        hook: String,
    },
    /// A point no kernel program serves (begin, timers...).
    None,
}

/// A program's part in a syscall dispatcher (see
/// [`crate::bpf::codegen::dispatch`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dispatch {
    /// Put in the program array `map` at syscall number `nr`.
    Handler { map: String, nr: u32 },
    /// Attached to `raw_syscalls:NAME`.
    Dispatcher { tracepoint: String },
}

/// A user-placed handler and the probe point it serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserHandler {
    pub func: FuncId,
    /// The probe, by index.
    pub probe: usize,
    /// The point, as `pp()` names it.
    pub point: String,
    pub when: When,
}

/// When a user-placed handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum When {
    Begin {
        priority: i64,
    },
    End {
        priority: i64,
    },
    Error {
        priority: i64,
    },
    Timer {
        period_ns: u64,
        randomize_ns: u64,
    },
    Never,
    /// At each scrape of `--metrics`.
    Prometheus,
}

/// A script text the artifact's spans point into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Its id in the compiler's source map.
    pub id: u32,
    pub name: String,
    pub text: String,
}

impl ProgramSpec {
    /// The script line the instruction at `slot` came from.
    pub fn span_at(&self, slot: usize) -> Option<Span> {
        crate::bpf::codegen::span_of(&self.lines, slot)
    }
}

impl Attach {
    /// Where a program of a point of `kind` in `section` attaches. A
    /// tracepoint program attaches where its section says: `@entry` of a
    /// system call's exit runs at the call's entry tracepoint.
    fn of(kind: &ProbeKind, section: &str) -> Attach {
        if let ProbeKind::Tracepoint { .. } = kind
            && let Some((system, name)) = section.strip_prefix("tracepoint/").and_then(|s| s.split_once('/'))
        {
            return Attach::Tracepoint { system: system.to_string(), name: name.to_string() };
        }
        match kind {
            ProbeKind::KernelFunction { func, ret, maxactive } => {
                Attach::KernelFunction { func: func.name.clone(), ret: *ret, maxactive: *maxactive }
            }
            ProbeKind::KernelStatement { addr } => Attach::KernelStatement { addr: *addr },
            ProbeKind::Tracepoint { tp } => Attach::Tracepoint { system: tp.system.clone(), name: tp.name.clone() },
            ProbeKind::Uprobe { path, symbol, offset, ret, pid } => {
                Attach::Uprobe { path: path.clone(), symbol: symbol.clone(), offset: *offset, ret: *ret, pid: *pid }
            }
            ProbeKind::Usdt { path, provider, name, offset, semaphore, pid, .. } => Attach::Usdt {
                path: path.clone(),
                provider: provider.clone(),
                name: name.clone(),
                offset: *offset,
                semaphore: *semaphore,
                pid: *pid,
            },
            ProbeKind::Profile => Attach::Profile,
            ProbeKind::Perf { type_, config, sample_period, frequency, process } => Attach::Perf {
                type_: *type_,
                config: *config,
                sample_period: *sample_period,
                frequency: *frequency,
                process: process.clone(),
            },
            ProbeKind::Lsm { hook } => Attach::Lsm { hook: hook.clone() },
            ProbeKind::Begin { .. }
            | ProbeKind::End { .. }
            | ProbeKind::Error { .. }
            | ProbeKind::Never
            | ProbeKind::Prometheus
            | ProbeKind::Timer { .. } => Attach::None,
        }
    }
}

impl When {
    fn of(kind: &ProbeKind) -> When {
        match kind {
            ProbeKind::Begin { priority } => When::Begin { priority: *priority },
            ProbeKind::End { priority } => When::End { priority: *priority },
            ProbeKind::Error { priority } => When::Error { priority: *priority },
            ProbeKind::Timer { period_ns, randomize_ns } => {
                When::Timer { period_ns: *period_ns, randomize_ns: *randomize_ns }
            }
            ProbeKind::Prometheus => When::Prometheus,
            _ => When::Never,
        }
    }
}

impl Artifact {
    /// The artifact of a script pass 4 built into `object`. Its spans
    /// point into `sm`, whose texts [`Artifact::to_object`] takes along.
    pub fn new(
        object: Vec<u8>,
        program: &crate::elab::Program,
        mut module: Module,
        layout: Layout,
        code: &crate::bpf::codegen::Output,
        kernel: &Kernel,
        settings: Settings,
    ) -> Artifact {
        let programs = code
            .programs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (probe, point) = code.points.get(i).copied().unwrap_or((usize::MAX, 0));
                let derived = program.probes.get(probe);
                let resolved = derived.and_then(|pr| pr.points.get(point));
                ProgramSpec {
                    name: p.name.clone(),
                    section: p.section.clone(),
                    attach: resolved.map_or(Attach::None, |pt| Attach::of(&pt.kind, &p.section)),
                    point: resolved.map(|pt| pt.name.clone()).unwrap_or_default(),
                    span: derived.map_or(Span::DUMMY, |pr| pr.span),
                    twin: code.alt.get(i).copied().flatten(),
                    dispatch: code.dispatch.get(i).cloned().flatten().map(|d| match d {
                        crate::bpf::codegen::dispatch::Dispatch::Handler { map, nr } => Dispatch::Handler { map, nr },
                        crate::bpf::codegen::dispatch::Dispatch::Dispatcher { tracepoint } => {
                            Dispatch::Dispatcher { tracepoint }
                        }
                    }),
                    lines: code.lines.get(i).cloned().unwrap_or_default(),
                }
            })
            .collect();
        let user_handlers = module
            .handlers
            .iter()
            .filter(|h| module.function(h.func).is_some_and(|f| f.placement == Placement::User))
            .filter_map(|h| {
                let probe = program.probes.get(h.probe)?;
                Some(probe.points.iter().map(move |p| UserHandler {
                    func: h.func,
                    probe: h.probe,
                    point: p.name.clone(),
                    when: When::of(&p.kind),
                }))
            })
            .flatten()
            .collect();
        let map_names = (0..module.globals.len() as u32)
            .map(|i| {
                let g = GlobalId(i);
                layout.map(g).map(|_| crate::bpf::codegen::map_name(&module, g))
            })
            .collect();
        let tapset_globals: Vec<GlobalId> = (0..program.globals.len())
            .filter(|&i| program.globals.get(i).is_some_and(|g| g.from_tapset))
            .map(|i| GlobalId(i as u32))
            .collect();
        // As stap, only the script's own globals are printed at exit: a
        // table the library fills and the script never looks up is not.
        let unread = unread_globals(&module).into_iter().filter(|g| !tapset_globals.contains(g)).collect();
        let maps = crate::bpf::mapmem::owners(&code.maps, &module);
        // Only user-placed code runs from the IR.
        for f in &mut module.functions {
            if f.placement != Placement::User {
                f.blocks.clear();
                f.vars.clear();
                f.params.clear();
            }
        }
        Artifact {
            object,
            format: FORMAT,
            stp_version: crate::VERSION.to_string(),
            // Its BTF digest (a read of all of it) is taken only for an
            // object that is written out (see `stamp_kernel`).
            kernel: KernelIdentity { release: kernel.release.clone(), btf: None },
            programs,
            records: code.records.clone(),
            layout,
            module,
            points: program
                .probes
                .iter()
                .map(|p| p.points.first().map(|pt| pt.name.clone()).unwrap_or_default())
                .collect(),
            user_handlers,
            maps,
            ringbuf_default: settings.ringbuf_default,
            map_names,
            unread,
            tapset_globals,
            sources: Vec::new(),
            compatible: settings.compatible,
            defines: settings.defines,
        }
    }

    /// The map of a global array or statistic.
    pub fn map_name(&self, g: GlobalId) -> Option<&str> {
        self.map_names.get(g.0 as usize)?.as_deref()
    }

    /// stap's message for a full array.
    pub fn overflow_message(&self, g: GlobalId) -> String {
        crate::bpf::codegen::overflow_message(&self.module, g)
    }

    /// The script line the instruction at `slot` of program `program`
    /// came from.
    pub fn span_at(&self, program: &str, slot: usize) -> Option<Span> {
        self.programs.iter().find(|p| p.name == program)?.span_at(slot)
    }

    /// Why the kernel would not create a map, naming the global it holds.
    pub fn map_failure(&self, name: &str, io_error: &std::io::Error) -> String {
        crate::bpf::mapmem::create_failure(name, &self.maps, io_error)
    }

    /// The ring buffer's size in the object.
    pub fn ringbuf_size(&self) -> Option<u32> {
        self.maps.iter().find(|(m, _)| m.name == "events").map(|(m, _)| m.max_entries)
    }

    /// A source map holding the artifact's texts at the ids its spans
    /// name (files it does not carry are empty).
    pub fn source_map(&self) -> SourceMap {
        let mut sm = SourceMap::new();
        let count = self.sources.iter().map(|s| s.id as usize + 1).max().unwrap_or(0);
        for id in 0..count {
            match self.sources.iter().find(|s| s.id as usize == id) {
                Some(s) => sm.add(s.name.clone(), s.text.clone(), FileKind::User),
                None => sm.add(String::new(), String::new(), FileKind::Synthetic),
            };
        }
        sm
    }
}

/// The globals some instruction writes and none reads.
fn unread_globals(m: &Module) -> Vec<GlobalId> {
    let mut written = vec![false; m.globals.len()];
    let mut read = vec![false; m.globals.len()];
    let mark = |seen: &mut Vec<bool>, g: GlobalId| {
        if let Some(s) = seen.get_mut(g.0 as usize) {
            *s = true;
        }
    };
    for inst in m.functions.iter().flat_map(|f| &f.blocks).flat_map(|b| &b.insts) {
        match &inst.kind {
            InstKind::StoreGlobal { global, .. }
            | InstKind::MapSet { map: global, .. }
            | InstKind::StatAdd { stat: global, .. } => mark(&mut written, *global),
            // An update reads and writes, as the read and the write it
            // stands for did.
            InstKind::Update { global, .. } => {
                mark(&mut written, *global);
                mark(&mut read, *global);
            }
            InstKind::LoadGlobal { global, .. }
            | InstKind::MapGet { map: global, .. }
            | InstKind::MapHas { map: global, .. }
            | InstKind::StatGet { stat: global, .. }
            | InstKind::HistPrint { stat: global, .. }
            | InstKind::HistBucket { stat: global, .. }
            | InstKind::IterStart { map: global, .. } => mark(&mut read, *global),
            _ => {}
        }
    }
    (0..m.globals.len())
        .filter(|&i| written.get(i).copied().unwrap_or(false) && !read.get(i).copied().unwrap_or(true))
        .map(|i| GlobalId(i as u32))
        .collect()
}
