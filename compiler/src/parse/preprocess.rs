//! The preprocessor: the lexer's tokens in, the tokens the grammar parses out.
//!
//! In order of appearance it
//! - evaluates conditionals `%( COND %? THEN %: ELSE %)` (nestable), where
//!   COND compares `kernel_v`, `kernel_vr`, `arch`, `runtime`,
//!   `systemtap_v`, `systemtap_privilege`, `guru_mode`, `CONFIG_*`, or two
//!   numbers or two strings, joined with `&&` and `||`;
//! - records `@define NAME(PARAMS) %( BODY %)` macros and expands `@NAME(ARGS)`
//!   (file-local macros first, then the library's `.stpm` macros); tokens
//!   from a macro body keep their own spans, tagged with the expansion;
//! - pastes command-line arguments: `$N` as tokens, `@N` as a string, `$#`
//!   as a number and `@#` as a string;
//! - glues adjacent string literals and turns `;` before `else` into one
//!   [`Tok::SemiElse`], so that the grammar stays LR(1).
//!
//! Like stap, a directive in a branch that is not taken is not processed.

use std::collections::HashMap;

use super::condition::eval_condition;
pub use super::condition::version_cmp;
use super::lexer::{Tok, Token, lex};
use crate::diag::Diagnostic;
use crate::source::{Expansion, ExpnId, FileKind, SourceMap, Span};

/// How deep macro expansions may nest before we call it runaway recursion:
/// a macro's body and its arguments (`@m(@m(...))`) both count.
const MAX_EXPANSION_DEPTH: usize = 64;
/// How deep conditionals may nest. Each level scans the text it spans, so
/// the bound also keeps preprocessing linear in the size of the input.
const MAX_CONDITIONAL_DEPTH: usize = 64;
/// How many tokens one file may expand to.
const MAX_TOKENS: usize = 1_000_000;
/// How many macro expansions one file may make: macros that expand others
/// twice or more grow exponentially, even when they produce nothing.
const MAX_EXPANSIONS: usize = 10_000;

/// What conditionals can ask about.
pub struct PpEnv<'a> {
    /// Command-line arguments after the script.
    pub args: &'a [String],
    /// The kernel release, e.g. `6.1.0-27-cloud-amd64`.
    pub kernel_release: &'a str,
    pub arch: &'a str,
    pub runtime: &'a str,
    /// The SystemTap version the script asks to be compatible with.
    pub systemtap_v: &'a str,
    /// `stapdev`, `stapsys` or `stapusr`.
    pub privilege: &'a str,
    pub guru_mode: bool,
    /// The value of a kernel `CONFIG_` option (`y`, `m`, a number, a
    /// string), or `None` when unset.
    pub kconfig: &'a dyn Fn(&str) -> Option<String>,
    /// Before SystemTap 2.0 a comment between two string literals kept
    /// them apart; since then they are glued regardless.
    pub glue_across_comments: bool,
}

/// One `@define`.
#[derive(Clone, Debug)]
pub struct MacroDef {
    pub name: String,
    pub params: Vec<String>,
    pub body: Vec<Token>,
    /// The name in the definition.
    pub span: Span,
}

/// Macros visible to every file: those of the `.stpm` files in the tapset
/// path.
#[derive(Clone, Debug, Default)]
pub struct MacroLibrary {
    pub macros: HashMap<String, MacroDef>,
}

/// Preprocesses one file's tokens. `library` supplies `.stpm` macros.
/// Returns the tokens for the grammar (ending with [`Tok::Eof`]), the
/// macros the file defined, and diagnostics. When a limit on nesting or
/// size is hit, the tokens are only the end: the error says why.
pub fn preprocess(
    tokens: Vec<Token>,
    eof: Span,
    env: &PpEnv<'_>,
    library: &MacroLibrary,
    sm: &mut SourceMap,
) -> (Vec<Token>, HashMap<String, MacroDef>, Vec<Diagnostic>) {
    let mut pp = Pp {
        env,
        library,
        sm,
        local: HashMap::new(),
        out: Vec::new(),
        diags: Vec::new(),
        eof,
        stopped: false,
        macro_depth: 0,
        cond_depth: 0,
        expansions: 0,
    };
    let ctx = Ctx { params: HashMap::new(), expn: ExpnId::ROOT };
    pp.process(&tokens, &ctx);
    let Pp { mut out, local, diags, stopped, .. } = pp;
    if stopped {
        // A limit was hit: what came out so far is cut short, and parsing
        // it would only report that again.
        out.clear();
    }
    let glue_all = env.glue_across_comments;
    let out = finish(out, eof, |a: Span, b: Span| {
        glue_all
            || (a.file == b.file
                && sm.text(a.file).get(a.end as usize..b.start as usize).is_some_and(|gap| gap.trim().is_empty()))
    });
    (out, local, diags)
}

