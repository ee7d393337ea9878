//! Pass 2: elaboration.
//!
//! From the parsed scripts and the tapset library to a [`Program`]: probe
//! points resolved through aliases to concrete kernel and user-space
//! locations ([`points`]), every name bound to a local, a global, a script
//! function or an [`intrinsics`] entry, tapset files pulled in only when
//! they define something the script uses, types inferred to a fixpoint,
//! `$target` expressions resolved through BTF, and each handler placed in
//! the kernel or in user space.
//!
//! Bodies stay AST blocks: names are bound by the tables of the
//! [`Program`] (a name in a scope is a local or a global, never both), and
//! a target expression carries only the id of its resolution, which
//! [`Program::targets`] holds (the parse tree knows nothing of
//! elaboration's types).

pub mod autocast;
pub mod bind;
pub mod coverage;
pub mod derive;
pub mod elide;
pub mod foreach_writes;
pub mod infer;
mod intrinsic_docs;
pub mod intrinsics;
pub mod list;
pub mod optimize;
pub mod points;
pub mod print;
pub mod prometheus;
pub mod regex;
pub mod symbols;
pub mod target;
pub mod tp_source;
pub mod uses;

use crate::diag::Diagnostic;
use crate::kernel::Kernel;
use crate::parse::ast::{Block, Expr, Function, Global, ProbePoint};
use crate::source::{FileId, Span};
use points::{ProbeKind, ResolvedPoint};

pub use crate::glob::{glob_match, has_glob};
pub use crate::types::Type;

/// Where a handler (or a function instance) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Placement {
    /// eBPF, in the kernel's context.
    Kernel,
    /// Native code in the stp process.
    User,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::Kernel => "kernel",
            Placement::User => "user",
        }
    }
}

/// A variable: a local, a parameter or a global.
#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    pub name: String,
    pub ty: Type,
    /// Number of keys: `Some(0)` for a scalar, `None` while unknown.
    pub arity: Option<usize>,
    /// Key types of an array.
    pub keys: Vec<Type>,
    /// Where it was declared or first used.
    pub span: Span,
    /// Where its arity was first inferred.
    pub arity_span: Option<Span>,
    pub written: bool,
    pub read: bool,
}

