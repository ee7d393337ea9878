//! A token scan of tapset text, much cheaper than parsing it: which names
//! a tapset file defines (public functions, public globals, the first
//! component of each probe alias) and which identifiers it mentions.
//!
//! The library is parsed lazily from it (see [`super::Library::needed`]):
//! a file is parsed when a name it defines is mentioned by the user's
//! script or by a file already needed. Both lists over-approximate (a
//! global's initializer, an identifier in dead `%( %)` branches), which
//! only parses a file more; they never miss a definition the parser would
//! see. Comments, strings and embedded C are skipped.
//!
//! `build.rs` includes this file to index the embedded library when stp is
//! built, so it uses nothing but `std`.

/// What one tapset file defines and mentions, each sorted and without
/// repeats.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    pub defines: Vec<String>,
    pub uses: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'t> {
    Ident(&'t str),
    /// Punctuation, one or two characters (`=`, `+=`, `==`, `{`, ...).
    Punct(&'t str),
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The identifiers and punctuation of `text`, without comments (`#`, `//`,
/// `/* */`), string literals and `%{ %}` blocks.
fn tokens(text: &str) -> Vec<Token<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |k: usize| b.get(k).copied().unwrap_or(0);
    let skip_to = |from: usize, end: &[u8]| -> usize {
        let mut k = from;
        while k < b.len() && !b.get(k..).is_some_and(|r| r.starts_with(end)) {
            k += 1;
        }
        (k + end.len()).min(b.len())
    };
    while i < b.len() {
        let c = at(i);
        if c == b'#' || (c == b'/' && at(i + 1) == b'/') {
            i = skip_to(i, b"\n");
        } else if c == b'/' && at(i + 1) == b'*' {
            i = skip_to(i + 2, b"*/");
        } else if c == b'%' && at(i + 1) == b'{' {
            i = skip_to(i + 2, b"%}");
        } else if c == b'"' {
            i += 1;
            while i < b.len() && at(i) != b'"' {
                i += if at(i) == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident(at(i)) {
                i += 1;
            }
            out.push(Token::Ident(text.get(start..i).unwrap_or("")));
        } else if c.is_ascii_whitespace() || c.is_ascii_digit() || !c.is_ascii() {
            i += 1;
        } else {
            let two = matches!(
                (c, at(i + 1)),
                (b'=' | b'!' | b'<' | b'>' | b'+' | b'-', b'=') | (b'%', b'(' | b')' | b'?' | b':')
            );
            let n = if two { 2 } else { 1 };
            out.push(Token::Punct(text.get(i..i + n).unwrap_or("")));
            i += n;
        }
    }
    out
}

/// The words that start a top-level item.
fn starts_item(t: Token<'_>) -> bool {
    matches!(t, Token::Ident("probe" | "function" | "global" | "private") | Token::Punct("@"))
}

/// Scans one tapset file.
pub fn scan(text: &str) -> Scan {
    let toks = tokens(text);
    let mut defines = Vec::new();
    let mut depth = 0usize;
    let mut private = false;
    let mut i = 0;
    while let Some(&t) = toks.get(i) {
        i += 1;
        match t {
            Token::Punct("{") => depth += 1,
            Token::Punct("}") => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            Token::Ident("private") => {
                private = true;
                continue;
            }
            Token::Ident("function") => {
                if let (Some(Token::Ident(name)), false) = (toks.get(i), private) {
                    defines.push((*name).to_string());
                }
            }
            Token::Ident("global") => {
                while let Some(&t) = toks.get(i) {
                    if starts_item(t) || matches!(t, Token::Punct("{" | "}")) {
                        break;
                    }
                    if let (Token::Ident(name), false) = (t, private) {
                        defines.push(name.to_string());
                    }
                    i += 1;
                }
            }
            Token::Ident("probe") => {
                // An alias (`probe NAME = ...`, `+=`), or a probe whose body
                // follows its points; `probe {a,b}.c = ...` names several.
                let mut names = Vec::new();
                let mut braces = 0usize;
                let mut parens = 0usize;
                let mut first = true;
                while let Some(&t) = toks.get(i) {
                    match t {
                        Token::Punct("(") => parens += 1,
                        Token::Punct(")") => parens = parens.saturating_sub(1),
                        Token::Punct("{") if first => braces += 1,
                        Token::Punct("}") if braces > 0 => braces -= 1,
                        Token::Punct("{") => break,
                        Token::Punct("=" | "+=") if parens == 0 && braces == 0 => {
                            defines.append(&mut names);
                            break;
                        }
                        Token::Ident(name) if first || braces > 0 => names.push(name.to_string()),
                        _ => {}
                    }
                    if braces == 0 {
                        first = false;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        private = false;
    }
    let mut uses: Vec<String> =
        toks.iter().filter_map(|t| if let Token::Ident(s) = t { Some((*s).to_string()) } else { None }).collect();
    for v in [&mut defines, &mut uses] {
        v.sort();
        v.dedup();
    }
    Scan { defines, uses }
}

/// Every identifier in `text`, comments and strings included: what a
/// user's script (or an argument) may name.
pub fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.bytes().next().is_some_and(is_ident_start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defines(text: &str) -> Vec<String> {
        scan(text).defines
    }

    #[test]
    fn finds_functions_globals_and_alias_prefixes() {
        let text = r#"
            global a, b[10], c = 5
            private global hidden
            function f:long (x) { probe_fake = 1; return x }
            private function g() { }
            function h() %{ /* function nope() */ %}
            probe vfs.read = kernel.function("vfs_read") { y = "probe q = r" }
            probe ioblock.end += kernel.trace("block:x") { }
            probe {sa,sb}.c = begin { }
            probe begin(-1) { z = 1 }
            probe timer.ms(if_not = 1) { }
            # function commented() { }
        "#;
        assert_eq!(defines(text), ["a", "b", "c", "f", "h", "ioblock", "sa", "sb", "vfs"]);
        let uses = scan(text).uses;
        assert!(uses.iter().any(|u| u == "probe_fake"));
        assert!(!uses.iter().any(|u| u == "nope" || u == "commented" || u == "q"));
    }

    #[test]
    fn conditions_do_not_end_a_probe_point() {
        assert_eq!(defines("probe begin if (x == 1) { } probe p.q = r { }"), ["p"]);
        assert_eq!(defines("probe a.b ?, c.d ! { } global z"), ["z"]);
    }

    #[test]
    fn unterminated_text_ends_the_scan() {
        for text in ["\"abc", "/* x", "%{ y", "probe a = ", "global", "function"] {
            let _ = scan(text);
        }
        assert_eq!(identifiers("x=$1 + y2 # 3z").collect::<Vec<_>>(), ["x", "y2"]);
    }
}
