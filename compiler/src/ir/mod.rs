//! Pass 3's intermediate representation: one typed IR for both placements.
//!
//! Each probe handler and each script function becomes a [`Function`] of
//! basic blocks over typed variables (the script's locals and numbered
//! temporaries). Instructions make everything explicit that the back ends
//! must do differently: global and map access, statistics, context
//! (target variable) reads, string building, output. Every instruction
//! carries the span of the script text it came from, for diagnostics and
//! BTF line info. The eBPF back end lowers kernel-placed functions; the
//! Cranelift back end lowers user-placed ones.

pub mod fold;
pub mod inline;
pub mod lower;
pub mod parse;
pub mod print;
pub mod probe_type;
pub mod races;
pub mod verify;

/// The types of the front end the IR embeds, re-exported so that the
/// Cranelift back end and the runtime need only the IR.
pub use crate::elab::Placement;
use crate::elab::target::Resolved;
pub use crate::parse::ast::{CompareOp, PrintKind, Sort, SortBy, StatOp};
use crate::source::Span;

/// A value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Ty {
    Long,
    Str,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Long => "long",
            Ty::Str => "string",
        }
    }
}

/// A variable of a function: a parameter, a script local or a temporary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct VarId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct BlockId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct GlobalId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct FuncId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VarDecl {
    /// The script's name, or empty for a temporary.
    pub name: String,
    pub ty: Ty,
}

