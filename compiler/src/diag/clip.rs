//! Source lines too long to show whole.
//!
//! A diagnostic shows the lines its labels point into. A line longer than
//! [`MAX_LINE`] characters (a generated or minified script, a fuzzer's
//! input) is cut to a window of that many characters around its first
//! label (the primary one when it is on that line), with `…` standing for
//! the text left out on either side. Labels that reach past the window end
//! on its `…`. The `file:line:column` header and the line numbers stay
//! those of the whole text, so a long line costs no more to show than a
//! short one.
//!
//! [`clip`] returns the files to render from (the [`SourceMap`] with the
//! long lines of the labelled files cut) and the diagnostic with its label
//! ranges moved into the cut text.

use std::collections::HashMap;
use std::ops::Range;

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{self, Files};

use crate::source::{FileId, SourceMap};

/// The most characters of one source line shown.
pub const MAX_LINE: usize = 160;
/// How many characters before its first label a cut line keeps.
const BEFORE: usize = 40;
const ELLIPSIS: &str = "…";

/// One cut line.
struct Cut {
    /// The zero-based line number.
    index: usize,
    /// The original line's bytes, without its newline.
    line: Range<usize>,
    /// The part of the original line that is kept.
    keep: Range<usize>,
    /// Where the line starts in the cut text.
    new_start: usize,
    /// Where the line ends in the cut text (before its newline).
    new_end: usize,
    /// Bytes of the leading `…` (none when the window starts the line).
    prefix: usize,
}

impl Cut {
    /// The cut text's offset of an original offset on this line.
    fn map(&self, orig: usize) -> usize {
        if orig < self.keep.start {
            self.new_start
        } else if orig > self.keep.end {
            self.new_end
        } else {
            self.new_start + self.prefix + (orig - self.keep.start)
        }
    }

    /// The original offset of an offset of the cut text on this line.
    fn unmap(&self, new: usize) -> usize {
        let at = new.saturating_sub(self.new_start + self.prefix);
        (self.keep.start + at).min(self.keep.end)
    }
}

/// A file whose long lines are cut.
struct CutFile {
    text: String,
    line_starts: Vec<usize>,
    /// In line order.
    cuts: Vec<Cut>,
}

impl CutFile {
    fn map(&self, orig: usize) -> usize {
        let mut delta: isize = 0;
        for c in &self.cuts {
            if orig < c.line.start {
                break;
            }
            if orig <= c.line.end {
                return c.map(orig);
            }
            delta = c.new_end as isize - c.line.end as isize;
        }
        orig.saturating_add_signed(delta)
    }
}

/// The files a diagnostic is rendered from.
pub struct Clipped<'a> {
    sm: &'a SourceMap,
    cut: HashMap<FileId, CutFile>,
}

