//! From the elaborated program to the IR.
//!
//! Names are bound as pass 2 bound them: a name in a body is a local of
//! that body (a parameter, a script local) or else a global of the file.
//! `&&`, `||` and `?:` become branches; loops become blocks with their
//! `break` and `continue` targets.
//!
//! This file holds the entry ([`lower`]) and the state of one body being
//! lowered (`Lower`: its variables, blocks, loop targets and `try`
//! handlers); the constructs are lowered in `stmt` (statements and
//! `foreach`), `expr` (expressions), `place` (places and assignments),
//! `call` (calls of functions and intrinsics) and `update` (indivisible
//! updates of globals).

use std::collections::HashMap;

use super::{
    Block, BlockId, Catch, FuncId, Function, Global, GlobalId, GlobalKind, Handler, Inst, InstKind, Module, Operand,
    Terminator, Ty, VarDecl, VarId,
};
use crate::diag::Diagnostic;
use crate::elab::{Placement, Program, Type, Var};
use crate::parse::ast::{Block as AstBlock, Expr, ExprKind, FunctionBody, Literal};
use crate::source::{FileId, Span};

mod call;
mod expr;
mod place;
mod stmt;
mod update;

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
        || crate::parse::visit::children(e).into_iter().any(mutates)
}
