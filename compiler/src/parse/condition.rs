//! Preprocessor conditions: the `COND` of `%( COND %? ... %)`, already
//! macro-expanded, evaluated against the session ([`PpEnv`]). It compares
//! `kernel_v`, `kernel_vr`, `arch`, `runtime`, `systemtap_v`,
//! `systemtap_privilege`, `guru_mode` and `CONFIG_*` with literals, or two
//! numbers or two strings, joined with `&&` and `||`; versions compare
//! numerically part by part ([`version_cmp`]).

use super::ast::CompareOp;
use super::lexer::{Tok, Token, number_value};
use super::preprocess::PpEnv;
use crate::diag::Diagnostic;
use crate::source::Span;

/// The comparison a token spells, if any.
fn compare_op(t: &Tok) -> Option<CompareOp> {
    Some(match t {
        Tok::EqEq => CompareOp::Eq,
        Tok::Ne => CompareOp::Ne,
        Tok::Lt => CompareOp::Lt,
        Tok::Le => CompareOp::Le,
        Tok::Gt => CompareOp::Gt,
        Tok::Ge => CompareOp::Ge,
        _ => return None,
    })
}

/// Whether a comparison holds for an ordering of its operands.
fn holds(op: CompareOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CompareOp::Eq => ord == Equal,
        CompareOp::Ne => ord != Equal,
        CompareOp::Lt => ord == Less,
        CompareOp::Le => ord != Greater,
        CompareOp::Gt => ord == Greater,
        CompareOp::Ge => ord != Less,
    }
}

fn is_equality(op: CompareOp) -> bool {
    matches!(op, CompareOp::Eq | CompareOp::Ne)
}

const EXPECTED_CONDITION: &str = "expected 'arch', 'kernel_v', 'kernel_vr', 'systemtap_v', 'runtime', \
     'systemtap_privilege', 'CONFIG_...', or comparison between strings or integers";

struct CondParser<'t, 'e> {
    toks: &'t [Token],
    pos: usize,
    env: &'t PpEnv<'e>,
    end: Span,
}

fn perr(msg: impl AsRef<str>, span: Span) -> Box<Diagnostic> {
    Box::new(Diagnostic::parse_error(msg, span))
}

pub(super) fn eval_condition(toks: &[Token], env: &PpEnv<'_>, end: Span) -> Result<bool, Box<Diagnostic>> {
    let mut p = CondParser { toks, pos: 0, env, end };
    let v = p.or()?;
    match p.toks.get(p.pos) {
        None => Ok(v),
        Some(t) => Err(perr("expected '%?' marker for conditional", t.span)),
    }
}

