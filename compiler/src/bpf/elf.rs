//! Writing eBPF programs into a standard relocatable ELF object: one
//! section per program type and attach point, named as loaders expect
//! (`tracepoint/SYS/NAME`, `kprobe/FUNC`, ...), holding each program that
//! shares it one after the other; a global function symbol per program;
//! maps as libbpf's BTF-defined maps in `.maps` (described in `.BTF`); the
//! relocations that tie map loads to them; the `license` section; and
//! `.BTF.ext`, which names each program's BTF function and, when the
//! caller gives them, where each script line's code starts.
//!
//! Programs with the same section name share one ELF section because
//! loaders find a section's `.BTF.ext` records by its name.
//!
//! A program's subprograms (the callbacks of `bpf_for_each_map_elem` and
//! `bpf_loop`) go in `.text` as static functions, each with its BTF
//! function and line records, as clang places them; a load of one's
//! address is relocated against `.text`, and loaders link the callbacks
//! back in after the program in the order the program names them, which
//! is the order they have in [`Program::insns`].

use std::collections::HashMap;

use object::write::{Object, Relocation, Symbol, SymbolId, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

use super::btf::{self, MAP_DEF_SIZE, MapDef};
use super::btf_ext::{self, FuncRecord, LineRecord, SectionInfo};
use super::insn::{Insn, PSEUDO_FUNC};
use crate::source::{SourceMap, Span};

/// `R_BPF_64_64`: a 64-bit immediate load of a map's or a function's
/// address.
const R_BPF_64_64: u32 = 1;

/// The size of an instruction.
const INSN_SIZE: u64 = 8;

/// The map loaders make of the object's read-only data (the regular
/// expressions' tables, `sprintf`'s padding); a load of its address names
/// it.
pub const RODATA: &str = ".rodata";

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
    /// The subprograms at the end of `insns`: the slot each starts at and
    /// its name, ascending. A subprogram's address is loaded as the
    /// kernel takes it: a 64-bit immediate load with source
    /// [`PSEUDO_FUNC`] and the offset of its first instruction from the
    /// load's second slot.
    pub funcs: Vec<(usize, String)>,
}

impl Program {
    /// The slots of the program's own code, then of each subprogram.
    fn parts(&self) -> Vec<(usize, usize, Option<&str>)> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut name = None;
        for (at, n) in &self.funcs {
            out.push((start, *at, name));
            start = *at;
            name = Some(n.as_str());
        }
        out.push((start, self.insns.len(), name));
        out
    }
}

/// Where the code of one script line starts in a program: what the kernel
/// shows above that instruction in its verifier log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// The slot of the line's first instruction.
    pub slot: usize,
    /// The name of the file the line is in.
    pub file: String,
    /// The line's text.
    pub text: String,
    /// One-based line and column.
    pub line: u32,
    pub col: u32,
}