/// What a global holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GlobalKind {
    Scalar(Ty),
    /// An associative array: key types, value type.
    Array {
        keys: Vec<Ty>,
        value: Ty,
    },
    /// Statistics, scalar (no keys) or keyed.
    Stats {
        keys: Vec<Ty>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Global {
    pub name: String,
    pub kind: GlobalKind,
    /// Entries an array may hold (`global a[100]`), when declared.
    pub size: Option<u64>,
    /// `%`: a full array drops its oldest entries.
    pub wrap: bool,
    /// The initial value of a scalar.
    pub init: Option<Operand>,
}

/// An instruction's input.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Operand {
    Var(VarId),
    Long(i64),
    Str(Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UnOp {
    Neg,
    BitNot,
    /// Logical not: 1 if zero, else 0.
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    /// Division and remainder fail on a zero divisor (a runtime error).
    Div,
    Mod,
    Shl,
    /// Arithmetic shift, as stap's `>>` on signed longs.
    Shr,
    And,
    Or,
    Xor,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum InstKind {
    /// `dst = src`.
    Copy {
        dst: VarId,
        src: Operand,
    },
    Unary {
        dst: VarId,
        op: UnOp,
        a: Operand,
    },
    Binary {
        dst: VarId,
        op: BinOp,
        a: Operand,
        b: Operand,
    },
    /// 1 or 0; `strings` compares byte strings.
    Compare {
        dst: VarId,
        op: CompareOp,
        a: Operand,
        b: Operand,
        strings: bool,
    },
    /// String concatenation, truncated at MAXSTRINGLEN.
    Concat {
        dst: VarId,
        a: Operand,
        b: Operand,
    },
    /// `s =~ "re"` (negated for `!~`).
    Regex {
        dst: VarId,
        a: Operand,
        pattern: Vec<u8>,
        negated: bool,
    },
    LoadGlobal {
        dst: VarId,
        global: GlobalId,
    },
    StoreGlobal {
        global: GlobalId,
        src: Operand,
    },
    /// `a[k...]`: 0 or "" when absent.
    MapGet {
        dst: VarId,
        map: GlobalId,
        keys: Vec<Operand>,
    },
    /// Fails with "array overflow" when the array is full (and not `%`).
    MapSet {
        map: GlobalId,
        keys: Vec<Operand>,
        value: Operand,
    },
    /// `delete a[k...]`; no keys: the whole array (or statistic); a `None`
    /// key (`*`) matches any, deleting every entry of the slice.
    MapDelete {
        map: GlobalId,
        keys: Option<Vec<Option<Operand>>>,
    },
    /// `g op= value` as one indivisible step, on a global long (`keys`
    /// `None`) or a long array's element (an absent one counts as 0 and
    /// is inserted; a full array fails with "array overflow" as
    /// `MapSet` does). `op` is `Add`, `Sub`, `Or`, `And` or `Xor`; `old`,
    /// when the value is used, receives the value before the step.
    Update {
        old: Option<VarId>,
        global: GlobalId,
        keys: Option<Vec<Operand>>,
        op: BinOp,
        value: Operand,
    },
    /// `[k...] in a`; a `None` key (`*`) matches any.
    MapHas {
        dst: VarId,
        map: GlobalId,
        keys: Vec<Option<Operand>>,
    },
    /// `s[k...] <<< v`.
    StatAdd {
        stat: GlobalId,
        keys: Vec<Operand>,
        value: Operand,
    },
    /// `@count(s[k...])` and the other extractors; `@avg` and `@variance`
    /// of an empty statistic are runtime errors.
    StatGet {
        dst: VarId,
        stat: GlobalId,
        keys: Vec<Operand>,
        op: StatOp,
        /// `@variance(s, shift)`'s bit shift (0 otherwise): every value
        /// the statistic accumulates is scaled by `2^shift` for its
        /// running mean (see `STAT_FIELDS` in the layout).
        #[serde(default)]
        shift: u32,
    },
    /// A target variable read: the walk elaboration resolved, with the
    /// operands it takes: an `@cast`'s address, then one per operation
    /// of the expression (its index for `[i]`, 0 for the others).
    /// Never in a user-placed function, so never in an artifact.
    #[serde(skip)]
    Target {
        dst: VarId,
        resolved: Box<Resolved>,
        operands: Vec<Operand>,
    },
    /// A compiler intrinsic (`execname()`, `kernel_string(p)`, ...).
    Intrinsic {
        dst: Option<VarId>,
        name: String,
        args: Vec<Operand>,
    },
    /// A script function: the overloads in order, each may say `next`.
    Call {
        dst: Option<VarId>,
        overloads: Vec<FuncId>,
        args: Vec<Operand>,
    },
    /// `foreach`: a new iteration over `map`'s entries as they are now,
    /// sorted and limited as asked, restricted to keys equal to the given
    /// slice keys. `iter` holds it; it lives until the function returns.
    IterStart {
        iter: VarId,
        map: GlobalId,
        sort: Option<Sort>,
        /// For statistics sorted by value: the extractor sorted on.
        aggregate: Option<StatOp>,
        limit: Option<Operand>,
        slice: Vec<Option<Operand>>,
    },
    /// The next entry: `found` is 1 and the keys (and value) are set, or
    /// `found` is 0 at the end.
    IterNext {
        iter: VarId,
        map: GlobalId,
        found: VarId,
        keys: Vec<VarId>,
        value: Option<VarId>,
    },
    /// `print(@hist_log(s[k...]))`, `@hist_linear(s, lo, hi, step)`: the
    /// histogram drawn as stap draws it.
    HistPrint {
        stat: GlobalId,
        keys: Vec<Operand>,
        hist: Hist,
    },
    /// `@hist_log(s)[i]`: the count in bucket `i`.
    HistBucket {
        dst: VarId,
        stat: GlobalId,
        keys: Vec<Operand>,
        hist: Hist,
        index: Operand,
    },
    /// In a return probe's entry function: keep `value` for this thread's
    /// return, in `@entry` slot `slot`.
    EntrySave {
        slot: u32,
        value: Operand,
    },
    /// In the return probe: what the entry function kept in `slot` (0 or
    /// "" if the entry was not seen).
    EntryLoad {
        dst: VarId,
        slot: u32,
    },
    /// The print family; `dst` receives the text for `sprint*`.
    Print {
        dst: Option<VarId>,
        kind: PrintKind,
        format: Option<Vec<u8>>,
        delimiter: Option<Operand>,
        args: Vec<(Operand, Ty)>,
    },
}

/// A histogram's buckets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Hist {
    /// Powers of two.
    Log,
    /// `[lo, hi)` in steps of `step`, with under- and overflow buckets.
    Linear { lo: Operand, hi: Operand, step: Operand },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Inst {
    pub kind: InstKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Terminator {
    Jump(BlockId),
    /// On a non-zero long.
    Branch {
        cond: Operand,
        then: BlockId,
        otherwise: BlockId,
    },
    /// From a function (with its value), or the end of a handler.
    Return(Option<Operand>),
    /// `next`: out of the handler, or on to the next overload.
    Next,
    /// `error(msg)`: a runtime error; it ends the handler (a surrounding
    /// `try` catches it). `exit()` is an intrinsic: the handler goes on.
    Error(Operand),
}

/// Where a runtime error in a block goes: the `catch` of the innermost
/// `try` around it, with the variable that receives the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Catch {
    pub block: BlockId,
    pub message: Option<VarId>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Block {
    pub insts: Vec<Inst>,
    pub term: Terminator,
    pub term_span: Span,
    /// `None`: an error ends the handler (and is reported).
    pub on_error: Option<Catch>,
}

/// A handler or a script function, for one placement.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Function {
    /// `probe_0` for handlers, the script name for functions.
    pub name: String,
    pub placement: Placement,
    pub params: Vec<VarId>,
    /// `None`: returns nothing (a handler, or a function without a type).
    pub ret: Option<Ty>,
    pub vars: Vec<VarDecl>,
    /// Block 0 is the entry.
    pub blocks: Vec<Block>,
    pub span: Span,
}

impl Function {
    pub fn var(&self, v: VarId) -> Option<&VarDecl> {
        self.vars.get(v.0 as usize)
    }

    pub fn block(&self, b: BlockId) -> Option<&Block> {
        self.blocks.get(b.0 as usize)
    }
}

/// A handler: the function and the probe it serves.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Handler {
    pub func: FuncId,
    /// Index of the derived probe in the elaborated program.
    pub probe: usize,
    /// Runs at the entry of the probed functions of a `.return` probe, to
    /// keep its `@entry` values.
    pub at_entry: bool,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Module {
    pub globals: Vec<Global>,
    pub functions: Vec<Function>,
    pub handlers: Vec<Handler>,
}

impl Module {
    pub fn global(&self, g: GlobalId) -> Option<&Global> {
        self.globals.get(g.0 as usize)
    }

    pub fn function(&self, f: FuncId) -> Option<&Function> {
        self.functions.get(f.0 as usize)
    }
}
