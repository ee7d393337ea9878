//! The abstract syntax tree of one parsed file.
//!
//! Every node carries the [`Span`] it was written at. The tree keeps what
//! the user wrote, after preprocessing (conditionals chosen, macros and
//! `$1`/`@1` arguments expanded, adjacent strings glued, probe-point brace
//! expansions multiplied out) and after the desugarings stap itself applies
//! in its parser (`while` is a `for` loop; a missing `for` condition is 1).
//!
//! `{:#?}` prints a tree without spans (see [`Span`]'s `Debug`), which is
//! how tests compare trees.

use crate::source::{FileId, Span};

/// A name and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed file: the user script, a tapset, or a macro library.
/// Items are kept by kind, each kind in source order (stap's layout).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Script {
    pub file: FileId,
    pub embeds: Vec<Embedded>,
    pub globals: Vec<Global>,
    pub aliases: Vec<ProbeAlias>,
    pub probes: Vec<Probe>,
    pub functions: Vec<Function>,
}

impl Script {
    pub fn is_empty(&self) -> bool {
        self.embeds.is_empty()
            && self.globals.is_empty()
            && self.aliases.is_empty()
            && self.probes.is_empty()
            && self.functions.is_empty()
    }
}

/// `%{ ... %}` at the top level, or as a function body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Embedded {
    pub code: String,
    pub span: Span,
}

/// A literal in a probe point, a global initializer or a type position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    Number(i64),
    String(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    pub name: Ident,
    pub private: bool,
    /// `global a[100]`: declared as an array with this many entries.
    pub size: Option<i64>,
    /// `[` `]` was written (an array), with or without a size.
    pub array: bool,
    /// `global a%`: a wrapping array (oldest entries are replaced).
    pub wrap: bool,
    pub init: Option<(Literal, Span)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub points: Vec<ProbePoint>,
    pub body: Block,
    pub span: Span,
}

/// `probe NAME = POINTS { prologue }`, `probe NAME += POINTS { epilogue }`
/// or `probe NAME = POINTS { prologue }, { epilogue }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeAlias {
    /// The alias names (several only through brace expansion).
    pub names: Vec<ProbePoint>,
    /// `+=`: the body runs after the user's handler.
    pub epilogue: bool,
    pub points: Vec<ProbePoint>,
    pub body: Block,
    /// The second block of `= POINTS { prologue }, { epilogue }`: it runs
    /// after the user's handler (`epilogue` is then false).
    pub epilogue_body: Option<Block>,
    pub span: Span,
}

