//! Source texts and positions in them.
//!
//! One [`SourceMap`] owns every text the compiler reads: the user script
//! (a file, `-e` as `<input>`, or `-` as `<stdin>`), each tapset file and
//! each macro library. Every AST node carries a [`Span`] into it. Code
//! that was written through a macro keeps the span of the macro body and
//! records, through [`ExpnId`], the place it was expanded from.

use std::fmt;
use std::ops::Range;

/// Identifies one text in the [`SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct FileId(pub u32);

/// Identifies one macro expansion recorded in the [`SourceMap`]; `ExpnId(0)`
/// means "written directly".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ExpnId(pub u32);

impl ExpnId {
    pub const ROOT: ExpnId = ExpnId(0);
}

/// A byte range in one file, and the macro expansion it came through.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
    pub expn: ExpnId,
}

impl Span {
    /// A placeholder for nodes the compiler makes up itself.
    pub const DUMMY: Span = Span { file: FileId(u32::MAX), start: 0, end: 0, expn: ExpnId::ROOT };

    pub fn new(file: FileId, start: u32, end: u32) -> Span {
        Span { file, start, end, expn: ExpnId::ROOT }
    }

    /// The smallest span covering both, when both lie in the same file and
    /// expansion; otherwise `self`.
    pub fn to(self, other: Span) -> Span {
        if self.file == other.file && self.expn == other.expn {
            Span { start: self.start.min(other.start), end: self.end.max(other.end), ..self }
        } else {
            self
        }
    }

    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn is_dummy(self) -> bool {
        self.file == Span::DUMMY.file
    }
}

/// `{:?}` shows `file@start..end`; `{:#?}` (pretty) shows `_`, so that a
/// pretty-printed tree compares equal to another written elsewhere.
impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f.write_str("_");
        }
        write!(f, "{}@{}..{}", self.file.0, self.start, self.end)?;
        if self.expn != ExpnId::ROOT {
            write!(f, "#{}", self.expn.0)?;
        }
        Ok(())
    }
}

/// What kind of text a file is; tapsets and macro libraries are reported
/// with their own path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// The script the user asked to run.
    User,
    /// A `.stp` file of the tapset library.
    Tapset,
    /// A `.stpm` macro library.
    Macros,
    /// Text made up by the compiler (command-line arguments pasted with
    /// `$1`, for example).
    Synthetic,
}

#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    pub kind: FileKind,
    /// Byte offsets where lines start; the first is 0.
    line_starts: Vec<u32>,
    /// The text is ASCII: a column is a byte count, found without
    /// counting characters along a line that may be very long.
    ascii: bool,
}

impl SourceFile {
    fn new(name: String, text: String, kind: FileKind) -> SourceFile {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i as u32 + 1)).collect();
        let ascii = text.is_ascii();
        SourceFile { name, text, kind, line_starts, ascii }
    }

    /// The zero-based line holding a byte offset.
    pub fn line_index(&self, offset: u32) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(line) => line,
            Err(next) => next.saturating_sub(1),
        }
    }

    /// The byte range of a zero-based line, without its newline.
    pub fn line_range(&self, line: usize) -> Option<Range<usize>> {
        let start = *self.line_starts.get(line)? as usize;
        let end = match self.line_starts.get(line + 1) {
            Some(&next) => next as usize - 1,
            None => self.text.len(),
        };
        Some(start..end)
    }

    /// One-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = self.line_index(offset);
        let start = self.line_starts.get(line).copied().unwrap_or(0) as usize;
        let end = (offset as usize).min(self.text.len());
        let col = if self.ascii {
            end.saturating_sub(start)
        } else {
            self.text.get(start..end).map_or(0, |s| s.chars().count())
        };
        (line + 1, col + 1)
    }

    pub fn line_starts(&self) -> &[u32] {
        &self.line_starts
    }
}

/// Where a macro was expanded, for diagnostics.
#[derive(Clone, Debug)]
pub struct Expansion {
    /// The `@name(...)` that was expanded.
    pub call_site: Span,
    pub macro_name: String,
}

/// Owns every text and every recorded macro expansion.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
    expansions: Vec<Expansion>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>, kind: FileKind) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile::new(name.into(), text.into(), kind));
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    pub fn name(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", |f| f.name.as_str())
    }

    pub fn text(&self, id: FileId) -> &str {
        self.get(id).map_or("", |f| f.text.as_str())
    }

    /// The text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.text(span.file).get(span.range()).unwrap_or("")
    }

    /// `file:line:col` of a span's start, as stap prints locations.
    pub fn location(&self, span: Span) -> String {
        match self.get(span.file) {
            Some(f) => {
                let (line, col) = f.line_col(span.start);
                format!("{}:{}:{}", f.name, line, col)
            }
            None => "<unknown>".to_string(),
        }
    }

    pub fn add_expansion(&mut self, e: Expansion) -> ExpnId {
        self.expansions.push(e);
        ExpnId(self.expansions.len() as u32)
    }

    pub fn expansion(&self, id: ExpnId) -> Option<&Expansion> {
        match id.0 {
            0 => None,
            n => self.expansions.get(n as usize - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let mut sm = SourceMap::new();
        let f = sm.add("a.stp", "ab\ncdé\n\nx", FileKind::User);
        let file = sm.get(f).unwrap();
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(3), (2, 1));
        assert_eq!(file.line_col(7), (2, 4));
        assert_eq!(file.line_col(8), (3, 1));
        assert_eq!(file.line_col(9), (4, 1));
        assert_eq!(file.line_range(1), Some(3..7));
        assert_eq!(sm.location(Span::new(f, 4, 5)), "a.stp:2:2");
    }

    #[test]
    fn span_join_stays_in_one_file() {
        let a = Span::new(FileId(0), 4, 6);
        let b = Span::new(FileId(0), 10, 12);
        assert_eq!(a.to(b), Span::new(FileId(0), 4, 12));
        let c = Span::new(FileId(1), 0, 1);
        assert_eq!(a.to(c), a);
    }
}
