//! The lexer: one source text in, a vector of [`Token`]s out.
//!
//! Built with logos. Comments (`#`, `//`, `/* */`) and whitespace are
//! dropped. Embedded C (`%{ ... %}`) is one token holding its text.
//! Preprocessor directives (`%(`, `%?`, `%:`, `%)`, `@define`, macro calls,
//! `$1`/`@1` arguments) are tokens too: the [preprocessor](super::preprocess)
//! consumes them before the grammar sees the stream. Literals are decoded
//! here: numbers to 64-bit values (wrapping above 2^63 as stap does),
//! strings to bytes with C escapes resolved.

use logos::Logos;

use crate::diag::Diagnostic;
use crate::source::{FileId, Span};

/// The token kinds. Names of operators follow their spelling.
#[derive(Logos, Clone, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\x0C\x0B]+")]
#[logos(skip(r"(#|//)[^\n]*", allow_greedy = true))]
#[logos(skip r"/\*([^*]|\*+[^*/])*\*+/")]
pub enum Tok {
    // Keywords.
    #[token("probe")]
    Probe,
    #[token("global")]
    Global,
    #[token("function")]
    Function,
    #[token("private")]
    Private,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("while")]
    While,
    #[token("for")]
    For,
    #[token("foreach")]
    Foreach,
    #[token("in")]
    In,
    #[token("limit")]
    Limit,
    #[token("return")]
    Return,
    #[token("delete")]
    Delete,
    #[token("break")]
    Break,
    #[token("continue")]
    Continue,
    #[token("next")]
    Next,
    #[token("try")]
    Try,
    #[token("catch")]
    Catch,

    /// A plain identifier (may contain `$` after the first character).
    #[regex(r"[A-Za-z_][A-Za-z0-9_$]*", |lex| lex.slice().to_string())]
    Ident(String),
    /// A target variable or context-variable group: `$var`, `$var$`,
    /// `$$vars`, `$$parms$$`. The text keeps its dollars.
    #[regex(r"\$[A-Za-z_$][A-Za-z0-9_$]*", |lex| lex.slice().to_string())]
    TargetVar(String),
    /// `@name`: an `@cast`-style operator, a statistic extractor or a macro.
    #[regex(r"@[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().get(1..).unwrap_or_default().to_string())]
    AtIdent(String),
    /// `$N`: a command-line argument pasted as tokens.
    #[regex(r"\$[0-9]+", |lex| lex.slice().get(1..).unwrap_or_default().to_string())]
    DollarArg(String),
    /// `@N`: a command-line argument as a string literal.
    #[regex(r"@[0-9]+", |lex| lex.slice().get(1..).unwrap_or_default().to_string())]
    AtArg(String),
    /// `$` after an expression: the shallow pretty-printing suffix.
    #[token("$")]
    Dollar,
    /// `$$` after an expression: the deep pretty-printing suffix.
    #[token("$$", priority = 10)]
    DollarDollar,
    /// `$#`: the number of arguments.
    #[token("$#")]
    DollarCount,
    /// `@#`: the number of arguments, as a string.
    #[token("@#")]
    AtCount,

    /// A number, still as written; see [`number_value`].
    #[regex(r"[0-9][0-9A-Za-z_]*", |lex| lex.slice().to_string())]
    Number(String),
    /// A string literal, decoded.
    #[regex(r#""([^"\\\n]|\\[^\n])*""#, |lex| decode_string(lex.slice()))]
    String(Vec<u8>),
    /// `%{ ... %}`, with the text between the markers.
    #[regex(r"%\{([^%]|%+[^%}])*%+\}", |lex| {
        let s = lex.slice();
        s.get(2..s.len() - 2).unwrap_or_default().to_string()
    })]
    Embedded(String),

    // Preprocessor.
    #[token("%(")]
    PpOpen,
    #[token("%?")]
    PpThen,
    #[token("%:")]
    PpElse,
    #[token("%)")]
    PpClose,

    // Operators.
    #[token("<<<")]
    Aggregate,
    #[token("<<=")]
    ShlAssign,
    #[token(">>=")]
    ShrAssign,
    #[token("<<")]
    Shl,
    #[token(">>")]
    Shr,
    #[token("<=")]
    Le,
    #[token(">=")]
    Ge,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("=~")]
    Match,
    #[token("!~")]
    NotMatch,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("++")]
    Incr,
    #[token("--")]
    Decr,
    #[token("->")]
    Arrow,
    #[token("+=")]
    AddAssign,
    #[token("-=")]
    SubAssign,
    #[token("*=")]
    MulAssign,
    #[token("/=")]
    DivAssign,
    #[token("%=")]
    ModAssign,
    #[token("&=")]
    AndAssign,
    #[token("^=")]
    XorAssign,
    #[token("|=")]
    OrAssign,
    #[token(".=")]
    ConcatAssign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("&")]
    Amp,
    #[token("|")]
    Pipe,
    #[token("^")]
    Caret,
    #[token("!")]
    Bang,
    #[token("~")]
    Tilde,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("=")]
    Assign,
    #[token(".")]
    Dot,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token("?")]
    Question,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,

    /// `; else` with nothing but whitespace and comments between: made by
    /// the preprocessor so that `if (c) s; else t` needs one token of
    /// look-ahead.
    SemiElse,
    /// End of input.
    Eof,
    /// `/*` without its `*/`: an error the lexer reports.
    #[token("/*")]
    OpenComment,
    /// `%{` without its `%}`: an error the lexer reports.
    #[token("%{")]
    OpenEmbedded,
}

