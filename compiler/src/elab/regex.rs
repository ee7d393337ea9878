//! Checking the regular expressions of `=~` and `!~` at compile time.
//!
//! SystemTap compiles a script's regexes when it translates the script,
//! so a malformed one is a semantic error with the position of the fault.
//! The dialect is POSIX extended: alternation, groups, bracket expressions
//! with ranges and `[:class:]` names, `. ^ $`, backslash escapes, and the
//! `* + ? {m} {m,} {m,n}` repetitions.

/// Why a regex is malformed: the byte position and the reason.
#[derive(Debug, PartialEq, Eq)]
pub struct RegexError {
    pub position: usize,
    pub message: String,
}

const CLASSES: &[&str] =
    &["alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "xdigit"];

/// Repetition counts stap accepts.
const MAX_REPEAT: u32 = 1000;

pub fn check(pattern: &[u8]) -> Result<(), RegexError> {
    let mut p = Parser { s: pattern, at: 0 };
    p.alternation(0)?;
    match p.peek() {
        None => Ok(()),
        Some(b')') => Err(p.error("unbalanced ')'")),
        Some(c) => Err(p.error(format!("unexpected '{}'", c as char))),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn error(&self, message: impl Into<String>) -> RegexError {
        RegexError { position: self.at, message: message.into() }
    }

    fn alternation(&mut self, depth: usize) -> Result<(), RegexError> {
        self.concatenation(depth)?;
        while self.peek() == Some(b'|') {
            self.at += 1;
            self.concatenation(depth)?;
        }
        Ok(())
    }

    fn concatenation(&mut self, depth: usize) -> Result<(), RegexError> {
        let mut pieces = 0;
        loop {
            match self.peek() {
                None | Some(b'|') => return Ok(()),
                Some(b')') if depth > 0 => return Ok(()),
                Some(b')') => return Err(self.error("unbalanced ')'")),
                Some(c @ (b'*' | b'+' | b'?' | b'{')) if pieces == 0 => {
                    return Err(self.error(format!("unexpected '{}'", c as char)));
                }
                Some(_) => {
                    self.atom(depth)?;
                    self.repetitions()?;
                    pieces += 1;
                }
            }
        }
    }

    fn atom(&mut self, depth: usize) -> Result<(), RegexError> {
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                self.alternation(depth + 1)?;
                if self.peek() != Some(b')') {
                    return Err(self.error("expected ), found end of regex"));
                }
                self.at += 1;
                Ok(())
            }
            Some(b'[') => self.bracket(),
            Some(b'\\') => {
                self.at += 1;
                if self.peek().is_none() {
                    return Err(self.error("trailing backslash"));
                }
                self.at += 1;
                Ok(())
            }
            _ => {
                self.at += 1;
                Ok(())
            }
        }
    }

    fn repetitions(&mut self) -> Result<(), RegexError> {
        loop {
            match self.peek() {
                Some(b'*' | b'+' | b'?') => self.at += 1,
                Some(b'{') => {
                    self.at += 1;
                    let lo = self.number()?;
                    let hi = if self.peek() == Some(b',') {
                        self.at += 1;
                        if self.peek() == Some(b'}') { None } else { Some(self.number()?) }
                    } else {
                        Some(lo)
                    };
                    if self.peek() != Some(b'}') {
                        return Err(self.error("expected '}'"));
                    }
                    if hi.is_some_and(|h| h < lo) {
                        return Err(self.error(format!("invalid repetition {{{lo},{}}}", hi.unwrap_or(lo))));
                    }
                    self.at += 1;
                }
                _ => return Ok(()),
            }
        }
    }

    fn number(&mut self) -> Result<u32, RegexError> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = std::str::from_utf8(self.s.get(start..self.at).unwrap_or_default()).unwrap_or("");
        match digits.parse::<u32>() {
            Ok(n) if n <= MAX_REPEAT => Ok(n),
            Ok(_) => Err(RegexError { position: start, message: format!("repetition count over {MAX_REPEAT}") }),
            Err(_) => Err(self.error("expected number")),
        }
    }

    /// `[...]`: a `]` first (after `^`) is literal; `[:name:]` classes;
    /// ranges must not be inverted.
    fn bracket(&mut self) -> Result<(), RegexError> {
        self.at += 1;
        if self.peek() == Some(b'^') {
            self.at += 1;
        }
        let mut first = true;
        let mut prev: Option<u8> = None;
        loop {
            let Some(c) = self.peek() else { return Err(self.error("unclosed character class")) };
            match c {
                b']' if !first => {
                    self.at += 1;
                    return Ok(());
                }
                b'[' if self.s.get(self.at + 1) == Some(&b':') => {
                    let start = self.at + 2;
                    let Some(len) = self.s.get(start..).and_then(|r| r.windows(2).position(|w| w == b":]")) else {
                        return Err(self.error("unclosed character class"));
                    };
                    let name = String::from_utf8_lossy(self.s.get(start..start + len).unwrap_or_default()).into_owned();
                    if !CLASSES.contains(&name.as_str()) {
                        return Err(self.error(format!("unknown character class '{name}'")));
                    }
                    self.at = start + len + 2;
                    prev = None;
                }
                b'-' if prev.is_some() && self.s.get(self.at + 1).is_some_and(|&n| n != b']') => {
                    let lo = prev.unwrap_or(0);
                    let Some(&hi) = self.s.get(self.at + 1) else { return Err(self.error("unclosed character class")) };
                    if hi < lo {
                        return Err(RegexError {
                            position: self.at + 2,
                            message: format!("Inverted character range {}-{}", lo as char, hi as char),
                        });
                    }
                    self.at += 2;
                    prev = None;
                }
                _ => {
                    prev = Some(c);
                    self.at += 1;
                }
            }
            first = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(p: &str) -> (usize, String) {
        match check(p.as_bytes()) {
            Ok(()) => (usize::MAX, format!("{p:?} was accepted")),
            Err(e) => (e.position, e.message),
        }
    }

    #[test]
    fn accepts_posix_extended() {
        for p in [
            "",
            "abc",
            "a**",
            "(a|b)*c{1,3}$",
            "^[[:alpha:]_][[:alnum:]_]*$",
            "[]a]",
            "[^]a]",
            "[a-]",
            "a{1000}",
            "a{2,}",
            "x|",
            "\\(",
            ".+?",
        ] {
            assert_eq!(check(p.as_bytes()), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_what_stap_rejects() {
        // Wording as stap has it; the position is the byte where the fault shows.
        assert_eq!(err("a[b-d}+"), (7, "unclosed character class".into()));
        assert_eq!(err("a(b"), (3, "expected ), found end of regex".into()));
        assert_eq!(err("a)b"), (1, "unbalanced ')'".into()));
        assert_eq!(err("[z-a]"), (4, "Inverted character range z-a".into()));
        assert_eq!(err("[[:foo:]]"), (1, "unknown character class 'foo'".into()));
        assert_eq!(err("x{"), (2, "expected number".into()));
        assert_eq!(err("a{,3}"), (2, "expected number".into()));
        assert_eq!(err("*a"), (0, "unexpected '*'".into()));
        assert_eq!(err("a|*"), (2, "unexpected '*'".into()));
        assert_eq!(err("x{2,1}").1, "invalid repetition {2,1}");
        assert_eq!(err("a\\").1, "trailing backslash");
    }
}
