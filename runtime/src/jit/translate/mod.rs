//! IR functions to Cranelift functions (see the `jit` module for the
//! shape of the code). Each IR block becomes a Cranelift block; the
//! entry block sets every variable to 0 or "" and takes the arguments.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, Block, InstBuilder, MemFlagsData, SigRef, StackSlotData, StackSlotKind, Type, UserFuncName, Value, types,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module as _, default_libcall_names};
use stp_compiler::diag::Diagnostic;
use stp_compiler::ir::CompareOp;
use stp_compiler::ir::Placement;
use stp_compiler::ir::{
    BinOp, BlockId, Catch, FuncId, Function, GlobalId, Inst, InstKind, Module, Operand, Terminator, Ty, UnOp, VarId,
};
use stp_compiler::source::Span;

use super::output::PrintDesc;
use super::rt::{self, OFF_GLOBALS, OFF_SITE};
use super::{Entry, IterDesc, Tables};

mod calls;
mod errors;
mod update;

use errors::Pending;

const I64: Type = types::I64;

fn internal(message: impl Into<String>) -> Diagnostic {
    Diagnostic::internal(message.into())
}

fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Compiles the module's user-placed functions; with `clif`, keeps each
/// one's Cranelift IR as text there, in the module's order.
pub fn compile(
    module: &Module,
    tables: &mut Tables,
    mut clif: Option<&mut Vec<String>>,
) -> Result<(JITModule, HashMap<FuncId, Entry>), Diagnostic> {
    let mut flag_builder = settings::builder();
    let set = |fb: &mut settings::Builder, k: &str, v: &str| {
        fb.set(k, v).map_err(|e| internal(format!("cranelift setting {k}: {e}")))
    };
    set(&mut flag_builder, "use_colocated_libcalls", "false")?;
    set(&mut flag_builder, "is_pic", "false")?;
    set(&mut flag_builder, "opt_level", "speed")?;
    let isa = cranelift_native::builder()
        .map_err(|e| internal(format!("this machine has no Cranelift back end: {e}")))?
        .finish(settings::Flags::new(flag_builder))
        .map_err(|e| internal(format!("cannot set up Cranelift: {e}")))?;
    let mut jm = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
    let mut sig = jm.make_signature();
    for _ in 0..4 {
        sig.params.push(AbiParam::new(I64));
    }
    sig.returns.push(AbiParam::new(I64));

    let user: Vec<(FuncId, &Function)> = module
        .functions
        .iter()
        .enumerate()
        .filter(|(_, f)| f.placement == Placement::User)
        .map(|(i, f)| (FuncId(i as u32), f))
        .collect();
    let mut ids = HashMap::new();
    let mut frames = HashMap::new();
    for &(id, f) in &user {
        let cid = jm
            .declare_function(&format!("stp_{}_{}", id.0, f.name), Linkage::Local, &sig)
            .map_err(|e| internal(format!("cannot declare {}: {e}", f.name)))?;
        ids.insert(id, cid);
        frames.insert(id, frame_layout(f, tables.str_size).1);
    }
    let mut cctx = jm.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let config = jm.target_config();
    for &(id, f) in &user {
        let cid = *ids.get(&id).expect("declared above");
        cctx.func.signature = sig.clone();
        cctx.func.name = UserFuncName::user(0, cid.as_u32());
        {
            let b = FunctionBuilder::new(&mut cctx.func, &mut fctx);
            let mut g = Gen::new(b, f, tables, &ids, &frames, &mut jm);
            g.function()?;
            g.b.seal_all_blocks();
            g.b.finalize(config);
        }
        if let Some(texts) = clif.as_deref_mut() {
            texts.push(format!("; func #{} {} ({})\n{}", id.0, f.name, role(module, id), cctx.func.display()));
        }
        jm.define_function(cid, &mut cctx).map_err(|e| {
            Diagnostic::internal(format!("Cranelift refused the code of '{}': {e:?}", f.name)).at(f.span, "")
        })?;
        jm.clear_context(&mut cctx);
    }
    jm.finalize_definitions().map_err(|e| internal(format!("cannot finish the native code: {e}")))?;
    let entries = user
        .iter()
        .map(|&(id, _)| {
            let cid = *ids.get(&id).expect("declared above");
            let frame_size = *frames.get(&id).expect("laid out above");
            (id, Entry { code: jm.get_finalized_function(cid), frame_size })
        })
        .collect();
    Ok((jm, entries))
}