impl Tok {
    /// How stap names a token in "saw: ..." lines.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier '{s}'"),
            Tok::TargetVar(s) => format!("identifier '{s}'"),
            Tok::AtIdent(s) => format!("operator '@{s}'"),
            Tok::DollarArg(s) => format!("'${s}'"),
            Tok::AtArg(s) => format!("'@{s}'"),
            Tok::Number(s) => format!("number '{s}'"),
            Tok::String(s) => format!("string \"{}\"", escape_bytes(s)),
            Tok::Embedded(_) => "embedded-code".to_string(),
            Tok::Eof => "end of input".to_string(),
            Tok::SemiElse => "keyword 'else'".to_string(),
            t if t.is_keyword() => format!("keyword '{}'", t.spelling()),
            t => format!("operator '{}'", t.spelling()),
        }
    }

    pub fn is_keyword(&self) -> bool {
        matches!(
            self,
            Tok::Probe
                | Tok::Global
                | Tok::Function
                | Tok::Private
                | Tok::If
                | Tok::Else
                | Tok::While
                | Tok::For
                | Tok::Foreach
                | Tok::In
                | Tok::Limit
                | Tok::Return
                | Tok::Delete
                | Tok::Break
                | Tok::Continue
                | Tok::Next
                | Tok::Try
                | Tok::Catch
        )
    }

    /// The text of a fixed token.
    pub fn spelling(&self) -> &'static str {
        match self {
            Tok::Probe => "probe",
            Tok::Global => "global",
            Tok::Function => "function",
            Tok::Private => "private",
            Tok::If => "if",
            Tok::Else => "else",
            Tok::While => "while",
            Tok::For => "for",
            Tok::Foreach => "foreach",
            Tok::In => "in",
            Tok::Limit => "limit",
            Tok::Return => "return",
            Tok::Delete => "delete",
            Tok::Break => "break",
            Tok::Continue => "continue",
            Tok::Next => "next",
            Tok::Try => "try",
            Tok::Catch => "catch",
            Tok::Dollar => "$",
            Tok::DollarDollar => "$$",
            Tok::DollarCount => "$#",
            Tok::AtCount => "@#",
            Tok::PpOpen => "%(",
            Tok::PpThen => "%?",
            Tok::PpElse => "%:",
            Tok::PpClose => "%)",
            Tok::Aggregate => "<<<",
            Tok::ShlAssign => "<<=",
            Tok::ShrAssign => ">>=",
            Tok::Shl => "<<",
            Tok::Shr => ">>",
            Tok::Le => "<=",
            Tok::Ge => ">=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Match => "=~",
            Tok::NotMatch => "!~",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Incr => "++",
            Tok::Decr => "--",
            Tok::Arrow => "->",
            Tok::AddAssign => "+=",
            Tok::SubAssign => "-=",
            Tok::MulAssign => "*=",
            Tok::DivAssign => "/=",
            Tok::ModAssign => "%=",
            Tok::AndAssign => "&=",
            Tok::XorAssign => "^=",
            Tok::OrAssign => "|=",
            Tok::ConcatAssign => ".=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Amp => "&",
            Tok::Pipe => "|",
            Tok::Caret => "^",
            Tok::Bang => "!",
            Tok::Tilde => "~",
            Tok::Lt => "<",
            Tok::Gt => ">",
            Tok::Assign => "=",
            Tok::Dot => ".",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Colon => ":",
            Tok::Question => "?",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::SemiElse => "else",
            Tok::Ident(_)
            | Tok::TargetVar(_)
            | Tok::AtIdent(_)
            | Tok::DollarArg(_)
            | Tok::AtArg(_)
            | Tok::Number(_)
            | Tok::String(_)
            | Tok::Embedded(_)
            | Tok::Eof => "",
            Tok::OpenComment => "/*",
            Tok::OpenEmbedded => "%{",
        }
    }
}

