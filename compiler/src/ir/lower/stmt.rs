//! Statements: blocks, `if`, `for`/`while`, `break`/`continue`,
//! `return`, `next`, `delete`, `try`/`catch` and `foreach`.
//!
//! In: an AST statement of a body being lowered. Out: instructions in the
//! current block and, for control flow, new blocks and terminators. Every
//! loop pushes its (break, continue) targets while its body is lowered and
//! pops them after; a statement that leaves (`break`, `return`, `next`)
//! continues in a fresh, unreachable block.

use super::{Lower, not_yet, ty, zero};
use crate::diag::Diagnostic;
use crate::elab::Type;
use crate::ir::{Catch, InstKind, Operand, Terminator, Ty};
use crate::parse::ast::{Block as AstBlock, Expr, ExprKind, Stmt, StmtKind};

impl Lower<'_> {
    pub(super) fn block(&mut self, b: &AstBlock) -> Result<(), Diagnostic> {
        for s in &b.stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    pub(super) fn stmt(&mut self, s: &Stmt) -> Result<(), Diagnostic> {
        let span = s.span;
        match &s.kind {
            StmtKind::Null => {}
            StmtKind::Block(b) => self.block(b)?,
            StmtKind::Expr(e) => {
                self.discard = true;
                self.expr(e)?;
                self.discard = false;
            }
            StmtKind::If { cond, then, otherwise } => {
                let (c, _) = self.expr(cond)?;
                let (t, join) = (self.new_block(), self.new_block());
                let o = if otherwise.is_some() { self.new_block() } else { join };
                self.terminate(Terminator::Branch { cond: c, then: t, otherwise: o }, cond.span);
                self.switch_to(t);
                self.stmt(then)?;
                self.goto(join, span);
                if let Some(other) = otherwise {
                    self.switch_to(o);
                    self.stmt(other)?;
                    self.goto(join, span);
                }
                self.switch_to(join);
            }
            StmtKind::For { init, cond, incr, body } => {
                if let Some(i) = init {
                    self.discard = true;
                    self.expr(i)?;
                }
                let (head, inside, step, exit) =
                    (self.new_block(), self.new_block(), self.new_block(), self.new_block());
                self.goto(head, span);
                let (c, _) = self.expr(cond)?;
                self.terminate(Terminator::Branch { cond: c, then: inside, otherwise: exit }, cond.span);
                self.switch_to(inside);
                self.loops.push((exit, step));
                self.stmt(body)?;
                self.loops.pop();
                self.goto(step, span);
                if let Some(i) = incr {
                    self.discard = true;
                    self.expr(i)?;
                }
                self.terminate(Terminator::Jump(head), span);
                self.switch_to(exit);
            }
            StmtKind::Break | StmtKind::Continue => {
                let Some(&(brk, cont)) = self.loops.last() else {
                    return Err(Diagnostic::semantic_error("break or continue outside a loop", span));
                };
                let to = if matches!(s.kind, StmtKind::Break) { brk } else { cont };
                self.terminate(Terminator::Jump(to), span);
                let dead = self.new_block();
                self.switch_to(dead);
            }
            StmtKind::Return(e) => {
                let v = match e {
                    Some(e) => {
                        let v = self.expr(e)?;
                        Some(self.coerce(v, self.func.ret.unwrap_or(Ty::Long)))
                    }
                    None => None,
                };
                // A function without a type returns nothing.
                let v = if self.func.ret.is_some() { v } else { None };
                self.terminate(Terminator::Return(v), span);
                let dead = self.new_block();
                self.switch_to(dead);
            }
            StmtKind::Next => {
                self.terminate(Terminator::Next, span);
                let dead = self.new_block();
                self.switch_to(dead);
            }
            StmtKind::Delete(e) => self.delete(e)?,
            StmtKind::Foreach(f) => self.foreach(f)?,
            StmtKind::Try { body, var, catch } => {
                // The catch block belongs to the outer try, if any.
                let handler = self.new_block();
                // `catch (msg)`: a local receives the message; a global
                // receives it from a temporary as the catch begins.
                let (message, into_global) = match var {
                    Some(v) => match self.names.get(&v.name).copied() {
                        Some(local) => (Some(local), None),
                        None => {
                            let g = self.global(&v.name, v.span)?;
                            (Some(self.temp(Ty::Str)), Some((g, v.span)))
                        }
                    },
                    None => (None, None),
                };
                self.catches.push(Catch { block: handler, message });
                let inside = self.new_block();
                self.catches.pop();
                let join = self.new_block();
                self.goto(inside, span);
                self.catches.push(Catch { block: handler, message });
                let lowered = self.block(body);
                self.catches.pop();
                lowered?;
                self.goto(join, span);
                self.switch_to(handler);
                if let (Some((g, gspan)), Some(m)) = (into_global, message) {
                    self.emit(InstKind::StoreGlobal { global: g, src: Operand::Var(m) }, gspan);
                }
                self.block(catch)?;
                self.goto(join, span);
                self.switch_to(join);
            }
        }
        Ok(())
    }

    /// `foreach`: start an iteration, then take entries until none is
    /// left; `continue` takes the next, `break` leaves.
    fn foreach(&mut self, f: &crate::parse::ast::Foreach) -> Result<(), Diagnostic> {
        let span = f.span;
        let ExprKind::Var(name) = &f.array.kind else { return Err(not_yet("foreach over this", f.array.span)) };
        let map = self.global(name, f.array.span)?;
        let slice = match &f.slice {
            Some(keys) => self.slice(map, keys)?,
            None => Vec::new(),
        };
        let limit = match &f.limit {
            Some(l) => {
                let v = self.expr(l)?;
                Some(self.coerce(v, Ty::Long))
            }
            None => None,
        };
        let local = |l: &Self, id: &crate::parse::ast::Ident| {
            l.names.get(&id.name).copied().ok_or_else(|| {
                Diagnostic::internal(format!("pass 3: foreach variable '{}' is not a local", id.name)).at(id.span, "")
            })
        };
        let keys = f.keys.iter().map(|k| local(self, k)).collect::<Result<Vec<_>, _>>()?;
        let value = match &f.value {
            Some(v) => Some(local(self, v)?),
            None => None,
        };
        let iter = self.temp(Ty::Long);
        let found = self.temp(Ty::Long);
        self.emit(InstKind::IterStart { iter, map, sort: f.sort, aggregate: f.aggregate, limit, slice }, span);
        let (head, body, exit) = (self.new_block(), self.new_block(), self.new_block());
        self.goto(head, span);
        self.emit(InstKind::IterNext { iter, map, found, keys, value }, span);
        self.terminate(Terminator::Branch { cond: Operand::Var(found), then: body, otherwise: exit }, span);
        self.switch_to(body);
        self.loops.push((exit, head));
        self.stmt(&f.body)?;
        self.loops.pop();
        self.terminate(Terminator::Jump(head), span);
        self.switch_to(exit);
        Ok(())
    }

    fn delete(&mut self, e: &Expr) -> Result<(), Diagnostic> {
        match &e.kind {
            ExprKind::Var(name) => match self.names.get(name) {
                Some(&v) => {
                    let t = self.var_ty(v);
                    self.emit(InstKind::Copy { dst: v, src: zero(t) }, e.span);
                }
                None => {
                    let g = self.global(name, e.span)?;
                    match self.program.globals.get(g.0 as usize).map(|g| (g.var.arity.unwrap_or(0), g.var.ty)) {
                        Some((0, t)) if t != Type::Stats => {
                            self.emit(InstKind::StoreGlobal { global: g, src: zero(ty(t)) }, e.span)
                        }
                        _ => self.emit(InstKind::MapDelete { map: g, keys: None }, e.span),
                    }
                }
            },
            ExprKind::Index { base, keys } => {
                let ExprKind::Var(name) = &base.kind else { return Err(not_yet("this delete", e.span)) };
                let g = self.global(name, base.span)?;
                let keys = self.slice(g, keys)?;
                self.emit(InstKind::MapDelete { map: g, keys: Some(keys) }, e.span);
            }
            _ => return Err(not_yet("this delete", e.span)),
        }
        Ok(())
    }
}
