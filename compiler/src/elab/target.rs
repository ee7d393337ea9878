//! `$target` expressions: context variables of the probe (a kernel
//! function's parameters and `$return`, a tracepoint's arguments and
//! fields), `->` chains through structs, unions, pointers and arrays,
//! `@cast`, the `$`/`$$` pretty-printing suffixes and `&`, all typed
//! from the kernel's BTF.
//!
//! The result is an access path that translation turns into loads: a base
//! value, then steps that move an address in hand, then a final load.

use super::points::{ProbeKind, ResolvedPoint};
use super::{ElabOptions, Type};
use crate::diag::{Diagnostic, suggest};
use crate::kernel::{FuncProto, KFunc, Kernel, TpField, TypeId, TypeKind};
use crate::parse::ast::{Block, ContextVars, Expr, ExprKind, Pretty, Stmt, StmtKind, Target, TargetBase, TargetOp};
use crate::source::Span;

/// Where the value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// A function's (or BTF tracepoint's) argument, by position.
    Arg { index: usize, name: String },
    /// A function's return value.
    Return,
    /// A field of the tracepoint's record (tracefs format).
    Field(TpField),
    /// `@cast`: the operand's value is the address of the object.
    Cast,
    /// `$$vars`, `$$parms`, `$$locals`, `$$return`: printed text.
    Context(ContextVars),
    /// `$argN` of a USDT mark (`index` is N - 1). Each site of a mark has
    /// its own argument specification (`.note.stapsdt`), so translation
    /// reads it from the point it generates code for.
    SdtArg { index: usize },
    /// `$$parms`, `$$vars`, `$$return` where each part is known:
    /// `name=0x...` for each, as stap's `sprintf("name=%x", ...)`.
    Parts(Vec<Part>),
}

/// A part of `$$parms`: its name, and how to read its value (`None`:
/// stap's `name=?`, a value stp cannot print this way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub value: Option<Box<Resolved>>,
}

/// A move of the address in hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Add a member's byte offset.
    Offset(u32),
    /// Read the pointer stored at the address in hand; it becomes the
    /// address in hand.
    LoadPointer,
    /// Add `index * elem_size`; the index is `ops[op]`'s expression.
    Index { op: usize, elem_size: u32 },
}

/// How the final value is produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Load {
    /// The base value itself (an argument in a register).
    Value,
    /// An integer (or pointer, or enum) of this size at the address in hand.
    Int { size: u32, signed: bool },
    /// A bitfield: `bits` bits at `bit_offset` in the `size`-byte unit at
    /// the address in hand.
    Bitfield { size: u32, bit_offset: u32, bits: u32, signed: bool },
    /// A NUL-terminated char array at the address in hand, at most `len` bytes.
    CharArray { len: u32 },
    /// A `__data_loc` string of the tracepoint record.
    DataLoc,
    /// `&...`: the address in hand.
    Address,
    /// `$`/`$$`: the object printed as text.
    Pretty { deep: bool },
    /// A struct, union or array that is not in memory: it resolves (what
    /// `@defined` asks) but has no value to read.
    Aggregate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub ty: Type,
    pub base: Base,
    /// Whether the base value is an address (of a struct, an array, a
    /// record field) rather than a scalar in hand.
    pub base_is_address: bool,
    pub steps: Vec<Step>,
    pub load: Load,
    /// The C type of the value, as `-L` prints it.
    pub c_type: String,
    /// The BTF type of the final object, when there is one.
    pub btf: Option<TypeId>,
}

/// Whether a body mentions `$` expressions (or `@defined`, `@cast`).
pub fn uses_targets(b: &Block) -> bool {
    b.stmts.iter().any(stmt_uses)
}

