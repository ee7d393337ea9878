//! Intrinsics that read the probe's context directly: the arguments of
//! a probed function as stap's `int_arg(n)` family reads them (from the
//! registers of a kprobe or uprobe, the u64 array of an fentry program),
//! `returnval()`, `is_return()`, and `cpuid()`.

use super::{Ctx, Gen, not_yet};
use crate::bpf::abi::HELPER_CPU;
use crate::bpf::insn::{AluOp, Insn, Reg};
use crate::diag::Diagnostic;
use crate::ir::{Operand, VarId};
use crate::source::Span;

impl Gen<'_> {
    /// One of these intrinsics, or `None` for the others.
    pub(super) fn context_intrinsic(
        &mut self,
        dst: Option<VarId>,
        name: &str,
        args: &[Operand],
        span: Span,
    ) -> Option<Result<(), Diagnostic>> {
        let dst = dst?;
        // Width and signedness of each `*_arg(n)`.
        let arg = match name {
            "int_arg" | "s32_arg" => Some((4, true)),
            "uint_arg" | "u32_arg" => Some((4, false)),
            "long_arg" | "longlong_arg" | "s64_arg" => Some((8, true)),
            "ulong_arg" | "ulonglong_arg" | "pointer_arg" | "u64_arg" => Some((8, false)),
            _ => None,
        };
        Some(match (name, arg, args) {
            (_, Some((size, signed)), [n]) => self.nth_arg(dst, n, size, signed, span),
            ("returnval", None, []) => match self.return_slot() {
                Some(off) => {
                    self.ctx_u64(Reg::R1, off);
                    self.store(dst, Reg::R1, span)
                }
                None => Err(not_yet("returnval() outside return probes of functions", span)),
            },
            ("is_return", None, []) => {
                let ret = i32::from(self.facts.point.contains(".return"));
                self.emit(Insn::mov64_imm(Reg::R1, ret));
                self.store(dst, Reg::R1, span)
            }
            ("cpuid", None, []) => {
                self.emit(Insn::call(HELPER_CPU));
                self.store(dst, Reg::R0, span)
            }
            _ => return None,
        })
    }

    /// Argument `n` (from 1) of the probed function, at this width.
    fn nth_arg(&mut self, dst: VarId, n: &Operand, size: u32, signed: bool, span: Span) -> Result<(), Diagnostic> {
        let Operand::Long(n) = n else {
            return Err(not_yet("a computed argument number in kernel handlers", span));
        };
        let slot = usize::try_from(*n - 1)
            .ok()
            .and_then(|i| self.arg_slot(i))
            .filter(|_| self.facts.ctx != Ctx::Record || self.facts.syscall_args);
        let Some(off) = slot else {
            return Err(Diagnostic::semantic_error(
                format!("argument {n} is not available in this probe: its arguments are not in registers"),
                span,
            ));
        };
        self.ctx_u64(Reg::R1, off);
        self.sign_extend(Reg::R1, size, signed);
        if size < 8 && !signed {
            self.emit(Insn::alu64_imm(AluOp::Lsh, Reg::R1, 32));
            self.emit(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 32));
        }
        self.store(dst, Reg::R1, span)
    }
}
