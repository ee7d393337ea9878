//! The records kernel-placed handlers write to the ring buffer, and how
//! the runtime reads them back.
//!
//! A record starts with 8 bytes: its tag (a little-endian u32 indexing
//! the module's [`RecordKind`] table) and padding. Its arguments follow,
//! each at an offset that is a multiple of 8: a long in 8 bytes, a string
//! in `Layout::size_of(Ty::Str)` bytes, NUL-terminated. Values the
//! compiler knows (literals) stay in the table and take no room.

use crate::format::Arg;
use crate::ir::Ty;
use crate::layout::Layout;
use crate::parse::ast::PrintKind;
use crate::source::Span;

/// The bytes before a record's arguments.
pub const HEADER: u32 = 8;

/// An argument of a record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RecordArg {
    /// In the record.
    Value(Ty),
    Long(i64),
    Str(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RecordKind {
    /// The print family.
    Print { kind: PrintKind, format: Option<Vec<u8>>, delimiter: Option<Vec<u8>>, args: Vec<RecordArg> },
    /// `exit()`.
    Exit,
    /// `abort()`: the session ends at once, without `end` probes.
    Abort,
    /// `warn(msg)`: its one string argument.
    Warn,
    /// `system(cmd)`: the command, which the runtime starts.
    System,
    /// A runtime error at `span`: `message`, or the record's one string
    /// argument (`error(msg)`).
    Error { message: Option<String>, span: Span },
    /// A memory fault at `span`: `message` with the address the record
    /// carries where `{addr}` is.
    Fault { message: String, span: Span },
    /// `print_backtrace()`: the bytes of the kernel's stack the helper
    /// wrote (or its negative error), then up to `frames` addresses.
    Backtrace { frames: u32 },
    /// `print(@hist_*(s))`: the statistic's global; the record holds the
    /// number of CPUs, then each CPU's record of the statistic as a
    /// per-CPU lookup fills them (a count of 0 for a CPU without one).
    HistPrint { stat: u32 },
    /// `print_stack(stk)`: the `backtrace()` string, printed with the
    /// kernel's symbols.
    PrintStack,
}

impl RecordKind {
    /// The types of the values the record carries.
    pub fn carried(&self) -> Vec<Ty> {
        match self {
            RecordKind::Print { args, .. } => args
                .iter()
                .filter_map(|a| match a {
                    RecordArg::Value(t) => Some(*t),
                    _ => None,
                })
                .collect(),
            RecordKind::Exit | RecordKind::Abort => Vec::new(),
            RecordKind::Warn | RecordKind::System => vec![Ty::Str],
            RecordKind::Error { message: Some(_), .. } => Vec::new(),
            RecordKind::Error { message: None, .. } => vec![Ty::Str],
            RecordKind::Fault { .. } => vec![Ty::Long],
            RecordKind::Backtrace { frames } => vec![Ty::Long; *frames as usize + 1],
            RecordKind::HistPrint { .. } => Vec::new(),
            RecordKind::PrintStack => vec![Ty::Str],
        }
    }
}

/// The offset of each carried value, and the record's size.
pub fn offsets(carried: &[Ty], layout: &Layout) -> (Vec<u32>, u32) {
    let mut at = HEADER;
    let offs = carried
        .iter()
        .map(|&t| {
            let o = at;
            at += layout.size_of(t);
            o
        })
        .collect();
    (offs, at)
}

/// A value decoded from a record, a map or the globals: a long, or a
/// string's bytes without its NUL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Long(i64),
    Str(Vec<u8>),
}

impl Value {
    pub fn arg(&self) -> Arg<'_> {
        match self {
            Value::Long(n) => Arg::Long(*n),
            Value::Str(s) => Arg::Bytes(s),
        }
    }
}

/// The carried values of a record's bytes (after the header's tag), or
/// `None` if the record is shorter than its kind says.
pub fn decode(kind: &RecordKind, bytes: &[u8], layout: &Layout) -> Option<Vec<Value>> {
    let carried = kind.carried();
    let (offs, size) = offsets(&carried, layout);
    if bytes.len() < size as usize {
        return None;
    }
    carried
        .iter()
        .zip(offs)
        .map(|(&t, o)| {
            let o = o as usize;
            value(bytes.get(o..o + layout.size_of(t) as usize)?, t)
        })
        .collect()
}

/// A long (in the machine's byte order) or a NUL-terminated string
/// from its bytes in a record, a map key or value, or the globals.
pub fn value(field: &[u8], ty: Ty) -> Option<Value> {
    match ty {
        Ty::Long => Some(Value::Long(i64::from_ne_bytes(field.get(..8)?.try_into().ok()?))),
        Ty::Str => {
            let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
            Some(Value::Str(field.get(..end)?.to_vec()))
        }
    }
}

/// The tag of a record.
pub fn tag(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}