/// What a user-placed function is, as the IR's printer says it.
fn role(module: &Module, id: FuncId) -> String {
    match module.handlers.iter().find(|h| h.func == id) {
        Some(h) => format!("handler of probe {}", h.probe),
        None => "function".to_string(),
    }
}

/// Each string variable's offset in the frame, and the frame's size: the
/// strings, then one buffer for the values of calls.
fn frame_layout(f: &Function, str_size: usize) -> (Vec<Option<u32>>, u32) {
    let mut at = 0u32;
    let offsets = f
        .vars
        .iter()
        .map(|v| {
            (v.ty == Ty::Str).then(|| {
                let o = at;
                at += str_size as u32;
                o
            })
        })
        .collect();
    (offsets, at + str_size as u32)
}

/// The blocks reachable from the entry, through jumps and `catch`es.
fn reachable(f: &Function) -> Vec<bool> {
    let mut seen = vec![false; f.blocks.len()];
    let mut work = vec![BlockId(0)];
    while let Some(b) = work.pop() {
        let Some(s) = seen.get_mut(b.0 as usize) else { continue };
        if *s {
            continue;
        }
        *s = true;
        let Some(block) = f.block(b) else { continue };
        match &block.term {
            Terminator::Jump(t) => work.push(*t),
            Terminator::Branch { then, otherwise, .. } => work.extend([*then, *otherwise]),
            _ => {}
        }
        if let Some(c) = block.on_error {
            work.push(c.block);
        }
    }
    seen
}

struct Gen<'a, 'b> {
    b: FunctionBuilder<'b>,
    f: &'a Function,
    tables: &'a mut Tables,
    ids: &'a HashMap<FuncId, cranelift_module::FuncId>,
    frames: &'a HashMap<FuncId, u32>,
    jm: &'a mut JITModule,
    longs: Vec<Option<Variable>>,
    offsets: Vec<Option<u32>>,
    scratch: u32,
    blocks: Vec<Block>,
    ctx: Value,
    frame: Value,
    ret: Value,
    globals: Value,
    sigs: HashMap<(usize, bool), SigRef>,
    /// The block an error goes to, by the `catch` in force.
    fails: HashMap<Option<(BlockId, Option<VarId>)>, Block>,
    /// The `catch` of the block being translated.
    on_error: Option<Catch>,
    /// Failure blocks still to fill.
    pending: Vec<(Block, Pending)>,
}

impl<'a, 'b> Gen<'a, 'b> {
    fn new(
        mut b: FunctionBuilder<'b>,
        f: &'a Function,
        tables: &'a mut Tables,
        ids: &'a HashMap<FuncId, cranelift_module::FuncId>,
        frames: &'a HashMap<FuncId, u32>,
        jm: &'a mut JITModule,
    ) -> Gen<'a, 'b> {
        let (offsets, size) = frame_layout(f, tables.str_size);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let param = |i: usize| p.get(i).copied().expect("the signature has four parameters");
        let (ctx, frame, ret) = (param(0), param(1), param(3));
        let globals = b.ins().load(I64, flags(), ctx, OFF_GLOBALS);
        let longs = f.vars.iter().map(|v| (v.ty == Ty::Long).then(|| b.declare_var(I64))).collect();
        let blocks = f.blocks.iter().map(|_| b.create_block()).collect();
        let scratch = size - tables.str_size as u32;
        Gen {
            b,
            f,
            tables,
            ids,
            frames,
            jm,
            longs,
            offsets,
            scratch,
            blocks,
            ctx,
            frame,
            ret,
            globals,
            sigs: HashMap::new(),
            fails: HashMap::new(),
            on_error: None,
            pending: Vec::new(),
        }
    }

    fn block(&self, b: BlockId) -> Result<Block, Diagnostic> {
        self.blocks.get(b.0 as usize).copied().ok_or_else(|| internal(format!("IR block {} does not exist", b.0)))
    }

