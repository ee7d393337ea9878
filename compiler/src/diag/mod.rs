//! Diagnostics: the one type every pass reports problems with.
//!
//! A pass never prints; it returns [`Diagnostic`]s next to its output. The
//! command line renders them with [`render`] (codespan-reporting) against the
//! [`SourceMap`](crate::source::SourceMap). Messages keep stap's wording
//! (`parse error: expected ...`, `semantic error: ...`); labels, notes and
//! help add what stap does not say.

mod clip;
mod render;

pub use render::{MAX_ERRORS_SHOWN, MAX_WARNINGS_SHOWN, RenderOptions, render, render_all};

use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Note,
    Warning,
    Error,
    /// An error in stp itself (for example the kernel's verifier rejecting
    /// code we generated); reported at the script location it came from.
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

impl Label {
    pub fn new(span: Span, message: impl Into<String>) -> Label {
        Label { span, message: message.into() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The headline, in stap's words where stap has them.
    pub message: String,
    pub primary: Option<Label>,
    pub secondary: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(severity: Severity, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, message)
    }

    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, message)
    }

    pub fn internal(message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Internal, message)
    }

    /// `parse error: MESSAGE` at `span`.
    pub fn parse_error(message: impl AsRef<str>, span: Span) -> Diagnostic {
        Diagnostic::error(format!("parse error: {}", message.as_ref())).at(span, "")
    }

    /// `semantic error: MESSAGE` at `span`.
    pub fn semantic_error(message: impl AsRef<str>, span: Span) -> Diagnostic {
        Diagnostic::error(format!("semantic error: {}", message.as_ref())).at(span, "")
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.primary = Some(Label::new(span, label));
        self
    }

    pub fn with_label(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label::new(span, label));
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        matches!(self.severity, Severity::Error | Severity::Internal)
    }

    pub fn span(&self) -> Option<Span> {
        self.primary.as_ref().map(|l| l.span)
    }
}

/// True when any of the diagnostics is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// Closest candidates to `name` among `candidates`, for "did you mean"
/// hints: at most three, by edit distance, best first.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter(|c| *c != name)
        .filter_map(|c| {
            let d = edit_distance(name, c);
            (d <= limit).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("execname", "execname"), 0);
    }

    #[test]
    fn suggestions_are_close_and_ordered() {
        let c = ["execname", "exit", "pid", "execnam", "ppid"];
        assert_eq!(suggest("execnme", c), vec!["execname", "execnam"]);
        assert_eq!(suggest("pidd", c), vec!["pid"]);
        assert!(suggest("zzzzzz", c).is_empty());
    }
}
