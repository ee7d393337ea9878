//! The intrinsic functions in kernel handlers (`pid()`, `execname()`,
//! `kernel_string()`, `substr()`, ...), as a table of rows by family:
//! each row names the intrinsics it lowers, the shape of call it takes
//! (whether it must produce a value, how many arguments) and the function
//! that writes its code.
//!
//! In: an `Intrinsic` instruction of the IR (name, result, arguments).
//! Out: its code, appended to the generator's; a name no row takes, or a
//! call of a shape its rows do not take, is refused at the call's span as
//! not translated yet. `ns_NAME()` is `NAME()` (and `task_ns_NAME(t)` is
//! `task_NAME(t)`) where stp runs in the kernel's first pid and user
//! namespaces, and refused elsewhere.
//!
//! The families, a file each: [`context`] (the probe's arguments and
//! point), [`task`] (the current task and others'), [`time`] (clocks),
//! [`memory`] (reads of kernel and user memory), [`strings`] (searching,
//! slicing, escaping), [`conversions`] (numbers from and to text),
//! [`symbols`] (stacks and backtraces) and [`control`] (errors, exit,
//! warnings, logs).
//!
//! Adding an intrinsic: add one [`Row`] to its family's `ROWS` (its
//! names, `result`, `args`) and write its lowering beside it, a
//! `fn(&mut Gen, &Call) -> Result<(), Diagnostic>` that reads its result
//! with [`Call::dst`] and its arguments with [`Call::arg`]. The rows are
//! tried in order (families in [`FAMILIES`]' order); the first whose names
//! and shape fit lowers the call.

use super::{Gen, not_yet};
use crate::diag::Diagnostic;
use crate::ir::{Operand, VarId};
use crate::source::Span;

mod context;
mod control;
mod conversions;
mod memory;
mod strings;
mod symbols;
mod task;
mod time;

pub(super) use strings::short_needle;

/// One call of an intrinsic.
pub(super) struct Call<'a> {
    pub(super) name: &'a str,
    pub(super) dst: Option<VarId>,
    pub(super) args: &'a [Operand],
    pub(super) span: Span,
}

impl Call<'_> {
    /// Where the value goes (the row said it has one).
    pub(super) fn dst(&self) -> Result<VarId, Diagnostic> {
        self.dst.ok_or_else(|| Diagnostic::internal(format!("pass 3: {}() without its result", self.name)))
    }

    /// Argument `i` (the row said it has it).
    pub(super) fn arg(&self, i: usize) -> Result<&Operand, Diagnostic> {
        self.args.get(i).ok_or_else(|| Diagnostic::internal(format!("pass 3: {}() without argument {i}", self.name)))
    }
}

/// How an intrinsic's code is written.
pub(super) type Lower = fn(&mut Gen<'_>, &Call<'_>) -> Result<(), Diagnostic>;

/// One row of the table.
pub(super) struct Row {
    /// The intrinsics it lowers.
    pub(super) names: &'static [&'static str],
    /// Whether it takes only calls whose value is used.
    pub(super) result: bool,
    /// The fewest and most arguments it takes.
    pub(super) args: (usize, usize),
    pub(super) lower: Lower,
}

/// Any number of arguments.
pub(super) const ANY: (usize, usize) = (0, usize::MAX);

impl Row {
    fn takes(&self, call: &Call<'_>) -> bool {
        self.names.contains(&call.name)
            && (!self.result || call.dst.is_some())
            && (self.args.0..=self.args.1).contains(&call.args.len())
    }
}

/// The families, in the order their rows are tried.
const FAMILIES: &[&[Row]] = &[
    context::ROWS,
    task::ROWS,
    control::ROWS,
    memory::ROWS,
    symbols::ROWS,
    time::ROWS,
    conversions::ROWS,
    strings::ROWS,
];

impl Gen<'_> {
    pub(super) fn intrinsic(
        &mut self,
        dst: Option<VarId>,
        name: &str,
        args: &[Operand],
        span: Span,
    ) -> Result<(), Diagnostic> {
        // From stp's first namespaces, `ns_pid()` reads what `pid()` does
        // and `task_ns_pid(t)` what `task_pid(t)` does.
        let plain_task = name.strip_prefix("task_ns_").map(|rest| format!("task_{rest}"));
        let name = match plain_task.as_deref().or_else(|| name.strip_prefix("ns_")) {
            Some(plain) if self.facts.task.initial_namespaces => plain,
            Some(_) => {
                return Err(not_yet(
                    &format!("{name}() in kernel handlers outside the first pid and user namespaces"),
                    span,
                ));
            }
            None => name,
        };
        let call = Call { name, dst, args, span };
        match FAMILIES.iter().flat_map(|f| f.iter()).find(|row| row.takes(&call)) {
            Some(row) => (row.lower)(self, &call),
            None => Err(not_yet(&format!("{name}() in kernel handlers"), span)),
        }
    }
}