fn stmt_uses(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Null | StmtKind::Next | StmtKind::Break | StmtKind::Continue => false,
        StmtKind::Block(b) => uses_targets(b),
        StmtKind::Expr(e) | StmtKind::Delete(e) => expr_uses(e),
        StmtKind::Return(e) => e.as_ref().is_some_and(expr_uses),
        StmtKind::If { cond, then, otherwise } => {
            expr_uses(cond) || stmt_uses(then) || otherwise.as_deref().is_some_and(stmt_uses)
        }
        StmtKind::For { init, cond, incr, body } => {
            init.as_ref().is_some_and(expr_uses)
                || expr_uses(cond)
                || incr.as_ref().is_some_and(expr_uses)
                || stmt_uses(body)
        }
        StmtKind::Foreach(f) => expr_uses(&f.array) || f.limit.as_ref().is_some_and(expr_uses) || stmt_uses(&f.body),
        StmtKind::Try { body, catch, .. } => uses_targets(body) || uses_targets(catch),
    }
}

fn expr_uses(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Target(_) | ExprKind::Entry(_))
        || crate::parse::visit::children(e).into_iter().any(expr_uses)
}

/// The context variables a point offers: name and BTF type or field.
pub enum ContextVar {
    Btf { name: String, ty: TypeId },
    Field(TpField),
}

/// The arguments of a tracepoint as its BTF probe function declares them
/// (`__bpf_trace_NAME`, the leading `void *` left out). A tracepoint of an
/// event class has that function under the class's name only
/// (`__bpf_trace_sched_wakeup_template`); its iterator
/// (`__traceiter_NAME`) has the same arguments under the event's own name.
///
/// The `syscalls` events (`sys_enter_NAME`, `sys_exit_NAME`) are not
/// tracepoints but ftrace's syscall events: no BTF declares them, and
/// their fields are their format's. Not looking for them spares loading
/// the kernel's function index for every syscall alias.
fn tracepoint_args(kernel: &Kernel, tp: &crate::kernel::Tracepoint) -> Option<FuncProto> {
    if tp.system == "syscalls" {
        return None;
    }
    let name = tp.name.as_str();
    // `__bpf_trace_NAME` exists for an event class's first event only;
    // `__traceiter_NAME` for every event (kernels since 5.10), and
    // `__probestub_NAME` (since 6.5): both with named parameters.
    for prefix in ["__bpf_trace_", "__traceiter_", "__probestub_"] {
        let f = KFunc { name: format!("{prefix}{name}"), module: None };
        if let Some(mut proto) = kernel.function_proto(&f) {
            if !proto.params.is_empty() {
                proto.params.remove(0);
            }
            return Some(proto);
        }
    }
    // A module's tracepoint (scsi:*, nfs:*...): its iterator is in the
    // module's BTF.
    for prefix in ["__traceiter_", "__probestub_"] {
        let Ok(funcs) = kernel.match_functions(Some("*"), &format!("{prefix}{name}")) else { break };
        if let Some(mut proto) = funcs.first().and_then(|f| kernel.function_proto(f)) {
            if !proto.params.is_empty() {
                proto.params.remove(0);
            }
            return Some(proto);
        }
    }
    let mut proto =
        kernel.tracepoint_proto(&crate::kernel::Tracepoint { system: String::new(), name: name.to_string() })?;
    if proto.params.iter().any(|(n, _)| n.is_empty())
        && let Some(names) = class_arg_names(kernel, &proto)
    {
        for ((n, _), named) in proto.params.iter_mut().zip(names) {
            *n = named;
        }
    }
    Some(proto)
}

/// The argument names of an event defined in a class (`DEFINE_EVENT`),
/// whose BTF prototype has types only: the names of the classes' probe
/// functions (`__bpf_trace_CLASS`) with the same argument types, when
/// all of them agree.
fn class_arg_names(kernel: &Kernel, proto: &FuncProto) -> Option<Vec<String>> {
    let types: Vec<String> = proto.params.iter().map(|(_, t)| kernel.type_name(*t)).collect();
    let mut found: Option<Vec<String>> = None;
    for f in kernel.match_functions(None, "__bpf_trace_*").ok()? {
        let Some(p) = kernel.function_proto(&f) else { continue };
        let params = p.params.get(1..).unwrap_or_default();
        if params.len() != types.len() || params.iter().zip(&types).any(|((_, t), want)| kernel.type_name(*t) != *want)
        {
            continue;
        }
        let names: Vec<String> = params.iter().map(|(n, _)| n.clone()).collect();
        if names.iter().any(String::is_empty) {
            continue;
        }
        match &found {
            None => found = Some(names),
            Some(prev) if *prev == names => {}
            Some(_) => return None,
        }
    }
    found
}

