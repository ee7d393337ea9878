//! The one-line description of a tapset definition: the first sentence of
//! the comment right above it (`//` or `#` lines, or a `/* ... */` block
//! with its leading `*`s), as `--dump-functions` and
//! `--dump-probe-aliases` print it. A definition with a blank line or
//! code between it and a comment has none.

/// The description of the definition starting at byte `start` of `text`.
pub fn description(text: &str, start: usize) -> Option<String> {
    let before = text.get(..start)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let above = before.get(..line_start)?;
    let mut lines: Vec<&str> = Vec::new();
    let mut rows = above.lines().rev().map(str::trim);
    let first = rows.next()?;
    if let Some(end) = first.strip_suffix("*/") {
        // A block comment: back to its `/*`.
        let mut row = end;
        loop {
            if let Some(at) = row.find("/*") {
                lines.push(row.get(at + 2..).unwrap_or_default());
                break;
            }
            lines.push(row);
            row = rows.next()?;
        }
        lines = lines.into_iter().map(|l| l.trim().trim_start_matches('*').trim()).collect();
    } else {
        let comment = |l: &str| -> Option<String> {
            l.strip_prefix("//").or_else(|| l.strip_prefix('#').filter(|_| !l.starts_with("#!"))).map(str::to_string)
        };
        let mut row = Some(first);
        while let Some(l) = row.and_then(|r| comment(r).map(|_| r)) {
            lines.push(l.strip_prefix("//").or_else(|| l.strip_prefix('#')).unwrap_or(l).trim());
            row = rows.next();
        }
    }
    lines.reverse();
    // The first paragraph, then its first sentence.
    let paragraph: Vec<&str> = lines.into_iter().skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
    let joined = paragraph.join(" ");
    let sentence = match joined.find(". ") {
        Some(at) => joined.get(..=at).unwrap_or(&joined),
        None => joined.as_str(),
    };
    let sentence = sentence.trim();
    (!sentence.is_empty()).then(|| sentence.to_string())
}

/// The description of a whole file: the first sentence of the comment it
/// opens with, which definitions without a comment of their own share.
pub fn file_description(text: &str) -> Option<String> {
    let start = text.lines().take_while(|l| {
        let t = l.trim();
        t.starts_with("//") || t.starts_with('#') || t.starts_with("/*") || t.starts_with('*')
    });
    let len: usize = start.map(|l| l.len() + 1).sum();
    // As if a definition followed the opening comment.
    let head = text.get(..len.min(text.len()))?;
    description(&format!("{}\n", head.trim_end()), head.trim_end().len() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str) -> Option<String> {
        description(text, text.rfind("function").expect("a definition"))
    }

    #[test]
    fn line_comments_give_their_first_sentence() {
        let text = "// x\n\n// The name of a TCP option,\n// or UNDEF. More here.\nfunction f () {}\n";
        assert_eq!(of(text).as_deref(), Some("The name of a TCP option, or UNDEF."));
        assert_eq!(of("# hash comment\nfunction f () {}").as_deref(), Some("hash comment"));
    }

    #[test]
    fn block_comments_lose_their_stars() {
        let text = "/**\n * sfunction f - Does a thing\n *\n * Details.\n */\nfunction f () {}";
        assert_eq!(of(text).as_deref(), Some("sfunction f - Does a thing"));
        assert_eq!(of("/* one line */\nfunction f () {}").as_deref(), Some("one line"));
    }

    #[test]
    fn a_file_is_described_by_its_opening_comment() {
        let text = "// Stopwatches: named timers.\n// More.\n\nfunction f () {}\n";
        assert_eq!(file_description(text).as_deref(), Some("Stopwatches: named timers."));
        assert_eq!(file_description("function f () {}\n"), None);
    }

    #[test]
    fn a_gap_or_code_means_no_description() {
        assert_eq!(of("// far away\n\nfunction f () {}"), None);
        assert_eq!(of("global x\nfunction f () {}"), None);
        assert_eq!(of("function f () {}"), None);
        assert_eq!(of("//\n//\nfunction f () {}"), None);
    }
}