impl CondParser<'_, '_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn here(&self) -> Span {
        self.peek().map_or(self.end, |t| t.span)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<bool, Box<Diagnostic>> {
        let mut v = self.and()?;
        while matches!(self.peek().map(|t| &t.tok), Some(Tok::OrOr)) {
            self.pos += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, Box<Diagnostic>> {
        let mut v = self.term()?;
        while matches!(self.peek().map(|t| &t.tok), Some(Tok::AndAnd)) {
            self.pos += 1;
            let r = self.term()?;
            v = v && r;
        }
        Ok(v)
    }

    fn op(&mut self) -> Result<(CompareOp, Span), Box<Diagnostic>> {
        let span = self.here();
        match self.next().and_then(|t| compare_op(&t.tok)) {
            Some(op) => Ok((op, span)),
            None => Err(perr("expected comparison operator", span)),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, Box<Diagnostic>> {
        let span = self.here();
        match self.next() {
            Some(Token { tok: Tok::String(s), .. }) => Ok(String::from_utf8_lossy(&s).into_owned()),
            _ => Err(perr(format!("expected {what}"), span)),
        }
    }

    fn number(&mut self) -> Result<i64, Box<Diagnostic>> {
        let span = self.here();
        let neg = matches!(self.peek().map(|t| &t.tok), Some(Tok::Minus));
        if neg {
            self.pos += 1;
        }
        match self.next() {
            Some(Token { tok: Tok::Number(n), span }) => match number_value(&n) {
                Some(v) => Ok(if neg { v.wrapping_neg() } else { v }),
                None => Err(perr("number invalid or out of range", span)),
            },
            _ => Err(perr("expected number literal as right value", span)),
        }
    }

    fn term(&mut self) -> Result<bool, Box<Diagnostic>> {
        let start = self.here();
        let Some(first) = self.next() else {
            return Err(perr(EXPECTED_CONDITION, start));
        };
        match &first.tok {
            Tok::Ident(name) if name == "kernel_v" || name == "kernel_vr" => {
                let (op, _) = self.op()?;
                let want = self.string("string literal")?;
                let release = self.env.kernel_release;
                let have = if name == "kernel_v" { release.split('-').next().unwrap_or(release) } else { release };
                Ok(holds(op, version_cmp(have, &want)))
            }
            Tok::Ident(name) if name == "systemtap_v" => {
                let (op, _) = self.op()?;
                let want = self.string("string literal")?;
                Ok(holds(op, version_cmp(self.env.systemtap_v, &want)))
            }
            Tok::Ident(name) if name == "arch" || name == "runtime" || name == "systemtap_privilege" => {
                let (op, span) = self.op()?;
                if !is_equality(op) {
                    return Err(perr("expected '==' or '!='", span));
                }
                let want = self.string("string literal")?;
                let have = match name.as_str() {
                    "arch" => self.env.arch,
                    "runtime" => self.env.runtime,
                    _ => self.env.privilege,
                };
                Ok(holds(op, have.cmp(want.as_str())))
            }
            Tok::Ident(name) if name == "guru_mode" => {
                let (op, span) = self.op()?;
                if !is_equality(op) {
                    return Err(perr("expected '==' or '!='", span));
                }
                let vspan = self.here();
                let want = self.number()?;
                if want != 0 && want != 1 {
                    return Err(perr("expected 0 or 1 for 'guru_mode'", vspan));
                }
                Ok(holds(op, i64::from(self.env.guru_mode).cmp(&want)))
            }
            Tok::Ident(name) if name.starts_with("CONFIG_") => {
                let (op, _) = self.op()?;
                let have = (self.env.kconfig)(name).unwrap_or_default();
                let rspan = self.here();
                match self.next().map(|t| t.tok) {
                    // `==` and `!=` match the value as a wildcard pattern,
                    // as stap does (`CONFIG_NFSD == "[my]"`).
                    Some(Tok::String(s)) if matches!(op, CompareOp::Eq | CompareOp::Ne) => {
                        let pattern = String::from_utf8_lossy(&s).replace('*', "**");
                        Ok(crate::glob::glob_match(&pattern, &have) == (op == CompareOp::Eq))
                    }
                    Some(Tok::String(s)) => Ok(holds(op, have.as_bytes().cmp(s.as_slice()))),
                    Some(Tok::Number(n)) => {
                        let want = number_value(&n)
                            .ok_or_else(|| Diagnostic::parse_error("number invalid or out of range", rspan))?;
                        // An unset or non-numeric option compares as 0.
                        let have = parse_config_number(&have).unwrap_or(0);
                        Ok(holds(op, have.cmp(&want)))
                    }
                    Some(Tok::Ident(other)) if other.starts_with("CONFIG_") => {
                        let value = (self.env.kconfig)(&other).unwrap_or_default();
                        Ok(holds(op, have.cmp(&value)))
                    }
                    _ => Err(perr("expected string, number literal or other CONFIG_... as right side operand", rspan)),
                }
            }
            Tok::Number(_) | Tok::Minus => {
                self.pos -= 1;
                let lhs = self.number()?;
                let (op, _) = self.op()?;
                let rhs = self.number()?;
                Ok(holds(op, lhs.cmp(&rhs)))
            }
            Tok::String(lhs) => {
                let lhs = lhs.clone();
                let (op, _) = self.op()?;
                let rspan = self.here();
                match self.next().map(|t| t.tok) {
                    Some(Tok::String(rhs)) => Ok(holds(op, lhs.cmp(&rhs))),
                    _ => Err(perr("expected string literal as right value", rspan)),
                }
            }
            _ => Err(perr(EXPECTED_CONDITION, first.span)),
        }
    }
}

fn parse_config_number(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('-') {
        return number_value(rest).map(i64::wrapping_neg);
    }
    number_value(s)
}

/// Compares version strings the way glibc's `strverscmp` orders them for
/// the cases that matter here: runs of digits compare as numbers, other
/// characters as bytes.
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        match (a.get(i), b.get(j)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let si = i;
                while a.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let sj = j;
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
                let da = trim_zeros(a.get(si..i).unwrap_or_default());
                let db = trim_zeros(b.get(sj..j).unwrap_or_default());
                let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                i += 1;
                j += 1;
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count().min(d.len().saturating_sub(1));
    d.get(n..).unwrap_or(d)
}