/// The names of a tracepoint's BTF arguments.
pub(crate) fn tracepoint_arg_names(kernel: &Kernel, tp: &crate::kernel::Tracepoint) -> Vec<String> {
    tracepoint_args(kernel, tp).map(|p| p.params.into_iter().map(|(n, _)| n).collect()).unwrap_or_default()
}

/// The kernel function whose arguments a point's `$vars` are: the probed
/// function, or an LSM hook's `bpf_lsm_HOOK`; and whether `$return` is there.
fn function_of(kind: &ProbeKind) -> Option<(KFunc, bool)> {
    match kind {
        ProbeKind::KernelFunction { func, ret, .. } => Some((func.clone(), *ret)),
        ProbeKind::Lsm { hook } => Some((KFunc { name: format!("bpf_lsm_{hook}"), module: None }, false)),
        _ => None,
    }
}

/// Everything `-L` lists for a point: `(name, C type)`.
pub fn context_vars(kernel: &Kernel, point: &ResolvedPoint) -> Vec<(String, String)> {
    if let Some(g) = &point.guard {
        return super::points::process::context_vars(g);
    }
    if let Some((func, ret)) = function_of(&point.kind) {
        let Some(proto) = kernel.function_proto(&func) else { return Vec::new() };
        let mut v: Vec<(String, String)> =
            proto.params.iter().map(|(n, t)| (n.clone(), kernel.type_name(*t))).collect();
        if ret && let Some(r) = proto.ret {
            v.push(("return".to_string(), kernel.type_name(r)));
        }
        return v;
    }
    match &point.kind {
        ProbeKind::Tracepoint { tp } => {
            if let Some(proto) = tracepoint_args(kernel, tp) {
                return proto.params.iter().map(|(n, t)| (n.clone(), kernel.type_name(*t))).collect();
            }
            kernel
                .tracepoint_fields(tp)
                .unwrap_or_default()
                .into_iter()
                .map(|f| (f.name.clone(), f.c_type.clone()))
                .collect()
        }
        ProbeKind::Usdt { args, .. } => {
            (1..=crate::userspace::sdt::split(args).len()).map(|n| (format!("arg{n}"), "long".to_string())).collect()
        }
        ProbeKind::Uprobe { ret: true, .. } => vec![("return".to_string(), "long".to_string())],
        _ => Vec::new(),
    }
}

/// Where a traversal stands.
enum At {
    /// A value of this type is in hand.
    Value(TypeId),
    /// The object of this type is at the address in hand.
    Memory(TypeId),
}

struct Walk<'k> {
    kernel: &'k Kernel,
    steps: Vec<Step>,
    at: At,
    bitfield: Option<(u32, u32)>,
    /// No member or index applied yet: `@cast(p, "T")[N]` is the N-th `T`
    /// from `p`.
    root: bool,
}

pub(crate) fn describe(t: &Target) -> String {
    let mut s = match &t.base {
        TargetBase::Var(n) => format!("${n}"),
        TargetBase::Context(c) => c.name().to_string(),
        TargetBase::Cast { type_name, .. } => format!("@cast(..., \"{type_name}\")"),
        TargetBase::AtVar { name, .. } => format!("@var(\"{name}\")"),
        TargetBase::Autocast(_) => "expression".to_string(),
    };
    for op in &t.ops {
        match op {
            TargetOp::Member(m) => {
                s.push_str("->");
                s.push_str(&m.name);
            }
            TargetOp::Index(_) => s.push_str("[...]"),
        }
    }
    s
}

