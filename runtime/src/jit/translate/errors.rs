//! Where runtime errors go: the failure block of each `catch` in force
//! (the message into the catch variable, then the catch's block; or out
//! of the function with status 2), the errors the code detects itself
//! (division by 0, MAXACTION, all overloads exhausted), and MAXACTION's
//! count.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Block, InstBuilder, Value};
use stp_compiler::diag::Diagnostic;
use stp_compiler::ir::{Catch, Ty};
use stp_compiler::source::Span;

use super::{Gen, I64, flags};
use crate::jit::rt::{self, OFF_ACTIONS};

pub(super) enum Pending {
    /// Takes the error to the `catch`, or returns 2.
    Fail(Option<Catch>),
    /// Raises one of the errors the code detects itself, then fails.
    Raise { code: i64, site: i64, fail: Block },
}

impl Gen<'_, '_> {
    /// Where an error goes from the current block: its `catch`, or out.
    /// The block is filled once the function's blocks are done.
    pub(super) fn fail_block(&mut self) -> Result<Block, Diagnostic> {
        let key = self.on_error.map(|c| (c.block, c.message));
        if let Some(b) = self.fails.get(&key) {
            return Ok(*b);
        }
        let fail = self.b.create_block();
        self.b.set_cold_block(fail);
        self.fails.insert(key, fail);
        self.pending.push((fail, Pending::Fail(self.on_error)));
        Ok(fail)
    }

    pub(super) fn fill_fail(&mut self, on_error: Option<Catch>) -> Result<(), Diagnostic> {
        match on_error {
            None => {
                let two = self.b.ins().iconst(I64, 2);
                self.b.ins().return_(&[two]);
            }
            Some(c) => {
                let dst = match c.message {
                    Some(m) if self.var_ty(m)? == Ty::Str => self.str_var(m)?,
                    _ => self.b.ins().iconst(I64, 0),
                };
                let r = self.helper_value(rt::catch as *const (), &[self.ctx, dst]);
                let target = self.block(c.block)?;
                let out = self.b.create_block();
                self.b.set_cold_block(out);
                self.b.ins().brif(r, out, &[], target, &[]);
                self.b.switch_to_block(out);
                let two = self.b.ins().iconst(I64, 2);
                self.b.ins().return_(&[two]);
            }
        }
        Ok(())
    }

    /// Fills the failure blocks made along the way.
    pub(super) fn fill_pending(&mut self) -> Result<(), Diagnostic> {
        while let Some((blk, p)) = self.pending.pop() {
            self.b.switch_to_block(blk);
            match p {
                Pending::Fail(on_error) => self.fill_fail(on_error)?,
                Pending::Raise { code, site, fail } => {
                    let site = self.b.ins().iconst(I64, site);
                    let code = self.b.ins().iconst(I64, code);
                    self.helper(rt::raise as *const (), &[self.ctx, code, site], false);
                    self.b.ins().jump(fail, &[]);
                }
            }
        }
        Ok(())
    }

    /// Goes on in a new block when `status` is 0, else to the failure path.
    pub(super) fn check(&mut self, status: Value) -> Result<(), Diagnostic> {
        let fail = self.fail_block()?;
        let ok = self.b.create_block();
        self.b.ins().brif(status, fail, &[], ok, &[]);
        self.b.switch_to_block(ok);
        Ok(())
    }

    /// A cold block that raises error `code` at `span` and fails.
    pub(super) fn raise_block(&mut self, code: i64, span: Span) -> Result<Block, Diagnostic> {
        let fail = self.fail_block()?;
        let blk = self.b.create_block();
        self.b.set_cold_block(blk);
        self.tables.sites.push(span);
        let site = (self.tables.sites.len() - 1) as i64;
        self.pending.push((blk, Pending::Raise { code, site, fail }));
        Ok(blk)
    }

    pub(super) fn count_action(&mut self, span: Span) -> Result<(), Diagnostic> {
        let raise = self.raise_block(rt::E_MAXACTION, span)?;
        let n = self.b.ins().load(I64, flags(), self.ctx, OFF_ACTIONS);
        let n = self.b.ins().iadd_imm_s(n, 1);
        self.b.ins().store(flags(), n, self.ctx, OFF_ACTIONS);
        let max = i64::try_from(self.tables.layout.limits.max_action).unwrap_or(i64::MAX);
        let over = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, n, max);
        let ok = self.b.create_block();
        self.b.ins().brif(over, raise, &[], ok, &[]);
        self.b.switch_to_block(ok);
        Ok(())
    }
}
