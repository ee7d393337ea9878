//! The Cranelift back end: user-placed handlers (`begin`, `end`, `error`,
//! interval timers) and the script functions they call, compiled from the
//! IR to native code and run in the stp process.
//!
//! In: the IR [`Module`] and its [`Layout`]. Out: a [`Jit`] holding the
//! code of every `Placement::User` function, which [`Jit::run`] calls on a
//! [`Host`] (the running script's globals, maps, statistics and output).
//!
//! How the code is shaped:
//! - Every compiled function has one signature, `(ctx, frame, args, ret)
//!   -> status`: the run's context ([`rt::Ctx`]), the function's string
//!   frame, its arguments (one `i64` slot each: the long, or the address
//!   of the string), where its value goes; the status is 0 (returned), 1
//!   (`next`: the caller tries the next overload) or 2 (a runtime error,
//!   its message in the context).
//! - Longs are Cranelift variables. Strings live in the frame, one buffer
//!   of `round8(MAXSTRINGLEN)` bytes per string variable, NUL-terminated
//!   and never longer than `MAXSTRINGLEN - 1` bytes; the runtime keeps one
//!   frame per call depth. String literals are constants the `Jit` owns.
//! - Long arithmetic, comparisons, branches and global longs (loads and
//!   stores at the layout's offsets in the globals record) are inline;
//!   the rest calls the `extern "C"` helpers of [`rt`]. A helper that can
//!   fail returns a status; on failure the code goes to the block's
//!   `catch` (the message into the catch variable) or returns 2.
//! - Semantics are stap's: wrapping 64-bit arithmetic; `x / 0` and `x % 0`
//!   fail with "division by 0"; `x / -1` is `-x` (wrapping, so
//!   `i64::MIN / -1` is `i64::MIN`) and `x % -1` is 0, as stap's
//!   `_stp_div64`/`_stp_mod64` do; shift counts are taken modulo 64 (what
//!   the C shifts stap emits do on x86-64); strings compare as `strcmp`.
//! - MAXACTION: each executed block that does something (has an
//!   instruction or a conditional branch) counts one action; a handler
//!   fails with "MAXACTION exceeded" past `Limits::max_action`. stap
//!   counts statements; a loop iteration costs two or three here, about
//!   what stap charges, and a loop cannot escape the count.
//! - MAXNESTING: at most `Limits::max_nesting` (stap's default, 10,
//!   `-D MAXNESTING=N`) nested function calls; the next fails with
//!   "MAXNESTING exceeded".
//! - `next` in a function tries the next overload; past the last, the
//!   call fails with "all functions exhausted"; in a handler it ends the
//!   handler. `exit()` asks the host to stop and the handler goes on.
//! - `=~` uses the `regex` crate on bytes. The match or not is POSIX's;
//!   the groups `matched()` returns may differ where POSIX's longest
//!   match rule picks other submatches than the leftmost-first rule.

mod builtins;
mod clif;
mod output;
mod rt;
mod strings;
pub mod testing;
#[cfg(test)]
mod tests;
mod translate;

use std::collections::HashMap;
use std::sync::Mutex;

use cranelift_jit::JITModule;
use stp_compiler::diag::Diagnostic;
use stp_compiler::ir::{FuncId, GlobalId, Module, Ty};
use stp_compiler::ir::{Sort, StatOp};
use stp_compiler::layout::Layout;
use stp_compiler::source::Span;

use crate::host::{Host, RuntimeError};

/// Native code of a script's user-placed handlers and functions.
pub struct Jit {
    module: Option<JITModule>,
    tables: Box<Tables>,
    entries: HashMap<FuncId, Entry>,
}

/// A compiled function: its code and the size of its string frame.
#[derive(Clone, Copy)]
struct Entry {
    code: *const u8,
    frame_size: u32,
}

/// What compiled code refers to by number: constants, regexes, the
/// descriptions of print calls, `foreach` loops and intrinsic calls, and
/// the span of every instruction that can fail.
pub struct Tables {
    layout: Layout,
    max_len: usize,
    str_size: usize,
    consts: Vec<Box<[u8]>>,
    regexes: Vec<regex::bytes::Regex>,
    prints: Vec<output::PrintDesc>,
    iters: Vec<IterDesc>,
    builtins: Vec<BuiltinDesc>,
    sites: Vec<Span>,
    /// The probe point `pp()` names, by handler.
    points: HashMap<FuncId, String>,
    /// `tokenize()`'s string and position, kept across calls and runs as
    /// stap keeps them.
    tokenizer: Mutex<Option<(Vec<u8>, usize)>>,
}

struct IterDesc {
    map: GlobalId,
    sort: Option<Sort>,
    aggregate: Option<StatOp>,
    limit: bool,
    slice: bool,
}