    fn function(&mut self) -> Result<(), Diagnostic> {
        // The entry: variables start at 0 and "", then the arguments.
        let zero = self.b.ins().iconst(I64, 0);
        for v in self.longs.clone().into_iter().flatten() {
            self.b.def_var(v, zero);
        }
        for off in self.offsets.clone().into_iter().flatten() {
            self.b.ins().istore8(flags(), zero, self.frame, off as i32);
        }
        let args = self.b.block_params(self.b.current_block().expect("in the entry block")).get(2).copied();
        let args = args.expect("the signature has four parameters");
        for (i, &p) in self.f.params.iter().enumerate() {
            let slot = self.b.ins().load(I64, flags(), args, (i * 8) as i32);
            match self.var_ty(p)? {
                Ty::Long => self.def_long(p, slot)?,
                Ty::Str => {
                    let dst = self.str_var(p)?;
                    self.helper(rt::str_copy as *const (), &[self.ctx, dst, slot], false);
                }
            }
        }
        let first = self.block(BlockId(0))?;
        self.b.ins().jump(first, &[]);
        let live = reachable(self.f);
        for (i, block) in self.f.blocks.iter().enumerate() {
            if !live.get(i).copied().unwrap_or(false) {
                continue;
            }
            let clif = self.block(BlockId(i as u32))?;
            self.b.switch_to_block(clif);
            self.on_error = block.on_error;
            if !block.insts.is_empty() || matches!(block.term, Terminator::Branch { .. }) {
                let span = block.insts.first().map_or(block.term_span, |i| i.span);
                self.count_action(span)?;
            }
            for inst in &block.insts {
                self.inst(inst)?;
            }
            self.term(&block.term, block.term_span)?;
        }
        self.fill_pending()
    }

    fn var_ty(&self, v: VarId) -> Result<Ty, Diagnostic> {
        self.f.var(v).map(|d| d.ty).ok_or_else(|| internal(format!("variable {} does not exist", v.0)))
    }

    fn def_long(&mut self, v: VarId, x: Value) -> Result<(), Diagnostic> {
        let var = self.longs.get(v.0 as usize).copied().flatten();
        let var = var.ok_or_else(|| internal(format!("variable {} is not a long", v.0)))?;
        self.b.def_var(var, x);
        Ok(())
    }

    /// The address of a string variable's buffer.
    fn str_var(&mut self, v: VarId) -> Result<Value, Diagnostic> {
        let off = self.offsets.get(v.0 as usize).copied().flatten();
        let off = off.ok_or_else(|| internal(format!("variable {} is not a string", v.0)))?;
        Ok(self.b.ins().iadd_imm_s(self.frame, i64::from(off)))
    }

    fn scratch(&mut self) -> Value {
        self.b.ins().iadd_imm_s(self.frame, i64::from(self.scratch))
    }

    fn op_ty(&self, op: &Operand) -> Result<Ty, Diagnostic> {
        match op {
            Operand::Long(_) => Ok(Ty::Long),
            Operand::Str(_) => Ok(Ty::Str),
            Operand::Var(v) => self.var_ty(*v),
        }
    }

    fn long(&mut self, op: &Operand) -> Result<Value, Diagnostic> {
        Ok(match op {
            Operand::Long(n) => self.b.ins().iconst(I64, *n),
            Operand::Var(v) => {
                let var = self.longs.get(v.0 as usize).copied().flatten();
                let var = var.ok_or_else(|| internal(format!("variable {} is not a long", v.0)))?;
                self.b.use_var(var)
            }
            Operand::Str(_) => return Err(internal("a string where a long is needed")),
        })
    }

    /// A string constant the `Jit` owns: its address.
    fn constant(&mut self, s: &[u8]) -> Value {
        let mut bytes = super::strings::truncate(s, self.tables.max_len).to_vec();
        bytes.push(0);
        let boxed = bytes.into_boxed_slice();
        let addr = boxed.as_ptr() as i64;
        self.tables.consts.push(boxed);
        self.b.ins().iconst(I64, addr)
    }

    fn string(&mut self, op: &Operand) -> Result<Value, Diagnostic> {
        match op {
            Operand::Str(s) => Ok(self.constant(s)),
            Operand::Var(v) => self.str_var(*v),
            Operand::Long(_) => Err(internal("a long where a string is needed")),
        }
    }

    /// An argument slot: the long, or the string's address.
    fn slot(&mut self, op: &Operand) -> Result<Value, Diagnostic> {
        match self.op_ty(op)? {
            Ty::Long => self.long(op),
            Ty::Str => self.string(op),
        }
    }