/// A dotted probe point such as `kernel.function("vfs_read").return ?`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbePoint {
    pub components: Vec<Component>,
    /// `?`: no error when it matches nothing.
    pub optional: bool,
    /// `!`: optional, and the remaining points of the list are skipped
    /// when it matches.
    pub sufficient: bool,
    /// `if (expr)`: the handler runs only while the condition holds.
    pub condition: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// The name, possibly with `*` wildcards (`sys*`, `*`, `**`).
    pub name: String,
    pub arg: Option<(Literal, Span)>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeName {
    Long,
    String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<(TypeName, Span)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FunctionBody {
    Script(Block),
    Embedded(Embedded),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub name: Ident,
    pub private: bool,
    pub ret: Option<(TypeName, Span)>,
    pub params: Vec<Param>,
    /// `function f() :N { }`: the overload priority.
    pub priority: Option<(i64, Span)>,
    pub body: FunctionBody,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `;` on its own.
    Null,
    Block(Block),
    Expr(Expr),
    If {
        cond: Expr,
        then: Box<Stmt>,
        otherwise: Option<Box<Stmt>>,
    },
    /// `for (init; cond; incr) body`; `while (c) s` is `for (; c; ) s`.
    For {
        init: Option<Expr>,
        cond: Expr,
        incr: Option<Expr>,
        body: Box<Stmt>,
    },
    Foreach(Box<Foreach>),
    Delete(Expr),
    Return(Option<Expr>),
    Next,
    Break,
    Continue,
    Try {
        body: Block,
        var: Option<Ident>,
        catch: Block,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SortBy {
    /// Sort on the key at this position.
    Key(usize),
    /// Sort on the value.
    Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sort {
    pub by: SortBy,
    pub descending: bool,
}

/// `foreach (value = [k1, k2] in array[slice] +/- limit N) body`.
#[derive(Clone, Debug, PartialEq)]
pub struct Foreach {
    pub value: Option<Ident>,
    pub keys: Vec<Ident>,
    /// The array (or histogram) iterated over.
    pub array: Expr,
    /// `a[k, *]`: restrict the iteration to keys matching the given ones.
    pub slice: Option<Vec<Option<Expr>>>,
    /// `foreach (k in stats @sum-)`: the statistic the value sort uses.
    pub aggregate: Option<StatOp>,
    pub sort: Option<Sort>,
    pub limit: Option<Expr>,
    pub body: Stmt,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Plus,
    Not,
    BitNot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Shl,
    Shr,
    BitAnd,
    BitOr,
    BitXor,
    Concat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicalOp {
    And,
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// `=`, the compound assignments, and `<<<`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    Assign,
    Op(BinaryOp),
    Aggregate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crement {
    Incr,
    Decr,
}

/// The `print` family, which stap parses specially.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PrintKind {
    Printf,
    Sprintf,
    Print,
    Println,
    Sprint,
    Sprintln,
    Printd,
    Printdln,
    Sprintd,
    Sprintdln,
}

impl PrintKind {
    pub fn from_name(name: &str) -> Option<PrintKind> {
        Some(match name {
            "printf" => PrintKind::Printf,
            "sprintf" => PrintKind::Sprintf,
            "print" => PrintKind::Print,
            "println" => PrintKind::Println,
            "sprint" => PrintKind::Sprint,
            "sprintln" => PrintKind::Sprintln,
            "printd" => PrintKind::Printd,
            "printdln" => PrintKind::Printdln,
            "sprintd" => PrintKind::Sprintd,
            "sprintdln" => PrintKind::Sprintdln,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PrintKind::Printf => "printf",
            PrintKind::Sprintf => "sprintf",
            PrintKind::Print => "print",
            PrintKind::Println => "println",
            PrintKind::Sprint => "sprint",
            PrintKind::Sprintln => "sprintln",
            PrintKind::Printd => "printd",
            PrintKind::Printdln => "printdln",
            PrintKind::Sprintd => "sprintd",
            PrintKind::Sprintdln => "sprintdln",
        }
    }

    /// `sprint*` return the text instead of printing it.
    pub fn returns_string(self) -> bool {
        matches!(
            self,
            PrintKind::Sprintf | PrintKind::Sprint | PrintKind::Sprintln | PrintKind::Sprintd | PrintKind::Sprintdln
        )
    }

    pub fn has_format(self) -> bool {
        matches!(self, PrintKind::Printf | PrintKind::Sprintf)
    }

    pub fn has_delimiter(self) -> bool {
        matches!(self, PrintKind::Printd | PrintKind::Printdln | PrintKind::Sprintd | PrintKind::Sprintdln)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StatOp {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Variance,
}

impl StatOp {
    pub fn from_name(name: &str) -> Option<StatOp> {
        Some(match name {
            "count" => StatOp::Count,
            "sum" => StatOp::Sum,
            "min" => StatOp::Min,
            "max" => StatOp::Max,
            "avg" => StatOp::Avg,
            "variance" => StatOp::Variance,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            StatOp::Count => "count",
            StatOp::Sum => "sum",
            StatOp::Min => "min",
            StatOp::Max => "max",
            StatOp::Avg => "avg",
            StatOp::Variance => "variance",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum HistKind {
    Log,
    Linear { start: Box<Expr>, stop: Box<Expr>, step: Box<Expr> },
}

/// The base of a target-variable expression.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetBase {
    /// `$name` (the name without the dollar).
    Var(String),
    /// `$$vars`, `$$locals`, `$$parms`, `$$return`.
    Context(ContextVars),
    /// `@cast(expr, "type"[, "module"])`.
    Cast { operand: Box<Expr>, type_name: String, module: Option<String> },
    /// `@var("name[@file]"[, "module"])`.
    AtVar { name: String, module: Option<String> },
    /// Member access on a plain expression (stap's autocast):
    /// `f()->field`, `p[3]` where `p` came from a typed pointer.
    Autocast(Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextVars {
    Vars,
    Locals,
    Parms,
    Return,
}

impl ContextVars {
    pub fn name(self) -> &'static str {
        match self {
            ContextVars::Vars => "$$vars",
            ContextVars::Locals => "$$locals",
            ContextVars::Parms => "$$parms",
            ContextVars::Return => "$$return",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum TargetOp {
    Member(Ident),
    Index(Expr),
}

/// The `$` and `$$` pretty-printing suffixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pretty {
    /// `$`: one level.
    Shallow,
    /// `$$`: recursively.
    Deep,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub base: TargetBase,
    pub ops: Vec<TargetOp>,
    pub pretty: Option<Pretty>,
    /// `&$var->x`: the address instead of the value.
    pub addr_of: bool,
    /// Set by elaboration: which entry of its table of resolutions (what
    /// the expression reads and its type) is this expression's.
    pub resolved: Option<TargetId>,
}

/// A target expression's resolution, as an index into elaboration's
/// table. Elaboration gives out a new id for each resolution it makes, so
/// two expressions share an id only when one is a copy of the other made
/// after it was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TargetId(pub u32);

impl Target {
    /// A base with no members, indexes or suffixes yet, unresolved.
    pub fn bare(base: TargetBase) -> Target {
        Target { base, ops: Vec::new(), pretty: None, addr_of: false, resolved: None }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(i64),
    String(Vec<u8>),
    /// A variable (scalar or array name, local or global).
    Var(String),
    /// `a[k1, k2]` or a histogram bucket `@hist_log(s)[3]`; a `None` key is
    /// `*` (a slice, in `delete`, `in` and statistics).
    Index {
        base: Box<Expr>,
        keys: Vec<Option<Expr>>,
    },
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    Print {
        kind: PrintKind,
        format: Option<(Vec<u8>, Span)>,
        delimiter: Option<Box<Expr>>,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Crement {
        op: Crement,
        prefix: bool,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Logical {
        op: LogicalOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Compare {
        op: CompareOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `s =~ "re"` (or `!~` when negated).
    Regex {
        negated: bool,
        operand: Box<Expr>,
        pattern: Vec<u8>,
        pattern_span: Span,
    },
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Assign {
        op: AssignOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `[k1, k2] in array`.
    In {
        keys: Vec<Option<Expr>>,
        array: Box<Expr>,
    },
    Stat {
        op: StatOp,
        operand: Box<Expr>,
        extra: Vec<Expr>,
    },
    Hist {
        kind: HistKind,
        operand: Box<Expr>,
    },
    Target(Box<Target>),
    /// `@defined(expr)`.
    Defined(Box<Expr>),
    /// `@entry(expr)`: evaluated at function entry, read in `.return`.
    Entry(Box<Expr>),
    /// `@perf("name")`.
    Perf(Vec<u8>),
    /// `@probewrite(var)`.
    ProbeWrite(Ident),
    /// `@kregister(n)`, `@uregister(n)`, `@kderef(size, addr)`,
    /// `@uderef(size, addr)`: guru-mode register and memory access.
    Register {
        user: bool,
        number: Box<Expr>,
    },
    Deref {
        user: bool,
        size: Box<Expr>,
        addr: Box<Expr>,
    },
    /// `%{ ... %}` as an expression (guru mode), also `@const("X")`.
    Embedded(String),
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }
}
