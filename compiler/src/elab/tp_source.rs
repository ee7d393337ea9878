//! Which source a tracepoint probe's `$name`s come from.
//!
//! A tracepoint offers its context twice: as the BTF arguments of its
//! probe function (read by a BTF or raw tracepoint program) and as the
//! fields of its tracefs record (read by a plain tracepoint program).
//! One handler is one program, which can read one of the two. This
//! module looks at every `$name` a handler uses (outside `@defined`) and
//! chooses: the arguments when every name is one (the arguments are
//! preferred where a name is both), else the fields when every name is
//! one, else it refuses the mix at the first name of the minority.

use super::points::{ProbeKind, ResolvedPoint};
use crate::diag::Diagnostic;
use crate::kernel::Kernel;
use crate::parse::ast::{Block, Expr, ExprKind, Stmt, StmtKind, TargetBase};
use crate::source::Span;

/// Where a tracepoint's `$name`s are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TpSource {
    /// The BTF arguments (a `tp_btf` or raw tracepoint program).
    #[default]
    Args,
    /// The tracefs record's fields (a tracepoint program).
    Fields,
}

/// The source for a probe at `points` whose handler is `body` (and its
/// condition); an error where it mixes names only one source has with
/// names only the other has.
pub fn choose(kernel: &Kernel, points: &[ResolvedPoint], body: &Block) -> Result<TpSource, Diagnostic> {
    let Some(ProbeKind::Tracepoint { tp }) = points.first().map(|p| &p.kind) else {
        return Ok(TpSource::Args);
    };
    // A process life-cycle point's `$syscall`, `$argN` and `$return` are
    // record fields.
    if points.iter().any(|p| p.guard.is_some()) {
        return Ok(TpSource::Fields);
    }
    let args: Vec<String> = super::target::tracepoint_arg_names(kernel, tp);
    let fields: Vec<String> = kernel.tracepoint_fields(tp).unwrap_or_default().into_iter().map(|f| f.name).collect();
    let mut names = Vec::new();
    for s in &body.stmts {
        stmt_names(s, &mut names);
    }
    // `$$parms` and its kin (kept as `$parms`) read the arguments.
    let is_arg = |n: &String| args.contains(n) || (!args.is_empty() && n.starts_with('$'));
    let only_arg = names.iter().find(|(n, _)| is_arg(n) && !fields.contains(n));
    let only_field = names.iter().find(|(n, _)| fields.contains(n) && !is_arg(n));
    match (only_arg, only_field) {
        (_, None) => Ok(TpSource::Args),
        (None, Some(_)) => Ok(TpSource::Fields),
        (Some((arg, arg_span)), Some((field, field_span))) => {
            // Point at whichever comes later in the script.
            let (at, other, other_span) =
                if field_span.start >= arg_span.start { (field, arg, arg_span) } else { (arg, field, field_span) };
            let at_span = if at == field { *field_span } else { *arg_span };
            let mut d = Diagnostic::semantic_error(
                format!(
                    "tracepoint '{}': '${field}' is a field of its record and '${arg}' {} of its BTF \
                     tracepoint; one handler reads one or the other",
                    tp.name,
                    if arg.starts_with('$') { "reads the arguments" } else { "an argument" }
                ),
                at_span,
            )
            .with_label(*other_span, format!("'${other}' is read here"));
            if let Some(hint) = derived_hint(field, &args) {
                d = d.with_help(hint);
            } else {
                d = d.with_help(format!(
                    "its arguments are {}; its record's fields are {}",
                    list(&args),
                    list(&fields)
                ));
            }
            Err(d)
        }
    }
}

/// `$next_comm` may be `$next->comm` where `next` is an argument: a hint
/// only, since the record's field is what the tracepoint computed.
fn derived_hint(field: &str, args: &[String]) -> Option<String> {
    let arg = args.iter().filter(|a| field.starts_with(&format!("{a}_"))).max_by_key(|a| a.len())?;
    let member = field.get(arg.len() + 1..)?;
    Some(format!("the arguments may hold it: perhaps '${arg}->{member}'"))
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| format!("${n}")).collect::<Vec<_>>().join(" ")
}

fn stmt_names(s: &Stmt, out: &mut Vec<(String, Span)>) {
    let block = |b: &Block, out: &mut Vec<(String, Span)>| b.stmts.iter().for_each(|s| stmt_names(s, out));
    match &s.kind {
        StmtKind::Null | StmtKind::Next | StmtKind::Break | StmtKind::Continue => {}
        StmtKind::Block(b) => block(b, out),
        StmtKind::Expr(e) | StmtKind::Delete(e) => expr_names(e, out),
        StmtKind::Return(e) => e.iter().for_each(|e| expr_names(e, out)),
        StmtKind::If { cond, then, otherwise } => {
            expr_names(cond, out);
            stmt_names(then, out);
            otherwise.iter().for_each(|s| stmt_names(s, out));
        }
        StmtKind::For { init, cond, incr, body } => {
            init.iter().chain(Some(cond)).chain(incr).for_each(|e| expr_names(e, out));
            stmt_names(body, out);
        }
        StmtKind::Foreach(f) => {
            expr_names(&f.array, out);
            f.limit.iter().for_each(|e| expr_names(e, out));
            stmt_names(&f.body, out);
        }
        StmtKind::Try { body, catch, .. } => {
            block(body, out);
            block(catch, out);
        }
    }
}

fn expr_names(e: &Expr, out: &mut Vec<(String, Span)>) {
    match &e.kind {
        // `@defined` asks; what it names does not choose.
        ExprKind::Defined(_) => return,
        ExprKind::Target(t) => {
            match &t.base {
                TargetBase::Var(n) => out.push((n.clone(), e.span)),
                // `$$parms` and the like print the BTF arguments where
                // there are some: named `$parms`, so they count as one.
                TargetBase::Context(_) => {
                    let shown = super::target::describe(t);
                    out.push((format!("${}", shown.trim_start_matches('$')), e.span));
                }
                _ => {}
            }
        }
        _ => {}
    }
    for c in crate::parse::visit::children(e) {
        expr_names(c, out);
    }
}
