//! Probe-point wildcards, as stap matches them: a pattern and a name in,
//! whether they match out.
//!
//! `*` matches within one dot-separated component, `**` across anything,
//! `?` one character and `[...]` (`[!...]`, `[^...]`, ranges) one
//! character of a class; an unclosed `[` is a literal. Pure functions on
//! bytes, no allocation; used from the preprocessor's conditions to
//! kernel symbol lookups, so this module imports nothing of the crate.

/// Matches `name` against a glob pattern: `*` (not across `.`), `**` (across anything), `?`, `[...]`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    // A pattern without wildcards is the name itself (most lookups: a
    // probe alias's own tracepoint, a function by name).
    if !pattern.bytes().any(|b| matches!(b, b'*' | b'?' | b'[')) {
        return pattern == name;
    }
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => {
                let (deep, rest) = match rest.split_first() {
                    Some((b'*', r)) => (true, r),
                    _ => (false, rest),
                };
                for i in 0..=n.len() {
                    if i > 0 && !deep && n.get(i - 1) == Some(&b'.') {
                        break;
                    }
                    if go(rest, n.get(i..).unwrap_or_default()) {
                        return true;
                    }
                }
                false
            }
            Some((b'?', rest)) => n.split_first().is_some_and(|(_, nr)| go(rest, nr)),
            Some((b'[', rest)) => {
                let Some(close) = rest.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                    return n.first() == Some(&b'[') && go(rest, n.get(1..).unwrap_or_default());
                };
                let (class, after) = (rest.get(..close).unwrap_or_default(), rest.get(close + 1..).unwrap_or_default());
                let (negate, class) = match class.split_first() {
                    Some((b'!' | b'^', c)) => (true, c),
                    _ => (false, class),
                };
                let Some((&c, nr)) = n.split_first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while let Some(&lo) = class.get(i) {
                    if class.get(i + 1) == Some(&b'-')
                        && let Some(&hi) = class.get(i + 2)
                    {
                        hit |= (lo..=hi).contains(&c);
                        i += 3;
                    } else {
                        hit |= lo == c;
                        i += 1;
                    }
                }
                hit != negate && go(after, nr)
            }
            Some((&c, rest)) => n.split_first().is_some_and(|(&d, nr)| c == d && go(rest, nr)),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Whether a string has glob characters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("vfs_*", "vfs_read"));
        assert!(!glob_match("vfs_*", "do_vfs"));
        assert!(glob_match("v?s_[rw]*", "vfs_write"));
        assert!(!glob_match("v?s_[!rw]*", "vfs_write"));
        assert!(glob_match("foo.*", "foo.bar"));
        assert!(!glob_match("foo.*", "foo.bar.baz"));
        assert!(glob_match("foo.**", "foo.bar.baz"));
        assert!(glob_match("ti**es", "timer.jiffies"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("[", "x"));
    }
}
