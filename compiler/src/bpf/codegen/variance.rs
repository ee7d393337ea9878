//! `@variance` in kernel handlers: every CPU's Welford record (see
//! [`crate::layout::STAT_FIELDS`]) combined as the user side combines
//! them (`runtime/src/stats.rs`), to the same integer: an element of a
//! statistics array CPU by CPU (`Stat::merge`, stap's pairwise copy), a
//! statistic without keys in one step over every CPU
//! (`Stat::aggregate`). Divisions are stap's `_stp_div64`: truncating,
//! 0 for a divisor of 0. The running values live in the work area (see
//! [`super::search`]).

use super::Gen;
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::diag::Diagnostic;
use crate::source::Span;

/// A CPU's record: its count, sum, running mean and sum of squared
/// differences.
const COUNT: i16 = 0;
const SUM: i16 = 8;
const AVG: i16 = 32;
const M2: i16 = 40;

impl Gen<'_> {
    /// r1 = `@variance` of the statistic of map `name` under the key in
    /// the key area; `keyed` says whether the statistic is an array's
    /// element; `shift` its bit shift (the records' means are scaled by
    /// `2^shift`, their variances by `4^shift`). Of an empty statistic:
    /// stap's error. Uses r9.
    pub(super) fn stat_variance(&mut self, name: &str, keyed: bool, shift: u32, span: Span) -> Result<(), Diagnostic> {
        let shift = shift.min(62) as i32;
        // Work: the count, sum, mean and variance so far, then a CPU's
        // variance, the count and mean before this CPU, and a sum.
        let (count, sum, avg, var) = (self.w(0), self.w(1), self.w(2), self.w(3));
        let (cpu_var, count1, avg1, acc) = (self.w(4), self.w(5), self.w(6), self.w(7));
        for at in [count, sum, avg, var, acc] {
            self.emit(Insn::store_imm(Size::DW, Reg::R8, at, 0));
        }
        if keyed {
            self.each_cpu_record(name, Reg::R9, |g| {
                let combine = g.label();
                g.cpu_variance(cpu_var);
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, count));
                g.jump_imm_to(Cond::Ne, Reg::R1, 0, combine);
                // The first CPU with values: its record as it is.
                for (from, to) in [(COUNT, count), (SUM, sum), (AVG, avg)] {
                    g.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, from));
                    g.emit(Insn::store(Size::DW, Reg::R8, to, Reg::R1));
                }
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, cpu_var));
                g.emit(Insn::store(Size::DW, Reg::R8, var, Reg::R1));
                let next = g.label();
                g.jump_to(next);
                g.bind(combine);
                g.emit(Insn::store(Size::DW, Reg::R8, count1, Reg::R1));
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, avg));
                g.emit(Insn::store(Size::DW, Reg::R8, avg1, Reg::R1));
                g.add_field(count, COUNT);
                g.add_field(sum, SUM);
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, sum));
                if shift != 0 {
                    g.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, shift));
                }
                g.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, count));
                g.div64();
                g.emit(Insn::store(Size::DW, Reg::R8, avg, Reg::R1));
                // count1 (avg1 - avg)^2 + (count1 - 1) var
                //   + n (avg_n - avg)^2 + (n - 1) var_n, over count - 1.
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, avg1));
                g.emit(Insn::load(Size::DW, Reg::R3, Reg::R8, count1));
                g.spread(avg, acc);
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, count1));
                g.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, var));
                g.weighted(acc);
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, AVG));
                g.emit(Insn::load(Size::DW, Reg::R3, Reg::R9, COUNT));
                g.spread(avg, acc);
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, COUNT));
                g.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, cpu_var));
                g.weighted(acc);
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, acc));
                g.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, count));
                g.emit(Insn::alu64_imm(AluOp::Sub, Reg::R2, 1));
                g.div64();
                g.emit(Insn::store(Size::DW, Reg::R8, var, Reg::R1));
                g.emit(Insn::store_imm(Size::DW, Reg::R8, acc, 0));
                g.bind(next);
                Ok(())
            })?;
        } else {
            // The counts and sums, the mean of them all, then the sum of
            // each CPU's spread about it and of its own variance.
            self.each_cpu_record(name, Reg::R9, |g| {
                g.add_field(count, COUNT);
                g.add_field(sum, SUM);
                Ok(())
            })?;
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, sum));
            if shift != 0 {
                self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, shift));
            }
            self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, count));
            self.div64();
            self.emit(Insn::store(Size::DW, Reg::R8, avg, Reg::R1));
            self.each_cpu_record(name, Reg::R9, |g| {
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, AVG));
                g.emit(Insn::load(Size::DW, Reg::R3, Reg::R9, COUNT));
                g.spread(avg, acc);
                g.cpu_variance(cpu_var);
                g.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, COUNT));
                g.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, cpu_var));
                g.weighted(acc);
                Ok(())
            })?;
            self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, acc));
            self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, count));
            self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R2, 1));
            self.div64();
            self.emit(Insn::store(Size::DW, Reg::R8, var, Reg::R1));
        }
        let ok = self.label();
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, count));
        self.jump_imm_to(Cond::Ne, Reg::R1, 0, ok);
        self.fail(Ok("empty aggregate"), span)?;
        self.bind(ok);
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, var));
        if shift != 0 {
            self.emit(Insn::alu64_imm(AluOp::Arsh, Reg::R1, (2 * shift).min(63)));
        }
        Ok(())
    }

    /// Work long `to` += field `from` of the record in r9.
    fn add_field(&mut self, to: i16, from: i16) {
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R8, to));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R9, from));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
        self.emit(Insn::store(Size::DW, Reg::R8, to, Reg::R1));
    }

    /// Work long `to` = the variance of the CPU's record in r9: `m2 /
    /// (count - 1)`, 0 with one value.
    fn cpu_variance(&mut self, to: i16) {
        let one = self.label();
        self.emit(Insn::store_imm(Size::DW, Reg::R8, to, 0));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R9, COUNT));
        self.jump_imm_to(Cond::Slt, Reg::R2, 2, one);
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R2, 1));
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::R9, M2));
        self.div64();
        self.emit(Insn::store(Size::DW, Reg::R8, to, Reg::R1));
        self.bind(one);
    }

    /// Work long `acc` += r3 * (r1 - work long `avg`)^2, wrapping.
    fn spread(&mut self, avg: i16, acc: i16) {
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, avg));
        self.emit(Insn::alu64_reg(AluOp::Sub, Reg::R1, Reg::R2));
        self.emit(Insn::mov64_reg(Reg::R2, Reg::R1));
        self.emit(Insn::alu64_reg(AluOp::Mul, Reg::R1, Reg::R3));
        self.emit(Insn::alu64_reg(AluOp::Mul, Reg::R1, Reg::R2));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, acc));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
        self.emit(Insn::store(Size::DW, Reg::R8, acc, Reg::R1));
    }

    /// Work long `acc` += (r1 - 1) * r2, wrapping.
    fn weighted(&mut self, acc: i16) {
        self.emit(Insn::alu64_imm(AluOp::Sub, Reg::R1, 1));
        self.emit(Insn::alu64_reg(AluOp::Mul, Reg::R1, Reg::R2));
        self.emit(Insn::load(Size::DW, Reg::R2, Reg::R8, acc));
        self.emit(Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2));
        self.emit(Insn::store(Size::DW, Reg::R8, acc, Reg::R1));
    }

    /// r1 = r1 / r2 as stap's `_stp_div64`: 0 when r2 is 0. Uses r3, r4.
    fn div64(&mut self) {
        let (nonzero, done) = (self.label(), self.label());
        self.jump_imm_to(Cond::Ne, Reg::R2, 0, nonzero);
        self.emit(Insn::mov64_imm(Reg::R1, 0));
        self.jump_to(done);
        self.bind(nonzero);
        self.signed_divide(false);
        self.bind(done);
    }
}
