//! Memory faults in kernel handlers: a read through a helper that failed
//! (`bpf_probe_read_*` returned a negative error) is stap's runtime
//! error, never a silent 0 or "". Outside `try` it sends a `Fault`
//! record carrying the address, which the runtime prints as stap does
//! (`kernel string copy fault at 0x0 [man error::fault]`); inside `try`
//! the catch runs with the message (without the address, which the
//! kernel side does not format).

use super::{Gen, VALUE_SLOT};
use crate::bpf::abi::{HELPER_RINGBUF_SUBMIT, RB_FORCE_WAKEUP};
use crate::bpf::insn::{Cond, Insn, Reg, Size};
use crate::bpf::records;
use crate::bpf::records::RecordKind;
use crate::diag::Diagnostic;
use crate::ir::Ty;
use crate::source::Span;

/// Where a fault message takes the address.
pub const ADDR: &str = "{addr}";

impl Gen<'_> {
    /// After a read helper: if r0 < 0, the fault `message` (with
    /// [`ADDR`] where the address goes) at the address in `addr` (a
    /// register the call preserved: r6 to r9), else on.
    pub(super) fn check_fault(&mut self, message: &str, addr: Reg, span: Span) -> Result<(), Diagnostic> {
        let ok = self.label();
        self.jump_imm_to(Cond::Sge, Reg::R0, 0, ok);
        self.fault(message, addr, span)?;
        self.bind(ok);
        Ok(())
    }

    /// The fault itself: to the catch, or a record and the handler's end.
    pub(super) fn fault(&mut self, message: &str, addr: Reg, span: Span) -> Result<(), Diagnostic> {
        if self.on_error.is_some() {
            let text = message.replace(&format!(" at {ADDR}"), "").replace(ADDR, "");
            return self.fail(Ok(&text), span);
        }
        // The address outlives the reserve call on the stack.
        self.emit(Insn::store(Size::DW, Reg::FP, VALUE_SLOT, addr));
        let tag = self.record(RecordKind::Fault { message: message.to_string(), span });
        let (offs, size) = records::offsets(&[Ty::Long], self.layout);
        let off = offs.first().copied().and_then(|o| i16::try_from(o).ok()).unwrap_or(8);
        let done = self.reserve_record(tag, size);
        self.emit(Insn::load(Size::DW, Reg::R1, Reg::FP, VALUE_SLOT));
        self.emit(Insn::store(Size::DW, Reg::R9, off, Reg::R1));
        self.emit(Insn::mov64_reg(Reg::R1, Reg::R9));
        self.emit(Insn::mov64_imm(Reg::R2, RB_FORCE_WAKEUP));
        self.emit(Insn::call(HELPER_RINGBUF_SUBMIT));
        self.bind(done);
        self.end_handler();
        Ok(())
    }
}
