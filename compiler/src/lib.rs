//! The stp compiler: SystemTap scripts in, eBPF programs and native
//! user-side handlers out.
//!
//! The passes mirror stap's: [`parse`] (pass 1), then elaboration,
//! translation and building (passes 2 to 4). [`driver`] runs them in order.
//! Every pass takes the previous pass's data and returns its own output
//! with [`diag::Diagnostic`]s; none prints.

pub mod artifact;
pub mod bpf;
pub mod btf;
pub mod diag;
pub mod driver;
pub mod elab;
pub mod format;
pub mod glob;
pub mod ir;
pub mod kernel;
pub mod layout;
pub mod objfile;
pub mod parse;
pub mod source;
pub mod syscall_fallback;
pub mod syscall_table;
pub mod tapset;
pub mod types;
pub mod userspace;

/// stp's version, as `-V` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
