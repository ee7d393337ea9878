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
//! makes the same code from the text as from the script; a third that a
//! lowered script's module reads back as the same module.

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::path::Path;
use std::process::Command;

use common::{root, run_in, stp};
use stp_compiler::diag::Diagnostic;
use stp_compiler::elab::Program;
use stp_compiler::ir::parse::{Parsed, parse};
use stp_compiler::ir::{InstKind, Module};
use stp_compiler::kernel::Kernel;
use stp_compiler::source::Span;

fn kernel() -> Kernel {
    Kernel::snapshot(&root().join("tests/kernel"))
}

/// The eBPF back end as the driver runs it for `-p3`, with default
/// limits: the programs printed. (The one place that names the back end's
/// entry points.)
fn ebpf(module: &Module, program: &Program, kernel: &Kernel) -> Result<String, Diagnostic> {
    let layout = stp_compiler::layout::Layout::new(module, stp_compiler::layout::Limits::from_defines(&[])?)?;
    let sources = stp_compiler::source::SourceMap::new();
    let options = stp_compiler::bpf::Options { buffer_mb: None, source_map: &sources, listing: true, object: false };
    stp_compiler::bpf::build(module, program, &layout, kernel, &options).map(|o| o.listing).map_err(|e| e.diagnostic)
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

/// Scripts lowered to IR, printed and read back: the same module, but
/// for what the text does not keep (spans; a target's BTF type id, its
/// `base_is_address`, and a record field's attributes other than its
/// name and offset).
#[test]
fn lowered_scripts_read_back_as_the_same_module() {
    use stp_compiler::driver::{self, Options, ScriptInput};
    let kernel = kernel();
    let scripts = [r#"global n = 3, s = "x\t", a[10], b%, st
           function f:long(x:long, y:string) { if (x < 0) next; return x * strlen(y) }
           function f(x:long, y:string) { return -x }
           probe kernel.function("vfs_read") { n <<= 1; a[execname(), pid()] += $count; st[pid()] <<< $count
             b[tid()] = sprintf("%s-%d", execname(), f($count, "ab"))
             if ([*, 1] in a) delete a[execname(), *]; else delete a }
           probe kernel.trace("sched:sched_switch") { if ($prev_comm =~ "^ba") n = $prev_pid % -3 }
           probe kernel.function("vfs_read").return { printf("%d %d\n", $return, @entry($count)) }
           probe end { foreach ([k, p] in a- limit 3) printf("%s %d\n", k, p)
             foreach (p in st @sum+) println(@avg(st[p]), @hist_log(st[p])[2])
             print(@hist_linear(st[1], 0, 100, 10))
             try { error("x") } catch (m) { println(m) } }"#];
    for script in scripts {
        let opts = Options {
            scripts: vec![ScriptInput { name: "<input>".to_string(), text: script.to_string() }],
            ..Options::default()
        };
        let mut sm = stp_compiler::source::SourceMap::new();
        let (parsed, diags) = driver::parse_pass(&opts, &kernel, &mut sm);
        assert!(!stp_compiler::diag::has_errors(&diags), "{diags:#?}");
        let (program, diags) = driver::elaborate_pass(&opts, &kernel, &parsed);
        assert!(!stp_compiler::diag::has_errors(&diags), "{diags:#?}");
        let module = stp_compiler::ir::lower::lower(&program).unwrap();
        let probes: Vec<Vec<String>> =
            program.probes.iter().map(|p| p.points.iter().map(|pt| pt.name.clone()).collect()).collect();
        let text = stp_compiler::ir::print::print_module(&module, &probes, &sm);
        let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.probes, probes);
        let (mut a, mut b) = (module, back.module);
        assert!(a.functions.len() >= 6 && a.handlers.len() >= 5, "{text}");
        normalize(&mut a);
        normalize(&mut b);
        for (fa, fb) in a.functions.iter().zip(&b.functions) {
            assert_eq!(fa, fb, "{text}");
        }
        assert_eq!(a, b);
    }
}

/// Leaves out what the text does not keep.
fn normalize(m: &mut Module) {
    for f in &mut m.functions {
        f.span = Span::DUMMY;
        for b in &mut f.blocks {
            b.term_span = Span::DUMMY;
            for i in &mut b.insts {
                i.span = Span::DUMMY;
                if let InstKind::Target { resolved, .. } = &mut i.kind {
                    resolved.btf = None;
                    resolved.base_is_address = false;
                    if let stp_compiler::elab::target::Base::Field(field) = &mut resolved.base {
                        *field = stp_compiler::kernel::TpField {
                            name: field.name.clone(),
                            offset: field.offset,
                            c_type: String::new(),
                            size: 0,
                            signed: false,
                            data_loc: false,
                            array_len: None,
                        };
                    }
                }
            }
        }
    }
}