impl Var {
    pub fn new(name: &str, span: Span) -> Var {
        Var {
            name: name.to_string(),
            ty: Type::Unknown,
            arity: None,
            keys: Vec::new(),
            span,
            arity_span: None,
            written: false,
            read: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GlobalVar {
    pub var: Var,
    pub decl: Global,
    /// `Some(file)` for a `private` global: visible in that file only.
    pub private_to: Option<FileId>,
    /// Declared in a tapset file rather than the user's script.
    pub from_tapset: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Func {
    pub def: Function,
    pub file: FileId,
    pub private_to: Option<FileId>,
    pub ret: Type,
    pub params: Vec<Var>,
    pub locals: Vec<Var>,
    pub from_tapset: bool,
    /// Called (directly or not) from a probe.
    pub used: bool,
    /// The placements it is instantiated for.
    pub placements: Vec<Placement>,
}

/// One handler: a user's probe (or a tapset's), expanded through aliases,
/// with the concrete points it attaches to.
#[derive(Clone, Debug, PartialEq)]
pub struct DerivedProbe {
    /// The probe points as the user wrote them (`kernel.function("vfs_*"), end`).
    pub origin: String,
    pub points: Vec<ResolvedPoint>,
    /// The user's body with alias prologues and epilogues around it.
    pub body: Block,
    pub locals: Vec<Var>,
    /// `if (expr)` conditions of the points on the way, and-ed.
    pub condition: Option<Expr>,
    pub placement: Placement,
    /// The file whose private names the body sees (the user's probe's).
    pub file: FileId,
    pub span: Span,
    pub from_tapset: bool,
}

impl DerivedProbe {
    /// Whether the probe is a function return (where `$return` and
    /// `@entry` mean something).
    pub fn is_return(&self) -> bool {
        self.points.iter().any(|p| {
            matches!(p.kind, ProbeKind::KernelFunction { ret: true, .. } | ProbeKind::Uprobe { ret: true, .. })
        })
    }
}

/// Pass 2's result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    pub globals: Vec<GlobalVar>,
    pub functions: Vec<Func>,
    pub probes: Vec<DerivedProbe>,
    /// Library files pulled in, by name.
    pub tapsets: Vec<String>,
    /// What each target expression reads and its type, by the
    /// [`TargetId`](crate::parse::ast::TargetId) the expression carries.
    pub targets: Vec<target::Resolved>,
}

/// What elaboration needs besides the parsed scripts.
pub struct ElabOptions<'a> {
    pub kernel: &'a Kernel,
    pub guru: bool,
    /// `-u`: keep unused code.
    pub unoptimized: bool,
    pub target_pid: Option<u32>,
    pub command: Option<&'a str>,
    /// `--skip-badvars`: a target variable that does not resolve reads as 0.
    pub skip_badvars: bool,
}

impl Program {
    /// The resolution of a target expression of the program's bodies.
    pub fn resolved(&self, t: &crate::parse::ast::Target) -> Option<&target::Resolved> {
        t.resolved.and_then(|id| self.targets.get(id.0 as usize))
    }

    /// The global a name in `file` binds to.
    pub fn global(&self, name: &str, file: FileId) -> Option<usize> {
        self.globals
            .iter()
            .position(|g| g.var.name == name && g.private_to == Some(file))
            .or_else(|| self.globals.iter().position(|g| g.var.name == name && g.private_to.is_none()))
    }

    /// The script functions a call in `file` binds to (overloads, in
    /// priority order).
    pub fn functions_named(&self, name: &str, file: FileId) -> Vec<usize> {
        let private: Vec<usize> = (0..self.functions.len())
            .filter(|&i| self.functions.get(i).is_some_and(|f| f.def.name.name == name && f.private_to == Some(file)))
            .collect();
        if !private.is_empty() {
            return private;
        }
        (0..self.functions.len())
            .filter(|&i| self.functions.get(i).is_some_and(|f| f.def.name.name == name && f.private_to.is_none()))
            .collect()
    }
}

/// Runs pass 2.
pub fn elaborate(
    user: &[crate::parse::ast::Script],
    library: &crate::tapset::Library,
    opts: &ElabOptions<'_>,
) -> (Program, Vec<Diagnostic>) {
    // Autocast: a round that meets `x->member` on an untyped value learns
    // the types locals and functions carry, and the next round uses them.
    let mut hints = autocast::AutocastHints::default();
    let mut round = 0;
    let mut session = loop {
        round += 1;
        let mut session = symbols::Session::new(user, library, opts);
        session.hints = std::mem::take(&mut hints);
        session.autocast_final = round >= 4;
        session.run();
        if !session.autocast_pending {
            break session;
        }
        let learnt = session.collect_hints();
        if learnt == session.hints {
            // Nothing new: the last round reports what stays untyped.
            let mut last = symbols::Session::new(user, library, opts);
            last.hints = learnt;
            last.run();
            break last;
        }
        hints = learnt;
    };
    let mut diags = std::mem::take(&mut session.diags);
    let mut program = session.into_program();
    if !crate::diag::has_errors(&diags) {
        diags.extend(elide::finish(&mut program, opts));
    }
    if !crate::diag::has_errors(&diags) {
        diags.extend(infer::infer(&mut program));
    }
    (program, diags)
}

/// The probe points a user's probe was written with, as stap shows them
/// in `-p2` (`begin, end`).
pub fn origin_of(points: &[ProbePoint]) -> String {
    points.iter().map(crate::parse::printer::print_point).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::parse::ast::{ExprKind, TargetId};
    use crate::parse::{ParseOptions, lexer, parse_tokens, visit};
    use crate::source::{FileKind, SourceMap};

    fn elaborate_text(text: &str, kernel: &Kernel) -> (Program, Vec<Diagnostic>) {
        let mut sm = SourceMap::new();
        let f = sm.add("<input>", text, FileKind::User);
        let (toks, _) = lexer::lex(f, text);
        let eof = Span::new(f, text.len() as u32, text.len() as u32);
        let (script, diags) = parse_tokens(f, &toks, eof, ParseOptions::default());
        assert!(diags.is_empty(), "{diags:?}");
        let opts = ElabOptions {
            kernel,
            guru: false,
            unoptimized: false,
            target_pid: None,
            command: None,
            skip_badvars: false,
        };
        elaborate(&[script], &crate::tapset::Library::default(), &opts)
    }

    #[test]
    fn an_array_changed_while_a_foreach_iterates_over_it_is_an_error() {
        let kernel = Kernel::fixed("6.1.0", "x86_64", Default::default());
        let text = "global a, b\nfunction f() { a[1] = 2 }\n\
                    probe begin { foreach (k in a) { a[k]++; f(); b[k] = 1 } delete a }";
        let (_, diags) = elaborate_text(text, &kernel);
        let at = |d: &Diagnostic| d.span().map(|s| text.get(s.start as usize..s.end as usize).unwrap_or_default());
        let found: Vec<(&str, Option<&str>)> = diags.iter().map(|d| (d.message.as_str(), at(d))).collect();
        assert!(
            found
                .contains(&("semantic error: invalid modification of array 'a' while iterating over it", Some("a[k]"))),
            "{found:?}"
        );
        assert!(
            found.contains(&(
                "semantic error: function 'f' modifies array 'a' while a foreach iterates over it",
                Some("f")
            )),
            "{found:?}"
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn each_target_expression_of_an_alias_body_has_its_own_resolution() {
        let kernel = Kernel::snapshot(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kernel"));
        let text = r#"
            probe rw = kernel.function("vfs_read"), kernel.function("vfs_write") { printf("%d\n", $count) }
            probe rw { printf("a %d %d\n", $count, $pos != 0) }
            probe rw { printf("b\n") }
        "#;
        let (program, diags) = elaborate_text(text, &kernel);
        assert!(!crate::diag::has_errors(&diags), "{diags:?}");
        let mut ids: Vec<TargetId> = Vec::new();
        for p in &program.probes {
            visit::block_exprs(&p.body, &mut |e| {
                visit::walk_expr(e, &mut |e| {
                    if let ExprKind::Target(t) = &e.kind {
                        let r = program.resolved(t).expect("resolved");
                        assert_eq!(r.ty, Type::Long, "{t:?}");
                        ids.extend(t.resolved);
                    }
                    true
                })
            });
        }
        // Each user probe derives one probe per kernel function; the
        // first's bodies read three target expressions (the alias's
        // `$count`, its own `$count` and `$pos`), the second's one.
        let points: Vec<usize> = program.probes.iter().map(|p| p.points.len()).collect();
        assert_eq!(points, [1, 1, 1, 1]);
        assert_eq!(ids.len(), 2 * (3 + 1), "{ids:?}");
        let mut distinct = ids.clone();
        distinct.sort_by_key(|id| id.0);
        distinct.dedup();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    }
}