/// A program's line info from the spans code generation recorded (where
/// each script statement's code starts, [`super::codegen::Output::lines`]):
/// the file, line, column and text of each span's start. The code before
/// the first statement (the handler's prologue) is put on `probe`'s line.
/// Spans the compiler made up are left out: the line before goes on.
pub(crate) fn line_info(lines: &[(usize, Span)], probe: Option<Span>, sm: &SourceMap) -> Vec<LineInfo> {
    let at = |slot: usize, span: Span| {
        let file = sm.get(span.file)?;
        let (line, col) = file.line_col(span.start);
        let text = file.line_range(line - 1).and_then(|r| file.text.get(r)).unwrap_or("");
        Some(LineInfo {
            slot,
            file: file.name.clone(),
            text: text.to_string(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        })
    };
    let mut out: Vec<LineInfo> = probe.filter(|p| !p.is_dummy()).and_then(|p| at(0, p)).into_iter().collect();
    out.extend(lines.iter().filter(|(_, span)| !span.is_dummy()).filter_map(|&(slot, span)| at(slot, span)));
    out
}

/// The object's bytes, without line info.
pub fn write_object(programs: &[Program], maps: &[MapDef], license: &str) -> Result<Vec<u8>, String> {
    write_object_with_lines(programs, maps, license, &[])
}

/// The object's bytes; `lines[i]`, when there, tells where the code of
/// each script line of `programs[i]` starts (in ascending slot order).
pub fn write_object_with_lines(
    programs: &[Program],
    maps: &[MapDef],
    license: &str,
    lines: &[Vec<LineInfo>],
) -> Result<Vec<u8>, String> {
    write_object_with_data(programs, maps, license, lines, &[])
}

/// The object's bytes, with read-only data: a `.rodata` section, which
/// loaders make a frozen array map of; the programs load addresses in it
/// as loads of the map named [`RODATA`], the offset in
/// the instruction's immediate.
pub(crate) fn write_object_with_data(
    programs: &[Program],
    maps: &[MapDef],
    license: &str,
    lines: &[Vec<LineInfo>],
    rodata: &[u8],
) -> Result<Vec<u8>, String> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let mut map_symbols: HashMap<&str, SymbolId> = HashMap::new();
    if !rodata.is_empty() {
        let section = obj.add_section(Vec::new(), b".rodata".to_vec(), SectionKind::ReadOnlyData);
        obj.append_section_data(section, rodata, 8);
        map_symbols.insert(RODATA, obj.section_symbol(section));
    }
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
    let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
    let funcs = btf::add_programs(&mut types, &names);
    let mut ext = Vec::new();
    let mut text_symbol_of = None;
    // The subprograms first, in `.text`: the programs' loads of their
    // addresses need their offsets there.
    let mut text_at: HashMap<(usize, usize), u64> = HashMap::new();
    if programs.iter().any(|p| !p.funcs.is_empty()) {
        let text = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
        let text_symbol = obj.section_symbol(text);
        let mut info = SectionInfo { name_off: types.string(".text"), ..SectionInfo::default() };
        // Where each goes, first: one may load the address of a later one.
        let mut next = 0;
        for (i, p) in programs.iter().enumerate() {
            for (start, end, name) in p.parts() {
                if name.is_some() {
                    text_at.insert((i, start), next);
                    next += (end - start) as u64 * INSN_SIZE;
                }
            }
        }
        for (i, p) in programs.iter().enumerate() {
            for (start, end, name) in p.parts() {
                let Some(name) = name else { continue };
                let code = encode(p, start, end, &text_at, i)?;
                let offset = obj.append_section_data(text, &code, INSN_SIZE);
                if text_at.get(&(i, start)) != Some(&offset) {
                    return Err(format!("{name} is not where .text was laid out"));
                }
                let off32 = u32::try_from(offset + code.len() as u64)
                    .map(|_| offset as u32)
                    .map_err(|_| ".text is too long")?;
                relocate(&mut obj, text, offset, (p, start, end), &map_symbols, Some(text_symbol))?;
                obj.add_symbol(Symbol {
                    name: name.as_bytes().to_vec(),
                    value: offset,
                    size: code.len() as u64,
                    kind: SymbolKind::Text,
                    scope: SymbolScope::Compilation,
                    weak: false,
                    section: SymbolSection::Section(text),
                    flags: SymbolFlags::None,
                });
                let type_id = btf::add_callback(&mut types, name);
                info.funcs.push(FuncRecord { insn_off: off32, type_id });
                let part_lines = rebase(lines.get(i).map_or(&[][..], Vec::as_slice), start, end);
                info.lines.extend(line_records(
                    p.insns.get(start..end).unwrap_or_default(),
                    &part_lines,
                    off32,
                    &mut types,
                ));
            }
        }
        ext.push(info);
        text_symbol_of = Some(text_symbol);
    }
    // The programs of each section name, in the order the names first come.
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, p) in programs.iter().enumerate() {
        match groups.iter_mut().find(|(name, _)| *name == p.section) {
            Some((_, members)) => members.push(i),
            None => groups.push((&p.section, vec![i])),
        }
    }
    for (name, members) in &groups {
        let section = obj.add_section(Vec::new(), name.as_bytes().to_vec(), SectionKind::Text);
        let mut info = SectionInfo { name_off: types.string(name), ..SectionInfo::default() };
        for &i in members {
            let (Some(p), Some(&type_id)) = (programs.get(i), funcs.get(i)) else { continue };
            let end = p.funcs.first().map_or(p.insns.len(), |f| f.0);
            let code = encode(p, 0, end, &text_at, i)?;
            let offset = obj.append_section_data(section, &code, INSN_SIZE);
            // Offsets in `.BTF.ext` are 32-bit.
            let start = u32::try_from(offset + code.len() as u64)
                .map(|_| offset as u32)
                .map_err(|_| format!("section {name} is too long"))?;
            relocate(&mut obj, section, offset, (p, 0, end), &map_symbols, text_symbol_of)?;
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
            info.funcs.push(FuncRecord { insn_off: start, type_id });
            let program_lines = rebase(lines.get(i).map_or(&[][..], Vec::as_slice), 0, end);
            info.lines.extend(line_records(p.insns.get(..end).unwrap_or_default(), &program_lines, start, &mut types));
        }
        ext.push(info);
    }
    let section = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Metadata);
    obj.append_section_data(section, &types.finish(), 4);
    if !programs.is_empty() {
        let section = obj.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Metadata);
        obj.append_section_data(section, &btf_ext::encode(&ext), 4);
    }
    let section = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut text = license.as_bytes().to_vec();
    text.push(0);
    obj.append_section_data(section, &text, 1);
    obj.write().map_err(|e| format!("cannot write the eBPF object: {e}"))
}

