//! Reading ELF files of user-space programs: function symbols as file
//! offsets, the libraries a program needs (`DT_NEEDED`), and the USDT
//! notes of `sys/sdt.h` (`.note.stapsdt`).
//!
//! In: a file's bytes. Out: names and file offsets (virtual addresses
//! converted through the `PT_LOAD` segments, as uprobes want them). A
//! malformed entry is skipped, never a panic; a file that is not ELF is a
//! diagnostic at the caller's span.

use std::collections::BTreeMap;
use std::path::Path;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::diag::Diagnostic;
use crate::source::Span;

/// Reads a word of `size` (4 or 8) bytes at `at`.
fn read_word(data: &[u8], at: usize, size: usize, little: bool) -> Option<u64> {
    let bytes = data.get(at..at.checked_add(size)?)?;
    let mut v: u64 = 0;
    if little {
        for &b in bytes.iter().rev() {
            v = (v << 8) | u64::from(b);
        }
    } else {
        for &b in bytes {
            v = (v << 8) | u64::from(b);
        }
    }
    Some(v)
}

/// The NUL-terminated string at `at`.
fn read_cstr(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = data.get(at..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    Some((rest.get(..len)?, at + len + 1))
}

/// DT_NEEDED entries of an ELF file.
pub fn needed_libraries(data: &[u8]) -> Vec<String> {
    let Ok(obj) = object::File::parse(data) else { return Vec::new() };
    let (Some(dynamic), Some(dynstr)) = (obj.section_by_name(".dynamic"), obj.section_by_name(".dynstr")) else {
        return Vec::new();
    };
    let (Ok(dynamic), Ok(dynstr)) = (dynamic.data(), dynstr.data()) else { return Vec::new() };
    let word = if obj.is_64() { 8 } else { 4 };
    let little = obj.is_little_endian();
    let mut out = Vec::new();
    let mut at = 0;
    while let (Some(tag), Some(val)) =
        (read_word(dynamic, at, word, little), read_word(dynamic, at + word, word, little))
    {
        at += 2 * word;
        match tag {
            0 => break,
            1 => {
                if let Some((s, _)) = usize::try_from(val).ok().and_then(|v| read_cstr(dynstr, v)) {
                    out.push(String::from_utf8_lossy(s).into_owned());
                }
            }
            _ => {}
        }
    }
    out
}

/// Converts a virtual address to a file offset through the PT_LOAD
/// segment containing it.
fn file_offset(obj: &object::File<'_>, addr: u64) -> Option<u64> {
    obj.segments().find_map(|seg| {
        let (off, filesz) = seg.file_range();
        let start = seg.address();
        (addr >= start && addr - start < filesz).then(|| addr - start + off)
    })
}

pub fn read_elf(path: &Path, span: Span) -> Result<Vec<u8>, Diagnostic> {
    std::fs::read(path)
        .map_err(|e| Diagnostic::semantic_error(format!("cannot read executable '{}': {e}", path.display()), span))
}

fn parse_elf<'d>(data: &'d [u8], path: &Path, span: Span) -> Result<object::File<'d>, Diagnostic> {
    object::File::parse(data)
        .ok()
        .filter(|o| o.format() == object::BinaryFormat::Elf)
        .ok_or_else(|| Diagnostic::semantic_error(format!("'{}' is not an ELF file", path.display()), span))
}

/// Function symbols of an ELF file matching the glob `pattern`, as
/// (name, file offset), one per offset, matched as probe points are
/// (`crate::glob`).
pub fn elf_functions(data: &[u8], path: &Path, pattern: &str, span: Span) -> Result<Vec<(String, u64)>, Diagnostic> {
    let obj = parse_elf(data, path, span)?;
    // offset -> best name for it
    let mut by_offset: BTreeMap<u64, String> = BTreeMap::new();
    for sym in obj.symbols().chain(obj.dynamic_symbols()) {
        if sym.kind() != SymbolKind::Text || !sym.is_definition() || sym.address() == 0 {
            continue;
        }
        let Ok(raw) = sym.name() else { continue };
        let name = raw.split('@').next().unwrap_or(raw);
        if name.is_empty() || !crate::glob::glob_match(pattern, name) {
            continue;
        }
        let Some(off) = file_offset(&obj, sym.address()) else { continue };
        let better = |old: &String| {
            let key = |n: &str| (n != pattern, n.len() - n.trim_start_matches('_').len(), n.to_string());
            key(name) < key(old)
        };
        match by_offset.get(&off) {
            Some(old) if !better(old) => {}
            _ => {
                by_offset.insert(off, name.to_string());
            }
        }
    }
    let mut out: Vec<(String, u64)> = by_offset.into_iter().map(|(o, n)| (n, o)).collect();
    out.sort();
    Ok(out)
}

