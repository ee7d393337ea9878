//! Calls: intrinsics through the `builtin` helper, script functions
//! directly, each overload in turn until one does not say `next`.

use cranelift_codegen::ir::InstBuilder;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_module::Module as _;
use stp_compiler::diag::Diagnostic;
use stp_compiler::ir::{FuncId, Operand, Ty, VarId};
use stp_compiler::source::Span;

use super::{Gen, I64, flags};
use crate::jit::rt;
use crate::jit::{BuiltinDesc, builtins};

impl Gen<'_, '_> {
    pub(super) fn intrinsic(
        &mut self,
        dst: Option<VarId>,
        name: &str,
        args: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
        let Some(which) = builtins::resolve(name, args.len()) else {
            return Err(Diagnostic::semantic_error(
                format!("function '{name}' is not available in user-placed handlers (begin, end, error, timers)"),
                span,
            ));
        };
        let params = args.iter().map(|a| self.op_ty(a)).collect::<Result<Vec<_>, _>>()?;
        self.tables.builtins.push(BuiltinDesc { which, params });
        let desc = self.b.ins().iconst(I64, (self.tables.builtins.len() - 1) as i64);
        let mut slots = Vec::new();
        for a in args {
            slots.push(self.slot(a)?);
        }
        let arr = self.array(&slots);
        let out = match dst {
            Some(v) if self.var_ty(v)? == Ty::Str => self.str_var(v)?,
            _ => self.scratch(),
        };
        self.site(span);
        let st = self.helper_value(rt::builtin as *const (), &[self.ctx, desc, arr, out]);
        self.check(st)?;
        if let Some(v) = dst
            && self.var_ty(v)? == Ty::Long
        {
            let x = self.b.ins().load(I64, flags(), out, 0);
            self.def_long(v, x)?;
        }
        Ok(())
    }

    /// A script function: each overload in turn until one does not say
    /// `next`.
    pub(super) fn call(
        &mut self,
        dst: Option<VarId>,
        overloads: &[FuncId],
        args: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
        let mut slots = Vec::new();
        for a in args {
            slots.push(self.slot(a)?);
        }
        let arr = self.array(&slots);
        let size = overloads.iter().filter_map(|o| self.frames.get(o)).copied().max().unwrap_or(8);
        let size = self.b.ins().iconst(I64, i64::from(size));
        let site = self.site(span);
        let site = self.b.ins().iconst(I64, site);
        let frame = self.helper_value(rt::call_enter as *const (), &[self.ctx, size, site]);
        let fail = self.fail_block()?;
        let entered = self.b.create_block();
        self.b.ins().brif(frame, entered, &[], fail, &[]);
        self.b.switch_to_block(entered);
        let ret = self.scratch();
        let done = self.b.create_block();
        let failed = self.b.create_block();
        self.b.set_cold_block(failed);
        for o in overloads {
            let cid = *self.ids.get(o).ok_or_else(|| {
                Diagnostic::internal(format!("function {} is not placed in user space", o.0)).at(span, "")
            })?;
            let fref = self.jm.declare_func_in_func(cid, self.b.func);
            let call = self.b.ins().call(fref, &[self.ctx, frame, arr, ret]);
            let st = self.b.inst_results(call).first().copied().expect("functions return a status");
            let not_done = self.b.create_block();
            self.b.ins().brif(st, not_done, &[], done, &[]);
            self.b.switch_to_block(not_done);
            let next = self.b.ins().icmp_imm_s(IntCC::Equal, st, 1);
            let try_next = self.b.create_block();
            self.b.ins().brif(next, try_next, &[], failed, &[]);
            self.b.switch_to_block(try_next);
        }
        // Every overload said `next`.
        self.helper(rt::call_leave as *const (), &[self.ctx], false);
        let exhausted = self.raise_block(rt::E_EXHAUSTED, span)?;
        self.b.ins().jump(exhausted, &[]);
        self.b.switch_to_block(failed);
        self.helper(rt::call_leave as *const (), &[self.ctx], false);
        self.b.ins().jump(fail, &[]);
        self.b.switch_to_block(done);
        self.helper(rt::call_leave as *const (), &[self.ctx], false);
        if let Some(v) = dst {
            match self.var_ty(v)? {
                Ty::Long => {
                    let x = self.b.ins().load(I64, flags(), ret, 0);
                    self.def_long(v, x)?;
                }
                Ty::Str => {
                    let d = self.str_var(v)?;
                    self.helper(rt::str_copy as *const (), &[self.ctx, d, ret], false);
                }
            }
        }
        Ok(())
    }
}
