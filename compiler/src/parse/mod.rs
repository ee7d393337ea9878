//! Pass 1: parse. Source text in, an AST ([`ast::Script`]) out.
//!
//! Each file goes through the [lexer], the [preprocessor](preprocess) and
//! the LALRPOP grammar (`grammar.lalrpop`), then through [`check`] for the
//! rules stap's parser enforces beyond the grammar. Errors are collected,
//! not thrown: the grammar recovers at the level of top-level items, so one
//! run reports every broken probe and function.

pub mod actions;
pub mod ast;
pub mod check;
pub mod lexer;
pub mod preprocess;
pub mod printer;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::diag::Diagnostic;
use crate::source::{FileId, SourceMap, Span};
use actions::Item;
use ast::Script;
pub use preprocess::{MacroDef, MacroLibrary, PpEnv};

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
#[allow(unused_parens, unused_imports, dead_code)]
mod grammar {
    include!(concat!(env!("OUT_DIR"), "/parse/grammar.rs"));
}

/// What the grammar's actions share: token spans, options, and the errors
/// they find.
pub struct Ctx<'a> {
    spans: &'a [Span],
    eof: Span,
    opts: ParseOptions,
    errors: RefCell<Vec<Diagnostic>>,
    /// The index of the first token the grammar could not accept.
    first_error: Cell<Option<u32>>,
}

impl Ctx<'_> {
    pub(crate) fn note_error_at(&self, token: u32) {
        if self.first_error.get().is_none_or(|t| token < t) {
            self.first_error.set(Some(token));
        }
    }
}

/// How a file is parsed and checked.
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// `-g`: embedded C and guru-only operators are allowed.
    pub guru: bool,
    /// The file is part of the tapset library, where embedded C is allowed.
    pub tapset: bool,
    /// Member access on any expression (autocast), new in SystemTap 2.6.
    pub autocast: bool,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions { guru: false, tapset: false, autocast: true }
    }
}

fn eof_span(sm: &SourceMap, file: FileId) -> Span {
    let len = sm.text(file).len() as u32;
    Span::new(file, len, len)
}

/// Parses one file of the script or of the tapset library.
pub fn parse_file(
    sm: &mut SourceMap,
    file: FileId,
    env: &PpEnv<'_>,
    library: &MacroLibrary,
    opts: ParseOptions,
) -> (Script, Vec<Diagnostic>) {
    let text = sm.text(file).to_string();
    let eof = eof_span(sm, file);
    let (tokens, mut diags) = lexer::lex(file, &text);
    let (tokens, _, pp_diags) = preprocess::preprocess(tokens, eof, env, library, sm);
    diags.extend(pp_diags);
    let (script, parse_diags) = parse_tokens(file, &tokens, eof, opts);
    diags.extend(parse_diags);
    check::check(&script, opts, &mut diags);
    // Report in the order of the text, as stap does; diagnostics without a
    // place keep their order, first.
    diags.sort_by_key(|d| d.span().map(|s| (s.file, s.start)));
    (script, diags)
}

/// Reads a `.stpm` macro library: only `@define`s may be in it.
pub fn parse_macro_file(
    sm: &mut SourceMap,
    file: FileId,
    env: &PpEnv<'_>,
) -> (HashMap<String, MacroDef>, Vec<Diagnostic>) {
    let text = sm.text(file).to_string();
    let eof = eof_span(sm, file);
    let (tokens, mut diags) = lexer::lex(file, &text);
    let (tokens, macros, pp_diags) = preprocess::preprocess(tokens, eof, env, &MacroLibrary::default(), sm);
    diags.extend(pp_diags);
    if let Some(t) = tokens.iter().find(|t| t.tok != lexer::Tok::Eof) {
        diags.push(Diagnostic::parse_error("a macro library (.stpm) may only contain @define", t.span));
    }
    (macros, diags)
}

/// The most parse errors reported for one file.
const MAX_ERRORS: usize = 100;

/// Can `tok` start a statement and also continue an expression?
fn starts_ambiguously(tok: &lexer::Tok) -> bool {
    use lexer::Tok;
    matches!(tok, Tok::LParen | Tok::LBracket | Tok::Incr | Tok::Decr | Tok::Plus | Tok::Minus | Tok::Amp)
}

