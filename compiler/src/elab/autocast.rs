//! Autocast: `x->member` on a value whose kernel type elaboration learns
//! from how it was made. In: the bodies one round of the session
//! resolved; out: `AutocastHints`, the types locals and functions carry,
//! for the next round. A value's type is known only when every way of
//! making it gives the same type.

use std::collections::HashMap;

use super::Var;
use super::symbols::{BodyId, Session};
use crate::parse::ast::{AssignOp, Block, Expr, ExprKind, FunctionBody, StmtKind, TargetBase};
use crate::parse::visit;

/// Autocast: the kernel type a value points to, for locals assigned only
/// typed pointers and functions returning only them. `x->member` on such a
/// value reads as `@cast(x, "T")->member`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AutocastHints {
    pub locals: HashMap<(BodyId, String), CType>,
    pub funcs: HashMap<(String, usize), CType>,
}

/// A kernel type and where its definition came from (`kernel`, or the
/// module or header list an @cast named): types from different places
/// are different, as in stap.
pub(crate) type CType = (crate::kernel::TypeId, String);

impl Session<'_> {
    /// The kernel type `e`'s value points to, where it is known: a typed
    /// target expression, a local or function call typed by an earlier
    /// round, or a choice between two of the same type.
    pub(super) fn ctype_of(&self, e: &Expr, body: BodyId) -> Option<CType> {
        use super::target::Load;
        match &e.kind {
            ExprKind::Target(t) => {
                let r = self.resolved(t)?;
                let ty = r.btf?;
                let origin = match &t.base {
                    TargetBase::Cast { module: Some(m), .. } if m.as_str() != "kernel" => m.clone(),
                    _ => "kernel".to_string(),
                };
                match &r.load {
                    Load::Address => Some((ty, origin)),
                    Load::Value | Load::Int { .. } => match self.opts.kernel.type_kind(ty) {
                        crate::kernel::TypeKind::Pointer(p) => Some((p, origin)),
                        _ => None,
                    },
                    _ => None,
                }
            }
            ExprKind::Var(name) => self.hints.locals.get(&(body, name.clone())).cloned(),
            ExprKind::Call { name, args } => {
                if let Some(t) = self.hints.funcs.get(&(name.name.clone(), args.len())) {
                    return Some(t.clone());
                }
                // An intrinsic, unless a script function of that name hides it.
                let c_type = super::intrinsics::points_to(&name.name, args.len())?;
                if self.functions.iter().any(|f| f.def.name.name == name.name) {
                    return None;
                }
                Some((self.opts.kernel.find_type(c_type, None)?, "kernel".to_string()))
            }
            ExprKind::Ternary { then, otherwise, .. } => {
                let a = self.ctype_of(then, body)?;
                (self.ctype_of(otherwise, body)? == a).then_some(a)
            }
            ExprKind::Assign { op: AssignOp::Assign, rhs, .. } => self.ctype_of(rhs, body),
            _ => None,
        }
    }

    /// What this round's resolved bodies say of locals and functions.
    pub fn collect_hints(&self) -> AutocastHints {
        let mut hints = AutocastHints::default();
        let learn = |body: BodyId, block: &Block, locals: &[Var], hints: &mut AutocastHints| {
            let mut seen: HashMap<String, Option<CType>> = HashMap::new();
            visit::block_exprs(block, &mut |e| {
                visit::walk_expr(e, &mut |e| {
                    if let ExprKind::Assign { op, lhs, rhs } = &e.kind
                        && let ExprKind::Var(name) = &lhs.kind
                        && locals.iter().any(|v| v.name == *name)
                    {
                        let ty = if *op == AssignOp::Assign { self.ctype_of(rhs, body) } else { None };
                        let entry = seen.entry(name.clone()).or_insert_with(|| ty.clone());
                        if *entry != ty {
                            *entry = None;
                        }
                    }
                    true
                })
            });
            for (name, ty) in seen {
                if let Some(ty) = ty {
                    hints.locals.insert((body, name), ty);
                }
            }
        };
        for (i, p) in self.probes.iter().enumerate() {
            learn(BodyId::Probe(i), &p.body, &p.locals, &mut hints);
        }
        for (i, f) in self.functions.iter().enumerate() {
            let FunctionBody::Script(body) = &f.def.body else { continue };
            let all: Vec<Var> = f.params.iter().chain(&f.locals).cloned().collect();
            learn(BodyId::Function(i), body, &all, &mut hints);
            let returns = block_returns(body);
            let types: Vec<Option<CType>> = returns.iter().map(|e| self.ctype_of(e, BodyId::Function(i))).collect();
            if let Some(Some(first)) = types.first()
                && types.iter().all(|t| t.as_ref() == Some(first))
            {
                hints.funcs.insert((f.def.name.name.clone(), f.params.len()), first.clone());
            }
        }
        hints
    }
}

/// The expressions a body returns.
fn block_returns(b: &Block) -> Vec<&Expr> {
    let mut out = Vec::new();
    visit::walk_block(b, &mut |s| {
        if let StmtKind::Return(Some(e)) = &s.kind {
            out.push(e);
        }
    });
    out
}