struct Ctx {
    /// Macro parameters in scope, already expanded.
    params: HashMap<String, Vec<Token>>,
    expn: ExpnId,
}

struct Pp<'a, 'e> {
    env: &'a PpEnv<'e>,
    library: &'a MacroLibrary,
    sm: &'a mut SourceMap,
    local: HashMap<String, MacroDef>,
    out: Vec<Token>,
    diags: Vec<Diagnostic>,
    eof: Span,
    /// Set once a limit is hit: preprocessing stops there, and the error
    /// is reported once.
    stopped: bool,
    /// Macro bodies and arguments being expanded.
    macro_depth: usize,
    /// Conditionals being processed.
    cond_depth: usize,
    /// Macro expansions made so far.
    expansions: usize,
}

fn tag(mut t: Token, expn: ExpnId) -> Token {
    if expn != ExpnId::ROOT {
        t.span.expn = expn;
    }
    t
}

/// Finds the index of the `%)` that closes a construct whose opening
/// `%(` was just before `from`; also reports the first `%?` and every `%:`
/// met at depth zero.
struct Scan {
    then_at: Option<usize>,
    else_at: Vec<usize>,
    close_at: Option<usize>,
}

fn scan_conditional(toks: &[Token], from: usize) -> Scan {
    let mut depth = 0usize;
    let mut scan = Scan { then_at: None, else_at: Vec::new(), close_at: None };
    for (i, t) in toks.iter().enumerate().skip(from) {
        match t.tok {
            Tok::PpOpen => depth += 1,
            Tok::PpClose if depth == 0 => {
                scan.close_at = Some(i);
                return scan;
            }
            Tok::PpClose => depth -= 1,
            Tok::PpThen if depth == 0 && scan.then_at.is_none() => scan.then_at = Some(i),
            Tok::PpElse if depth == 0 => scan.else_at.push(i),
            _ => {}
        }
    }
    scan
}

impl Pp<'_, '_> {
    fn error(&mut self, msg: impl AsRef<str>, span: Span) {
        self.diags.push(Diagnostic::parse_error(msg, span));
    }

    /// Reports `d` and stops preprocessing, unless it was already stopped.
    fn stop(&mut self, d: Diagnostic) {
        if !self.stopped {
            self.stopped = true;
            self.diags.push(d);
        }
    }

    fn emit(&mut self, t: Token) -> bool {
        if self.stopped {
            return false;
        }
        if self.out.len() >= MAX_TOKENS {
            self.stop(
                Diagnostic::parse_error("preprocessed input is too large", t.span)
                    .with_note(format!("one file may expand to at most {MAX_TOKENS} tokens")),
            );
            return false;
        }
        self.out.push(t);
        true
    }

    fn process(&mut self, toks: &[Token], ctx: &Ctx) {
        let mut i = 0;
        while let Some(t) = toks.get(i) {
            if self.stopped {
                return;
            }
            i += 1;
            match &t.tok {
                Tok::AtIdent(name) if name == "define" => {
                    i = self.define(toks, i, t.span, ctx);
                }
                Tok::AtIdent(name) if ctx.params.contains_key(name) => {
                    let body = ctx.params.get(name).cloned().unwrap_or_default();
                    for b in body {
                        if !self.emit(b) {
                            return;
                        }
                    }
                }
                Tok::AtIdent(name) if self.local.contains_key(name) || self.library.macros.contains_key(name) => {
                    let def = self.local.get(name).or_else(|| self.library.macros.get(name)).cloned();
                    if let Some(def) = def {
                        i = self.expand(&def, toks, i, t.span, ctx);
                    }
                }
                Tok::PpOpen => {
                    i = self.conditional(toks, i, t.span, ctx);
                }
                Tok::PpThen | Tok::PpElse | Tok::PpClose => {
                    self.error("incomplete conditional - missing '%('", t.span);
                }
                Tok::DollarArg(n) | Tok::AtArg(n) => {
                    let as_string = matches!(t.tok, Tok::AtArg(_));
                    self.argument(n, as_string, t.span, ctx.expn);
                }
                Tok::DollarCount => {
                    let tok = Tok::Number(self.env.args.len().to_string());
                    self.emit(tag(Token { tok, span: t.span }, ctx.expn));
                }
                Tok::AtCount => {
                    let tok = Tok::String(self.env.args.len().to_string().into_bytes());
                    self.emit(tag(Token { tok, span: t.span }, ctx.expn));
                }
                _ => {
                    if !self.emit(tag(t.clone(), ctx.expn)) {
                        return;
                    }
                }
            }
        }
    }

