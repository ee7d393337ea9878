//! From the elaborated program to the IR.
//!
//! Names are bound as pass 2 bound them: a name in a body is a local of
//! that body (a parameter, a script local) or else a global of the file.
//! `&&`, `||` and `?:` become branches; loops become blocks with their
//! `break` and `continue` targets.

use std::collections::HashMap;

use super::{
    BinOp, Block, BlockId, Catch, FuncId, Function, Global, GlobalId, GlobalKind, Handler, Hist, Inst, InstKind,
    Module, Operand, Terminator, Ty, UnOp, VarDecl, VarId,
};
use crate::diag::Diagnostic;
use crate::elab::{Placement, Program, Type, Var, intrinsics};
use crate::parse::ast::{
    AssignOp, BinaryOp, Block as AstBlock, Crement, Expr, ExprKind, FunctionBody, Literal, LogicalOp, Stmt, StmtKind,
    TargetBase, TargetOp, UnaryOp,
};
use crate::source::{FileId, Span};

mod update;
use update::Want;

/// Lowers every handler and every instance of a script function.
pub fn lower(program: &Program) -> Result<Module, Vec<Diagnostic>> {
    let mut module = Module { globals: program.globals.iter().map(global).collect(), ..Module::default() };
    // Function instances first, so that calls can name them.
    let mut ids: HashMap<(usize, Placement), FuncId> = HashMap::new();
    let mut instances = Vec::new();
    for (i, f) in program.functions.iter().enumerate() {
        for &p in &f.placements {
            ids.insert((i, p), FuncId((instances.len()) as u32));
            instances.push((i, p));
        }
    }
    let mut diags = Vec::new();
    for &(i, placement) in &instances {
        let Some(f) = program.functions.get(i) else { continue };
        let FunctionBody::Script(body) = &f.def.body else {
            diags.push(Diagnostic::semantic_error(
                format!("function '{}' is embedded C, which stp cannot run", f.def.name.name),
                f.def.name.span,
            ));
            continue;
        };
        let ret = (f.ret != Type::Unknown).then(|| ty(f.ret));
        let mut l = Lower::new(program, &ids, f.file, placement, f.def.name.name.clone(), ret, f.def.span);
        let params: Vec<VarId> = f.params.iter().map(|v| l.declare(v)).collect();
        for v in &f.locals {
            l.declare(v);
        }
        l.func.params = params;
        match l.body(body) {
            Ok((func, entries)) if entries.is_empty() => module.functions.push(func),
            Ok(_) => diags.push(Diagnostic::semantic_error("@entry is allowed only in .return probes", f.def.span)),
            Err(d) => diags.push(d),
        }
    }
    for (pi, p) in program.probes.iter().enumerate() {
        let mut l = Lower::new(program, &ids, p.file, p.placement, format!("probe_{pi}"), None, p.span);
        for v in &p.locals {
            l.declare(v);
        }
        let lowered = match &p.condition {
            // `if (cond)` on a point: the handler runs only while it holds.
            Some(c) => l.guarded_body(c, &p.body),
            None => l.body(&p.body),
        };
        let (func, entries) = match lowered {
            Ok(x) => x,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        module.handlers.push(Handler { func: FuncId(module.functions.len() as u32), probe: pi, at_entry: false });
        module.functions.push(func);
        if entries.is_empty() {
            continue;
        }
        // `@entry(e)`: a function at the probed functions' entry keeps each
        // `e` for the return.
        let mut l = Lower::new(program, &ids, p.file, p.placement, format!("probe_{pi}_entry"), None, p.span);
        for v in &p.locals {
            l.declare(v);
        }
        match l.entry_body(&entries, p.span) {
            Ok(func) => {
                module.handlers.push(Handler {
                    func: FuncId(module.functions.len() as u32),
                    probe: pi,
                    at_entry: true,
                });
                module.functions.push(func);
            }
            Err(d) => diags.push(d),
        }
    }
    if diags.is_empty() { Ok(module) } else { Err(diags) }
}

fn ty(t: Type) -> Ty {
    if t == Type::String { Ty::Str } else { Ty::Long }
}

fn global(g: &crate::elab::GlobalVar) -> Global {
    let v = &g.var;
    let keys: Vec<Ty> = v.keys.iter().map(|&k| ty(k)).collect();
    let kind = match (v.ty, v.arity.unwrap_or(0)) {
        (Type::Stats, _) => GlobalKind::Stats { keys },
        (t, 0) if !g.decl.array => GlobalKind::Scalar(ty(t)),
        (t, _) => GlobalKind::Array { keys, value: ty(t) },
    };
    let init = g.decl.init.as_ref().map(|(l, _)| match l {
        Literal::Number(n) => Operand::Long(*n),
        Literal::String(s) => Operand::Str(s.clone()),
    });
    Global {
        name: v.name.clone(),
        kind,
        size: g.decl.size.and_then(|s| u64::try_from(s).ok()),
        wrap: g.decl.wrap,
        init,
    }
}

fn not_yet(what: &str, span: Span) -> Diagnostic {
    Diagnostic::semantic_error(format!("pass 3 does not translate {what} yet"), span)
}

/// A place a value can be written to.
enum Place {
    Local(VarId, Ty),
    Global(GlobalId, Ty),
    Elem(GlobalId, Vec<Operand>, Ty),
}

struct Lower<'a> {
    program: &'a Program,
    ids: &'a HashMap<(usize, Placement), FuncId>,
    file: FileId,
    func: Function,
    names: HashMap<String, VarId>,
    /// The block instructions go to.
    cur: BlockId,
    /// Blocks whose terminator is still to come.
    open: Vec<bool>,
    /// (break, continue) targets of the enclosing loops.
    loops: Vec<(BlockId, BlockId)>,
    /// The `catch` of each enclosing `try`, innermost last.
    catches: Vec<Catch>,
    /// The operands of `@entry(...)`, by slot.
    entries: Vec<Expr>,
    /// The expression about to be lowered is a statement's: its value
    /// is not used.
    discard: bool,
}

