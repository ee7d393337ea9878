//! The `.BTF.ext` section: for each program section of an object, the BTF
//! function of each program in it (func_info) and where the code of each
//! script line starts (line_info). The kernel keeps both with a loaded
//! program: its verifier log shows the script line above the instructions
//! it came from, and `bpftool prog dump xlated linum` does too.
//!
//! In the object, instruction offsets are in bytes from the start of the
//! section (as clang writes them); loaders (libbpf, aya) divide them by 8
//! and make them relative to the program before they hand them to the
//! kernel. Names, file names and line texts are offsets into the string
//! section of `.BTF`. Records of a section are in ascending offset order,
//! and a section without records is left out, as libbpf insists.

/// The size of the header we write (version 1 with CO-RE relocations).
pub const HEADER_LEN: u32 = 32;
/// The size of a `struct bpf_func_info`.
pub const FUNC_INFO_SIZE: u32 = 8;
/// The size of a `struct bpf_line_info`.
pub const LINE_INFO_SIZE: u32 = 16;

/// The largest column `line_col` holds (its low 10 bits).
pub const MAX_COL: u32 = (1 << 10) - 1;
/// The largest line `line_col` holds (its high 22 bits).
pub const MAX_LINE: u32 = (1 << 22) - 1;

/// A program's BTF function (`struct bpf_func_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncRecord {
    /// Where the program starts, in bytes from the start of its section.
    pub insn_off: u32,
    /// The id of its `FUNC` type.
    pub type_id: u32,
}

/// Where one source line's code starts (`struct bpf_line_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRecord {
    /// In bytes from the start of the section.
    pub insn_off: u32,
    pub file_name_off: u32,
    /// The line's text.
    pub line_off: u32,
    /// `line << 10 | column`.
    pub line_col: u32,
}

impl LineRecord {
    /// The `line_col` of a one-based line and column; larger values than
    /// the field holds are clamped.
    pub fn line_col(line: u32, col: u32) -> u32 {
        (line.min(MAX_LINE) << 10) | col.min(MAX_COL)
    }

    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }

    pub fn col(&self) -> u32 {
        self.line_col & MAX_COL
    }
}

/// The records of one ELF section, named by the offset of its name in the
/// string section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SectionInfo {
    pub name_off: u32,
    pub funcs: Vec<FuncRecord>,
    pub lines: Vec<LineRecord>,
}

