//! Rendering diagnostics with codespan-reporting.
//!
//! The headline is printed the way stap prints it (`parse error: ...`,
//! `WARNING: ...`) instead of codespan's `error: ...`; the source snippet,
//! carets, labels and notes are codespan's. Spans that came through a macro
//! get a secondary label at each expansion site.

use std::ops::Range;

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{self, Files};
use codespan_reporting::term::termcolor::{Buffer, Color, ColorSpec, WriteColor};
use codespan_reporting::term::{self, GeneralWriteResult, WriteStyle};

use super::{Diagnostic, Severity};
use crate::source::{FileId, SourceMap, Span};

#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    /// Colour for a terminal.
    pub color: bool,
}

impl<'a> Files<'a> for SourceMap {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        self.get(id).map(|f| f.name.as_str()).ok_or(files::Error::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        self.get(id).map(|f| f.text.as_str()).ok_or(files::Error::FileMissing)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, files::Error> {
        let f = self.get(id).ok_or(files::Error::FileMissing)?;
        Ok(f.line_index(byte_index as u32))
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, files::Error> {
        let f = self.get(id).ok_or(files::Error::FileMissing)?;
        match f.line_range(line_index) {
            // codespan wants the range to include the newline.
            Some(r) => Ok(r.start..(r.end + 1).min(f.text.len())),
            None if line_index == f.line_starts().len() => Ok(f.text.len()..f.text.len()),
            None => Err(files::Error::LineTooLarge { given: line_index, max: f.line_starts().len() }),
        }
    }
}

fn headline(sev: Severity, message: &str) -> String {
    match sev {
        Severity::Warning => format!("WARNING: {message}"),
        Severity::Note => format!("note: {message}"),
        Severity::Internal => format!("internal error in stp: {message}"),
        // Errors carry their kind in the message ("parse error: ...").
        Severity::Error => message.to_string(),
    }
}

fn valid(sm: &SourceMap, span: Span) -> bool {
    sm.get(span.file).is_some_and(|f| span.end as usize <= f.text.len() && span.start <= span.end)
}

fn to_codespan(d: &Diagnostic, sm: &SourceMap) -> cs::Diagnostic<FileId> {
    let severity = match d.severity {
        Severity::Note => cs::Severity::Note,
        Severity::Warning => cs::Severity::Warning,
        Severity::Error => cs::Severity::Error,
        Severity::Internal => cs::Severity::Bug,
    };
    let mut labels = Vec::new();
    let push_expansions = |labels: &mut Vec<cs::Label<FileId>>, span: Span| {
        let mut expn = span.expn;
        let mut depth = 0;
        while let Some(e) = sm.expansion(expn) {
            if depth > 32 || !valid(sm, e.call_site) {
                break;
            }
            labels.push(
                cs::Label::secondary(e.call_site.file, e.call_site.range())
                    .with_message(format!("in expansion of macro @{}", e.macro_name)),
            );
            expn = e.call_site.expn;
            depth += 1;
        }
    };
    if let Some(p) = d.primary.as_ref().filter(|p| valid(sm, p.span)) {
        labels.push(cs::Label::primary(p.span.file, p.span.range()).with_message(&p.message));
        push_expansions(&mut labels, p.span);
    }
    for s in d.secondary.iter().filter(|s| valid(sm, s.span)) {
        labels.push(cs::Label::secondary(s.span.file, s.span.range()).with_message(&s.message));
    }
    let mut notes = d.notes.clone();
    if let Some(h) = &d.help {
        notes.push(format!("help: {h}"));
    }
    cs::Diagnostic::new(severity).with_message(headline(d.severity, &d.message)).with_labels(labels).with_notes(notes)
}

/// A [`WriteStyle`] that drops codespan's `error: ` header prefix so that the
/// message (already in stap's words) stands alone on the first line.
struct StapHeader<W: WriteColor> {
    inner: W,
    color: bool,
    /// 0: normal; 1: dropping the severity word; 2: dropping `": "`.
    state: u8,
    dropped: usize,
    severity: cs::Severity,
}

impl<W: WriteColor> std::io::Write for StapHeader<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.state {
            1 => Ok(buf.len()),
            2 => {
                // Drop the ": " that precedes the message.
                let skip = (2 - self.dropped).min(buf.len());
                self.dropped += skip;
                if self.dropped == 2 {
                    self.state = 0;
                }
                let rest = buf.get(skip..).unwrap_or_default();
                self.inner.write_all(rest)?;
                Ok(buf.len())
            }
            _ => self.inner.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: WriteColor> StapHeader<W> {
    fn style(&mut self, spec: &ColorSpec) -> GeneralWriteResult {
        if self.color { self.inner.set_color(spec) } else { Ok(()) }
    }
}

fn severity_color(s: cs::Severity) -> Color {
    match s {
        cs::Severity::Bug | cs::Severity::Error => Color::Red,
        cs::Severity::Warning => Color::Yellow,
        cs::Severity::Note => Color::Green,
        cs::Severity::Help => Color::Cyan,
    }
}

impl<W: WriteColor> WriteStyle for StapHeader<W> {
    fn set_header(&mut self, severity: cs::Severity) -> GeneralWriteResult {
        self.state = 1;
        self.severity = severity;
        Ok(())
    }

    fn set_header_message(&mut self) -> GeneralWriteResult {
        self.state = 2;
        self.dropped = 0;
        let mut spec = ColorSpec::new();
        spec.set_bold(true).set_fg(Some(severity_color(self.severity))).set_intense(true);
        self.style(&spec)
    }

    fn set_line_number(&mut self) -> GeneralWriteResult {
        let mut spec = ColorSpec::new();
        spec.set_fg(Some(Color::Blue));
        self.style(&spec)
    }

    fn set_note_bullet(&mut self) -> GeneralWriteResult {
        self.set_line_number()
    }

    fn set_source_border(&mut self) -> GeneralWriteResult {
        self.set_line_number()
    }

    fn set_label(&mut self, severity: cs::Severity, style: cs::LabelStyle) -> GeneralWriteResult {
        let mut spec = ColorSpec::new();
        match style {
            cs::LabelStyle::Primary => spec.set_fg(Some(severity_color(severity))).set_bold(true),
            cs::LabelStyle::Secondary => spec.set_fg(Some(Color::Blue)),
        };
        self.style(&spec)
    }

    fn reset(&mut self) -> GeneralWriteResult {
        if self.color { self.inner.reset() } else { Ok(()) }
    }
}

/// Renders one diagnostic to text (with ANSI colours when asked).
pub fn render(d: &Diagnostic, sm: &SourceMap, opts: RenderOptions) -> String {
    let buffer = if opts.color { Buffer::ansi() } else { Buffer::no_color() };
    let mut w = StapHeader { inner: buffer, color: opts.color, state: 0, dropped: 0, severity: cs::Severity::Error };
    let config = term::Config::default();
    let (files, diag) = super::clip::clip(sm, to_codespan(d, sm));
    if term::emit_to_write_style(&mut w, &config, &files, &diag).is_err() {
        // The spans did not fit the files; fall back to the headline.
        return format!("{}\n", headline(d.severity, &d.message));
    }
    String::from_utf8_lossy(w.inner.as_slice()).into_owned()
}

/// The most errors one run shows, as clang's `-ferror-limit`; the rest
/// are counted.
pub const MAX_ERRORS_SHOWN: usize = 20;
/// The most warnings (and notes) one run shows.
pub const MAX_WARNINGS_SHOWN: usize = 100;

/// Renders many diagnostics, each followed by a blank line as stap does:
/// the first [`MAX_ERRORS_SHOWN`] errors and [`MAX_WARNINGS_SHOWN`]
/// warnings, then how many more there were.
pub fn render_all(diags: &[Diagnostic], sm: &SourceMap, opts: RenderOptions) -> String {
    let mut out = String::new();
    let (mut errors, mut warnings) = (0usize, 0usize);
    for d in diags {
        let (seen, max) =
            if d.is_error() { (&mut errors, MAX_ERRORS_SHOWN) } else { (&mut warnings, MAX_WARNINGS_SHOWN) };
        *seen += 1;
        if *seen <= max {
            out.push_str(&render(d, sm, opts));
        }
    }
    let more = |n: usize, max: usize, what: &str| {
        let n = n.saturating_sub(max);
        (n > 0).then(|| format!("{n} more {what}{} not shown.\n", if n == 1 { "" } else { "s" }))
    };
    out.extend(more(warnings, MAX_WARNINGS_SHOWN, "warning"));
    out.extend(more(errors, MAX_ERRORS_SHOWN, "error"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileKind;

    #[test]
    fn headline_is_stap_wording() {
        let mut sm = SourceMap::new();
        let f = sm.add("<input>", "probe a, b = c {}\n", FileKind::User);
        let d = Diagnostic::parse_error("expected probe point specifier", Span::new(f, 11, 12));
        let text = render(&d, &sm, RenderOptions::default());
        let first = text.lines().next().unwrap();
        assert_eq!(first, "parse error: expected probe point specifier");
        assert!(text.contains("<input>:1:12"), "{text}");
        assert!(text.contains("probe a, b = c {}"), "{text}");
    }

    #[test]
    fn warnings_are_upper_case() {
        let sm = SourceMap::new();
        let d = Diagnostic::warning("eliding unused variable 'x'");
        assert_eq!(render(&d, &sm, RenderOptions::default()).trim(), "WARNING: eliding unused variable 'x'");
    }

    #[test]
    fn errors_past_the_cap_are_counted_not_shown() {
        let mut sm = SourceMap::new();
        let f = sm.add("a.stp", "x\n", FileKind::User);
        let extra = 5;
        let mut diags: Vec<Diagnostic> = (0..MAX_ERRORS_SHOWN + extra)
            .map(|i| Diagnostic::parse_error(format!("error number {i}"), Span::new(f, 0, 1)))
            .collect();
        diags.push(Diagnostic::warning("a warning"));
        let text = render_all(&diags, &sm, RenderOptions::default());
        assert!(text.contains(&format!("error number {}\n", MAX_ERRORS_SHOWN - 1)), "{text}");
        assert!(!text.contains(&format!("error number {}\n", MAX_ERRORS_SHOWN)), "{text}");
        assert!(text.contains("WARNING: a warning"), "{text}");
        assert!(text.ends_with(&format!("{extra} more errors not shown.\n")), "{text}");
        assert!(!text.contains("more warning"), "{text}");
    }

    #[test]
    fn colour_keeps_the_words() {
        let mut sm = SourceMap::new();
        let f = sm.add("a.stp", "x\n", FileKind::User);
        let d = Diagnostic::semantic_error("unresolved", Span::new(f, 0, 1));
        let text = render(&d, &sm, RenderOptions { color: true });
        assert!(text.contains("semantic error: unresolved"));
        assert!(text.contains("\u{1b}["));
    }
}
