//! The eBPF back end: instructions, and (as passes 3 and 4 grow) register
//! allocation, helpers and the ELF object.

pub mod abi;
pub mod btf;
pub mod btf_ext;
pub mod codegen;
pub mod elf;
pub mod insn;
pub mod mapmem;
pub mod records;
pub mod regalloc;