    /// `$N` / `@N`.
    fn argument(&mut self, n: &str, as_string: bool, span: Span, expn: ExpnId) {
        let count = self.env.args.len();
        let index = n.parse::<usize>().ok().filter(|&k| k >= 1 && k <= count);
        let Some(k) = index else {
            let range = if count == 0 { "[1-0]".to_string() } else { format!("[1-{count}]") };
            self.error(format!("command line argument index {n} out of range {range}"), span);
            return;
        };
        let text = self.env.args.get(k - 1).cloned().unwrap_or_default();
        if as_string {
            self.emit(tag(Token { tok: Tok::String(text.into_bytes()), span }, expn));
            return;
        }
        // Pasted text is lexed, but not preprocessed again: `$1` given
        // `$1` stays a `$1` token, which the grammar rejects.
        let name = format!("<argument ${k}>");
        let file = self.sm.add(name, text.clone(), FileKind::Synthetic);
        let (toks, diags) = lex(file, &text);
        self.diags.extend(diags);
        for t in toks {
            // Point at the `$N` the user wrote.
            self.emit(tag(Token { tok: t.tok, span }, expn));
        }
    }

    /// `@define NAME[(P, ...)] %( BODY %)`; `at` is the index after `@define`.
    fn define(&mut self, toks: &[Token], at: usize, define_span: Span, ctx: &Ctx) -> usize {
        let mut i = at;
        let (name, name_span) = match toks.get(i) {
            Some(Token { tok: Tok::Ident(n), span }) => (n.clone(), *span),
            Some(t) => {
                let span = t.span;
                self.error("expected identifier after '@define'", span);
                return i;
            }
            None => {
                self.error("expected identifier after '@define'", define_span);
                return i;
            }
        };
        i += 1;
        let mut params = Vec::new();
        if matches!(toks.get(i).map(|t| &t.tok), Some(Tok::LParen)) {
            i += 1;
            loop {
                match toks.get(i) {
                    Some(Token { tok: Tok::Ident(p), span }) => {
                        if params.contains(p) {
                            self.error(format!("parameter '{p}' of macro '@{name}' appears twice"), *span);
                        }
                        params.push(p.clone());
                        i += 1;
                    }
                    Some(Token { tok: Tok::RParen, .. }) if params.is_empty() => {
                        i += 1;
                        break;
                    }
                    Some(t) => {
                        let span = t.span;
                        self.error("expected identifier as macro parameter", span);
                        return i;
                    }
                    None => {
                        self.error("expected identifier as macro parameter", self.eof);
                        return i;
                    }
                }
                match toks.get(i) {
                    Some(Token { tok: Tok::Comma, .. }) => i += 1,
                    Some(Token { tok: Tok::RParen, .. }) => {
                        i += 1;
                        break;
                    }
                    Some(t) => {
                        let span = t.span;
                        self.error("expected ',' or ')' in macro parameter list", span);
                        return i;
                    }
                    None => {
                        self.error("expected ',' or ')' in macro parameter list", self.eof);
                        return i;
                    }
                }
            }
        }
        match toks.get(i) {
            Some(Token { tok: Tok::PpOpen, .. }) => i += 1,
            Some(t) => {
                let span = t.span;
                self.error(format!("expected '%(' to begin the body of macro '@{name}'"), span);
                return i;
            }
            None => {
                self.error(format!("expected '%(' to begin the body of macro '@{name}'"), self.eof);
                return i;
            }
        }
        let scan = scan_conditional(toks, i);
        let Some(close) = scan.close_at else {
            self.error(format!("unterminated body of macro '@{name}': missing '%)'"), name_span);
            return toks.len();
        };
        let body: Vec<Token> = toks.get(i..close).unwrap_or_default().to_vec();
        if let Some(prev) = self.local.get(&name) {
            let first = prev.span;
            self.diags.push(
                Diagnostic::parse_error(format!("attempt to redefine macro '@{name}' in the same file"), name_span)
                    .with_label(first, format!("macro '@{name}' first defined here")),
            );
        } else if name == "define" {
            self.error("attempt to redefine '@define'", name_span);
        } else {
            if is_reserved_operator(&name) {
                self.diags.push(
                    Diagnostic::warning(format!("macro redefines built-in operator '@{name}'"))
                        .at(name_span, "this macro hides the operator"),
                );
            }
            let _ = ctx;
            self.local.insert(name.clone(), MacroDef { name, params, body, span: name_span });
        }
        close + 1
    }