impl<'a> Lower<'a> {
    fn new(
        program: &'a Program,
        ids: &'a HashMap<(usize, Placement), FuncId>,
        file: FileId,
        placement: Placement,
        name: String,
        ret: Option<Ty>,
        span: Span,
    ) -> Lower<'a> {
        let func = Function {
            name,
            placement,
            params: Vec::new(),
            ret,
            vars: Vec::new(),
            blocks: vec![Block { insts: Vec::new(), term: Terminator::Return(None), term_span: span, on_error: None }],
            span,
        };
        Lower {
            program,
            ids,
            file,
            func,
            names: HashMap::new(),
            cur: BlockId(0),
            open: vec![true],
            loops: Vec::new(),
            catches: Vec::new(),
            entries: Vec::new(),
            discard: false,
        }
    }

    fn declare(&mut self, v: &Var) -> VarId {
        let id = VarId(self.func.vars.len() as u32);
        self.func.vars.push(VarDecl { name: v.name.clone(), ty: ty(v.ty) });
        self.names.insert(v.name.clone(), id);
        id
    }

    fn temp(&mut self, t: Ty) -> VarId {
        let id = VarId(self.func.vars.len() as u32);
        self.func.vars.push(VarDecl { name: String::new(), ty: t });
        id
    }

    /// An operand evaluated before `later`, kept as it was then. A local
    /// variable's operand names the variable, so an assignment in a later
    /// operand (`a + a++`) would change it; it is copied first, as stap
    /// evaluates operands left to right into temporaries.
    fn hold<'e>(&mut self, v: (Operand, Ty), later: impl IntoIterator<Item = &'e Expr>, span: Span) -> (Operand, Ty) {
        let Operand::Var(var) = v.0 else { return v };
        let named = self.func.vars.get(var.0 as usize).is_some_and(|d| !d.name.is_empty());
        if !named || !later.into_iter().any(mutates) {
            return v;
        }
        let dst = self.temp(v.1);
        self.emit(InstKind::Copy { dst, src: v.0 }, span);
        (Operand::Var(dst), v.1)
    }

    fn new_block(&mut self) -> BlockId {
        let id = BlockId(self.func.blocks.len() as u32);
        let on_error = self.catches.last().copied();
        self.func.blocks.push(Block {
            insts: Vec::new(),
            term: Terminator::Return(None),
            term_span: self.func.span,
            on_error,
        });
        self.open.push(true);
        id
    }

    fn emit(&mut self, kind: InstKind, span: Span) {
        if let Some(b) = self.func.blocks.get_mut(self.cur.0 as usize) {
            b.insts.push(Inst { kind, span });
        }
    }

    /// Ends the current block; what follows (dead code) goes to a fresh one.
    fn terminate(&mut self, term: Terminator, span: Span) {
        let i = self.cur.0 as usize;
        if self.open.get(i).copied().unwrap_or(false) {
            if let Some(b) = self.func.blocks.get_mut(i) {
                b.term = term;
                b.term_span = span;
            }
            if let Some(o) = self.open.get_mut(i) {
                *o = false;
            }
        }
    }

    fn switch_to(&mut self, b: BlockId) {
        self.cur = b;
    }

    /// Jumps to `to` and continues there.
    fn goto(&mut self, to: BlockId, span: Span) {
        self.terminate(Terminator::Jump(to), span);
        self.switch_to(to);
    }

    fn body(mut self, b: &AstBlock) -> Result<(Function, Vec<Expr>), Diagnostic> {
        self.block(b)?;
        self.fall_off(b.span);
        self.finish()
    }

    /// The entry function of a return probe: each `@entry` operand,
    /// evaluated and kept.
    fn entry_body(mut self, entries: &[Expr], span: Span) -> Result<Function, Diagnostic> {
        for (slot, e) in entries.iter().enumerate() {
            let (value, _) = self.expr(e)?;
            self.emit(InstKind::EntrySave { slot: slot as u32, value }, e.span);
        }
        self.fall_off(span);
        let (func, nested) = self.finish()?;
        if nested.is_empty() { Ok(func) } else { Err(Diagnostic::semantic_error("@entry cannot be nested", span)) }
    }

    /// The end of a body: a function with a type returns 0 or "" there,
    /// as stap's do.
    fn fall_off(&mut self, span: Span) {
        let value = self.func.ret.map(zero);
        self.terminate(Terminator::Return(value), span);
    }

    fn guarded_body(mut self, cond: &Expr, b: &AstBlock) -> Result<(Function, Vec<Expr>), Diagnostic> {
        let (c, _) = self.expr(cond)?;
        let (run, skip) = (self.new_block(), self.new_block());
        self.terminate(Terminator::Branch { cond: c, then: run, otherwise: skip }, cond.span);
        self.switch_to(skip);
        self.fall_off(cond.span);
        self.switch_to(run);
        self.block(b)?;
        self.fall_off(b.span);
        self.finish()
    }

    /// Blocks left open (dead code after a `return`, `next` or `break`)
    /// end like the body does; the back ends drop unreachable blocks.
    fn finish(mut self) -> Result<(Function, Vec<Expr>), Diagnostic> {
        let value = self.func.ret.map(zero);
        for (i, open) in self.open.iter().enumerate() {
            if *open && let Some(b) = self.func.blocks.get_mut(i) {
                b.term = Terminator::Return(value.clone());
            }
        }
        Ok((self.func, self.entries))
    }

    fn block(&mut self, b: &AstBlock) -> Result<(), Diagnostic> {
        for s in &b.stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), Diagnostic> {
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

    /// `$$parms` and friends: `name=0x...` for each part, separated by
    /// spaces, built with sprintf (a part stp cannot read is `name=?`).
    fn context_text(&mut self, parts: &[crate::elab::target::Part], span: Span) -> (Operand, Ty) {
        let mut format = Vec::new();
        let mut args = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                format.push(b' ');
            }
            format.extend(p.name.bytes());
            format.push(b'=');
            match &p.value {
                Some(r) => {
                    let dst = self.temp(Ty::Long);
                    self.emit(InstKind::Target { dst, resolved: r.clone(), operands: Vec::new() }, span);
                    format.extend(b"0x%x");
                    args.push((Operand::Var(dst), Ty::Long));
                }
                None => format.push(b'?'),
            }
        }
        if args.is_empty() {
            return (Operand::Str(format), Ty::Str);
        }
        let dst = self.temp(Ty::Str);
        self.emit(
            InstKind::Print {
                dst: Some(dst),
                kind: crate::parse::ast::PrintKind::Sprintf,
                format: Some(format),
                delimiter: None,
                args,
            },
            span,
        );
        (Operand::Var(dst), Ty::Str)
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

    fn var_ty(&self, v: VarId) -> Ty {
        self.func.var(v).map_or(Ty::Long, |d| d.ty)
    }

    fn global(&self, name: &str, span: Span) -> Result<GlobalId, Diagnostic> {
        self.program.global(name, self.file).map(|g| GlobalId(g as u32)).ok_or_else(|| {
            Diagnostic::internal(format!("pass 3: '{name}' is neither a local nor a global")).at(span, "")
        })
    }

    fn global_ty(&self, g: GlobalId) -> Ty {
        self.program.globals.get(g.0 as usize).map_or(Ty::Long, |g| ty(g.var.ty))
    }

    /// The key types of a global array or statistic.
    fn key_types(&self, g: GlobalId) -> Vec<Ty> {
        self.program.globals.get(g.0 as usize).map(|g| g.var.keys.iter().map(|&k| ty(k)).collect()).unwrap_or_default()
    }

    fn keys(&mut self, g: GlobalId, keys: &[Option<Expr>]) -> Result<Vec<Operand>, Diagnostic> {
        let types = self.key_types(g);
        let mut out = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match k {
                Some(k) => {
                    let v = self.expr(k)?;
                    let v = self.hold(v, keys.get(i + 1..).unwrap_or_default().iter().flatten(), k.span);
                    let want = types.get(i).copied().unwrap_or(v.1);
                    out.push(self.coerce(v, want));
                }
                None => return Err(Diagnostic::internal("pass 3: a `*` key where a key is needed")),
            }
        }
        Ok(out)
    }

    /// Keys where `*` may stand for any.
    fn slice(&mut self, g: GlobalId, keys: &[Option<Expr>]) -> Result<Vec<Option<Operand>>, Diagnostic> {
        let types = self.key_types(g);
        let mut out = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            out.push(match k {
                Some(k) => {
                    let v = self.expr(k)?;
                    let v = self.hold(v, keys.get(i + 1..).unwrap_or_default().iter().flatten(), k.span);
                    let want = types.get(i).copied().unwrap_or(v.1);
                    Some(self.coerce(v, want))
                }
                None => None,
            });
        }
        Ok(out)
    }

    /// Where an assignment writes.
    fn place(&mut self, e: &Expr) -> Result<Place, Diagnostic> {
        match &e.kind {
            ExprKind::Var(name) => match self.names.get(name) {
                Some(&v) => Ok(Place::Local(v, self.var_ty(v))),
                None => {
                    let g = self.global(name, e.span)?;
                    Ok(Place::Global(g, self.global_ty(g)))
                }
            },
            ExprKind::Index { base, keys } => {
                let ExprKind::Var(name) = &base.kind else { return Err(not_yet("this assignment", e.span)) };
                let g = self.global(name, base.span)?;
                let keys = self.keys(g, keys)?;
                Ok(Place::Elem(g, keys, self.global_ty(g)))
            }
            ExprKind::Target(_) => Err(not_yet("writes to target variables", e.span)),
            _ => Err(Diagnostic::internal("pass 3: not an lvalue").at(e.span, "")),
        }
    }

    fn read(&mut self, p: &Place, span: Span) -> Operand {
        match p {
            Place::Local(v, _) => Operand::Var(*v),
            Place::Global(g, t) => {
                let dst = self.temp(*t);
                self.emit(InstKind::LoadGlobal { dst, global: *g }, span);
                Operand::Var(dst)
            }
            Place::Elem(g, keys, t) => {
                let dst = self.temp(*t);
                self.emit(InstKind::MapGet { dst, map: *g, keys: keys.clone() }, span);
                Operand::Var(dst)
            }
        }
    }

    fn write(&mut self, p: &Place, value: Operand, span: Span) {
        match p {
            Place::Local(v, _) => self.emit(InstKind::Copy { dst: *v, src: value }, span),
            Place::Global(g, _) => self.emit(InstKind::StoreGlobal { global: *g, src: value }, span),
            Place::Elem(g, keys, _) => self.emit(InstKind::MapSet { map: *g, keys: keys.clone(), value }, span),
        }
    }

    fn place_ty(p: &Place) -> Ty {
        match p {
            Place::Local(_, t) | Place::Global(_, t) | Place::Elem(_, _, t) => *t,
        }
    }

    /// A value where `want` is needed. Pass 2 has checked the types; the
    /// one value of another type that reaches here is that of a call that
    /// returns nothing (`printf(...)`, `exit()`), which stap lets stand for
    /// any type: it is 0 or "".
    fn coerce(&self, value: (Operand, Ty), want: Ty) -> Operand {
        if value.1 == want { value.0 } else { zero(want) }
    }

    fn binary(&mut self, op: BinaryOp, a: (Operand, Ty), b: (Operand, Ty), span: Span) -> (Operand, Ty) {
        let want = if op == BinaryOp::Concat { Ty::Str } else { Ty::Long };
        let (a, b) = (self.coerce(a, want), self.coerce(b, want));
        if op == BinaryOp::Concat {
            let dst = self.temp(Ty::Str);
            self.emit(InstKind::Concat { dst, a, b }, span);
            return (Operand::Var(dst), Ty::Str);
        }
        let op = match op {
            BinaryOp::Add => BinOp::Add,
            BinaryOp::Sub => BinOp::Sub,
            BinaryOp::Mul => BinOp::Mul,
            BinaryOp::Div => BinOp::Div,
            BinaryOp::Mod => BinOp::Mod,
            BinaryOp::Shl => BinOp::Shl,
            BinaryOp::Shr => BinOp::Shr,
            BinaryOp::BitAnd => BinOp::And,
            BinaryOp::BitOr => BinOp::Or,
            BinaryOp::BitXor | BinaryOp::Concat => BinOp::Xor,
        };
        let dst = self.temp(Ty::Long);
        self.emit(InstKind::Binary { dst, op, a, b }, span);
        (Operand::Var(dst), Ty::Long)
    }

    fn expr(&mut self, e: &Expr) -> Result<(Operand, Ty), Diagnostic> {
        let span = e.span;
        let discard = std::mem::take(&mut self.discard);
        Ok(match &e.kind {
            ExprKind::Number(n) => (Operand::Long(*n), Ty::Long),
            ExprKind::String(s) => (Operand::Str(s.clone()), Ty::Str),
            ExprKind::Var(_) | ExprKind::Index { .. } => {
                if let ExprKind::Index { base, keys } = &e.kind
                    && !matches!(base.kind, ExprKind::Var(_))
                {
                    // `@hist_log(s)[i]`: a bucket's count.
                    let ExprKind::Hist { kind, operand } = &base.kind else {
                        return Err(not_yet("indexing this", span));
                    };
                    let [Some(index)] = keys.as_slice() else {
                        return Err(Diagnostic::semantic_error("a histogram bucket takes one index", span));
                    };
                    let (stat, skeys) = self.stat_place(operand)?;
                    let hist = self.hist(kind)?;
                    let (index, _) = self.expr(index)?;
                    let dst = self.temp(Ty::Long);
                    self.emit(InstKind::HistBucket { dst, stat, keys: skeys, hist, index }, span);
                    return Ok((Operand::Var(dst), Ty::Long));
                }
                let p = self.place(e)?;
                let t = Self::place_ty(&p);
                (self.read(&p, span), t)
            }
            ExprKind::Unary { op, operand } => {
                let (a, _) = self.expr(operand)?;
                let op = match op {
                    UnaryOp::Plus => return Ok((a, Ty::Long)),
                    UnaryOp::Neg => UnOp::Neg,
                    UnaryOp::Not => UnOp::Not,
                    UnaryOp::BitNot => UnOp::BitNot,
                };
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::Unary { dst, op, a }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.expr(lhs)?;
                let a = self.hold(a, [&**rhs], lhs.span);
                let b = self.expr(rhs)?;
                // A division fails at its operator: the text between the
                // operands (its runtime error says "near operator '/'").
                let at = match op {
                    BinaryOp::Div | BinaryOp::Mod if lhs.span.end <= rhs.span.start => {
                        Span::new(span.file, lhs.span.end, rhs.span.start)
                    }
                    _ => span,
                };
                self.binary(*op, a, b, at)
            }
            ExprKind::Compare { op, lhs, rhs } => {
                let a = self.expr(lhs)?;
                let a = self.hold(a, [&**rhs], lhs.span);
                let b = self.expr(rhs)?;
                let strings = a.1 == Ty::Str || b.1 == Ty::Str;
                let t = if strings { Ty::Str } else { Ty::Long };
                let (a, b) = (self.coerce(a, t), self.coerce(b, t));
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::Compare { dst, op: *op, a, b, strings }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Logical { op, lhs, rhs } => {
                // The result is 0 or 1; the right side runs only if needed.
                let dst = self.temp(Ty::Long);
                let (a, _) = self.expr(lhs)?;
                let (right, short, join) = (self.new_block(), self.new_block(), self.new_block());
                let (then, otherwise) = if *op == LogicalOp::And { (right, short) } else { (short, right) };
                self.terminate(Terminator::Branch { cond: a, then, otherwise }, lhs.span);
                self.switch_to(short);
                let short_value = i64::from(*op == LogicalOp::Or);
                self.emit(InstKind::Copy { dst, src: Operand::Long(short_value) }, span);
                self.goto(join, span);
                self.switch_to(right);
                let (b, _) = self.expr(rhs)?;
                self.emit(
                    InstKind::Compare {
                        dst,
                        op: crate::parse::ast::CompareOp::Ne,
                        a: b,
                        b: Operand::Long(0),
                        strings: false,
                    },
                    span,
                );
                self.goto(join, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                let (c, _) = self.expr(cond)?;
                let (tb, ob, join) = (self.new_block(), self.new_block(), self.new_block());
                self.terminate(Terminator::Branch { cond: c, then: tb, otherwise: ob }, cond.span);
                self.switch_to(tb);
                let a = self.expr(then)?;
                // The result's type is known once both arms are: a string
                // if either is one (the other is then a call that returns
                // nothing). The then arm's copy is added when it is known.
                let dst = self.temp(a.1);
                let then_end = self.cur;
                self.switch_to(ob);
                let b = self.expr(otherwise)?;
                let t = if a.1 == Ty::Str || b.1 == Ty::Str { Ty::Str } else { Ty::Long };
                if let Some(d) = self.func.vars.get_mut(dst.0 as usize) {
                    d.ty = t;
                }
                let b = self.coerce(b, t);
                self.emit(InstKind::Copy { dst, src: b }, span);
                self.goto(join, span);
                self.switch_to(then_end);
                let a = self.coerce(a, t);
                self.emit(InstKind::Copy { dst, src: a }, span);
                self.goto(join, span);
                (Operand::Var(dst), t)
            }
            ExprKind::Assign { op, lhs, rhs } => self.assign(*op, lhs, rhs, span, discard)?,
            ExprKind::Crement { op, prefix, operand } => {
                let p = self.place(operand)?;
                if let Some(target) = Self::updatable(&p) {
                    let delta = Operand::Long(if *op == Crement::Incr { 1 } else { -1 });
                    let want = match (discard, *prefix) {
                        (true, _) => Want::Nothing,
                        (false, true) => Want::New,
                        (false, false) => Want::Old,
                    };
                    return Ok((self.update(target, BinOp::Add, delta, want, span), Ty::Long));
                }
                let old = self.read(&p, span);
                let before = self.temp(Ty::Long);
                self.emit(InstKind::Copy { dst: before, src: old }, span);
                let delta = Operand::Long(if *op == Crement::Incr { 1 } else { -1 });
                let (new, _) = self.binary(BinaryOp::Add, (Operand::Var(before), Ty::Long), (delta, Ty::Long), span);
                self.write(&p, new.clone(), span);
                (if *prefix { new } else { Operand::Var(before) }, Ty::Long)
            }
            ExprKind::Regex { negated, operand, pattern, .. } => {
                let (a, _) = self.expr(operand)?;
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::Regex { dst, a, pattern: pattern.clone(), negated: *negated }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::In { keys, array } => {
                let ExprKind::Var(name) = &array.kind else { return Err(not_yet("this `in`", span)) };
                let g = self.global(name, array.span)?;
                let keys = self.slice(g, keys)?;
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::MapHas { dst, map: g, keys }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Stat { op, operand, extra } => {
                if !extra.is_empty() {
                    return Err(not_yet("@variance with a bucket size", span));
                }
                let (stat, keys) = self.stat_place(operand)?;
                let dst = self.temp(Ty::Long);
                self.emit(InstKind::StatGet { dst, stat, keys, op: *op }, span);
                (Operand::Var(dst), Ty::Long)
            }
            ExprKind::Target(t) => {
                let Some(resolved) = self.program.resolved(t).cloned().map(Box::new) else {
                    return Err(Diagnostic::internal("pass 3: an unresolved target expression").at(span, ""));
                };
                if let crate::elab::target::Base::Parts(parts) = &resolved.base {
                    return Ok(self.context_text(parts, span));
                }
                let mut operands = Vec::new();
                if let TargetBase::Cast { operand, .. } | TargetBase::Autocast(operand) = &t.base {
                    operands.push(self.expr(operand)?.0);
                }
                // One operand per operation, so that `Step::Index { op }`
                // finds its index at `op` (after the address of a cast).
                for op in &t.ops {
                    operands.push(match op {
                        TargetOp::Index(i) => self.expr(i)?.0,
                        _ => Operand::Long(0),
                    });
                }
                let t = ty(resolved.ty);
                let dst = self.temp(t);
                self.emit(InstKind::Target { dst, resolved, operands }, span);
                (Operand::Var(dst), t)
            }
            ExprKind::Call { name, args } => self.call(&name.name, args, span)?,
            ExprKind::Print { kind, format, delimiter, args } => {
                let delimiter = match delimiter {
                    Some(d) => Some(self.expr(d)?.0),
                    None => None,
                };
                // `print(@hist_log(s))`, `println(...)`: the histogram drawn.
                if let [arg] = args.as_slice()
                    && let ExprKind::Hist { kind: hk, operand } = &arg.kind
                    && matches!(kind, crate::parse::ast::PrintKind::Print | crate::parse::ast::PrintKind::Println)
                {
                    let (stat, keys) = self.stat_place(operand)?;
                    let hist = self.hist(hk)?;
                    self.emit(InstKind::HistPrint { stat, keys, hist }, span);
                    if *kind == crate::parse::ast::PrintKind::Println {
                        let nl = Operand::Str(b"\n".to_vec());
                        let print = crate::parse::ast::PrintKind::Print;
                        self.emit(
                            InstKind::Print {
                                dst: None,
                                kind: print,
                                format: None,
                                delimiter: None,
                                args: vec![(nl, Ty::Str)],
                            },
                            span,
                        );
                    }
                    return Ok((Operand::Long(0), Ty::Long));
                }
                let mut values = Vec::new();
                for (i, a) in args.iter().enumerate() {
                    if let ExprKind::Hist { .. } = a.kind {
                        return Err(not_yet("histograms in sprint or among other values", a.span));
                    }
                    let v = self.expr(a)?;
                    values.push(self.hold(v, args.get(i + 1..).unwrap_or_default(), a.span));
                }
                let dst = kind.returns_string().then(|| self.temp(Ty::Str));
                let format = format.as_ref().map(|(f, _)| f.clone());
                self.emit(InstKind::Print { dst, kind: *kind, format, delimiter, args: values }, span);
                match dst {
                    Some(d) => (Operand::Var(d), Ty::Str),
                    None => (Operand::Long(0), Ty::Long),
                }
            }
            ExprKind::Defined(_) => return Err(Diagnostic::internal("pass 3: an undecided @defined").at(span, "")),
            ExprKind::Hist { .. } => return Err(not_yet("histograms outside print", span)),
            ExprKind::Entry(inner) => {
                // Typed as its operand; evaluated at entry by the entry function.
                let t = self.expr_type(inner);
                let slot = self.entries.len() as u32;
                self.entries.push((**inner).clone());
                let dst = self.temp(t);
                self.emit(InstKind::EntryLoad { dst, slot }, span);
                (Operand::Var(dst), t)
            }
            ExprKind::Perf(_) => return Err(not_yet("@perf", span)),
            ExprKind::ProbeWrite(_) => {
                return Err(Diagnostic::internal("pass 3: an undecided @probewrite").at(span, ""));
            }
            ExprKind::Register { .. } | ExprKind::Deref { .. } => {
                return Err(not_yet("register and memory access", span));
            }
            ExprKind::Embedded(_) => return Err(not_yet("embedded C", span)),
        })
    }

    fn hist(&mut self, kind: &crate::parse::ast::HistKind) -> Result<Hist, Diagnostic> {
        Ok(match kind {
            crate::parse::ast::HistKind::Log => Hist::Log,
            crate::parse::ast::HistKind::Linear { start, stop, step } => {
                Hist::Linear { lo: self.expr(start)?.0, hi: self.expr(stop)?.0, step: self.expr(step)?.0 }
            }
        })
    }

    /// The type an expression would have, without lowering it: lowered
    /// into a throwaway copy of this function.
    fn expr_type(&self, e: &Expr) -> Ty {
        let mut probe =
            Lower::new(self.program, self.ids, self.file, self.func.placement, String::new(), None, self.func.span);
        probe.func.vars = self.func.vars.clone();
        probe.names = self.names.clone();
        probe.expr(e).map_or(Ty::Long, |(_, t)| t)
    }

    fn stat_place(&mut self, e: &Expr) -> Result<(GlobalId, Vec<Operand>), Diagnostic> {
        match &e.kind {
            ExprKind::Var(name) => Ok((self.global(name, e.span)?, Vec::new())),
            ExprKind::Index { base, keys } => {
                let ExprKind::Var(name) = &base.kind else { return Err(not_yet("this statistic", e.span)) };
                let g = self.global(name, base.span)?;
                let keys = self.keys(g, keys)?;
                Ok((g, keys))
            }
            _ => Err(not_yet("this statistic", e.span)),
        }
    }

    fn assign(
        &mut self,
        op: AssignOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        discard: bool,
    ) -> Result<(Operand, Ty), Diagnostic> {
        if op == AssignOp::Aggregate {
            let value = self.expr(rhs)?;
            let value = self.coerce(value, Ty::Long);
            let (stat, keys) = self.stat_place(lhs)?;
            self.emit(InstKind::StatAdd { stat, keys, value: value.clone() }, span);
            return Ok((value, Ty::Long));
        }
        // A write that fails (a full array) fails at the operator: the
        // text between the two sides.
        let at = if lhs.span.end <= rhs.span.start { Span::new(span.file, lhs.span.end, rhs.span.start) } else { span };
        let want = if discard { Want::Nothing } else { Want::New };
        // `g = g OP e`: `g OP= e`.
        if op == AssignOp::Assign
            && let Some((bop, e)) = self.compound(lhs, rhs)
        {
            let value = self.expr(e)?;
            let value = self.coerce(value, Ty::Long);
            let p = self.place(lhs)?;
            if let Some(target) = Self::updatable(&p) {
                return Ok((self.update(target, bop, value, want, at), Ty::Long));
            }
            return Err(Diagnostic::internal("pass 3: a compound assignment to a string").at(span, ""));
        }
        let value = self.expr(rhs)?;
        let p = self.place(lhs)?;
        let t = Self::place_ty(&p);
        let atomic = match op {
            AssignOp::Op(BinaryOp::Add) => Some(BinOp::Add),
            AssignOp::Op(BinaryOp::Sub) => Some(BinOp::Sub),
            AssignOp::Op(BinaryOp::BitOr) => Some(BinOp::Or),
            AssignOp::Op(BinaryOp::BitAnd) => Some(BinOp::And),
            AssignOp::Op(BinaryOp::BitXor) => Some(BinOp::Xor),
            _ => None,
        };
        if let (Some(bop), Some(target)) = (atomic, Self::updatable(&p)) {
            let value = self.coerce(value, Ty::Long);
            return Ok((self.update(target, bop, value, want, at), Ty::Long));
        }
        let value = match op {
            AssignOp::Op(bop) => {
                let old = self.read(&p, span);
                self.binary(bop, (old, t), value, span).0
            }
            _ => self.coerce(value, t),
        };
        // The assignment's value is what was stored: a temporary keeps it
        // stable when the place is a variable written again later.
        let kept = match (&p, &value) {
            (_, Operand::Var(_)) | (Place::Local(..), _) => {
                let dst = self.temp(t);
                self.emit(InstKind::Copy { dst, src: value }, span);
                Operand::Var(dst)
            }
            _ => value,
        };
        self.write(&p, kept.clone(), at);
        Ok((kept, t))
    }

    fn call(&mut self, name: &str, args: &[Expr], span: Span) -> Result<(Operand, Ty), Diagnostic> {
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

fn zero(t: Ty) -> Operand {
    match t {
        Ty::Long => Operand::Long(0),
        Ty::Str => Operand::Str(Vec::new()),
    }
}

/// Whether evaluating `e` may assign a variable.
fn mutates(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Assign { .. } | ExprKind::Crement { .. })
        || crate::elab::symbols::children(e).into_iter().any(mutates)
}