/// One `.note.stapsdt` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdtNote {
    pub provider: String,
    pub name: String,
    pub args: String,
    /// File offsets.
    pub offset: u64,
    pub semaphore: u64,
}

const NT_STAPSDT: u64 = 3;

pub fn sdt_notes(data: &[u8], path: &Path, span: Span) -> Result<Vec<SdtNote>, Diagnostic> {
    let obj = parse_elf(data, path, span)?;
    let Some(notes) = obj.section_by_name(".note.stapsdt") else { return Ok(Vec::new()) };
    let Ok(notes) = notes.data() else { return Ok(Vec::new()) };
    let little = obj.is_little_endian();
    let word = if obj.is_64() { 8 } else { 4 };
    let base_addr = obj.section_by_name(".stapsdt.base").map(|s| s.address());
    let align4 = |n: usize| n.div_ceil(4) * 4;
    let mut out = Vec::new();
    let mut at = 0usize;
    while let (Some(namesz), Some(descsz), Some(ntype)) =
        (read_word(notes, at, 4, little), read_word(notes, at + 4, 4, little), read_word(notes, at + 8, 4, little))
    {
        let (Ok(namesz), Ok(descsz)) = (usize::try_from(namesz), usize::try_from(descsz)) else { break };
        let name_at = at + 12;
        let desc_at = name_at + align4(namesz);
        let next = desc_at + align4(descsz);
        at = next;
        let owner = notes.get(name_at..name_at + namesz).unwrap_or_default();
        let Some(desc) = notes.get(desc_at..desc_at + descsz) else { break };
        if ntype != NT_STAPSDT || owner.strip_suffix(b"\0").unwrap_or(owner) != b"stapsdt" {
            continue;
        }
        let (Some(mut pc), Some(base), Some(mut sem)) = (
            read_word(desc, 0, word, little),
            read_word(desc, word, word, little),
            read_word(desc, 2 * word, word, little),
        ) else {
            continue;
        };
        let Some((provider, after)) = read_cstr(desc, 3 * word) else { continue };
        let Some((name, after)) = read_cstr(desc, after) else { continue };
        let args = read_cstr(desc, after).map(|(a, _)| a).unwrap_or_default();
        if let Some(actual) = base_addr
            && base != 0
        {
            // Prelinked or otherwise moved: shift by how far .stapsdt.base moved.
            let delta = actual.wrapping_sub(base);
            pc = pc.wrapping_add(delta);
            if sem != 0 {
                sem = sem.wrapping_add(delta);
            }
        }
        let Some(offset) = file_offset(&obj, pc) else { continue };
        let semaphore = if sem == 0 { 0 } else { file_offset(&obj, sem).unwrap_or(0) };
        out.push(SdtNote {
            provider: String::from_utf8_lossy(provider).into_owned(),
            name: String::from_utf8_lossy(name).into_owned(),
            args: String::from_utf8_lossy(args).into_owned(),
            offset,
            semaphore,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uprobe_offset_is_a_file_offset() {
        // Compare against a hand conversion through the program headers.
        let exe = std::env::current_exe().expect("current_exe");
        let data = std::fs::read(&exe).expect("read self");
        let obj = object::File::parse(&*data).expect("parse self");
        let sym = obj.symbols().find(|s| s.name() == Ok("main")).expect("main symbol");
        let seg = obj
            .segments()
            .find(|s| (s.address()..s.address() + s.size()).contains(&sym.address()))
            .expect("segment of main");
        let expect = sym.address() - seg.address() + seg.file_range().0;
        let found = elf_functions(&data, &exe, "main", Span::new(crate::source::FileId(0), 0, 0)).expect("symbols");
        assert_eq!(found, vec![("main".to_string(), expect)]);
    }
}
