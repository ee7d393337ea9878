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
//! target expressions carry their resolution in the tree.

pub mod coverage;
pub mod derive;
pub mod infer;
pub mod intrinsics;
pub mod list;
pub mod points;
pub mod print;
pub mod regex;
pub mod sdt;
pub mod symbols;
pub mod target;
pub mod tp_source;

use crate::diag::Diagnostic;
use crate::kernel::Kernel;
use crate::parse::ast::{Block, Expr, Function, Global, ProbePoint};
use crate::source::{FileId, Span};
use points::{ProbeKind, ResolvedPoint};

/// A value type of the language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Type {
    #[default]
    Unknown,
    Long,
    String,
    Stats,
}

impl Type {
    /// As stap prints it.
    pub fn name(self) -> &'static str {
        match self {
            Type::Unknown => "unknown",
            Type::Long => "long",
            Type::String => "string",
            Type::Stats => "stats",
        }
    }
}

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

/// Matches `name` against a glob pattern: `*` (not across `.` when
/// `dots` is false), `**` (across anything), `?`, `[...]`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => {
                let (deep, rest) = match rest.split_first() {
                    Some((b'*', r)) => (true, r),
                    _ => (false, rest),
                };
                for i in 0..=n.len() {
                    if i > 0 && !deep && n.get(i - 1) == Some(&b'.') {
                        break;
                    }
                    if go(rest, n.get(i..).unwrap_or_default()) {
                        return true;
                    }
                }
                false
            }
            Some((b'?', rest)) => n.split_first().is_some_and(|(_, nr)| go(rest, nr)),
            Some((b'[', rest)) => {
                let Some(close) = rest.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                    return n.first() == Some(&b'[') && go(rest, n.get(1..).unwrap_or_default());
                };
                let (class, after) = (rest.get(..close).unwrap_or_default(), rest.get(close + 1..).unwrap_or_default());
                let (negate, class) = match class.split_first() {
                    Some((b'!' | b'^', c)) => (true, c),
                    _ => (false, class),
                };
                let Some((&c, nr)) = n.split_first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while let Some(&lo) = class.get(i) {
                    if class.get(i + 1) == Some(&b'-')
                        && let Some(&hi) = class.get(i + 2)
                    {
                        hit |= (lo..=hi).contains(&c);
                        i += 3;
                    } else {
                        hit |= lo == c;
                        i += 1;
                    }
                }
                hit != negate && go(after, nr)
            }
            Some((&c, rest)) => n.split_first().is_some_and(|(&d, nr)| c == d && go(rest, nr)),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Whether a string has glob characters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Runs pass 2.
pub fn elaborate(
    user: &[crate::parse::ast::Script],
    library: &crate::tapset::Library,
    opts: &ElabOptions<'_>,
) -> (Program, Vec<Diagnostic>) {
    // Autocast: a round that meets `x->member` on an untyped value learns
    // the types locals and functions carry, and the next round uses them.
    let mut hints = symbols::AutocastHints::default();
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
        diags.extend(symbols::finish(&mut program, opts));
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
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("vfs_*", "vfs_read"));
        assert!(!glob_match("vfs_*", "do_vfs"));
        assert!(glob_match("v?s_[rw]*", "vfs_write"));
        assert!(!glob_match("v?s_[!rw]*", "vfs_write"));
        assert!(glob_match("foo.*", "foo.bar"));
        assert!(!glob_match("foo.*", "foo.bar.baz"));
        assert!(glob_match("foo.**", "foo.bar.baz"));
        assert!(glob_match("ti**es", "timer.jiffies"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("[", "x"));
    }
}