/// Can `tok` end an expression?
fn ends_expression(tok: &lexer::Tok) -> bool {
    use lexer::Tok;
    matches!(
        tok,
        Tok::Ident(_)
            | Tok::Number(_)
            | Tok::String(_)
            | Tok::TargetVar(_)
            | Tok::RParen
            | Tok::RBracket
            | Tok::Incr
            | Tok::Decr
            | Tok::Dollar
            | Tok::DollarDollar
            | Tok::AtIdent(_)
            | Tok::Embedded(_)
    )
}

/// Runs the grammar over preprocessed tokens (the last one is `Eof`).
///
/// Statements need no separator, and stap's parser is greedy: a token that
/// can continue the expression before it does, and one that cannot starts
/// a new statement. The grammar lets a statement that starts like a
/// continuation (`(`, `--`, ...) follow an expression statement only after
/// a `;`, so where it stops at such a token right after an expression,
/// that token cannot continue it: the statement boundary is made explicit
/// with a `;` and the parse retried. A retry that fails no later than the
/// first attempt is dropped, keeping the first attempt's errors.
pub fn parse_tokens(file: FileId, tokens: &[lexer::Token], eof: Span, opts: ParseOptions) -> (Script, Vec<Diagnostic>) {
    let mut current: std::borrow::Cow<'_, [lexer::Token]> = std::borrow::Cow::Borrowed(tokens);
    let (mut script, mut diags, mut stop) = parse_once(file, &current, eof, opts);
    while let Some(at) = stop {
        let i = at as usize;
        let (Some(tok), Some(prev)) = (current.get(i), i.checked_sub(1).and_then(|p| current.get(p))) else {
            break;
        };
        if !starts_ambiguously(&tok.tok) || !ends_expression(&prev.tok) {
            break;
        }
        let mut next = current.to_vec();
        let span = Span { end: tok.span.start, ..tok.span };
        next.insert(i, lexer::Token { tok: lexer::Tok::Semi, span });
        let (s, d, st) = parse_once(file, &next, eof, opts);
        if st.is_some_and(|t| t <= at + 1) {
            break;
        }
        (script, diags, stop) = (s, d, st);
        current = std::borrow::Cow::Owned(next);
    }
    (script, diags)
}

fn parse_once(
    file: FileId,
    tokens: &[lexer::Token],
    eof: Span,
    opts: ParseOptions,
) -> (Script, Vec<Diagnostic>, Option<u32>) {
    let spans: Vec<Span> = tokens.iter().map(|t| t.span).collect();
    let ctx = Ctx { spans: &spans, eof, opts, errors: RefCell::new(Vec::new()), first_error: Cell::new(None) };
    let input = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| t.tok != lexer::Tok::Eof)
        // Past MAX_ERRORS, the rest of the file is not read: more errors
        // would only repeat, and recovery over a huge input is slow.
        .take_while(|_| ctx.errors.borrow().len() < MAX_ERRORS)
        .map(|(i, t)| Ok::<_, ()>((i as u32, t.tok.clone(), i as u32 + 1)));
    let result = grammar::ScriptParser::new().parse(&ctx, input);
    let mut diags = Vec::new();
    let items = match result {
        Ok(items) => items,
        Err(e) => {
            diags.push(ctx.describe_error(&e));
            Vec::new()
        }
    };
    let stop = ctx.first_error.get();
    if ctx.errors.borrow().len() >= MAX_ERRORS {
        diags
            .push(Diagnostic::error(format!("too many parse errors ({MAX_ERRORS}); the rest of the file is not read")));
    }
    let mut errors = ctx.errors.into_inner();
    // The grammar reports recovered errors in the order it meets them.
    errors.sort_by_key(|d| d.span().map(|s| (s.file, s.start)));
    diags.splice(0..0, errors);
    let mut script = Script { file, ..Script::default() };
    for item in items {
        match item {
            Item::Probe(p) => script.probes.push(p),
            Item::Alias(a) => script.aliases.push(a),
            Item::Globals(g) => script.globals.extend(g),
            Item::Function(f) => script.functions.push(f),
            Item::Embedded(e) => script.embeds.push(e),
            Item::Error => {}
        }
    }
    (script, diags, stop)
}