impl Walk<'_> {
    fn member(&mut self, name: &str, span: Span, what: &str) -> Result<(), Diagnostic> {
        let k = self.kernel;
        self.bitfield = None;
        self.root = false;
        let strukt = match self.at {
            At::Value(t) => match k.type_kind(t) {
                TypeKind::Pointer(p) => p,
                _ => {
                    return Err(Diagnostic::semantic_error(
                        format!("'{what}': '{}' is not a pointer to a struct or union", k.type_name(t)),
                        span,
                    ));
                }
            },
            At::Memory(t) => match k.type_kind(t) {
                TypeKind::Pointer(p) => {
                    self.steps.push(Step::LoadPointer);
                    p
                }
                TypeKind::Struct { .. } | TypeKind::Union { .. } => t,
                _ => {
                    return Err(Diagnostic::semantic_error(
                        format!("'{what}': '{}' is not a struct or union", k.type_name(t)),
                        span,
                    ));
                }
            },
        };
        if !matches!(k.type_kind(strukt), TypeKind::Struct { .. } | TypeKind::Union { .. }) {
            return Err(Diagnostic::semantic_error(
                format!("'{what}': '{}' is not a struct or union", k.type_name(strukt)),
                span,
            ));
        }
        let Some(m) = k.member(strukt, name) else {
            let members = k.members(strukt);
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            let similar = suggest(name, names.iter().copied());
            let list = if similar.is_empty() { names.join(", ") } else { similar.join(", ") };
            return Err(Diagnostic::semantic_error(
                format!("unable to find member '{name}' for {} (alternatives: {list})", k.type_name(strukt)),
                span,
            ));
        };
        if m.bitfield_size.is_some() {
            self.bitfield = Some((m.bit_offset % 8, m.bitfield_size.unwrap_or(0)));
        }
        if m.bit_offset / 8 != 0 {
            self.steps.push(Step::Offset(m.bit_offset / 8));
        }
        self.at = At::Memory(m.ty);
        Ok(())
    }

    fn index(&mut self, op: usize, span: Span, what: &str) -> Result<(), Diagnostic> {
        let k = self.kernel;
        let elem = match self.at {
            At::Value(t) => match k.type_kind(t) {
                TypeKind::Pointer(p) => p,
                _ => return Err(Diagnostic::semantic_error(format!("'{what}': cannot index a non-pointer"), span)),
            },
            At::Memory(t) => match k.type_kind(t) {
                TypeKind::Array { elem, .. } => elem,
                TypeKind::Pointer(p) => {
                    self.steps.push(Step::LoadPointer);
                    p
                }
                _ if self.root => t,
                _ => return Err(Diagnostic::semantic_error(format!("'{what}': cannot index a non-array"), span)),
            },
        };
        self.root = false;
        let elem_size = k.type_size(elem).unwrap_or(1);
        self.steps.push(Step::Index { op, elem_size });
        self.at = At::Memory(elem);
        Ok(())
    }

    fn finish(self, t: &Target, base: Base, base_is_address: bool, span: Span) -> Result<Resolved, Diagnostic> {
        let k = self.kernel;
        let what = describe(t);
        let (ty_id, in_memory) = match self.at {
            At::Value(t) => (t, false),
            At::Memory(t) => (t, true),
        };
        let c_type = k.type_name(ty_id);
        let mk = |ty, load| Resolved {
            ty,
            base: base.clone(),
            base_is_address,
            steps: self.steps.clone(),
            load,
            c_type: c_type.clone(),
            btf: Some(ty_id),
        };
        if let Some(p) = t.pretty {
            return Ok(mk(Type::String, Load::Pretty { deep: p == Pretty::Deep }));
        }
        if t.addr_of {
            if self.bitfield.is_some() {
                return Err(Diagnostic::semantic_error(format!("cannot take the address of bitfield '{what}'"), span));
            }
            if !in_memory {
                return Err(Diagnostic::semantic_error(format!("cannot take the address of '{what}'"), span));
            }
            return Ok(mk(Type::Long, Load::Address));
        }
        match k.type_kind(ty_id) {
            TypeKind::Int { size, signed, .. } | TypeKind::Enum { size, signed } => {
                if !in_memory {
                    return Ok(mk(Type::Long, Load::Value));
                }
                if let Some((bit_offset, bits)) = self.bitfield {
                    return Ok(mk(Type::Long, Load::Bitfield { size, bit_offset, bits, signed }));
                }
                Ok(mk(Type::Long, Load::Int { size, signed }))
            }
            TypeKind::Pointer(_) => {
                if in_memory {
                    Ok(mk(Type::Long, Load::Int { size: 8, signed: false }))
                } else {
                    Ok(mk(Type::Long, Load::Value))
                }
            }
            // As in SystemTap, an array is its address: `kernel_string($p->comm)`
            // reads a char array, `$p->comm$` prints it.
            TypeKind::Array { .. } if in_memory => Ok(mk(Type::Long, Load::Address)),
            TypeKind::Struct { .. } | TypeKind::Union { .. } | TypeKind::Array { .. } => {
                Ok(mk(Type::Unknown, Load::Aggregate))
            }
            TypeKind::Float { .. } => Err(Diagnostic::semantic_error(
                format!("'{what}' is a floating-point value, which stp cannot read"),
                span,
            )),
            TypeKind::Void | TypeKind::Function => {
                Err(Diagnostic::semantic_error(format!("'{what}' has type '{c_type}', which has no value"), span))
            }
        }
    }
}