/// Whether an instruction loads a subprogram's address.
fn loads_func(i: &Insn) -> bool {
    i.is_wide() && i.src == PSEUDO_FUNC
}

/// The code of slots `start..end` of program `index`, with each load of a
/// subprogram's address turned into its offset in `.text` (`text_at`),
/// which the relocation against `.text` adds to.
fn encode(
    p: &Program,
    start: usize,
    end: usize,
    text_at: &HashMap<(usize, usize), u64>,
    index: usize,
) -> Result<Vec<u8>, String> {
    let mut insns = p.insns.get(start..end).ok_or("a subprogram past the program's end")?.to_vec();
    for (k, insn) in insns.iter_mut().enumerate() {
        if !loads_func(insn) {
            continue;
        }
        let target = (start + k + 1).checked_add_signed(insn.imm as isize).ok_or("a subprogram before the program")?;
        let offset = text_at
            .get(&(index, target))
            .ok_or_else(|| format!("{}: slot {} loads no subprogram", p.name, start + k))?;
        insn.imm = i32::try_from(*offset).map_err(|_| ".text is too long")?;
    }
    Ok(insns.iter().flat_map(Insn::encode).collect())
}

/// The relocations of slots `start..end` of a program placed at `offset`
/// of `section`: its map loads, and its loads of subprograms' addresses.
fn relocate(
    obj: &mut Object<'_>,
    section: object::write::SectionId,
    offset: u64,
    (p, start, end): (&Program, usize, usize),
    map_symbols: &HashMap<&str, SymbolId>,
    text: Option<SymbolId>,
) -> Result<(), String> {
    let mut relocations = Vec::new();
    for (slot, map) in p.map_loads.iter().filter(|(s, _)| (start..end).contains(s)) {
        let symbol = *map_symbols.get(map.as_str()).ok_or_else(|| format!("no map named '{map}'"))?;
        relocations.push((*slot, symbol));
    }
    for (slot, _) in p.insns.iter().enumerate().take(end).skip(start).filter(|(_, i)| loads_func(i)) {
        relocations.push((slot, text.ok_or("a subprogram load without subprograms")?));
    }
    for (slot, symbol) in relocations {
        obj.add_relocation(
            section,
            Relocation {
                offset: offset + ((slot - start) as u64) * INSN_SIZE,
                symbol,
                addend: 0,
                flags: RelocationFlags::Elf { r_type: R_BPF_64_64 },
            },
        )
        .map_err(|e| format!("cannot relocate a load: {e}"))?;
    }
    Ok(())
}