    /// Expands `@NAME[(ARGS)]`; `at` is the index after the name.
    fn expand(&mut self, def: &MacroDef, toks: &[Token], at: usize, call: Span, ctx: &Ctx) -> usize {
        let mut i = at;
        let name = &def.name;
        if self.stopped {
            return toks.len();
        }
        if self.macro_depth >= MAX_EXPANSION_DEPTH {
            self.stop(
                Diagnostic::parse_error(format!("macro '@{name}' expands too deeply (recursive macro?)"), call)
                    .with_note(format!("expansions may nest at most {MAX_EXPANSION_DEPTH} deep")),
            );
            return toks.len();
        }
        self.expansions += 1;
        if self.expansions > MAX_EXPANSIONS {
            self.stop(
                Diagnostic::parse_error(format!("too many macro expansions at '@{name}'"), call)
                    .with_note(format!("one file may expand at most {MAX_EXPANSIONS} macros")),
            );
            return toks.len();
        }
        let mut params = HashMap::new();
        if !def.params.is_empty() {
            if !matches!(toks.get(i).map(|t| &t.tok), Some(Tok::LParen)) {
                let span = toks.get(i).map_or(self.eof, |t| t.span);
                let n = def.params.len();
                let plural = if n == 1 { "" } else { "s" };
                self.error(format!("expected '(' in invocation of macro '@{name}' taking {n} parameter{plural}"), span);
                return i;
            }
            i += 1;
            // Each argument as a range of `toks`, processed in place.
            let mut args: Vec<std::ops::Range<usize>> = Vec::new();
            args.push(i..i);
            let mut depth = 0usize;
            // Conditionals an argument holds (`@m(a %( c %? ->b %: %))`)
            // are part of it: they are evaluated when it is.
            let mut pp_depth = 0usize;
            loop {
                let Some(t) = toks.get(i) else {
                    self.error(format!("unterminated invocation of macro '@{name}': missing ')'"), call);
                    return toks.len();
                };
                i += 1;
                match t.tok {
                    Tok::PpOpen => pp_depth += 1,
                    Tok::PpClose if pp_depth > 0 => pp_depth -= 1,
                    Tok::PpThen | Tok::PpElse if pp_depth > 0 => {}
                    _ if pp_depth > 0 => {}
                    Tok::LParen | Tok::LBracket | Tok::LBrace => depth += 1,
                    Tok::RParen if depth == 0 => break,
                    Tok::RParen | Tok::RBracket | Tok::RBrace => depth = depth.saturating_sub(1),
                    Tok::Comma if depth == 0 => {
                        args.push(i..i);
                        continue;
                    }
                    Tok::PpClose | Tok::PpThen | Tok::PpElse if depth == 0 => {
                        // A preprocessor bracket cannot sit inside a call.
                        self.error(format!("unterminated invocation of macro '@{name}': missing ')'"), t.span);
                        return i;
                    }
                    _ => {}
                }
                if let Some(last) = args.last_mut() {
                    last.end = i;
                }
            }
            if args.len() != def.params.len() {
                let n = def.params.len();
                let msg = if args.len() > n {
                    format!("too many parameters for macro '@{name}' (expected {n})")
                } else {
                    format!("too few parameters for macro '@{name}' (expected {n})")
                };
                self.error(msg, call);
                return i;
            }
            // Arguments are expanded where they are written, one level
            // deeper: a macro in an argument nests in this one.
            self.macro_depth += 1;
            for (p, arg) in def.params.iter().zip(args) {
                let saved = std::mem::take(&mut self.out);
                self.process(toks.get(arg).unwrap_or_default(), ctx);
                let expanded = std::mem::replace(&mut self.out, saved);
                params.insert(p.clone(), expanded);
            }
            self.macro_depth -= 1;
        }
        let expn = self.sm.add_expansion(Expansion { call_site: call, macro_name: name.clone() });
        let inner = Ctx { params, expn };
        self.macro_depth += 1;
        self.process(&def.body, &inner);
        self.macro_depth -= 1;
        i
    }