/// Resolves one target expression in a probe with these points.
pub fn resolve(
    t: &Target,
    span: Span,
    points: &[ResolvedPoint],
    opts: &ElabOptions<'_>,
    in_function: bool,
    source: super::tp_source::TpSource,
) -> Result<Resolved, Diagnostic> {
    let kernel = opts.kernel;
    // Where the walk starts.
    let (walk_at, base, base_is_address) = match &t.base {
        TargetBase::Cast { type_name, module, .. } => {
            let name = type_name.trim();
            let ty = kernel
                .find_type(name, module.as_deref().filter(|m| *m != "kernel" && !m.starts_with("kernel<")))
                .ok_or_else(|| {
                    Diagnostic::semantic_error(format!("type definition '{name}' not found in BTF"), span)
                })?;
            (At::Memory(ty), Base::Cast, true)
        }
        TargetBase::Autocast(_) => {
            return Err(Diagnostic::semantic_error(
                "member access on an untyped value: use @cast(value, \"type\") to give it a type",
                span,
            ));
        }
        TargetBase::AtVar { name, .. } => {
            return Err(Diagnostic::semantic_error(
                format!("unable to find global '{name}': @var needs DWARF debuginfo, which stp does not use"),
                span,
            ));
        }
        TargetBase::Var(_) | TargetBase::Context(_) if in_function => {
            return Err(Diagnostic::semantic_error("unresolved target-symbol expression", span)
                .with_note("target variables ($name) can be used in probe handlers only, not in functions"));
        }
        TargetBase::Context(c) => {
            if points.is_empty() || !points.iter().all(|p| has_context(&p.kind)) {
                return Err(Diagnostic::semantic_error("unresolved target-symbol expression", span));
            }
            if *c == ContextVars::Return && !points.iter().all(is_ret) {
                return Err(Diagnostic::semantic_error("$$return is only available in .return probes", span));
            }
            if t.pretty.is_none()
                && let Some(parts) = context_parts(kernel, points, *c, span)?
            {
                return Ok(Resolved {
                    ty: Type::String,
                    base: Base::Parts(parts),
                    base_is_address: false,
                    steps: Vec::new(),
                    load: Load::Pretty { deep: false },
                    c_type: "string".to_string(),
                    btf: None,
                });
            }
            return Ok(Resolved {
                ty: Type::String,
                base: Base::Context(*c),
                base_is_address: false,
                steps: Vec::new(),
                load: Load::Pretty { deep: t.pretty == Some(Pretty::Deep) },
                c_type: "string".to_string(),
                btf: None,
            });
        }
        TargetBase::Var(name) => {
            let Some(point) = points.first() else {
                return Err(Diagnostic::semantic_error("unresolved target-symbol expression", span));
            };
            // Every site of a mark has its own arguments: each must have
            // this one.
            for other in points.iter().skip(1).filter(|p| matches!(p.kind, ProbeKind::Usdt { .. })) {
                sdt_arg(other, name, span)?;
            }
            match start_var(kernel, point, name, span, source)? {
                Start::Btf(at, base) => (at, base, false),
                Start::Field(f) => return resolve_field(t, f, span),
                Start::Sdt(base) => return resolve_untyped(t, base, span),
            }
        }
    };
    walk_from(kernel, t, walk_at, base, base_is_address, span)
}

