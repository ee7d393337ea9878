//! Calls: of script functions (every overload of the name at the
//! caller's placement), of `error()` (which ends the block as a
//! terminator), and of intrinsics.
//!
//! In: a call's name and arguments. Out: the call instruction and the
//! operand of its result (`0` for a function that returns nothing).
//! Arguments are evaluated left to right, each held against those after
//! it, and coerced to the callee's parameter types.

use super::{Lower, ty};
use crate::diag::Diagnostic;
use crate::elab::{Type, intrinsics};
use crate::ir::{FuncId, InstKind, Operand, Terminator, Ty};
use crate::parse::ast::Expr;
use crate::source::Span;

impl Lower<'_> {
    pub(super) fn call(&mut self, name: &str, args: &[Expr], span: Span) -> Result<(Operand, Ty), Diagnostic> {
        let overloads = self.program.functions_named(name, self.file);
        // Each argument as the callee takes it.
        let wanted: Vec<Ty> = match overloads
            .iter()
            .find_map(|&i| self.program.functions.get(i).filter(|f| f.params.len() == args.len()))
        {
            Some(f) => f.params.iter().map(|p| ty(p.ty)).collect(),
            None => intrinsics::lookup_arity(name, args.len())
                .map(|i| i.params.iter().map(|p| ty(p.1)).collect())
                .unwrap_or_default(),
        };
        let mut values = Vec::new();
        for (i, a) in args.iter().enumerate() {
            let v = self.expr(a)?;
            let v = self.hold(v, args.get(i + 1..).unwrap_or_default(), a.span);
            let want = wanted.get(i).copied().unwrap_or(v.1);
            values.push(self.coerce(v, want));
        }
        if !overloads.is_empty() {
            let placement = self.func.placement;
            let ids: Vec<FuncId> = overloads
                .iter()
                .filter(|&&i| self.program.functions.get(i).is_some_and(|f| f.params.len() == args.len()))
                .filter_map(|&i| self.ids.get(&(i, placement)).copied())
                .collect();
            let ret = overloads
                .first()
                .and_then(|&i| self.program.functions.get(i))
                .map(|f| f.ret)
                .filter(|&t| t != Type::Unknown)
                .map(ty);
            let dst = ret.map(|t| self.temp(t));
            self.emit(InstKind::Call { dst, overloads: ids, args: values }, span);
            return Ok(match (dst, ret) {
                (Some(d), Some(t)) => (Operand::Var(d), t),
                _ => (Operand::Long(0), Ty::Long),
            });
        }
        if name == "error" {
            let msg = values.into_iter().next().unwrap_or(Operand::Str(Vec::new()));
            self.terminate(Terminator::Error(msg), span);
            let dead = self.new_block();
            self.switch_to(dead);
            return Ok((Operand::Long(0), Ty::Long));
        }
        let ret = intrinsics::lookup_arity(name, args.len()).map(|i| i.ret).filter(|&t| t != Type::Unknown).map(ty);
        let dst = ret.map(|t| self.temp(t));
        self.emit(InstKind::Intrinsic { dst, name: name.to_string(), args: values }, span);
        Ok(match (dst, ret) {
            (Some(d), Some(t)) => (Operand::Var(d), t),
            _ => (Operand::Long(0), Ty::Long),
        })
    }
}