    /// An array of `i64` slots on the stack; null when empty.
    fn array(&mut self, values: &[Value]) -> Value {
        if values.is_empty() {
            return self.b.ins().iconst(I64, 0);
        }
        let ss = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (values.len() * 8) as u32,
            3,
        ));
        for (i, &v) in values.iter().enumerate() {
            self.b.ins().stack_store(I64, v, ss, (i * 8) as i32);
        }
        self.b.ins().stack_addr(I64, ss, 0)
    }

    /// Key slots, with the mask of `*` keys.
    fn keys(&mut self, keys: &[Option<Operand>]) -> Result<(Value, i64), Diagnostic> {
        let mut vals = Vec::new();
        let mut mask = 0i64;
        for (i, k) in keys.iter().enumerate() {
            match k {
                Some(k) => vals.push(self.slot(k)?),
                None => {
                    if i < 64 {
                        mask |= 1 << i;
                    }
                    vals.push(self.b.ins().iconst(I64, 0));
                }
            }
        }
        Ok((self.array(&vals), mask))
    }

    fn full_keys(&mut self, keys: &[Operand]) -> Result<Value, Diagnostic> {
        let keys: Vec<Option<Operand>> = keys.iter().cloned().map(Some).collect();
        Ok(self.keys(&keys)?.0)
    }

    /// Calls an `extern "C"` helper taking `i64`s.
    fn helper(&mut self, addr: *const (), args: &[Value], returns: bool) -> Option<Value> {
        let key = (args.len(), returns);
        let sig = match self.sigs.get(&key) {
            Some(s) => *s,
            None => {
                let mut sig = self.jm.make_signature();
                sig.params.extend(args.iter().map(|_| AbiParam::new(I64)));
                if returns {
                    sig.returns.push(AbiParam::new(I64));
                }
                let s = self.b.import_signature(sig);
                self.sigs.insert(key, s);
                s
            }
        };
        let callee = self.b.ins().iconst(I64, addr as i64);
        let call = self.b.ins().call_indirect(sig, callee, args);
        self.b.inst_results(call).first().copied()
    }

    fn helper_value(&mut self, addr: *const (), args: &[Value]) -> Value {
        self.helper(addr, args, true).expect("a helper with a result returns one")
    }

    /// Records where the next failure would be, for the error's span.
    fn site(&mut self, span: Span) -> i64 {
        self.tables.sites.push(span);
        let idx = (self.tables.sites.len() - 1) as i64;
        let v = self.b.ins().iconst(I64, idx);
        self.b.ins().store(flags(), v, self.ctx, OFF_SITE);
        idx
    }

    fn bool_to_long(&mut self, b: Value) -> Value {
        self.b.ins().uextend(I64, b)
    }

    fn not_here(&self, what: &str, span: Span) -> Diagnostic {
        Diagnostic::semantic_error(
            format!("{what} cannot be used in user-placed handlers (begin, end, error, timers)"),
            span,
        )
    }

    fn global_slot(&self, g: GlobalId, span: Span) -> Result<stp_compiler::layout::Slot, Diagnostic> {
        self.tables
            .layout
            .scalar(g)
            .ok_or_else(|| Diagnostic::internal(format!("global {} is not a scalar", g.0)).at(span, ""))
    }

    fn map_id(&mut self, g: GlobalId) -> Value {
        self.b.ins().iconst(I64, i64::from(g.0))
    }

    fn inst(&mut self, inst: &Inst) -> Result<(), Diagnostic> {
        let span = inst.span;
        match &inst.kind {
            InstKind::Copy { dst, src } => match self.var_ty(*dst)? {
                Ty::Long => {
                    let v = self.long(src)?;
                    self.def_long(*dst, v)?;
                }
                Ty::Str => {
                    if *src != Operand::Var(*dst) {
                        let (d, s) = (self.str_var(*dst)?, self.string(src)?);
                        self.helper(rt::str_copy as *const (), &[self.ctx, d, s], false);
                    }
                }
            },
            InstKind::Unary { dst, op, a } => {
                let a = self.long(a)?;
                let v = match op {
                    UnOp::Neg => self.b.ins().ineg(a),
                    UnOp::BitNot => self.b.ins().bnot(a),
                    UnOp::Not => {
                        let z = self.b.ins().icmp_imm_s(IntCC::Equal, a, 0);
                        self.bool_to_long(z)
                    }
                };
                self.def_long(*dst, v)?;
            }
            InstKind::Binary { dst, op, a, b } => {
                let (x, y) = (self.long(a)?, self.long(b)?);
                let v = match op {
                    BinOp::Add => self.b.ins().iadd(x, y),
                    BinOp::Sub => self.b.ins().isub(x, y),
                    BinOp::Mul => self.b.ins().imul(x, y),
                    BinOp::And => self.b.ins().band(x, y),
                    BinOp::Or => self.b.ins().bor(x, y),
                    BinOp::Xor => self.b.ins().bxor(x, y),
                    // Cranelift takes the count modulo 64.
                    BinOp::Shl => self.b.ins().ishl(x, y),
                    BinOp::Shr => self.b.ins().sshr(x, y),
                    BinOp::Div | BinOp::Mod => {
                        let raise = self.raise_block(rt::E_DIVISION, span)?;
                        let ok = self.b.create_block();
                        self.b.ins().brif(y, ok, &[], raise, &[]);
                        self.b.switch_to_block(ok);
                        // x / -1 is -x and x % -1 is 0, as in stap (and
                        // never the trap of i64::MIN / -1).
                        let minus1 = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
                        let one = self.b.ins().iconst(I64, 1);
                        let safe = self.b.ins().select(minus1, one, y);
                        if *op == BinOp::Div {
                            let q = self.b.ins().sdiv(x, safe);
                            let neg = self.b.ins().ineg(x);
                            self.b.ins().select(minus1, neg, q)
                        } else {
                            let r = self.b.ins().srem(x, safe);
                            let zero = self.b.ins().iconst(I64, 0);
                            self.b.ins().select(minus1, zero, r)
                        }
                    }
                };
                self.def_long(*dst, v)?;
            }
            InstKind::Compare { dst, op, a, b, strings } => {
                let cc = match op {
                    CompareOp::Eq => IntCC::Equal,
                    CompareOp::Ne => IntCC::NotEqual,
                    CompareOp::Lt => IntCC::SignedLessThan,
                    CompareOp::Le => IntCC::SignedLessThanOrEqual,
                    CompareOp::Gt => IntCC::SignedGreaterThan,
                    CompareOp::Ge => IntCC::SignedGreaterThanOrEqual,
                };
                let c = if *strings {
                    let (x, y) = (self.string(a)?, self.string(b)?);
                    let r = self.helper_value(rt::str_cmp as *const (), &[self.ctx, x, y]);
                    self.b.ins().icmp_imm_s(cc, r, 0)
                } else {
                    let (x, y) = (self.long(a)?, self.long(b)?);
                    self.b.ins().icmp(cc, x, y)
                };
                let v = self.bool_to_long(c);
                self.def_long(*dst, v)?;
            }
            InstKind::Concat { dst, a, b } => {
                let (d, x, y) = (self.str_var(*dst)?, self.string(a)?, self.string(b)?);
                self.helper(rt::concat as *const (), &[self.ctx, d, x, y], false);
            }
            InstKind::Regex { dst, a, pattern, negated } => {
                let re = regex::bytes::RegexBuilder::new(&String::from_utf8_lossy(pattern))
                    .unicode(false)
                    .build()
                    .map_err(|e| Diagnostic::semantic_error(format!("regex compilation error: {e}"), span))?;
                self.tables.regexes.push(re);
                let idx = self.b.ins().iconst(I64, (self.tables.regexes.len() - 1) as i64);
                let s = self.string(a)?;
                let mut v = self.helper_value(rt::regex_match as *const (), &[self.ctx, idx, s]);
                if *negated {
                    v = self.b.ins().bxor_imm_s(v, 1);
                }
                self.def_long(*dst, v)?;
            }
            InstKind::LoadGlobal { dst, global } => {
                let slot = self.global_slot(*global, span)?;
                match slot.ty {
                    Ty::Long => {
                        let v = self.b.ins().load(I64, flags(), self.globals, slot.offset as i32);
                        self.def_long(*dst, v)?;
                    }
                    Ty::Str => {
                        let src = self.b.ins().iadd_imm_s(self.globals, i64::from(slot.offset));
                        let d = self.str_var(*dst)?;
                        self.helper(rt::str_copy as *const (), &[self.ctx, d, src], false);
                    }
                }
            }
            InstKind::StoreGlobal { global, src } => {
                let slot = self.global_slot(*global, span)?;
                match slot.ty {
                    Ty::Long => {
                        let v = self.long(src)?;
                        self.b.ins().store(flags(), v, self.globals, slot.offset as i32);
                    }
                    Ty::Str => {
                        let d = self.b.ins().iadd_imm_s(self.globals, i64::from(slot.offset));
                        let s = self.string(src)?;
                        self.helper(rt::str_store as *const (), &[self.ctx, d, s], false);
                    }
                }
            }
            InstKind::MapGet { dst, map, keys } => {
                let k = self.full_keys(keys)?;
                let m = self.map_id(*map);
                match self.var_ty(*dst)? {
                    Ty::Long => {
                        let null = self.b.ins().iconst(I64, 0);
                        let v = self.helper_value(rt::map_get as *const (), &[self.ctx, m, k, null]);
                        self.def_long(*dst, v)?;
                    }
                    Ty::Str => {
                        let d = self.str_var(*dst)?;
                        self.helper(rt::map_get as *const (), &[self.ctx, m, k, d], true);
                    }
                }
            }
            InstKind::MapSet { map, keys, value } => {
                let k = self.full_keys(keys)?;
                let v = self.slot(value)?;
                let m = self.map_id(*map);
                self.site(span);
                let st = self.helper_value(rt::map_set as *const (), &[self.ctx, m, k, v]);
                self.check(st)?;
            }
            InstKind::Update { old, global, keys, op, value } => {
                self.update(*old, *global, keys.as_deref(), *op, value, span)?
            }
            InstKind::MapDelete { map, keys } => {
                let m = self.map_id(*map);
                let (k, mask) = match keys {
                    Some(keys) if !keys.is_empty() => self.keys(keys)?,
                    _ => (self.b.ins().iconst(I64, 0), 0),
                };
                let mask = self.b.ins().iconst(I64, mask);
                self.helper(rt::map_delete as *const (), &[self.ctx, m, k, mask], false);
            }
            InstKind::MapHas { dst, map, keys } => {
                let (k, mask) = self.keys(keys)?;
                let m = self.map_id(*map);
                let mask = self.b.ins().iconst(I64, mask);
                let v = self.helper_value(rt::map_has as *const (), &[self.ctx, m, k, mask]);
                self.def_long(*dst, v)?;
            }
            InstKind::StatAdd { stat, keys, value } => {
                let k = self.full_keys(keys)?;
                let v = self.long(value)?;
                let m = self.map_id(*stat);
                self.helper(rt::stat_add as *const (), &[self.ctx, m, k, v], false);
            }
            InstKind::StatGet { dst, stat, keys, op, .. } => {
                let k = self.full_keys(keys)?;
                let m = self.map_id(*stat);
                let op = self.b.ins().iconst(I64, rt::stat_op_code(*op));
                let out = self.scratch();
                self.site(span);
                let st = self.helper_value(rt::stat_get as *const (), &[self.ctx, m, k, op, out]);
                self.check(st)?;
                let v = self.b.ins().load(I64, flags(), out, 0);
                self.def_long(*dst, v)?;
            }
            InstKind::HistPrint { stat, keys, .. } => {
                let k = self.full_keys(keys)?;
                let m = self.map_id(*stat);
                self.helper(rt::hist_print as *const (), &[self.ctx, m, k], false);
            }
            InstKind::HistBucket { dst, stat, keys, index, .. } => {
                let k = self.full_keys(keys)?;
                let m = self.map_id(*stat);
                let i = self.long(index)?;
                let out = self.scratch();
                self.site(span);
                let st = self.helper_value(rt::hist_bucket as *const (), &[self.ctx, m, k, i, out]);
                self.check(st)?;
                let v = self.b.ins().load(I64, flags(), out, 0);
                self.def_long(*dst, v)?;
            }
            InstKind::Target { .. } => return Err(self.not_here("target variables", span)),
            InstKind::EntrySave { .. } | InstKind::EntryLoad { .. } => {
                return Err(self.not_here("@entry", span));
            }
            InstKind::Intrinsic { dst, name, args } => self.intrinsic(*dst, name, args, span)?,
            InstKind::Call { dst, overloads, args } => self.call(*dst, overloads, args, span)?,
            InstKind::IterStart { iter, map, sort, aggregate, limit, slice } => {
                self.tables.iters.push(IterDesc {
                    map: *map,
                    sort: *sort,
                    aggregate: *aggregate,
                    limit: limit.is_some(),
                    slice: slice.iter().any(Option::is_some),
                });
                let desc = self.b.ins().iconst(I64, (self.tables.iters.len() - 1) as i64);
                let lim = match limit {
                    Some(l) => self.long(l)?,
                    None => self.b.ins().iconst(I64, 0),
                };
                let (keys, mask) = self.keys(slice)?;
                let mask = self.b.ins().iconst(I64, mask);
                let handle = self.long(&Operand::Var(*iter))?;
                let h = self.helper_value(rt::iter_start as *const (), &[self.ctx, desc, handle, lim, keys, mask]);
                self.def_long(*iter, h)?;
            }
            InstKind::IterNext { iter, found, keys, value, .. } => {
                let outs: Vec<VarId> = keys.iter().copied().chain(*value).collect();
                let mut slots = Vec::new();
                for &v in &outs {
                    slots.push(match self.var_ty(v)? {
                        Ty::Str => self.str_var(v)?,
                        Ty::Long => self.b.ins().iconst(I64, 0),
                    });
                }
                let arr = self.array(&slots);
                let handle = self.long(&Operand::Var(*iter))?;
                let n = self.b.ins().iconst(I64, outs.len() as i64);
                let f = self.helper_value(rt::iter_next as *const (), &[self.ctx, handle, arr, n]);
                self.def_long(*found, f)?;
                for (i, &v) in outs.iter().enumerate() {
                    if self.var_ty(v)? == Ty::Long {
                        let x = self.b.ins().load(I64, flags(), arr, (i * 8) as i32);
                        self.def_long(v, x)?;
                    }
                }
            }
            InstKind::Print { dst, kind, format, delimiter, args } => {
                let pieces = match format {
                    Some(f) => stp_compiler::format::parse(f)
                        .map_err(|e| Diagnostic::semantic_error(format!("printf format: {e}"), span))?,
                    None => Vec::new(),
                };
                self.tables.prints.push(PrintDesc {
                    kind: *kind,
                    pieces,
                    tys: args.iter().map(|(_, t)| *t).collect(),
                    delimiter: delimiter.is_some(),
                });
                let desc = self.b.ins().iconst(I64, (self.tables.prints.len() - 1) as i64);
                let mut slots = Vec::new();
                if let Some(d) = delimiter {
                    slots.push(self.string(d)?);
                }
                for (a, _) in args {
                    slots.push(self.slot(a)?);
                }
                let arr = self.array(&slots);
                let d = match dst {
                    Some(v) => self.str_var(*v)?,
                    None => self.b.ins().iconst(I64, 0),
                };
                self.helper(rt::print as *const (), &[self.ctx, desc, arr, d], false);
            }
        }
        Ok(())
    }

    fn term(&mut self, t: &Terminator, span: Span) -> Result<(), Diagnostic> {
        match t {
            Terminator::Jump(b) => {
                let b = self.block(*b)?;
                self.b.ins().jump(b, &[]);
            }
            Terminator::Branch { cond, then, otherwise } => {
                let c = self.long(cond)?;
                let (t, o) = (self.block(*then)?, self.block(*otherwise)?);
                self.b.ins().brif(c, t, &[], o, &[]);
            }
            Terminator::Return(v) => {
                if let (Some(v), Some(ty)) = (v, self.f.ret) {
                    match ty {
                        Ty::Long => {
                            let x = self.long(v)?;
                            self.b.ins().store(flags(), x, self.ret, 0);
                        }
                        Ty::Str => {
                            let s = self.string(v)?;
                            self.helper(rt::str_copy as *const (), &[self.ctx, self.ret, s], false);
                        }
                    }
                }
                let zero = self.b.ins().iconst(I64, 0);
                self.b.ins().return_(&[zero]);
            }
            Terminator::Next => {
                let one = self.b.ins().iconst(I64, 1);
                self.b.ins().return_(&[one]);
            }
            Terminator::Error(msg) => {
                let m = self.string(msg)?;
                self.tables.sites.push(span);
                let site = self.b.ins().iconst(I64, (self.tables.sites.len() - 1) as i64);
                self.helper(rt::raise_msg as *const (), &[self.ctx, m, site], false);
                let fail = self.fail_block()?;
                self.b.ins().jump(fail, &[]);
            }
        }
        Ok(())
    }
}