/// A token and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Lexes one text. Bad characters, unterminated strings and comments are
/// reported and skipped, so that the parser still sees the rest.
pub fn lex(file: FileId, text: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut tokens = Vec::new();
    let mut diags = Vec::new();
    let mut lexer = Tok::lexer(text);
    while let Some(result) = lexer.next() {
        let r = lexer.span();
        let span = Span::new(file, r.start as u32, r.end as u32);
        match result {
            Ok(Tok::OpenComment | Tok::OpenEmbedded) => {
                // The rest of the text is inside the unterminated comment or code.
                diags.push(lex_error(text, span));
                break;
            }
            Ok(tok) => tokens.push(Token { tok, span }),
            Err(()) => diags.push(lex_error(text, span)),
        }
    }
    (tokens, diags)
}

fn lex_error(text: &str, span: Span) -> Diagnostic {
    let rest = text.get(span.start as usize..).unwrap_or_default();
    if rest.starts_with('"') {
        Diagnostic::parse_error("Could not find matching closing quote", span)
    } else if rest.starts_with("/*") {
        Diagnostic::parse_error("Could not find matching '*/'", span)
    } else if rest.starts_with("%{") {
        Diagnostic::parse_error("Could not find matching '%}'", span)
    } else {
        let c = rest.chars().next().unwrap_or(' ');
        Diagnostic::parse_error(format!("unexpected character '{}'", c.escape_default()), span)
    }
}

/// The value of a number token: decimal, `0x` hexadecimal or `0` octal;
/// values from 2^63 to 2^64-1 wrap to negative, as in stap. `None` when the
/// text is not a number or does not fit in 64 bits.
pub fn number_value(text: &str) -> Option<i64> {
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        (hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        (text.get(1..)?, 8)
    } else {
        (text, 10)
    };
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(digits, radix).ok().map(|v| v as i64)
}