struct BuiltinDesc {
    which: builtins::Which,
    params: Vec<Ty>,
}

/// The signature every compiled function has.
type Code = unsafe extern "C" fn(*mut rt::Ctx<'_>, *mut u8, *const i64, *mut u8) -> i64;

impl Jit {
    /// Compiles every user-placed function of `module`. `points[i]` is the
    /// probe point of the elaborated program's probe `i` (what `pp()`
    /// returns in its handler); missing ones read as "".
    pub fn compile(module: &Module, layout: &Layout, points: &[String]) -> Result<Jit, Diagnostic> {
        let mut tables = Box::new(Tables::new(module, layout, points));
        let (jm, entries) = translate::compile(module, &mut tables, None)?;
        Ok(Jit { module: Some(jm), tables, entries })
    }

    /// The Cranelift IR of every user-placed function of `module`, as
    /// [`Jit::compile`] makes it, each after a `; func #N NAME (...)`
    /// line; addresses are shown by name (see `clif`). Empty when no
    /// function is user-placed.
    pub fn clif(module: &Module, layout: &Layout, points: &[String]) -> Result<String, Diagnostic> {
        let mut tables = Box::new(Tables::new(module, layout, points));
        let mut texts = Vec::new();
        let (jm, entries) = translate::compile(module, &mut tables, Some(&mut texts))?;
        let constants: Vec<(i64, Vec<u8>)> =
            tables.consts.iter().map(|c| (c.as_ptr() as i64, c.strip_suffix(&[0]).unwrap_or(c).to_vec())).collect();
        drop(Jit { module: Some(jm), tables, entries });
        Ok(clif::name_addresses(&texts.join("\n"), &constants))
    }
}

impl Tables {
    fn new(module: &Module, layout: &Layout, points: &[String]) -> Tables {
        let max_len = layout.limits.max_string_len.max(2) as usize;
        Tables {
            layout: layout.clone(),
            max_len,
            str_size: layout.size_of(Ty::Str) as usize,
            consts: Vec::new(),
            regexes: Vec::new(),
            prints: Vec::new(),
            iters: Vec::new(),
            builtins: Vec::new(),
            sites: Vec::new(),
            points: module
                .handlers
                .iter()
                .map(|h| (h.func, points.get(h.probe).cloned().unwrap_or_default()))
                .collect(),
            tokenizer: Mutex::new(None),
        }
    }
}

impl Jit {
    /// The user-placed handlers compiled, with the probe each serves.
    pub fn handlers<'m>(&self, module: &'m Module) -> impl Iterator<Item = &'m stp_compiler::ir::Handler> {
        let entries = &self.entries;
        module.handlers.iter().filter(move |h| entries.contains_key(&h.func))
    }

    /// Runs a handler to its end. A runtime error no `try` caught ends it
    /// and is returned with the span of the failing operation.
    pub fn run(&self, func: FuncId, host: &mut dyn Host) -> Result<(), RuntimeError> {
        let point = self.tables.points.get(&func).map_or("", String::as_str);
        self.run_at(func, point, host)
    }

    /// [`Jit::run`] with the probe point `pp()` returns given: the point
    /// that fired, where a probe has several.
    pub fn run_at(&self, func: FuncId, point: &str, host: &mut dyn Host) -> Result<(), RuntimeError> {
        let Some(entry) = self.entries.get(&func).copied() else {
            return Err(RuntimeError { message: format!("no user-placed handler {}", func.0), span: None });
        };
        let globals = host.globals();
        let mut ctx = rt::Ctx {
            actions: 0,
            site: -1,
            globals,
            host,
            tables: &self.tables,
            point,
            error: None,
            aborting: false,
            depth: 0,
            frames: Vec::new(),
            iters: Vec::new(),
            matched: Vec::new(),
        };
        let frame = ctx.frame(0, entry.frame_size as usize);
        let mut ret = vec![0u64; self.tables.str_size.div_ceil(8)];
        // SAFETY: `entry.code` was compiled with the `Code` signature and
        // lives as long as `self`; the frame and return buffer are as big
        // as the code expects.
        let status = unsafe {
            let code = std::mem::transmute::<*const u8, Code>(entry.code);
            code(&mut ctx, frame, std::ptr::null(), ret.as_mut_ptr().cast())
        };
        if status != 2 || ctx.aborting {
            return Ok(());
        }
        let span = usize::try_from(ctx.site).ok().and_then(|i| self.tables.sites.get(i)).copied();
        Err(RuntimeError { message: ctx.error.take().unwrap_or_default(), span })
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: no code of the module runs any more: runs borrow
            // `self`, and nothing keeps a pointer into the code.
            unsafe { m.free_memory() };
        }
    }
}
