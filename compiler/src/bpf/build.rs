//! The eBPF back end's one entry: [`build`] turns a module's
//! kernel-placed handlers into an [`Object`].
//!
//! In: the IR module, the elaborated program (probe points, spans of the
//! globals' declarations), the layout of values and limits, the kernel
//! model (task offsets, CPUs, the user stp runs as, function prototypes,
//! syscall numbers) and [`Options`]. Out: the generated programs and maps
//! (with the syscall dispatchers and raw tracepoints planned), the maps'
//! owners, the `-p3` listing when asked, and the ELF object when asked; or
//! a [`Failure`] naming the pass it belongs to. Nothing is read from the
//! machine here: what the code depends on comes from the kernel model, so
//! a snapshot compiles as the kernel it describes.

use std::time::{Duration, Instant};

use super::btf::MapDef;
use super::codegen::{self, KernelFacts, Output};
use crate::diag::Diagnostic;
use crate::elab::Program;
use crate::ir::{GlobalId, Module};
use crate::kernel::Kernel;
use crate::layout::Layout;
use crate::source::{SourceMap, Span};

/// What the caller asks of the back end.
pub struct Options<'a> {
    /// `-s MB`: the ring buffer's size in MiB (`None`: the default).
    pub buffer_mb: Option<u32>,
    /// Where the spans of the line info are.
    pub source_map: &'a SourceMap,
    /// Print the programs as `-p3` shows them.
    pub listing: bool,
    /// Write the ELF object (pass 4).
    pub object: bool,
}

/// What the back end made.
pub struct Object {
    /// The ELF object (empty unless [`Options::object`]).
    pub bytes: Vec<u8>,
    /// How long writing the object took (pass 4's share of the work).
    pub object_time: Duration,
    /// The eBPF programs, the probe point each serves, the record table.
    pub code: Output,
    /// The programs as `-p3` shows them (empty unless [`Options::listing`]).
    pub listing: String,
    /// Its maps, with the global each holds.
    pub maps: Vec<(MapDef, Option<String>)>,
}

impl Object {
    /// Each program's name, with the slot where each script line's code
    /// starts.
    pub fn programs(&self) -> Vec<(String, Vec<(usize, Span)>)> {
        self.code.programs.iter().map(|p| p.name.clone()).zip(self.code.lines.iter().cloned()).collect()
    }

    /// Each program's section, and the program doing the same through
    /// the other mechanism.
    pub fn attach(&self) -> Vec<(String, Option<usize>)> {
        self.code.programs.iter().map(|p| p.section.clone()).zip(self.code.alt.iter().copied()).collect()
    }
}

/// Why the back end made nothing.
#[derive(Debug)]
pub struct Failure {
    /// The pass the error belongs to: 3 (translation) or 4 (the object).
    pub pass: u8,
    pub diagnostic: Diagnostic,
    /// The error is in the translation of the IR itself: `-p3` still
    /// shows the IR.
    pub shows_ir: bool,
}

impl Failure {
    fn at(pass: u8, shows_ir: bool) -> impl FnOnce(Diagnostic) -> Failure {
        move |diagnostic| Failure { pass, diagnostic, shows_ir }
    }
}

/// Generates the programs of `module`'s kernel-placed handlers, checks
/// their maps against `MAXMAPMEMORY`, plans the syscall dispatchers and
/// raw tracepoints, and (as asked) prints them and writes the object.
pub fn build(
    module: &Module,
    program: &Program,
    layout: &Layout,
    kernel: &Kernel,
    options: &Options<'_>,
) -> Result<Object, Failure> {
    let ringbuf =
        options.buffer_mb.map_or(codegen::DEFAULT_RINGBUF, |mb| (mb.clamp(1, 4095) << 20).next_power_of_two());
    let mut code = codegen::generate(
        module,
        program,
        layout,
        ringbuf,
        KernelFacts::of(kernel, module),
        &codegen::fentry_args(kernel, program),
    )
    .map_err(Failure::at(3, true))?;
    check_map_memory(&code.maps, module, program, kernel, layout.limits.max_map_memory)
        .map_err(Failure::at(3, false))?;
    codegen::dispatch::plan(&mut code, program, kernel, layout.limits.syscall_dispatch_min);
    codegen::rawtp::plan(&mut code, program, kernel);
    let listing = if options.listing { codegen::print(&code) } else { String::new() };
    let start = Instant::now();
    let bytes = if options.object { write(&code, program, options.source_map)? } else { Vec::new() };
    let object_time = start.elapsed();
    let maps = super::mapmem::owners(&code.maps, module);
    Ok(Object { bytes, object_time, code, listing, maps })
}

/// The ELF object of the programs. Line info lets the kernel's verifier
/// log and bpftool show the script line above the code it became.
fn write(code: &Output, program: &Program, sm: &SourceMap) -> Result<Vec<u8>, Failure> {
    let lines: Vec<_> = code
        .lines
        .iter()
        .zip(&code.points)
        .map(|(lines, (probe, _))| super::elf::line_info(lines, program.probes.get(*probe).map(|p| p.span), sm))
        .collect();
    super::elf::write_object_with_data(&code.programs, &code.maps, "GPL", &lines, &code.rodata).map_err(|e| Failure {
        pass: 4,
        diagnostic: Diagnostic::internal(e),
        shows_ir: false,
    })
}

/// Refuses maps that would take more kernel memory than `limit`, at the
/// declaration of the largest one's global. The kernel model's CPUs count
/// for per-CPU maps (one where it does not know them).
fn check_map_memory(
    maps: &[MapDef],
    module: &Module,
    program: &Program,
    kernel: &Kernel,
    limit: u64,
) -> Result<(), Diagnostic> {
    let cpus = kernel.possible_cpus().map_or(1, |c| c.count());
    super::mapmem::check(maps, cpus, limit, |map| {
        let i = (0..module.globals.len() as u32).find(|i| codegen::map_name(module, GlobalId(*i)) == map)?;
        let name = &module.global(GlobalId(i))?.name;
        let decl = program.globals.iter().find(|g| g.decl.name.name == *name)?;
        Some((name.clone(), decl.decl.span))
    })
}
