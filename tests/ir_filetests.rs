//! Tests of single passes on IR written as text, as Cranelift's filetests
//! are: each `tests/ir/*.ir` is the IR text `stp -p3` prints (before
//! `# eBPF`), after a header line saying what to run:
//!
//! - `; test: ebpf`: the text parses, prints back the same, passes the IR
//!   verifier, and the eBPF back end lowers it (against the kernel
//!   snapshot in `tests/kernel`); the eBPF assembly is compared with the
//!   snapshot in `tests/snapshots/` (a refusal is snapshotted too).
//! - `; test: verify-error`: the text parses and the IR verifier refuses
//!   it; its message is the snapshot.
//!
//! Adding a case needs only a `.ir` file (and its snapshot accepted).
//! Other `;` lines are comments. A second test reads back the IR that stp
//! prints for the repository's scripts and checks that the eBPF back end
//! makes the same code from the text as from the script.

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::path::Path;
use std::process::Command;

use common::{root, run_in, stp};
use stp_compiler::diag::Diagnostic;
use stp_compiler::elab::Program;
use stp_compiler::ir::Module;
use stp_compiler::ir::parse::{Parsed, parse};
use stp_compiler::kernel::Kernel;

fn kernel() -> Kernel {
    Kernel::snapshot(&root().join("tests/kernel"))
}

/// The eBPF back end as the driver runs it for `-p3`, with default
/// limits: the programs printed. (The one place that names the back end's
/// entry points.)
fn ebpf(module: &Module, program: &Program, kernel: &Kernel) -> Result<String, Diagnostic> {
    use stp_compiler::bpf::codegen;
    let layout = stp_compiler::layout::Layout::new(module, stp_compiler::layout::Limits::from_defines(&[])?)?;
    let mut code = codegen::generate(
        module,
        program,
        &layout,
        codegen::DEFAULT_RINGBUF,
        codegen::KernelFacts::of(kernel, module),
        &codegen::fentry_args(kernel, program),
    )?;
    codegen::dispatch::plan(&mut code, program, kernel, layout.limits.syscall_dispatch_min);
    codegen::rawtp::plan(&mut code, program, kernel);
    Ok(codegen::print(&code))
}

/// The text as the printer writes it: comment lines dropped.
fn without_comments(text: &str) -> String {
    text.lines().filter(|l| !l.starts_with(';')).map(|l| format!("{l}\n")).collect()
}

fn reprint(p: &Parsed) -> String {
    stp_compiler::ir::print::print_module(&p.module, &p.probes, &p.sources)
}

fn run_file(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let test = text
        .lines()
        .find_map(|l| l.strip_prefix("; test:"))
        .unwrap_or_else(|| panic!("{}: no `; test:` line", path.display()))
        .trim();
    let parsed = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let printed = reprint(&parsed);
    assert_eq!(printed, without_comments(&text), "{}: the IR does not print back the same", path.display());
    let verified = stp_compiler::ir::verify::verify(&parsed.module);
    match test {
        "ebpf" => {
            verified.unwrap_or_else(|e| panic!("{}: the IR verifier refuses it: {e}", path.display()));
            let kernel = kernel();
            let program = parsed.program(&kernel).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            match ebpf(&parsed.module, &program, &kernel) {
                Ok(code) => code,
                Err(d) => format!("refused: {}\n", d.message),
            }
        }
        "verify-error" => match verified {
            Ok(()) => panic!("{}: the IR verifier accepts it", path.display()),
            Err(e) => format!("verifier: {e}\n"),
        },
        other => panic!("{}: unknown test `{other}`", path.display()),
    }
}

#[test]
fn filetests() {
    insta::glob!("ir/*.ir", |path| {
        insta::assert_snapshot!(run_file(path));
    });
}

/// What `stp -p3` prints for a script: the IR text and the eBPF text.
fn p3(script: &Path) -> Option<(String, String)> {
    let out = run_in(
        Command::new(stp()).current_dir(root()).env_remove("SYSTEMTAP_TAPSET").args([
            "-p3",
            "--kernel",
            "tests/kernel",
            &script.strip_prefix(root()).unwrap_or(script).display().to_string(),
        ]),
        None,
    );
    if !out.status.success() {
        return None;
    }
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (ir, ebpf) = stdout.split_once("\n# eBPF\n")?;
    Some((ir.to_string(), ebpf.to_string()))
}

/// The IR stp prints for the repository's scripts reads back into a
/// module that prints the same, verifies, and gives the eBPF back end
/// what it needs to make the same programs as it made from the script.
#[test]
fn printed_ir_reads_back() {
    let kernel = kernel();
    let mut checked = 0;
    for dir in ["tests/ir", "tests/elab", "examples"] {
        for script in common::stp_files(&root().join(dir)) {
            let Some((ir, code)) = p3(&script) else { continue };
            let name = script.display();
            let parsed = parse(&ir).unwrap_or_else(|e| panic!("{name}: {e}\n{ir}"));
            assert_eq!(reprint(&parsed), ir, "{name}: the IR does not print back the same");
            stp_compiler::ir::verify::verify(&parsed.module).unwrap_or_else(|e| panic!("{name}: {e}"));
            let program = parsed.program(&kernel).unwrap_or_else(|e| panic!("{name}: {e}"));
            let again = ebpf(&parsed.module, &program, &kernel).unwrap_or_else(|d| panic!("{name}: {}", d.message));
            assert_eq!(again, code, "{name}: other eBPF from the IR text than from the script");
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} scripts lowered to eBPF");
}