/// The largest char boundary of `s` at or below `i`.
fn floor(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The offset `n` characters before `from` in `s` (or 0).
fn chars_back(s: &str, from: usize, n: usize) -> usize {
    if n == 0 {
        return from;
    }
    s.get(..from).and_then(|h| h.char_indices().rev().nth(n - 1)).map_or(0, |(i, _)| i)
}

/// The offset `n` characters after `from` in `s` (or its length).
fn chars_forward(s: &str, from: usize, n: usize) -> usize {
    s.get(from..).and_then(|t| t.char_indices().nth(n)).map_or(s.len(), |(i, _)| from + i)
}

/// Cuts the long lines of `text`; `anchors` maps a line number to the
/// offset its window is placed around. None when no line is long.
fn cut_file(text: &str, line_starts: &[u32], anchors: &HashMap<usize, usize>) -> Option<CutFile> {
    let mut out = String::new();
    let mut cuts = Vec::new();
    let mut copied = 0;
    for (index, &start) in line_starts.iter().enumerate() {
        let start = start as usize;
        let end = line_starts.get(index + 1).map_or(text.len(), |&n| (n as usize).saturating_sub(1));
        let Some(line) = text.get(start..end) else { continue };
        if line.len() <= MAX_LINE || line.chars().count() <= MAX_LINE {
            continue;
        }
        let anchor = floor(line, anchors.get(&index).map_or(0, |&a| a.saturating_sub(start)));
        let mut from = chars_back(line, anchor, BEFORE);
        let to = chars_forward(line, from, MAX_LINE);
        if to == line.len() {
            from = chars_back(line, to, MAX_LINE);
        }
        out.push_str(text.get(copied..start).unwrap_or_default());
        let new_start = out.len();
        let prefix = if from > 0 { ELLIPSIS.len() } else { 0 };
        if from > 0 {
            out.push_str(ELLIPSIS);
        }
        out.push_str(line.get(from..to).unwrap_or_default());
        if to < line.len() {
            out.push_str(ELLIPSIS);
        }
        cuts.push(Cut {
            index,
            line: start..end,
            keep: start + from..start + to,
            new_start,
            new_end: out.len(),
            prefix,
        });
        copied = end;
    }
    if cuts.is_empty() {
        return None;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    let line_starts = std::iter::once(0).chain(out.match_indices('\n').map(|(i, _)| i + 1)).collect();
    Some(CutFile { text: out, line_starts, cuts })
}

/// The files to render `diag` from, and `diag` with its labels moved into
/// them.
pub fn clip<'a>(sm: &'a SourceMap, mut diag: cs::Diagnostic<FileId>) -> (Clipped<'a>, cs::Diagnostic<FileId>) {
    // Each labelled line's window goes around its first label, the
    // primary one first.
    let mut anchors: HashMap<FileId, HashMap<usize, usize>> = HashMap::new();
    let mut order: Vec<&cs::Label<FileId>> = diag.labels.iter().collect();
    order.sort_by_key(|l| (l.style != cs::LabelStyle::Primary, l.range.start));
    for l in order {
        let Some(f) = sm.get(l.file_id) else { continue };
        let line = f.line_index(l.range.start as u32);
        anchors.entry(l.file_id).or_default().entry(line).or_insert(l.range.start);
    }
    let mut cut = HashMap::new();
    for (id, lines) in &anchors {
        if let Some(f) = sm.get(*id)
            && let Some(c) = cut_file(&f.text, f.line_starts(), lines)
        {
            cut.insert(*id, c);
        }
    }
    for l in &mut diag.labels {
        if let Some(c) = cut.get(&l.file_id) {
            l.range = c.map(l.range.start)..c.map(l.range.end);
        }
    }
    (Clipped { sm, cut }, diag)
}

impl<'a> Files<'a> for Clipped<'a> {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        Files::name(self.sm, id)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        match self.cut.get(&id) {
            Some(c) => Ok(&c.text),
            None => Files::source(self.sm, id),
        }
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, files::Error> {
        match self.cut.get(&id) {
            Some(c) => Ok(c.line_starts.partition_point(|&s| s <= byte_index).saturating_sub(1)),
            None => Files::line_index(self.sm, id, byte_index),
        }
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, files::Error> {
        let Some(c) = self.cut.get(&id) else { return Files::line_range(self.sm, id, line_index) };
        let max = c.line_starts.len();
        match (c.line_starts.get(line_index), c.line_starts.get(line_index + 1)) {
            (Some(&s), Some(&e)) => Ok(s..e),
            (Some(&s), None) => Ok(s..c.text.len()),
            (None, _) if line_index == max => Ok(c.text.len()..c.text.len()),
            (None, _) => Err(files::Error::LineTooLarge { given: line_index, max }),
        }
    }

    /// The column in the whole line, not in its cut.
    fn column_number(&'a self, id: FileId, line_index: usize, byte_index: usize) -> Result<usize, files::Error> {
        let Some(c) = self.cut.get(&id) else { return Files::column_number(self.sm, id, line_index, byte_index) };
        match c.cuts.iter().find(|k| k.index == line_index) {
            Some(k) => {
                let text = Files::source(self.sm, id)?;
                let orig = floor(text, k.unmap(byte_index));
                Ok(text.get(k.line.start..orig).map_or(0, |s| s.chars().count()) + 1)
            }
            None => {
                let start = self.line_range(id, line_index)?.start;
                let end = floor(&c.text, byte_index);
                Ok(c.text.get(start..end).map_or(0, |s| s.chars().count()) + 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Diagnostic, RenderOptions, render};
    use super::*;
    use crate::source::{FileKind, Span};

    #[test]
    fn short_lines_are_shown_whole() {
        let mut sm = SourceMap::new();
        let f = sm.add("a.stp", "probe begin { x = }\n", FileKind::User);
        let text = render(&Diagnostic::parse_error("expected", Span::new(f, 18, 19)), &sm, RenderOptions::default());
        assert!(text.contains("1 │ probe begin { x = }\n"), "{text}");
        assert!(!text.contains(ELLIPSIS), "{text}");
    }

    #[test]
    fn a_long_line_is_cut_around_the_label_and_keeps_its_column() {
        let mut sm = SourceMap::new();
        let line = format!("probe begin {{ x = {}@ }}", "1 + ".repeat(5000));
        let at = line.find('@').unwrap();
        let f = sm.add("a.stp", format!("# first\n{line}\n# last\n"), FileKind::User);
        let start = (8 + at) as u32;
        let d = Diagnostic::parse_error("unexpected '@'", Span::new(f, start, start + 1));
        let text = render(&d, &sm, RenderOptions::default());
        // Column in characters, one-based: the text before '@' plus one.
        assert!(text.contains(&format!("a.stp:2:{}", at + 1)), "{text}");
        let shown = text.lines().find(|l| l.starts_with("2 │")).unwrap();
        assert!(shown.contains("1 + 1 + @ }"), "{text}");
        assert!(shown.starts_with(&format!("2 │ {ELLIPSIS}")), "{text}");
        assert!(shown.chars().count() < MAX_LINE + 10, "{text}");
        // The caret is under the '@'.
        let caret = text.lines().skip_while(|l| !l.starts_with("2 │")).nth(1).unwrap();
        assert_eq!(
            caret.find('^').map(|c| caret[..c].chars().count()),
            shown.find('@').map(|c| shown[..c].chars().count()),
            "{text}"
        );
    }

    #[test]
    fn a_label_past_the_window_ends_at_the_ellipsis() {
        let mut sm = SourceMap::new();
        let line = format!("probe begin {{ x = {} }}", "y".repeat(1000));
        let f = sm.add("a.stp", &line, FileKind::User);
        let d = Diagnostic::parse_error("too long", Span::new(f, 14, line.len() as u32 - 2));
        let text = render(&d, &sm, RenderOptions::default());
        assert!(text.contains("a.stp:1:15"), "{text}");
        let shown = text.lines().find(|l| l.starts_with("1 │")).unwrap();
        assert!(shown.starts_with("1 │ probe begin { x = yyy"), "{text}");
        assert!(shown.ends_with(ELLIPSIS), "{text}");
        assert!(text.len() < 3 * MAX_LINE * 4, "{text}");
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries() {
        let mut sm = SourceMap::new();
        let line = format!("probe begin {{ x = \"{}\" $ }}", "é".repeat(700));
        let at = line.find('$').unwrap();
        let f = sm.add("a.stp", &line, FileKind::User);
        let d = Diagnostic::parse_error("dollar", Span::new(f, at as u32, at as u32 + 1));
        let text = render(&d, &sm, RenderOptions::default());
        assert!(text.contains(&format!("a.stp:1:{}", line[..at].chars().count() + 1)), "{text}");
        assert!(text.contains("éé\" $ }"), "{text}");
    }
}