    /// `%( COND %? THEN [%: ELSE] %)`; `at` is the index after `%(`.
    fn conditional(&mut self, toks: &[Token], at: usize, open: Span, ctx: &Ctx) -> usize {
        if self.cond_depth >= MAX_CONDITIONAL_DEPTH {
            self.stop(
                Diagnostic::parse_error("conditionals nest too deeply", open)
                    .with_note(format!("conditionals may nest at most {MAX_CONDITIONAL_DEPTH} deep")),
            );
            return toks.len();
        }
        self.cond_depth += 1;
        let next = self.conditional_at_depth(toks, at, open, ctx);
        self.cond_depth -= 1;
        next
    }

    fn conditional_at_depth(&mut self, toks: &[Token], at: usize, open: Span, ctx: &Ctx) -> usize {
        let scan = scan_conditional(toks, at);
        let Some(then_at) = scan.then_at else {
            match scan.close_at {
                Some(close) => {
                    let span = toks.get(close).map_or(open, |t| t.span);
                    self.error("incomplete conditional - missing '%?'", span);
                    return close + 1;
                }
                None => {
                    self.error("incomplete conditional - missing '%?'", open);
                    return toks.len();
                }
            }
        };
        let Some(close) = scan.close_at else {
            self.error("incomplete conditional - missing '%)'", open);
            return toks.len();
        };
        if let Some(&second) = scan.else_at.get(1) {
            let span = toks.get(second).map_or(open, |t| t.span);
            self.error("invalid conditional - duplicate '%:'", span);
            return close + 1;
        }
        // A `%?` after the `%:` or a second `%?` is an error too.
        if let Some(extra) = toks
            .get(then_at + 1..close)
            .unwrap_or_default()
            .iter()
            .scan(0usize, |d, t| {
                let here = *d;
                match t.tok {
                    Tok::PpOpen => *d += 1,
                    Tok::PpClose => *d = d.saturating_sub(1),
                    _ => {}
                }
                Some((here, t))
            })
            .find(|(d, t)| *d == 0 && t.tok == Tok::PpThen)
            .map(|(_, t)| t.span)
        {
            self.error("invalid conditional - duplicate '%?'", extra);
            return close + 1;
        }
        // The condition may use `$#`, `$1`, `@1`, and macros.
        let saved = std::mem::take(&mut self.out);
        self.process(toks.get(at..then_at).unwrap_or_default(), ctx);
        let cond = std::mem::replace(&mut self.out, saved);
        let cond_span = toks.get(then_at).map_or(open, |t| t.span);
        if cond.iter().any(|t| matches!(&t.tok, Tok::AtIdent(n) if n == "defined")) {
            return self.deferred_conditional(toks, &cond, then_at, scan.else_at.first().copied(), close, ctx);
        }
        let value = match eval_condition(&cond, self.env, cond_span) {
            Ok(v) => v,
            Err(d) => {
                self.diags.push(*d);
                return close + 1;
            }
        };
        let (from, to) = match (value, scan.else_at.first()) {
            (true, Some(&e)) => (then_at + 1, e),
            (true, None) => (then_at + 1, close),
            (false, Some(&e)) => (e + 1, close),
            (false, None) => (close, close),
        };
        self.process(toks.get(from..to).unwrap_or_default(), ctx);
        close + 1
    }
}

