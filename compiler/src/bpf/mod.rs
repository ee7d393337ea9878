//! The eBPF back end: instructions, register allocation, helpers and the
//! ELF object. Its one entry is [`build`] (see [`build`](mod@build) for
//! what goes in and what comes out); the other modules are its parts,
//! public for the runtime (records, map names, dispatchers) and tests.

pub mod abi;
pub mod btf;
pub mod btf_ext;
pub mod build;
pub mod codegen;
pub mod elf;
pub mod insn;
pub mod mapmem;
pub mod records;
pub mod regalloc;

pub use build::{Failure, Object, Options, build};
