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
pub mod condition;
pub mod fold;
pub mod lexer;
pub mod preprocess;
pub mod printer;
pub mod visit;

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
    tokens: &'a [lexer::Token],
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
///
/// Each retry parses the file again, so the boundaries that need no parse
/// to find are marked first ([`mark_statement_starts`]), and at most
/// [`MAX_RETRIES`] more are found by retrying.
pub fn parse_tokens(file: FileId, tokens: &[lexer::Token], eof: Span, opts: ParseOptions) -> (Script, Vec<Diagnostic>) {
    let (tokens, too_deep) = limit_nesting(tokens);
    let (script, mut diags) = parse_marked(file, &tokens, eof, opts);
    if let Some(d) = too_deep {
        // What the parser found at the cut only repeats it.
        let cut = d.span().map_or(0, |s| s.start);
        diags.retain(|e| e.span().is_none_or(|s| s.file != file || s.start < cut));
        diags.push(d);
    }
    (script, diags)
}

/// Cuts the tokens where brackets nest deeper than
/// [`check::MAX_NESTING`], which the checker would refuse anyway, before
/// the parser sees them: its error recovery scans its whole stack for
/// every token it drops, so deep nesting would cost the square of it.
fn limit_nesting(tokens: &[lexer::Token]) -> (std::borrow::Cow<'_, [lexer::Token]>, Option<Diagnostic>) {
    use lexer::Tok;
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        match t.tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => depth += 1,
            Tok::RParen | Tok::RBracket | Tok::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > check::MAX_NESTING {
            let d = Diagnostic::parse_error("nested too deeply", t.span)
                .with_note(format!("brackets may nest at most {} deep", check::MAX_NESTING));
            let mut cut = tokens.get(..i).unwrap_or_default().to_vec();
            cut.extend(tokens.last().cloned());
            return (std::borrow::Cow::Owned(cut), Some(d));
        }
    }
    (std::borrow::Cow::Borrowed(tokens), None)
}