/// Resolves `x->member` where `x` is known to point to a `ty` (autocast):
/// as `@cast(x, "ty")->member`.
pub fn resolve_autocast(t: &Target, ty: TypeId, span: Span, opts: &ElabOptions<'_>) -> Result<Resolved, Diagnostic> {
    walk_from(opts.kernel, t, At::Memory(ty), Base::Cast, true, span)
}

fn walk_from(
    kernel: &Kernel,
    t: &Target,
    at: At,
    base: Base,
    base_is_address: bool,
    span: Span,
) -> Result<Resolved, Diagnostic> {
    let what = describe(t);
    let mut walk = Walk { kernel, steps: Vec::new(), at, bitfield: None, root: true };
    for (i, op) in t.ops.iter().enumerate() {
        match op {
            TargetOp::Member(m) => walk.member(&m.name, m.span, &what)?,
            TargetOp::Index(e) => walk.index(i, e.span, &what)?,
        }
    }
    walk.finish(t, base, base_is_address, span)
}

/// The names `$$parms` (or `$$vars`, `$$return`, `$$locals`) lists at a
/// point, when stp knows them (from BTF).
fn context_names(kernel: &Kernel, point: &ResolvedPoint, c: ContextVars) -> Option<Vec<String>> {
    let params = match (&point.kind, function_of(&point.kind)) {
        (_, Some((func, ret))) => {
            let proto = kernel.function_proto(&func)?;
            if c == ContextVars::Return {
                return Some(if ret && proto.ret.is_some() { vec!["return".to_string()] } else { Vec::new() });
            }
            proto.params.into_iter().map(|p| p.0).collect()
        }
        (ProbeKind::Tracepoint { tp }, None) => tracepoint_args(kernel, tp)?.params.into_iter().map(|p| p.0).collect(),
        _ => return None,
    };
    // Locals need DWARF: there are none to list.
    Some(if c == ContextVars::Locals { Vec::new() } else { params })
}

/// `$$parms` and friends as parts, each read as `$name` would be; `None`
/// where stp does not know the names. Every point of the probe must
/// have the same ones (one text is built for all).
fn context_parts(
    kernel: &Kernel,
    points: &[ResolvedPoint],
    c: ContextVars,
    span: Span,
) -> Result<Option<Vec<Part>>, Diagnostic> {
    let Some(first) = points.first() else { return Ok(None) };
    let Some(names) = context_names(kernel, first, c) else { return Ok(None) };
    for p in points.iter().skip(1) {
        if context_names(kernel, p, c).as_ref() != Some(&names) {
            return Err(Diagnostic::semantic_error(
                format!("{} differs between the points of this probe", c.name()),
                span,
            )
            .with_note(format!("{} has other parameters than {}", p.name, first.name)));
        }
    }
    let mut parts = Vec::new();
    for name in names {
        let t = Target::bare(TargetBase::Var(name.clone()));
        let value = match start_var(kernel, first, &name, span, super::tp_source::TpSource::Args) {
            Ok(Start::Btf(at, base)) => {
                walk_from(kernel, &t, at, base, false, span).ok().filter(|r| r.ty == Type::Long).map(Box::new)
            }
            _ => None,
        };
        parts.push(Part { name, value });
    }
    Ok(Some(parts))
}

fn has_context(k: &ProbeKind) -> bool {
    matches!(k, ProbeKind::KernelFunction { .. } | ProbeKind::Tracepoint { .. } | ProbeKind::Lsm { .. })
}

fn is_ret(p: &ResolvedPoint) -> bool {
    matches!(p.kind, ProbeKind::KernelFunction { ret: true, .. } | ProbeKind::Uprobe { ret: true, .. })
}