impl Pp<'_, '_> {
    /// `%( @defined(x) %? a %: b %)`: whether a target value exists is known
    /// only once probe points are resolved, so the choice is left to
    /// elaboration as `((cond) ? (a) : (b))`, which it folds to one branch.
    /// The condition may combine `@defined` terms with `!`, `&&`, `||` and
    /// parentheses; the branches must be expressions (a missing `%:` branch
    /// is 0).
    fn deferred_conditional(
        &mut self,
        toks: &[Token],
        cond: &[Token],
        then_at: usize,
        else_at: Option<usize>,
        close: usize,
        ctx: &Ctx,
    ) -> usize {
        let mut depth = 0usize;
        let mut in_defined = false;
        for t in cond {
            match &t.tok {
                Tok::AtIdent(n) if n == "defined" && depth == 0 => in_defined = true,
                Tok::LParen => depth += 1,
                Tok::RParen => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        in_defined = false;
                    }
                }
                Tok::AndAnd | Tok::OrOr | Tok::Bang if !in_defined || depth == 0 => {}
                _ if in_defined && depth > 0 => {}
                _ => {
                    self.error("a condition with @defined may only combine @defined terms with !, && and ||", t.span);
                    return close + 1;
                }
            }
        }
        let eof = self.eof;
        let at = |i: usize| toks.get(i).map_or(eof, |t| t.span);
        let synth = |tok: Tok, span: Span| Token { tok, span };
        let (open_span, then_span) = (cond.first().map_or(at(then_at), |t| t.span), at(then_at));
        self.out.push(synth(Tok::LParen, open_span));
        self.out.push(synth(Tok::LParen, open_span));
        self.out.extend(cond.iter().cloned());
        self.out.push(synth(Tok::RParen, then_span));
        self.out.push(synth(Tok::Question, then_span));
        self.out.push(synth(Tok::LParen, then_span));
        self.process(toks.get(then_at + 1..else_at.unwrap_or(close)).unwrap_or_default(), ctx);
        let else_span = at(else_at.unwrap_or(close));
        self.out.push(synth(Tok::RParen, else_span));
        self.out.push(synth(Tok::Colon, else_span));
        self.out.push(synth(Tok::LParen, else_span));
        match else_at {
            Some(e) => self.process(toks.get(e + 1..close).unwrap_or_default(), ctx),
            None => self.out.push(synth(Tok::Number("0".to_string()), else_span)),
        }
        self.out.push(synth(Tok::RParen, at(close)));
        self.out.push(synth(Tok::RParen, at(close)));
        close + 1
    }
}

/// Names that are operators of the language, not macros.
fn is_reserved_operator(name: &str) -> bool {
    matches!(
        name,
        "cast"
            | "defined"
            | "entry"
            | "var"
            | "perf"
            | "probewrite"
            | "count"
            | "sum"
            | "min"
            | "max"
            | "avg"
            | "variance"
            | "hist_log"
            | "hist_linear"
            | "define"
    )
}

