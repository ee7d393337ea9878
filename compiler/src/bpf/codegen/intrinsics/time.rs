//! Clocks: `gettimeofday_*()` (the monotonic clock plus the offset to
//! the real-time clock the runtime keeps in the globals record),
//! `local_clock_*()`, `cpu_clock_*()`, `get_cycles()` (nanoseconds: eBPF
//! has no cycle counter), `ktime_get_ns()`, `jiffies()`, and `HZ()` (from
//! the kernel's configuration).

use super::task::helper_value;
use super::{ANY, Call, Row};
use crate::bpf::abi::{HELPER_JIFFIES, HELPER_KTIME};
use crate::bpf::codegen::Gen;
use crate::bpf::insn::{AluOp, Insn, Reg, Size};
use crate::diag::Diagnostic;

pub(super) const ROWS: &[Row] = &[
    Row { names: &["get_cycles"], result: true, args: (0, 0), lower: nanoseconds },
    Row { names: &["HZ"], result: true, args: (0, 0), lower: hz },
    Row { names: &["cpu_clock_s", "cpu_clock_ms", "cpu_clock_us"], result: true, args: (1, 1), lower: divided },
    Row {
        names: &["gettimeofday_s", "gettimeofday_ms", "gettimeofday_us", "gettimeofday_ns"],
        result: true,
        args: (0, 0),
        lower: gettimeofday,
    },
    Row { names: &["local_clock_ns", "cpu_clock_ns"], result: true, args: ANY, lower: nanoseconds },
    Row { names: &["local_clock_us", "local_clock_ms", "local_clock_s"], result: true, args: (0, 0), lower: divided },
    Row { names: &["ktime_get_ns"], result: true, args: (0, 0), lower: ktime_get_ns },
    Row { names: &["jiffies"], result: true, args: (0, 0), lower: jiffies },
];

/// The monotonic clock's nanoseconds.
fn nanoseconds(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.emit(Insn::call(HELPER_KTIME));
    g.store(c.dst()?, Reg::R0, c.span)
}

fn hz(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    match g.facts.task.hz {
        Some(hz) => {
            g.emit(Insn::mov64_imm(Reg::R1, hz as i32));
            g.store(c.dst()?, Reg::R1, c.span)
        }
        None => Err(Diagnostic::semantic_error(
            "HZ() needs the kernel's configuration (/proc/config.gz or /boot/config-RELEASE), which is not readable",
            c.span,
        )),
    }
}

/// The monotonic clock in seconds, milliseconds or microseconds.
fn divided(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.emit(Insn::call(HELPER_KTIME));
    let div = match c.name {
        "cpu_clock_s" | "local_clock_s" => 1_000_000_000,
        "cpu_clock_ms" | "local_clock_ms" => 1_000_000,
        _ => 1_000,
    };
    g.emit(Insn::alu64_imm(AluOp::Div, Reg::R0, div));
    g.store(c.dst()?, Reg::R0, c.span)
}

fn gettimeofday(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    g.emit(Insn::call(HELPER_KTIME));
    g.emit(Insn::load(Size::DW, Reg::R1, Reg::R7, g.layout.realtime_offset as i16));
    g.emit(Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R1));
    let div = match c.name {
        "gettimeofday_s" => 1_000_000_000,
        "gettimeofday_ms" => 1_000_000,
        "gettimeofday_us" => 1_000,
        _ => 1,
    };
    if div > 1 {
        g.emit(Insn::alu64_imm(AluOp::Div, Reg::R0, div));
    }
    g.store(c.dst()?, Reg::R0, c.span)
}

fn ktime_get_ns(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    helper_value(g, c, HELPER_KTIME, false)
}

fn jiffies(g: &mut Gen<'_>, c: &Call<'_>) -> Result<(), Diagnostic> {
    helper_value(g, c, HELPER_JIFFIES, false)
}