/// `$name` in a probe at `point`.
fn start_var(
    kernel: &Kernel,
    point: &ResolvedPoint,
    name: &str,
    span: Span,
    source: super::tp_source::TpSource,
) -> Result<Start, Diagnostic> {
    let unknown = |names: Vec<String>| {
        let list = names.iter().map(|n| format!("${n}")).collect::<Vec<_>>().join(" ");
        Diagnostic::semantic_error(
            format!(
                "unable to find local '{name}', [man error::dwarf] dieoffset: none in {}",
                point.name.split('(').next().unwrap_or("")
            ),
            span,
        )
        .with_note(if list.is_empty() {
            "no context variables here".to_string()
        } else {
            format!("alternatives: {list}")
        })
    };
    let kind = match function_of(&point.kind) {
        Some((func, ret)) => ProbeKind::KernelFunction { func, ret, maxactive: None },
        None => point.kind.clone(),
    };
    // An LSM probe's `$ctx` is the hook's first argument (the object the
    // hook guards), as in stap's LSM probes.
    if let (ProbeKind::Lsm { .. }, ProbeKind::KernelFunction { func, .. }) = (&point.kind, &kind)
        && name == "ctx"
        && let Some(proto) = kernel.function_proto(func)
        && !proto.params.iter().any(|(n, _)| n == "ctx")
        && let Some((first, ty)) = proto.params.first()
    {
        return Ok(Start::Btf(At::Value(*ty), Base::Arg { index: 0, name: first.clone() }));
    }
    match &kind {
        ProbeKind::KernelFunction { func, ret, .. } => {
            let proto = kernel.function_proto(func).ok_or_else(|| {
                Diagnostic::semantic_error(format!("no BTF type information for '{}'", func.name), span)
            })?;
            if name == "return" {
                if !ret {
                    return Err(unknown(proto.params.iter().map(|p| p.0.clone()).collect()));
                }
                let r = proto.ret.ok_or_else(|| {
                    Diagnostic::semantic_error(format!("'{}' returns void: there is no $return", func.name), span)
                })?;
                return Ok(Start::Btf(At::Value(r), Base::Return));
            }
            match proto.params.iter().position(|(n, _)| n == name) {
                Some(i) => {
                    let ty = proto.params.get(i).map(|p| p.1).unwrap_or(TypeId { btf: 0, id: 0 });
                    Ok(Start::Btf(At::Value(ty), Base::Arg { index: i, name: name.to_string() }))
                }
                None => Err(unknown(proto.params.iter().map(|p| p.0.clone()).collect())),
            }
        }
        ProbeKind::Tracepoint { tp } if let Some(g) = &point.guard => {
            let fields = kernel.tracepoint_fields(tp).map_err(|e| Diagnostic::semantic_error(e.0, span))?;
            super::points::process::syscall_field(&fields, g, name, span).map(Start::Field)
        }
        ProbeKind::Tracepoint { tp } => {
            // The handler reads one source (see `tp_source`).
            if source == super::tp_source::TpSource::Args
                && let Some(proto) = tracepoint_args(kernel, tp)
                && let Some(i) = proto.params.iter().position(|(n, _)| n == name)
            {
                let ty = proto.params.get(i).map(|p| p.1).unwrap_or(TypeId { btf: 0, id: 0 });
                return Ok(Start::Btf(At::Value(ty), Base::Arg { index: i, name: name.to_string() }));
            }
            let fields = kernel.tracepoint_fields(tp).map_err(|e| Diagnostic::semantic_error(e.0, span))?;
            match fields.iter().find(|f| f.name == name) {
                Some(f) => Ok(Start::Field(f.clone())),
                None => Err(unknown(fields.iter().map(|f| f.name.clone()).collect())),
            }
        }
        ProbeKind::Usdt { .. } => Ok(Start::Sdt(sdt_arg(point, name, span)?)),
        // The return value is in a register: it needs no debuginfo, but
        // without it its type is not known; it reads as a long.
        ProbeKind::Uprobe { ret: true, .. } if name == "return" => Ok(Start::Sdt(Base::Return)),
        ProbeKind::Uprobe { .. } => Err(Diagnostic::semantic_error(
            format!(
                "unable to find local '{name}': user-space target variables need DWARF debuginfo, which stp does not use"
            ),
            span,
        )),
        _ => Err(Diagnostic::semantic_error("unresolved target-symbol expression", span)),
    }
}

enum Start {
    Btf(At, Base),
    Field(TpField),
    /// A value in hand with no type but long: a USDT argument, a
    /// uretprobe's `$return`.
    Sdt(Base),
}