/// Glues adjacent strings (where `may_glue` allows), makes `; else` one
/// token, and appends the end.
fn finish(toks: Vec<Token>, eof: Span, may_glue: impl Fn(Span, Span) -> bool) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(toks.len() + 1);
    for t in toks {
        match (out.last_mut(), t.tok) {
            (Some(Token { tok: Tok::String(prev), span }), Tok::String(next)) if may_glue(*span, t.span) => {
                prev.extend_from_slice(&next);
                *span = span.to(t.span);
            }
            (Some(Token { tok: tok @ Tok::Semi, span }), Tok::Else) => {
                *tok = Tok::SemiElse;
                *span = t.span;
            }
            (_, tok) => out.push(Token { tok, span: t.span }),
        }
    }
    out.push(Token { tok: Tok::Eof, span: eof });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use std::cmp::Ordering;

    fn run(text: &str, args: &[&str]) -> (Vec<Tok>, Vec<String>) {
        let mut sm = SourceMap::new();
        let f = sm.add("<input>", text, FileKind::User);
        let (toks, mut diags) = lex(f, text);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let kconfig = |name: &str| match name {
            "CONFIG_BPF" => Some("y".to_string()),
            "CONFIG_NR_CPUS" => Some("64".to_string()),
            _ => None,
        };
        let env = PpEnv {
            args: &args,
            kernel_release: "6.1.0-27-cloud-amd64",
            arch: "x86_64",
            runtime: "bpf",
            systemtap_v: "5.0",
            privilege: "stapdev",
            guru_mode: false,
            kconfig: &kconfig,
            glue_across_comments: true,
        };
        let eof = Span::new(f, text.len() as u32, text.len() as u32);
        let (out, _, d) = preprocess(toks, eof, &env, &MacroLibrary::default(), &mut sm);
        diags.extend(d);
        let toks = out.into_iter().map(|t| t.tok).filter(|t| *t != Tok::Eof).collect();
        (toks, diags.into_iter().map(|d| d.message).collect())
    }

    fn ident(s: &str) -> Tok {
        Tok::Ident(s.into())
    }

    #[test]
    fn conditionals_choose_a_branch() {
        assert_eq!(run("%( kernel_v >= \"5.10\" %? a %: b %)", &[]).0, vec![ident("a")]);
        assert_eq!(run("%( kernel_vr == \"6.1.0-27-cloud-amd64\" %? a %: b %)", &[]).0, vec![ident("a")]);
        assert_eq!(run("%( arch == \"i386\" || arch == \"x86_64\" %? a %: b %)", &[]).0, vec![ident("a")]);
        assert_eq!(run("%( CONFIG_BPF == \"y\" && CONFIG_NR_CPUS > 32 %? a %: b %)", &[]).0, vec![ident("a")]);
        assert_eq!(run("%( CONFIG_NOPE == \"\" %? a %: b %)", &[]).0, vec![ident("a")]);
        // Wildcards, as in fnmatch(3).
        assert_eq!(run("%( CONFIG_BPF == \"[my]\" %? a %: b %)", &[]).0, vec![ident("a")]);
        assert_eq!(run("%( CONFIG_BPF == \"*\" && CONFIG_BPF == \"?\" %? a %: b %)", &[]).0, vec![ident("a")]);
        assert_eq!(run("%( CONFIG_BPF != \"[a-x]\" %? a %: b %)", &[]).0, vec![ident("a")]);
        assert_eq!(run("%( CONFIG_NOPE == \"?\" %? a %: b %)", &[]).0, vec![ident("b")]);
        assert_eq!(run("%( 1 == 0 %? a %)", &[]).0, vec![]);
        assert_eq!(run("%( 1 == 1 %? %( 0 == 1 %? c %: d %) %: b %)", &[]).0, vec![ident("d")]);
        assert_eq!(run("%( $# == 2 && @# == \"2\" %? a %: b %)", &["x", "y"]).0, vec![ident("a")]);
        assert_eq!(run("%( runtime == \"bpf\" && guru_mode == 0 %? a %: b %)", &[]).0, vec![ident("a")]);
    }

    #[test]
    fn defined_conditions_are_left_to_elaboration() {
        let render = |toks: &[Tok]| {
            toks.iter()
                .map(|t| match t {
                    Tok::AtIdent(n) => format!("@{n}"),
                    Tok::TargetVar(v) | Tok::Number(v) => v.clone(),
                    other => other.spelling().to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (toks, diags) = run("%( @defined($x) && !@defined($y) %? $x %: 5 %)", &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(render(&toks), "( ( @defined ( $x ) && ! @defined ( $y ) ) ? ( $x ) : ( 5 ) )");
        let (toks, _) = run("%( @defined($x) %? $x %)", &[]);
        assert_eq!(render(&toks), "( ( @defined ( $x ) ) ? ( $x ) : ( 0 ) )");
        let (_, diags) = run("%( @defined($x) && arch == \"x86_64\" %? 1 %)", &[]);
        assert_eq!(diags.len(), 1, "{diags:?}");
    }

    #[test]
    fn branches_not_taken_are_not_processed() {
        let (toks, diags) = run("%( 1 == 0 %? @define foo %( 1 %) $9 %: @define foo %( 2 %) %) @foo", &[]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(toks, vec![Tok::Number("2".into())]);
    }

    #[test]
    fn bad_conditions_are_reported() {
        for (text, msg) in [
            ("%( arch >= \"x\" %? a %)", "expected '==' or '!='"),
            ("%( guru_mode == 2 %? a %)", "expected 0 or 1"),
            ("%( 1 == \"1\" %? a %)", "expected number literal"),
            ("%( kernel_v <= 2.6 %? a %)", "expected string literal"),
            ("%( x %? a %)", "expected 'arch'"),
            ("%( 1 == 1 %? a %: b %: c %)", "duplicate '%:'"),
            ("%( 1 == 1 %? a", "missing '%)'"),
            ("%( 1 == 1 %)", "missing '%?'"),
            ("a %)", "missing '%('"),
            ("%( arch == \"x\" && %? a %)", "expected 'arch'"),
        ] {
            let (_, diags) = run(text, &[]);
            assert!(diags.iter().any(|d| d.contains(msg)), "{text}: {diags:?}");
        }
    }

    #[test]
    fn macros_expand_with_arguments() {
        let (toks, diags) = run("@define add(a,b) %( (@a + @b) %) @add(1, f(2,3))", &[]);
        assert!(diags.is_empty(), "{diags:?}");
        let n = |s: &str| Tok::Number(s.into());
        assert_eq!(
            toks,
            vec![
                Tok::LParen,
                n("1"),
                Tok::Plus,
                ident("f"),
                Tok::LParen,
                n("2"),
                Tok::Comma,
                n("3"),
                Tok::RParen,
                Tok::RParen
            ]
        );
    }

    #[test]
    fn macro_errors() {
        for (text, msg) in [
            ("@define x(a) %( @a %) @x(1,2)", "too many parameters"),
            ("@define x(a) %( @a %) @x", "expected '('"),
            ("@define f %( @f %) @f", "expands too deeply"),
            ("@define foo %( 1 %) @define foo %( 2 %)", "redefine"),
            ("@define foo %( 1", "missing '%)'"),
            ("@define bar(b) %( @b %) @define foo(a) %( @bar(@a %) @foo(x)", "missing ')'"),
        ] {
            let (_, diags) = run(text, &[]);
            assert!(diags.iter().any(|d| d.contains(msg)), "{text}: {diags:?}");
        }
    }

    #[test]
    fn limits_stop_preprocessing_with_one_error() {
        // Conditionals nested past the limit.
        let n = MAX_CONDITIONAL_DEPTH + 1;
        let (toks, errors) = run(&format!("{}x{}", "%( 1 == 1 %? ".repeat(n), " %)".repeat(n)), &[]);
        assert_eq!(errors, vec!["parse error: conditionals nest too deeply".to_string()]);
        assert!(toks.is_empty(), "{toks:?}");
        let n = MAX_CONDITIONAL_DEPTH - 1;
        let (toks, errors) = run(&format!("{}x{}", "%( 1 == 1 %? ".repeat(n), " %)".repeat(n)), &[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(toks, vec![ident("x")]);
        // Macros nested in macro arguments.
        let n = MAX_EXPANSION_DEPTH + 1;
        let (_, errors) = run(&format!("@define m(a) %( @a %) {}1{}", "@m(".repeat(n), ")".repeat(n)), &[]);
        assert_eq!(errors, vec!["parse error: macro '@m' expands too deeply (recursive macro?)".to_string()]);
        // Exponential expansion, even of nothing.
        let mut text = "@define a0 %( %)\n".to_string();
        for i in 1..=40 {
            text.push_str(&format!("@define a{i} %( @a{} @a{} %)\n", i - 1, i - 1));
        }
        text.push_str("@a40");
        let (_, errors) = run(&text, &[]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors.iter().all(|e| e.starts_with("parse error: too many macro expansions at '@a")), "{errors:?}");
    }

    #[test]
    fn arguments_are_pasted() {
        let (toks, diags) = run("$1 @2 $#", &["5+5", "str"]);
        assert!(diags.is_empty());
        assert_eq!(
            toks,
            vec![
                Tok::Number("5".into()),
                Tok::Plus,
                Tok::Number("5".into()),
                Tok::String(b"str".to_vec()),
                Tok::Number("2".into())
            ]
        );
        let (toks, _) = run("$1", &["$1"]);
        assert_eq!(toks, vec![Tok::DollarArg("1".into())]);
        let (_, diags) = run("$3 $0", &["a"]);
        assert_eq!(diags.len(), 2);
        assert!(diags[0].contains("out of range [1-1]"));
    }

    #[test]
    fn strings_glue_and_semicolon_else_joins() {
        let (toks, _) = run("\"a\" @1 \"c\"; else ;", &["b"]);
        assert_eq!(toks, vec![Tok::String(b"abc".to_vec()), Tok::SemiElse, Tok::Semi]);
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(version_cmp("6.1.0", "5.10"), Ordering::Greater);
        assert_eq!(version_cmp("2.6.9", "2.6.13"), Ordering::Less);
        assert_eq!(version_cmp("6.18", "6.18"), Ordering::Equal);
        assert_eq!(version_cmp("6.18.44", "6.18"), Ordering::Greater);
        assert_eq!(version_cmp("6.18.44-fc", "6.18.44-rc1"), Ordering::Less);
        let _ = FileId(0);
    }
}
