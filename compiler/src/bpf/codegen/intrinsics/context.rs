//! The probe's context: the arguments of the probed function
//! (`int_arg(n)` and its family), `returnval()`, `is_return()`,
//! `cpuid()` (read by [`crate::bpf::codegen::context`]), and what the
//! program knows of its point: `pp()`, `probefunc()`, `probemod()`, and
//! `target()` (`-x PID`).

use super::{Call, Row};
use crate::bpf::codegen::{Gen, not_yet};
use crate::bpf::insn::{Reg, Size};
use crate::diag::Diagnostic;
use crate::ir::Operand;

pub(super) const ROWS: &[Row] = &[
    Row {
        names: &[
            "int_arg",
            "s32_arg",
            "uint_arg",
            "u32_arg",
            "long_arg",
            "longlong_arg",
            "s64_arg",
            "ulong_arg",
            "ulonglong_arg",
            "pointer_arg",
            "u64_arg",
        ],
        result: true,
        args: (1, 1),
        lower: read_context,
    },
    Row { names: &["returnval", "is_return", "cpuid"], result: true, args: (0, 0), lower: read_context },
    Row { names: &["pp"], result: true, args: (0, 0), lower: pp },
    Row { names: &["probefunc", "ppfunc"], result: true, args: (0, 0), lower: probefunc },
    Row { names: &["probemod"], result: true, args: (0, 0), lower: probemod },
    Row { names: &["target"], result: true, args: (0, 0), lower: target },
];

fn read_context(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.context_intrinsic(c.dst, c.name, c.args, c.span)
        .unwrap_or_else(|| Err(not_yet(&format!("{}() in kernel handlers", c.name), c.span)))
}

fn pp(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let p = Operand::Str(g.facts.point.clone().into_bytes());
    g.set_str(c.dst()?, &p)
}

fn probefunc(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let p = Operand::Str(g.facts.func.clone().into_bytes());
    g.set_str(c.dst()?, &p)
}

fn probemod(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    let m = Operand::Str(g.facts.module.clone().into_bytes());
    g.set_str(c.dst()?, &m)
}

fn target(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.emit(crate::bpf::insn::Insn::load(Size::DW, Reg::R1, Reg::R7, g.layout.target_offset as i16));
    g.store(c.dst()?, Reg::R1, c.span)
}
