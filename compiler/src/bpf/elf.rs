//! Writing eBPF programs into a standard relocatable ELF object: one
//! section per program, named as loaders expect (`tracepoint/SYS/NAME`,
//! `kprobe/FUNC`, ...), a global function symbol per program, maps as
//! libbpf's BTF-defined maps in `.maps` (described in `.BTF`), the
//! relocations that tie map loads to them, and the `license` section.

use std::collections::HashMap;

use object::write::{Object, Relocation, Symbol, SymbolId, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

use super::btf::{self, MAP_DEF_SIZE, MapDef};
use super::insn::Insn;

/// `R_BPF_64_64`: a 64-bit immediate load of a map's address.
const R_BPF_64_64: u32 = 1;

/// One program of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The function symbol loaders name the program by.
    pub name: String,
    /// The section, which tells loaders the program type and attach point.
    pub section: String,
    pub insns: Vec<Insn>,
    /// The instructions (by slot) that load a map, and the map's name.
    pub map_loads: Vec<(usize, String)>,
}

/// The object's bytes.
pub fn write_object(programs: &[Program], maps: &[MapDef], license: &str) -> Result<Vec<u8>, String> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let mut map_symbols: HashMap<&str, SymbolId> = HashMap::new();
    if !maps.is_empty() {
        let section = obj.add_section(Vec::new(), b".maps".to_vec(), SectionKind::Data);
        let offset = obj.append_section_data(section, &vec![0; maps.len() * MAP_DEF_SIZE as usize], 8);
        for (i, m) in maps.iter().enumerate() {
            let id = obj.add_symbol(Symbol {
                name: m.name.as_bytes().to_vec(),
                value: offset + u64::from(i as u32 * MAP_DEF_SIZE),
                size: u64::from(MAP_DEF_SIZE),
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Section(section),
                flags: SymbolFlags::None,
            });
            map_symbols.insert(&m.name, id);
        }
    }
    let mut types = btf::Builder::new();
    btf::add_maps(&mut types, maps);
    let section = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Metadata);
    obj.append_section_data(section, &types.finish(), 4);
    for p in programs {
        let code: Vec<u8> = p.insns.iter().flat_map(Insn::encode).collect();
        let section = obj.add_section(Vec::new(), p.section.as_bytes().to_vec(), SectionKind::Text);
        let offset = obj.append_section_data(section, &code, 8);
        for (slot, map) in &p.map_loads {
            let symbol = *map_symbols.get(map.as_str()).ok_or_else(|| format!("no map named '{map}'"))?;
            obj.add_relocation(
                section,
                Relocation {
                    offset: offset + (*slot as u64) * 8,
                    symbol,
                    addend: 0,
                    flags: RelocationFlags::Elf { r_type: R_BPF_64_64 },
                },
            )
            .map_err(|e| format!("cannot relocate a map load: {e}"))?;
        }
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
                map_loads: Vec::new(),
            },
            Program {
                name: "probe_1".into(),
                section: "kprobe/vfs_read".into(),
                insns: vec![Insn::mov64_imm(Reg::R0, 1), Insn::exit()],
                map_loads: Vec::new(),
            },
        ];
        let bytes = write_object(&progs, &[], "GPL").expect("an object");
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

    #[test]
    fn maps_and_their_relocations() {
        let mut insns = Insn::ld_map_fd(Reg::R1, 0).to_vec();
        insns.extend([Insn::mov64_imm(Reg::R0, 0), Insn::exit()]);
        let progs = vec![Program {
            name: "probe_0".into(),
            section: "tracepoint/sched/sched_switch".into(),
            insns,
            map_loads: vec![(0, "counts".into())],
        }];
        let maps = [
            MapDef { name: "globals".into(), map_type: 2, key_size: 4, value_size: 8, max_entries: 1, flags: 0 },
            MapDef { name: "counts".into(), map_type: 1, key_size: 8, value_size: 8, max_entries: 1024, flags: 0 },
        ];
        let bytes = write_object(&progs, &maps, "GPL").expect("an object");
        let file = object::File::parse(&*bytes).expect("a valid ELF");
        let defs = file.section_by_name(".maps").expect(".maps");
        assert_eq!(defs.size(), 80);
        let counts = file.symbols().find(|s| s.name() == Ok("counts")).expect("the map's symbol");
        assert_eq!((counts.section_index(), counts.address()), (Some(defs.index()), 40));
        let text = file.section_by_name("tracepoint/sched/sched_switch").expect("the program");
        let relocs: Vec<_> = text.relocations().collect();
        assert_eq!(relocs.len(), 1);
        let (offset, r) = &relocs[0];
        assert_eq!(*offset, 0);
        assert_eq!(r.target(), object::RelocationTarget::Symbol(counts.index()));
        assert!(file.section_by_name(".BTF").is_some());
        // A load of a map that does not exist is refused.
        let bad = Program { map_loads: vec![(0, "nope".into())], ..progs[0].clone() };
        assert!(write_object(&[bad], &maps, "GPL").is_err());
    }
}
