//! Writing eBPF programs into a standard relocatable ELF object: one
//! section per program, named as loaders expect (`tracepoint/SYS/NAME`,
//! `kprobe/FUNC`, ...), a global function symbol per program, and the
//! `license` section.

use object::write::{Object, Symbol, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope};

use super::insn::Insn;

/// One program of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The function symbol loaders name the program by.
    pub name: String,
    /// The section, which tells loaders the program type and attach point.
    pub section: String,
    pub insns: Vec<Insn>,
}

/// The object's bytes.
pub fn write_object(programs: &[Program], license: &str) -> Result<Vec<u8>, String> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    for p in programs {
        let code: Vec<u8> = p.insns.iter().flat_map(Insn::encode).collect();
        let section = obj.add_section(Vec::new(), p.section.as_bytes().to_vec(), SectionKind::Text);
        let offset = obj.append_section_data(section, &code, 8);
        obj.add_symbol(Symbol {
            name: p.name.as_bytes().to_vec(),
            value: offset,
            size: code.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });
    }
    let section = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut text = license.as_bytes().to_vec();
    text.push(0);
    obj.append_section_data(section, &text, 1);
    obj.write().map_err(|e| format!("cannot write the eBPF object: {e}"))
}

#[cfg(test)]
mod tests {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

    use super::*;
    use crate::bpf::insn::Reg;

    #[test]
    fn programs_and_license_read_back() {
        let progs = vec![
            Program {
                name: "probe_0".into(),
                section: "tracepoint/syscalls/sys_enter_getppid".into(),
                insns: vec![Insn::mov64_imm(Reg::R0, 0), Insn::exit()],
            },
            Program {
                name: "probe_1".into(),
                section: "kprobe/vfs_read".into(),
                insns: vec![Insn::mov64_imm(Reg::R0, 1), Insn::exit()],
            },
        ];
        let bytes = write_object(&progs, "GPL").expect("an object");
        let file = object::File::parse(&*bytes).expect("a valid ELF");
        assert_eq!(file.architecture(), Architecture::Bpf);
        for p in &progs {
            let section = file.section_by_name(&p.section).expect("the program's section");
            let code: Vec<u8> = p.insns.iter().flat_map(Insn::encode).collect();
            assert_eq!(section.data().expect("data"), code.as_slice());
            let sym = file.symbols().find(|s| s.name() == Ok(p.name.as_str())).expect("the program's symbol");
            assert_eq!(sym.section_index(), Some(section.index()));
            assert_eq!(sym.size(), code.len() as u64);
            assert!(sym.is_global());
        }
        let license = file.section_by_name("license").expect("license");
        assert_eq!(license.data().expect("data"), b"GPL\0");
    }
}