/// Decodes a quoted string literal's C escapes. Unknown escapes stand for
/// the character itself, as stap treats them.
fn decode_string(quoted: &str) -> Vec<u8> {
    let inner = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().as_bytes();
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&e) = inner.get(i) else { break };
        i += 1;
        match e {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'x' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 2 {
                    match inner.get(i).and_then(|c| (*c as char).to_digit(16)) {
                        Some(d) => v = v * 16 + d,
                        None => break,
                    }
                    i += 1;
                    n += 1;
                }
                if n == 0 {
                    out.push(b'x');
                } else {
                    out.push(v as u8);
                }
            }
            b'0'..=b'7' => {
                let mut v: u32 = u32::from(e - b'0');
                let mut n = 1;
                while n < 3 {
                    match inner.get(i) {
                        Some(c @ b'0'..=b'7') => v = v * 8 + u32::from(c - b'0'),
                        _ => break,
                    }
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    out
}

/// Writes bytes as the body of a string literal that decodes back to them.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = bytes.get(i..).unwrap_or_default();
        // Keep valid UTF-8 sequences as they are.
        let ch_len = match std::str::from_utf8(rest.get(..rest.len().min(4)).unwrap_or_default()) {
            Ok(t) => t.chars().next().map_or(1, char::len_utf8),
            Err(e) if e.valid_up_to() > 0 => std::str::from_utf8(rest.get(..e.valid_up_to()).unwrap_or_default())
                .ok()
                .and_then(|t| t.chars().next())
                .map_or(1, char::len_utf8),
            Err(_) => 1,
        };
        let b = rest.first().copied().unwrap_or(0);
        if ch_len > 1
            && let Some(t) = rest.get(..ch_len).and_then(|c| std::str::from_utf8(c).ok())
        {
            s.push_str(t);
            i += ch_len;
            continue;
        }
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            11 => s.push_str("\\v"),
            12 => s.push_str("\\f"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\{b:03o}")),
        }
        i += 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        let (t, d) = lex(FileId(0), text);
        assert!(d.is_empty(), "{d:?}");
        t.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn operators_take_the_longest_match() {
        assert_eq!(
            toks("a <<< b <<= c << d <= e"),
            vec![
                Tok::Ident("a".into()),
                Tok::Aggregate,
                Tok::Ident("b".into()),
                Tok::ShlAssign,
                Tok::Ident("c".into()),
                Tok::Shl,
                Tok::Ident("d".into()),
                Tok::Le,
                Tok::Ident("e".into())
            ]
        );
    }

    #[test]
    fn comments_and_dollars() {
        assert_eq!(
            toks("# x\n$1 @2 $# @# // y\n$var$$ $$vars /* z\n */ @cast probes"),
            vec![
                Tok::DollarArg("1".into()),
                Tok::AtArg("2".into()),
                Tok::DollarCount,
                Tok::AtCount,
                Tok::TargetVar("$var$$".into()),
                Tok::TargetVar("$$vars".into()),
                Tok::AtIdent("cast".into()),
                Tok::Ident("probes".into()),
            ]
        );
    }

    #[test]
    fn embedded_code_is_one_token() {
        assert_eq!(toks("%{ a % b %%} x"), vec![Tok::Embedded(" a % b %".into()), Tok::Ident("x".into())]);
        assert_eq!(toks("%( %? %: %)"), vec![Tok::PpOpen, Tok::PpThen, Tok::PpElse, Tok::PpClose]);
    }

    #[test]
    fn strings_decode_escapes() {
        assert_eq!(toks(r#""a\tb\\\"\x41\101\q\0""#), vec![Tok::String(b"a\tb\\\"AAq\0".to_vec())]);
        let (_, d) = lex(FileId(0), "\"abc\ndef\"");
        assert_eq!(d.len(), 2);
        assert!(d[0].message.contains("closing quote"));
    }

    #[test]
    fn escaping_round_trips() {
        let bytes = b"a\"\\\n\t\x07\x00\xff\xe2\x82\xacz".to_vec();
        let quoted = format!("\"{}\"", escape_bytes(&bytes));
        assert_eq!(toks(&quoted), vec![Tok::String(bytes)]);
    }

    #[test]
    fn numbers() {
        assert_eq!(number_value("0x10"), Some(16));
        assert_eq!(number_value("010"), Some(8));
        assert_eq!(number_value("0"), Some(0));
        assert_eq!(number_value("18446744073709551615"), Some(-1));
        assert_eq!(number_value("9223372036854775808"), Some(i64::MIN));
        assert_eq!(number_value("18446744073709551616"), None);
        assert_eq!(number_value("09"), None);
        assert_eq!(number_value("0x"), None);
        assert_eq!(number_value("1a"), None);
    }
}
