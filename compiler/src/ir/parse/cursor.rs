//! The parser's cursor over one line of IR text: operands (`%3:name`,
//! `-4`, `"text"`), numbered names (`@2`, `#1`, `b4`), words, operators
//! and bracketed lists, with the printer's string escapes.

use super::{Res, ty};
use crate::ir::{BlockId, FuncId, GlobalId, Operand, Ty, VarDecl, VarId};
/// A cursor over one line's text.
#[derive(Clone)]
pub(super) struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, at: 0 }
    }

    pub(super) fn rest(&mut self) -> &'a str {
        self.skip_ws();
        self.text.get(self.at..).unwrap_or_default()
    }

    pub(super) fn skip_ws(&mut self) {
        while self.text.get(self.at..).is_some_and(|r| r.starts_with(' ')) {
            self.at += 1;
        }
    }

    pub(super) fn bump(&mut self, n: usize) {
        self.at = (self.at + n).min(self.text.len());
    }

    pub(super) fn at_end(&mut self) -> bool {
        self.rest().is_empty()
    }

    pub(super) fn end(&mut self) -> Res<()> {
        match self.rest() {
            "" => Ok(()),
            r => Err(format!("unexpected `{r}`")),
        }
    }

    pub(super) fn peek(&mut self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    pub(super) fn eat(&mut self, s: &str) -> bool {
        let hit = self.peek(s);
        if hit {
            self.bump(s.len());
        }
        hit
    }

    pub(super) fn expect(&mut self, s: &str) -> Res<()> {
        if self.eat(s) {
            Ok(())
        } else {
            let r = self.rest();
            Err(format!("expected `{s}`, found `{}`", if r.is_empty() { "the end" } else { r }))
        }
    }

    /// The word at the cursor, without taking it.
    pub(super) fn peek_word(&mut self, w: &str) -> bool {
        let r = self.rest();
        r.starts_with(w) && !r.get(w.len()..).unwrap_or_default().starts_with(is_word_char)
    }

    pub(super) fn eat_word(&mut self, w: &str) -> bool {
        let hit = self.peek_word(w);
        if hit {
            self.bump(w.len());
        }
        hit
    }

    pub(super) fn expect_word(&mut self, w: &str) -> Res<()> {
        if self.eat_word(w) { Ok(()) } else { Err(format!("expected `{w}`, found `{}`", self.rest())) }
    }

    /// A name: letters, digits, `_`, `$`, `.`.
    pub(super) fn word(&mut self) -> Res<String> {
        let r = self.rest();
        let n = r.find(|ch: char| !is_word_char(ch)).unwrap_or(r.len());
        if n == 0 {
            return Err(format!("expected a name, found `{r}`"));
        }
        self.bump(n);
        Ok(r.get(..n).unwrap_or_default().to_string())
    }

    pub(super) fn number(&mut self) -> Res<i64> {
        let r = self.rest();
        let neg = usize::from(r.starts_with('-'));
        let n = neg + r.get(neg..).unwrap_or_default().find(|ch: char| !ch.is_ascii_digit()).unwrap_or(r.len() - neg);
        let digits = r.get(..n).unwrap_or_default();
        let v = digits.parse().map_err(|_| format!("expected a number, found `{r}`"))?;
        self.bump(n);
        Ok(v)
    }

    /// A prefix letter and a number: `%3`, `@2`, `#1`, `b4`.
    pub(super) fn numbered(&mut self, prefix: &str) -> Res<u32> {
        self.expect(prefix)?;
        let r = self.text.get(self.at..).unwrap_or_default();
        let n = r.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(r.len());
        let v = r.get(..n).unwrap_or_default().parse().map_err(|_| format!("expected a number after `{prefix}`"))?;
        self.bump(n);
        Ok(v)
    }

    pub(super) fn global(&mut self) -> Res<GlobalId> {
        self.numbered("@").map(GlobalId)
    }

    pub(super) fn func(&mut self) -> Res<FuncId> {
        self.numbered("#").map(FuncId)
    }

    pub(super) fn block(&mut self) -> Res<BlockId> {
        self.numbered("b").map(BlockId)
    }

    /// `%3` or `%3:name` (the name is the declaration's business).
    pub(super) fn var(&mut self) -> Res<VarId> {
        let v = VarId(self.numbered("%")?);
        if self.text.get(self.at..).is_some_and(|r| r.starts_with(':')) {
            self.bump(1);
            self.word()?;
        }
        Ok(v)
    }

    /// `%3:name:long` or `%3:long`; `None` at the end.
    pub(super) fn var_decl(&mut self) -> Res<Option<(VarId, VarDecl)>> {
        if self.at_end() {
            return Ok(None);
        }
        let id = VarId(self.numbered("%")?);
        let mut words = Vec::new();
        while self.text.get(self.at..).is_some_and(|r| r.starts_with(':')) {
            self.bump(1);
            words.push(self.word()?);
        }
        let (name, t) = match words.as_slice() {
            [t] => (String::new(), t),
            [name, t] => (name.clone(), t),
            _ => return Err(format!("variable %{}: expected `:type` or `:name:type`", id.0)),
        };
        Ok(Some((id, VarDecl { name, ty: ty(t)? })))
    }

    /// `"text"` with the printer's escapes.
    pub(super) fn string(&mut self) -> Res<Vec<u8>> {
        self.expect("\"")?;
        let bytes = self.text.as_bytes();
        let mut out = Vec::new();
        loop {
            let Some(&b) = bytes.get(self.at) else { return Err("an unterminated string".to_string()) };
            self.at += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = bytes.get(self.at) else { return Err("an unterminated string".to_string()) };
                    self.at += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'a' => 7,
                        b'b' => 8,
                        b'v' => 11,
                        b'f' => 12,
                        b'0'..=b'7' => {
                            let digits = bytes.get(self.at - 1..self.at + 2).unwrap_or_default();
                            let s = std::str::from_utf8(digits).unwrap_or_default();
                            let v = u8::from_str_radix(s, 8).map_err(|_| format!("a bad escape `\\{s}`"))?;
                            self.at += 2;
                            v
                        }
                        other => other,
                    });
                }
                other => out.push(other),
            }
        }
    }

    pub(super) fn operand(&mut self) -> Res<Operand> {
        let r = self.rest();
        if r.starts_with('%') {
            Ok(Operand::Var(self.var()?))
        } else if r.starts_with('"') {
            Ok(Operand::Str(self.string()?))
        } else {
            Ok(Operand::Long(self.number()?))
        }
    }

    /// An operator: the longest of the printer's.
    pub(super) fn operator(&mut self) -> Res<String> {
        const OPS: [&str; 26] = [
            "<<=", ">>=", "<<", ">>", "<=", ">=", "==", "!=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "+", "-",
            "*", "/", "%", "&", "|", "^", "<", ">",
        ];
        let r = self.rest();
        let op =
            OPS.iter().find(|op| r.starts_with(**op)).ok_or_else(|| format!("expected an operator, found `{r}`"))?;
        self.bump(op.len());
        Ok(op.to_string())
    }

    /// `(a, b)`.
    pub(super) fn args(&mut self) -> Res<Vec<Operand>> {
        self.expect("(")?;
        let mut out = Vec::new();
        while !self.eat(")") {
            if !out.is_empty() {
                self.expect(",")?;
            }
            out.push(self.operand()?);
        }
        Ok(out)
    }

    /// `[a, b]`.
    pub(super) fn keys(&mut self) -> Res<Vec<Operand>> {
        self.slice()?.into_iter().map(|k| k.ok_or_else(|| "`*` among full keys".to_string())).collect()
    }

    /// `[a, *]`.
    pub(super) fn slice(&mut self) -> Res<Vec<Option<Operand>>> {
        self.expect("[")?;
        let mut out = Vec::new();
        while !self.eat("]") {
            if !out.is_empty() {
                self.expect(",")?;
            }
            out.push(if self.eat("*") { None } else { Some(self.operand()?) });
        }
        Ok(out)
    }

    /// `[long, string]`.
    pub(super) fn type_list(&mut self) -> Res<Vec<Ty>> {
        self.expect("[")?;
        let mut out = Vec::new();
        while !self.eat("]") {
            if !out.is_empty() {
                self.expect(",")?;
            }
            out.push(ty(&self.word()?)?);
        }
        Ok(out)
    }
}

pub(super) fn is_word_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || ch == '_' || ch == '$' || ch == '.'
}