/// `$argN` of a USDT mark: N must name an argument every site of the mark
/// has, in a form translation can read.
fn sdt_arg(point: &ResolvedPoint, name: &str, span: Span) -> Result<Base, Diagnostic> {
    let ProbeKind::Usdt { args, .. } = &point.kind else {
        return Err(Diagnostic::semantic_error("unresolved target-symbol expression", span));
    };
    let specs = crate::userspace::sdt::split(args);
    let index = name
        .strip_prefix("arg")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=specs.len()).contains(n))
        .map(|n| n - 1);
    let Some(index) = index else {
        let list = (1..=specs.len()).map(|n| format!("$arg{n}")).collect::<Vec<_>>().join(" ");
        return Err(Diagnostic::semantic_error(format!("unable to find local '{name}' in {}", point.name), span)
            .with_note(if list.is_empty() {
                "this mark has no arguments".to_string()
            } else {
                format!("alternatives: {list}")
            }));
    };
    if let Some(spec) = specs.get(index)
        && let Err(e) = crate::userspace::sdt::parse(spec)
    {
        return Err(Diagnostic::semantic_error(e.to_string(), span)
            .with_note(format!("at {}, whose arguments are '{args}'", point.name)));
    }
    Ok(Base::SdtArg { index })
}

/// A long in hand that has no C type: no member, index, `&` or
/// pretty-printing applies.
fn resolve_untyped(t: &Target, base: Base, span: Span) -> Result<Resolved, Diagnostic> {
    if !t.ops.is_empty() || t.addr_of || t.pretty.is_some() {
        return Err(Diagnostic::semantic_error(
            format!("'{}' has no type information: only its value can be read", describe(t)),
            span,
        )
        .with_help("read memory it points to with user_long(), user_string() and the like"));
    }
    Ok(Resolved {
        ty: Type::Long,
        base,
        base_is_address: false,
        steps: Vec::new(),
        load: Load::Value,
        c_type: "long".to_string(),
        btf: None,
    })
}

/// A tracepoint field known only from its tracefs format.
fn resolve_field(t: &Target, f: TpField, span: Span) -> Result<Resolved, Diagnostic> {
    let what = describe(t);
    // `$comm[i]`: an element of an array field, its size the field's over
    // its length; `&$field` is the field's address in the record.
    if let (Some(len), [TargetOp::Index(_)], None, false) = (f.array_len, t.ops.as_slice(), t.pretty, t.addr_of)
        && len > 0
        && f.size.is_multiple_of(len)
        && matches!(f.size / len, 1 | 2 | 4 | 8)
    {
        let elem_size = f.size / len;
        let c_type = f.c_type.split('[').next().unwrap_or(&f.c_type).trim().to_string();
        return Ok(Resolved {
            ty: Type::Long,
            c_type,
            base: Base::Field(f.clone()),
            base_is_address: true,
            steps: vec![Step::Index { op: 0, elem_size }],
            load: Load::Int { size: elem_size, signed: f.signed },
            btf: None,
        });
    }
    if t.ops.is_empty() && t.addr_of && t.pretty.is_none() {
        return Ok(Resolved {
            ty: Type::Long,
            c_type: format!("{}*", f.c_type),
            base: Base::Field(f),
            base_is_address: true,
            steps: Vec::new(),
            load: Load::Address,
            btf: None,
        });
    }
    if !t.ops.is_empty() || t.addr_of {
        return Err(Diagnostic::semantic_error(
            format!("'{what}': the field's type '{}' is known only by name (no BTF for this tracepoint)", f.c_type),
            span,
        ));
    }
    let (ty, load) = if let Some(p) = t.pretty {
        (Type::String, Load::Pretty { deep: p == Pretty::Deep })
    } else if f.data_loc {
        (Type::String, Load::DataLoc)
    } else if let Some(len) = f.array_len {
        // A tracefs record field (not a C object stap would know): a char
        // array reads as the string it holds.
        if f.c_type.contains("char") { (Type::String, Load::CharArray { len }) } else { (Type::Long, Load::Address) }
    } else {
        (Type::Long, Load::Int { size: f.size, signed: f.signed })
    };
    Ok(Resolved {
        ty,
        c_type: f.c_type.clone(),
        base: Base::Field(f),
        base_is_address: true,
        steps: Vec::new(),
        load,
        btf: None,
    })
}
