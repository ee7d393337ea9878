//! Errors, the end of the script and messages: `assert()`, `exit()`,
//! `system()` (a record the runtime starts the command from), `raise()`,
//! `abort()`, `warn()`, `log()`, `ftrace()` (the trace buffer); `printk()`
//! is refused (eBPF programs cannot write the kernel's log).

use super::{ANY, Call, Row};
use crate::bpf::abi::{HELPER_SEND_SIGNAL_THREAD, HELPER_TRACE_PRINTK};
use crate::bpf::codegen::{Gen, VALUE_SLOT};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::bpf::records::{RecordArg, RecordKind};
use crate::diag::Diagnostic;
use crate::ir::Ty;
use crate::parse::ast::PrintKind;

pub(super) const ROWS: &[Row] = &[
    Row { names: &["assert"], result: false, args: (1, 2), lower: assert },
    Row { names: &["exit"], result: false, args: (0, 0), lower: exit },
    Row { names: &["ftrace"], result: false, args: (1, 1), lower: ftrace },
    Row { names: &["printk"], result: false, args: ANY, lower: printk },
    Row { names: &["warn"], result: false, args: (1, 1), lower: warn },
    Row { names: &["system"], result: false, args: (1, 1), lower: system },
    Row { names: &["raise"], result: false, args: (1, 1), lower: raise },
    Row { names: &["log"], result: false, args: (1, 1), lower: log },
    Row { names: &["abort"], result: false, args: (0, 0), lower: abort },
];

/// A false condition is a runtime error with the message.
fn assert(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let span = c.span;
    g.load(Reg::R1, c.arg(0)?, span)?;
    let ok = g.label();
    g.jump_imm_to(Cond::Ne, Reg::R1, 0, ok);
    match c.args.get(1) {
        Some(msg) => g.fail(Err(msg), span)?,
        None => g.fail(Ok("Assertion failed"), span)?,
    }
    g.bind(ok);
    if let Some(dst) = c.dst {
        g.emit(Insn::mov64_imm(Reg::R1, 0));
        g.store(dst, Reg::R1, span)?;
    }
    Ok(())
}

fn exit(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    // Later handlers do nothing; this one goes on to its end.
    g.emit(Insn::store_imm(Size::DW, Reg::R7, g.layout.exit_offset as i16, 1));
    let tag = g.record(RecordKind::Exit);
    g.write_record(tag, &[], c.span)
}

fn ftrace(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    // bpf_trace_printk("%s", msg): the trace buffer's line.
    g.str_ptr(Reg::R3, c.arg(0)?, 0)?;
    g.emit(Insn::store_imm(Size::W, Reg::FP, VALUE_SLOT, i32::from_le_bytes(*b"%s\0\0")));
    g.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
    g.emit(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(VALUE_SLOT)));
    g.emit(Insn::mov64_imm(Reg::R2, 3));
    g.emit(Insn::call(HELPER_TRACE_PRINTK));
    if let Some(dst) = c.dst {
        g.emit(Insn::mov64_imm(Reg::R1, 0));
        g.store(dst, Reg::R1, c.span)?;
    }
    Ok(())
}

fn printk(_: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    Err(Diagnostic::semantic_error(
        "printk() is not available in kernel handlers: eBPF programs cannot write the kernel's log \
         (ftrace() writes to the trace buffer)",
        c.span,
    ))
}

fn warn(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let tag = g.record(RecordKind::Warn);
    g.write_record(tag, &[(c.arg(0)?.clone(), Ty::Str)], c.span)
}

/// The runtime starts the command when it reads the record, in order
/// with the output before it.
fn system(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let tag = g.record(RecordKind::System);
    g.write_record(tag, &[(c.arg(0)?.clone(), Ty::Str)], c.span)
}

/// `raise(signo)` (guru mode): the signal goes to the current thread,
/// delivered when it returns to user space; the helper's failure is
/// stap's error.
fn raise(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.load(Reg::R1, c.arg(0)?, c.span)?;
    g.emit(Insn::call(HELPER_SEND_SIGNAL_THREAD));
    let ok = g.label();
    g.jump_imm_to(Cond::Eq, Reg::R0, 0, ok);
    g.fail(Ok("raise/send_sig error"), c.span)?;
    g.bind(ok);
    Ok(())
}

fn log(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let tag = g.record(RecordKind::Print {
        kind: PrintKind::Println,
        format: None,
        delimiter: None,
        args: vec![RecordArg::Value(Ty::Str)],
    });
    g.write_record(tag, &[(c.arg(0)?.clone(), Ty::Str)], c.span)
}

fn abort(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let tag = g.record(RecordKind::Abort);
    g.write_record(tag, &[], c.span)?;
    g.emit(Insn::mov64_imm(Reg::R0, 0));
    g.emit(Insn::exit());
    // What follows is unreachable; give it a block of its own.
    Ok(())
}