/// The section's bytes: the header, then func_info (its record size, then
/// per section its name, count and records), then line_info likewise; no
/// CO-RE relocations. A subsection without records is empty, without even
/// its record size: libbpf refuses the whole of `.BTF.ext` otherwise.
pub fn encode(sections: &[SectionInfo]) -> Vec<u8> {
    let mut funcs = Vec::new();
    let mut lines = Vec::new();
    if sections.iter().any(|s| !s.funcs.is_empty()) {
        put(&mut funcs, FUNC_INFO_SIZE);
    }
    if sections.iter().any(|s| !s.lines.is_empty()) {
        put(&mut lines, LINE_INFO_SIZE);
    }
    for s in sections {
        if !s.funcs.is_empty() {
            put(&mut funcs, s.name_off);
            put(&mut funcs, s.funcs.len() as u32);
            for f in &s.funcs {
                put(&mut funcs, f.insn_off);
                put(&mut funcs, f.type_id);
            }
        }
        if !s.lines.is_empty() {
            put(&mut lines, s.name_off);
            put(&mut lines, s.lines.len() as u32);
            for l in &s.lines {
                for v in [l.insn_off, l.file_name_off, l.line_off, l.line_col] {
                    put(&mut lines, v);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(HEADER_LEN as usize + funcs.len() + lines.len());
    out.extend_from_slice(&[0x9f, 0xeb, 1, 0]);
    let (funcs_len, lines_len) = (funcs.len() as u32, lines.len() as u32);
    for v in [HEADER_LEN, 0, funcs_len, funcs_len, lines_len, funcs_len + lines_len, 0] {
        put(&mut out, v);
    }
    out.extend_from_slice(&funcs);
    out.extend_from_slice(&lines);
    out
}

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// What went wrong reading a `.BTF.ext` section back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a little-endian .BTF.ext section (magic, version or header length)")]
    Header,
    #[error("the {what} subsection lies outside the section")]
    Bounds { what: &'static str },
    #[error("the {what} subsection has records of {size} bytes, not {want}")]
    RecordSize { what: &'static str, size: u32, want: u32 },
    #[error("the {what} subsection ends inside a record")]
    Truncated { what: &'static str },
}

/// Reads a little-endian `.BTF.ext` section back into its sections'
/// records (in the order written; a section present in only one
/// subsection has no records in the other).
pub fn parse(data: &[u8]) -> Result<Vec<SectionInfo>, ParseError> {
    let word = |at: usize| -> Option<u32> {
        let b = data.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    };
    if data.get(..4) != Some(&[0x9f, 0xeb, 1, 0][..]) {
        return Err(ParseError::Header);
    }
    let hdr_len = word(4).ok_or(ParseError::Header)?;
    if hdr_len < 24 {
        return Err(ParseError::Header);
    }
    let field = |i: usize| word(8 + 4 * i).ok_or(ParseError::Header);
    let mut sections: Vec<SectionInfo> = Vec::new();
    for (what, off, len, want) in
        [("func_info", field(0)?, field(1)?, FUNC_INFO_SIZE), ("line_info", field(2)?, field(3)?, LINE_INFO_SIZE)]
    {
        if len == 0 {
            continue;
        }
        let start = hdr_len as usize + off as usize;
        let end = start + len as usize;
        if end > data.len() {
            return Err(ParseError::Bounds { what });
        }
        let size = word(start).ok_or(ParseError::Bounds { what })?;
        if size != want {
            return Err(ParseError::RecordSize { what, size, want });
        }
        let mut at = start + 4;
        while at < end {
            let (Some(name_off), Some(n)) = (word(at), word(at + 4)) else {
                return Err(ParseError::Truncated { what });
            };
            at += 8;
            let records = (n as usize).checked_mul(size as usize).ok_or(ParseError::Truncated { what })?;
            if at + records > end {
                return Err(ParseError::Truncated { what });
            }
            let index = match sections.iter().position(|s| s.name_off == name_off) {
                Some(i) => i,
                None => {
                    sections.push(SectionInfo { name_off, ..SectionInfo::default() });
                    sections.len() - 1
                }
            };
            let section = sections.get_mut(index).expect("the section was just found or added");
            for r in 0..n as usize {
                let w = |i: usize| word(at + r * size as usize + 4 * i).unwrap_or(0);
                if what == "func_info" {
                    section.funcs.push(FuncRecord { insn_off: w(0), type_id: w(1) });
                } else {
                    section.lines.push(LineRecord {
                        insn_off: w(0),
                        file_name_off: w(1),
                        line_off: w(2),
                        line_col: w(3),
                    });
                }
            }
            at += records;
        }
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back() {
        let sections = vec![
            SectionInfo {
                name_off: 5,
                funcs: vec![FuncRecord { insn_off: 0, type_id: 3 }, FuncRecord { insn_off: 64, type_id: 4 }],
                lines: vec![
                    LineRecord { insn_off: 0, file_name_off: 9, line_off: 20, line_col: LineRecord::line_col(2, 1) },
                    LineRecord { insn_off: 64, file_name_off: 9, line_off: 30, line_col: LineRecord::line_col(3, 5) },
                ],
            },
            SectionInfo { name_off: 40, funcs: vec![FuncRecord { insn_off: 0, type_id: 5 }], lines: Vec::new() },
        ];
        let bytes = encode(&sections);
        // Header: magic, version, flags, hdr_len, then offsets and lengths.
        assert_eq!(&bytes[..8], &[0x9f, 0xeb, 1, 0, 32, 0, 0, 0]);
        let funcs_len = 4 + (8 + 2 * 8) + (8 + 8);
        let lines_len = 4 + 8 + 2 * 16;
        let header: Vec<u32> = bytes[8..32].chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(header, [0, funcs_len, funcs_len, lines_len, funcs_len + lines_len, 0]);
        assert_eq!(bytes.len(), 32 + (funcs_len + lines_len) as usize);
        assert_eq!(parse(&bytes), Ok(sections));
        let l = LineRecord { insn_off: 0, file_name_off: 0, line_off: 0, line_col: LineRecord::line_col(7, 12) };
        assert_eq!((l.line(), l.col()), (7, 12));
        assert_eq!(LineRecord::line_col(1, 5000) & MAX_COL, MAX_COL);
    }

    #[test]
    fn damaged_sections_are_refused_without_panics() {
        let bytes = encode(&[SectionInfo {
            name_off: 1,
            funcs: vec![FuncRecord { insn_off: 0, type_id: 1 }],
            lines: vec![LineRecord { insn_off: 0, file_name_off: 1, line_off: 1, line_col: 1 << 10 }],
        }]);
        assert_eq!(parse(&bytes[..10]), Err(ParseError::Header));
        assert!(parse(&bytes[..bytes.len() - 4]).is_err());
        let mut wrong_size = bytes.clone();
        wrong_size[32] = 12;
        assert!(matches!(parse(&wrong_size), Err(ParseError::RecordSize { size: 12, .. })));
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut]);
        }
    }

    #[test]
    fn subsections_without_records_are_empty() {
        let bytes = encode(&[SectionInfo {
            name_off: 1,
            funcs: vec![FuncRecord { insn_off: 0, type_id: 1 }],
            lines: Vec::new(),
        }]);
        let header: Vec<u32> = bytes[8..32].chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(header, [0, 20, 20, 0, 20, 0]);
        let bytes = encode(&[]);
        assert_eq!(bytes.len(), 32);
        assert_eq!(parse(&bytes), Ok(Vec::new()));
    }
}