/// The line starts of slots `start..end`, counted from `start`.
fn rebase(lines: &[LineInfo], start: usize, end: usize) -> Vec<LineInfo> {
    lines
        .iter()
        .filter(|l| (start..end).contains(&l.slot))
        .map(|l| LineInfo { slot: l.slot - start, ..l.clone() })
        .collect()
}

/// A program's line records, as the kernel accepts them: at most one per
/// instruction, in ascending order, each at the start of an instruction
/// of the program, the first at the program's first instruction (the
/// first line listed covers any code before it). Where several lines are
/// listed at one slot, the last is the one whose code starts there; a
/// line that repeats the one before it adds nothing. `start` is the
/// program's offset in its section, in bytes.
fn line_records(insns: &[Insn], lines: &[LineInfo], start: u32, types: &mut btf::Builder) -> Vec<LineRecord> {
    let mut kept: Vec<(usize, &LineInfo)> = Vec::new();
    for l in lines {
        // Past the end, or the second half of a 64-bit load.
        if insns.get(l.slot).is_none_or(|i| i.code == 0) {
            continue;
        }
        match kept.last_mut() {
            Some(last) if last.0 == l.slot => last.1 = l,
            Some(last) if last.0 > l.slot => {}
            _ => kept.push((l.slot, l)),
        }
    }
    kept.dedup_by(|later, earlier| {
        (&later.1.file, later.1.line, later.1.col) == (&earlier.1.file, earlier.1.line, earlier.1.col)
    });
    if let Some(first) = kept.first_mut() {
        first.0 = 0;
    }
    kept.into_iter()
        .map(|(slot, l)| {
            let text = l.text.trim_end().replace('\0', " ");
            LineRecord {
                insn_off: start + slot as u32 * INSN_SIZE as u32,
                file_name_off: types.string(&l.file),
                line_off: types.string(&text),
                line_col: LineRecord::line_col(l.line, l.col),
            }
        })
        .collect()
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
                funcs: Vec::new(),
            },
            Program {
                name: "probe_1".into(),
                section: "kprobe/vfs_read".into(),
                insns: vec![Insn::mov64_imm(Reg::R0, 1), Insn::exit()],
                map_loads: Vec::new(),
                funcs: Vec::new(),
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
            funcs: Vec::new(),
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

    #[test]
    fn spans_become_lines_of_their_files() {
        let mut sm = SourceMap::new();
        let text = "global n\nprobe begin {\n  n++; m = 1\r\n}\n";
        let f = sm.add("t.stp", text, crate::source::FileKind::User);
        let at = |s: &str| Span::new(f, text.find(s).unwrap() as u32, (text.find(s).unwrap() + s.len()) as u32);
        let spans = [(3, at("n++")), (3, Span::DUMMY), (5, at("m = 1")), (9, at("}"))];
        let lines = line_info(&spans, Some(at("probe")), &sm);
        let seen: Vec<_> = lines.iter().map(|l| (l.slot, l.file.as_str(), l.line, l.col, l.text.as_str())).collect();
        assert_eq!(
            seen,
            [
                (0, "t.stp", 2, 1, "probe begin {"),
                (3, "t.stp", 3, 3, "  n++; m = 1\r"),
                (5, "t.stp", 3, 8, "  n++; m = 1\r"),
                (9, "t.stp", 4, 1, "}"),
            ]
        );
        // Without a probe span the first statement's line comes first.
        assert_eq!(line_info(&spans, None, &sm).first().map(|l| l.slot), Some(3));
    }

    /// A string of `.BTF`'s string section.
    fn btf_string(btf: &[u8], off: u32) -> String {
        let word = |at: usize| u32::from_le_bytes(btf[at..at + 4].try_into().unwrap()) as usize;
        let strings = &btf[word(4) + word(16)..];
        let s = &strings[off as usize..];
        String::from_utf8(s[..s.iter().position(|&b| b == 0).unwrap()].to_vec()).unwrap()
    }

    fn line(slot: usize, line: u32, text: &str) -> LineInfo {
        LineInfo { slot, file: "<input>".into(), text: text.into(), line, col: 3 }
    }

    /// Two programs on one tracepoint and one on a kprobe; the first loads
    /// a map in its slots 0 and 1.
    fn three_programs() -> (Vec<Program>, Vec<MapDef>, Vec<Vec<LineInfo>>) {
        let mut first = Insn::ld_map_fd(Reg::R1, 0).to_vec();
        first.extend([
            Insn::mov64_imm(Reg::R0, 0),
            Insn::mov64_imm(Reg::R0, 1),
            Insn::mov64_imm(Reg::R0, 2),
            Insn::exit(),
        ]);
        let progs = vec![
            Program {
                name: "probe_0_0".into(),
                section: "tracepoint/syscalls/sys_enter_getppid".into(),
                insns: first,
                map_loads: vec![(0, "counts".into())],
                funcs: Vec::new(),
            },
            Program {
                name: "probe_1_0".into(),
                section: "kprobe/vfs_read".into(),
                insns: vec![Insn::mov64_imm(Reg::R0, 0), Insn::exit()],
                map_loads: Vec::new(),
                funcs: Vec::new(),
            },
            Program {
                name: "probe_2_0".into(),
                section: "tracepoint/syscalls/sys_enter_getppid".into(),
                insns: vec![Insn::mov64_imm(Reg::R0, 0), Insn::mov64_imm(Reg::R0, 1), Insn::exit()],
                map_loads: vec![],
                funcs: Vec::new(),
            },
        ];
        let maps =
            vec![MapDef { name: "counts".into(), map_type: 2, key_size: 4, value_size: 8, max_entries: 1, flags: 0 }];
        let lines = vec![
            vec![
                // Slot 1 is the second half of the map load: never a line's start.
                line(1, 1, "no"),
                line(2, 2, "  n++"),
                // The last line listed at a slot is the one that starts there.
                line(2, 3, "if (n > 1) {"),
                line(3, 3, "if (n > 1) {"),
                line(4, 4, "    m = n\t"),
                line(6, 5, "past the end"),
            ],
            Vec::new(),
            vec![line(0, 7, "x = 1"), line(1, 8, "")],
        ];
        (progs, maps, lines)
    }

    #[test]
    fn programs_of_one_section_share_it_and_are_btf_functions() {
        let (progs, maps, lines) = three_programs();
        let bytes = write_object_with_lines(&progs, &maps, "GPL", &lines).expect("an object");
        let file = object::File::parse(&*bytes).expect("a valid ELF");
        let getppid: Vec<_> =
            file.sections().filter(|s| s.name() == Ok("tracepoint/syscalls/sys_enter_getppid")).collect();
        assert_eq!(getppid.len(), 1, "one section for both programs");
        let code: Vec<u8> = progs[0].insns.iter().chain(&progs[2].insns).flat_map(Insn::encode).collect();
        assert_eq!(getppid[0].data().expect("data"), code.as_slice());
        let second = file.symbols().find(|s| s.name() == Ok("probe_2_0")).expect("the second program");
        assert_eq!((second.section_index(), second.address(), second.size()), (Some(getppid[0].index()), 48, 24));
        let btf = file.section_by_name(".BTF").expect(".BTF").data().expect("data").to_vec();
        let types = btf_rs::Btf::from_bytes(&btf).expect("valid BTF");
        let ext = btf_ext::parse(file.section_by_name(".BTF.ext").expect(".BTF.ext").data().expect("data"))
            .expect("a valid .BTF.ext");
        let names: Vec<String> = ext.iter().map(|s| btf_string(&btf, s.name_off)).collect();
        assert_eq!(names, ["tracepoint/syscalls/sys_enter_getppid", "kprobe/vfs_read"]);
        for section in &ext {
            let elf = file.section_by_name(&btf_string(&btf, section.name_off)).expect("the section");
            let symbols: Vec<_> = file.symbols().filter(|s| s.section_index() == Some(elf.index())).collect();
            assert_eq!(section.funcs.len(), symbols.len(), "one function per program");
            for (f, sym) in section.funcs.iter().zip(&symbols) {
                assert_eq!(u64::from(f.insn_off), sym.address(), "in bytes from the section's start");
                let btf_rs::Type::Func(func) = types.resolve_type_by_id(f.type_id).expect("the type") else {
                    panic!("a FUNC")
                };
                assert_eq!(types.resolve_name(&func).expect("a name"), sym.name().expect("a name"));
            }
        }
    }

    #[test]
    fn line_info_is_ascending_in_range_and_names_the_lines() {
        let (progs, maps, lines) = three_programs();
        let bytes = write_object_with_lines(&progs, &maps, "GPL", &lines).expect("an object");
        let file = object::File::parse(&*bytes).expect("a valid ELF");
        let btf = file.section_by_name(".BTF").expect(".BTF").data().expect("data").to_vec();
        let data = file.section_by_name(".BTF.ext").expect(".BTF.ext").data().expect("data").to_vec();
        assert_eq!(&data[..8], &[0x9f, 0xeb, 1, 0, 32, 0, 0, 0], "magic, version 1, flags 0, 32-byte header");
        let ext = btf_ext::parse(&data).expect("a valid .BTF.ext");
        let getppid = &ext[0];
        let seen: Vec<(u32, u32, u32, String, String)> = getppid
            .lines
            .iter()
            .map(|l| (l.insn_off, l.line(), l.col(), btf_string(&btf, l.file_name_off), btf_string(&btf, l.line_off)))
            .collect();
        let at = |off: u32, line: u32, text: &str| (off, line, 3, "<input>".to_string(), text.to_string());
        assert_eq!(
            seen,
            [
                // The first line covers the program's start; slot 3 repeats it.
                at(0, 3, "if (n > 1) {"),
                at(32, 4, "    m = n"),
                at(48, 7, "x = 1"),
                at(56, 8, ""),
            ]
        );
        let section_len = file.section_by_name(&btf_string(&btf, getppid.name_off)).expect("the section").size();
        assert!(getppid.lines.windows(2).all(|w| w[0].insn_off < w[1].insn_off), "ascending");
        assert!(getppid.lines.iter().all(|l| l.insn_off % 8 == 0 && u64::from(l.insn_off) < section_len));
        // Each program's first line is at its start.
        for f in &getppid.funcs {
            assert!(getppid.lines.iter().any(|l| l.insn_off == f.insn_off));
        }
        // A program without lines has a function and no line records.
        assert_eq!((ext[1].funcs.len(), ext[1].lines.len()), (1, 0));
    }

    /// aya, which loads stp's objects, finds each program's function and
    /// lines, relative to the program and in instructions, as the kernel
    /// wants them.
    #[test]
    fn aya_reads_each_programs_func_and_line_info() {
        let (progs, maps, lines) = three_programs();
        let bytes = write_object_with_lines(&progs, &maps, "GPL", &lines).expect("an object");
        let obj = aya_obj::Object::parse(&bytes).expect("aya parses the object");
        let lines_of = |name: &str| {
            let program = obj.programs.get(name).expect("the program");
            let f = obj.functions.get(&program.function_key()).expect("its function");
            assert_eq!((f.func_info_rec_size, f.line_info_rec_size), (8, 16));
            let funcs: Vec<u32> = f.func_info.func_info.iter().map(|i| i.insn_off).collect();
            assert_eq!(funcs, [0], "{name}: one function, at its start");
            f.line_info.line_info.iter().map(|l| (l.insn_off, l.line_col >> 10)).collect::<Vec<_>>()
        };
        assert_eq!(lines_of("probe_0_0"), [(0, 3), (4, 4)]);
        assert_eq!(lines_of("probe_1_0"), []);
        assert_eq!(lines_of("probe_2_0"), [(0, 7), (1, 8)]);
    }

    /// A program with two callbacks, the first loading the second: both
    /// go in `.text` as local functions with their BTF functions and
    /// lines; the loads are relocated against `.text` at their offsets;
    /// aya links them back after the program, in that order.
    #[test]
    fn callbacks_go_in_text_and_link_back() {
        let mut insns = Insn::ld_func(Reg::R2, 3).to_vec(); // to slot 4
        insns.extend([Insn::mov64_imm(Reg::R0, 0), Insn::exit()]);
        let cb0 = insns.len(); // 4
        insns.extend(Insn::ld_func(Reg::R2, 2)); // to slot 7
        insns.push(Insn::exit());
        let cb1 = insns.len(); // 7
        insns.extend([Insn::mov64_imm(Reg::R0, 1), Insn::exit()]);
        let prog = Program {
            name: "probe_0_0".into(),
            section: "tracepoint/syscalls/sys_enter_getppid".into(),
            insns,
            map_loads: Vec::new(),
            funcs: vec![(cb0, "probe_0_0_cb0".into()), (cb1, "probe_0_0_cb1".into())],
        };
        let lines = vec![vec![line(0, 3, "a"), line(cb0, 4, "b"), line(cb1, 5, "c")]];
        let bytes = write_object_with_lines(&[prog], &[], "GPL", &lines).expect("an object");
        let file = object::File::parse(&*bytes).expect("a valid ELF");
        let text = file.section_by_name(".text").expect(".text");
        assert_eq!(text.data().expect("data").len(), 5 * 8, "the two callbacks");
        let cb = |name: &str| file.symbols().find(|s| s.name() == Ok(name)).expect("the callback's symbol");
        assert_eq!((cb("probe_0_0_cb0").address(), cb("probe_0_0_cb1").address()), (0, 24));
        assert!(!cb("probe_0_0_cb0").is_global());
        let main = file.section_by_name("tracepoint/syscalls/sys_enter_getppid").expect("the program");
        let relocs: Vec<u64> = main.relocations().map(|(at, _)| at).collect();
        assert_eq!(relocs, [0]);
        // The load's immediate is the callback's offset in `.text`.
        let imm = |data: &[u8], at: usize| i32::from_le_bytes(data[at + 4..at + 8].try_into().expect("4 bytes"));
        assert_eq!(imm(main.data().expect("data"), 0), 0);
        assert_eq!(imm(text.data().expect("data"), 0), 24);
        let obj = aya_obj::Object::parse(&bytes).expect("aya parses the object");
        let p = obj.programs.get("probe_0_0").expect("the program");
        let f = obj.functions.get(&p.function_key()).expect("its function");
        assert_eq!(f.instructions.len(), 4, "the program's own code");
        let mut obj = obj;
        obj.relocate_calls(&std::collections::HashSet::from([1usize, 2, 3, 4, 5, 6, 7, 8])).expect("aya links");
        let p = obj.programs.get("probe_0_0").expect("the program");
        let f = obj.functions.get(&p.function_key()).expect("its function");
        assert_eq!(f.instructions.len(), 9, "the callbacks linked after it");
        let funcs: Vec<u32> = f.func_info.func_info.iter().map(|i| i.insn_off).collect();
        assert_eq!(funcs, [0, 4, 7]);
        let starts: Vec<(u32, u32)> = f.line_info.line_info.iter().map(|l| (l.insn_off, l.line_col >> 10)).collect();
        assert_eq!(starts, [(0, 3), (4, 4), (7, 5)]);
    }
}