/// [`parse_tokens`] after the nesting check.
fn parse_marked(file: FileId, tokens: &[lexer::Token], eof: Span, opts: ParseOptions) -> (Script, Vec<Diagnostic>) {
    let mut current = mark_statement_starts(tokens);
    let (mut script, mut diags, mut stop) = parse_once(file, &current, eof, opts);
    let mut retries = 0;
    while let Some(at) = stop {
        let i = at as usize;
        let (Some(tok), Some(prev)) = (current.get(i), i.checked_sub(1).and_then(|p| current.get(p))) else {
            break;
        };
        if !starts_ambiguously(&tok.tok) || !ends_expression(&prev.tok) {
            break;
        }
        retries += 1;
        if retries > MAX_RETRIES {
            let start = tok.span.start;
            if let Some(d) = diags.iter_mut().find(|d| d.span().is_some_and(|s| s.start == start)) {
                d.notes.push(format!(
                    "stp looks for at most {MAX_RETRIES} such statement boundaries by parsing again; \
                     end the statement before this one with ';'"
                ));
            }
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

/// How many statement boundaries [`parse_tokens`] finds by parsing again.
const MAX_RETRIES: usize = 16;

/// Makes explicit, with a `;`, the statement boundaries before a `(` that
/// no parse is needed to find: at statement level (the innermost open
/// bracket is a block's `{`), a `(` after a number, a string, a target
/// variable, embedded code, `]`, a postfix `++` or `--`, or a `)` that
/// does not close the head of an `if`, `while`, `for`, `foreach` or
/// `catch`, cannot continue the
/// expression before it (no rule lets `(` follow those), so it starts a
/// statement. One pass, no parse.
fn mark_statement_starts(tokens: &[lexer::Token]) -> std::borrow::Cow<'_, [lexer::Token]> {
    use lexer::Tok;
    // Open brackets: the kind, and for `(` whether it opens a head.
    let mut open: Vec<(Tok, bool)> = Vec::new();
    let mut closed_head = false;
    let mut out: Option<Vec<lexer::Token>> = None;
    for (i, t) in tokens.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        if t.tok == Tok::LParen
            && matches!(open.last(), Some((Tok::LBrace, _)))
            && let Some(prev) = prev
            && match prev.tok {
                Tok::Number(_) | Tok::String(_) | Tok::TargetVar(_) | Tok::Embedded(_) | Tok::RBracket => true,
                Tok::RParen => !closed_head,
                // A postfix `++` or `--` (one after an expression).
                Tok::Incr | Tok::Decr => {
                    i.checked_sub(2).and_then(|p| tokens.get(p)).is_some_and(|p| ends_expression(&p.tok))
                }
                _ => false,
            }
        {
            let out = out.get_or_insert_with(|| tokens.get(..i).unwrap_or_default().to_vec());
            out.push(lexer::Token { tok: Tok::Semi, span: Span { end: t.span.start, ..t.span } });
        }
        match t.tok {
            Tok::LParen => {
                let head =
                    prev.is_some_and(|p| matches!(p.tok, Tok::If | Tok::While | Tok::For | Tok::Foreach | Tok::Catch));
                open.push((Tok::LParen, head));
            }
            Tok::LBracket | Tok::LBrace => open.push((t.tok.clone(), false)),
            Tok::RParen => closed_head = open.pop().is_some_and(|(_, head)| head),
            Tok::RBracket | Tok::RBrace => {
                open.pop();
            }
            _ => {}
        }
        if let Some(out) = &mut out {
            out.push(t.clone());
        }
    }
    match out {
        Some(v) => std::borrow::Cow::Owned(v),
        None => std::borrow::Cow::Borrowed(tokens),
    }
}

fn parse_once(
    file: FileId,
    tokens: &[lexer::Token],
    eof: Span,
    opts: ParseOptions,
) -> (Script, Vec<Diagnostic>, Option<u32>) {
    let spans: Vec<Span> = tokens.iter().map(|t| t.span).collect();
    let ctx = Ctx { spans: &spans, tokens, eof, opts, errors: RefCell::new(Vec::new()), first_error: Cell::new(None) };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileKind;

    fn parse(text: &str) -> (Script, Vec<String>) {
        let mut sm = SourceMap::new();
        let f = sm.add("<input>", text, FileKind::User);
        let kconfig = |_: &str| None;
        let env = PpEnv {
            args: &[],
            kernel_release: "6.1.0",
            arch: "x86_64",
            runtime: "bpf",
            systemtap_v: "5.0",
            privilege: "stapdev",
            guru_mode: false,
            kconfig: &kconfig,
            glue_across_comments: true,
        };
        let (script, diags) = parse_file(&mut sm, f, &env, &MacroLibrary::default(), ParseOptions::default());
        (script, diags.into_iter().map(|d| d.message).collect())
    }

    fn statements(s: &Script) -> usize {
        s.probes.first().map_or(0, |p| p.body.stmts.len())
    }

    #[test]
    fn statements_starting_with_a_paren_need_no_semicolon_however_many() {
        // Each `(x)++` after an expression starts a statement; far more
        // of them than the parser retries for.
        let n = 5 * MAX_RETRIES;
        let (s, errors) = parse(&format!("global x probe begin {{ x = 1 {} }}", "(x)++ ".repeat(n)));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(statements(&s), n + 1);
        let (s, errors) = parse(&format!("global x probe begin {{ x = 1 {} }}", "x[1] (x)++ \"s\" (x)--".repeat(n)));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(statements(&s), 4 * n + 1);
    }

    #[test]
    fn a_paren_after_a_head_or_inside_brackets_is_not_split() {
        // `if (c) (x)++` is one statement, `f(1)(2)` inside a call an error.
        let (s, errors) = parse("global x probe begin { if (x) (x)++ while (x) (x)-- }");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(statements(&s), 2);
        let (_, errors) = parse("probe begin { print(1 (2)) }");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors.iter().all(|e| e.starts_with("parse error: expected")), "{errors:?}");
    }

    #[test]
    fn an_error_at_an_inserted_semicolon_names_the_token_written() {
        let mut sm = SourceMap::new();
        let text = "probe begin { x = 1 (2) + }";
        let f = sm.add("<input>", text, FileKind::User);
        let (toks, _) = lexer::lex(f, text);
        let eof = Span::new(f, text.len() as u32, text.len() as u32);
        let (_, diags) = parse_tokens(f, &toks, eof, ParseOptions::default());
        let labels: Vec<String> = diags.iter().filter_map(|d| d.primary.as_ref().map(|l| l.message.clone())).collect();
        assert!(labels.iter().all(|l| !l.contains("';'")), "{labels:?}");
    }

    #[test]
    fn brackets_nested_too_deeply_are_refused_before_parsing() {
        let depth = check::MAX_NESTING + 1;
        let (_, errors) = parse(&format!("probe begin {{ x = {}1{} }}", "(".repeat(depth), ")".repeat(depth)));
        assert_eq!(errors, vec!["parse error: nested too deeply".to_string()]);
        let ok = check::MAX_NESTING - 10;
        let (_, errors) = parse(&format!("probe begin {{ x = {}1{} }}", "(".repeat(ok), ")".repeat(ok)));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn nested_operator_arguments_are_kept() {
        let (s, errors) =
            parse("global x probe begin { y = @sum(x) + @variance(x, 3) print(@hist_linear(x, 0, 10, 1)) }");
        assert!(errors.is_empty(), "{errors:?}");
        let printed = printer::print_items(&s);
        for op in ["@sum(x)", "@variance(x, 3)", "@hist_linear(x, 0, 10, 1)"] {
            assert!(printed.contains(op), "{op} in {printed}");
        }
    }
}
