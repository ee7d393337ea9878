//! What the grammar's actions build: AST nodes from matched tokens, with
//! the checks stap's parser makes on the way (number ranges, the shapes
//! of `@` operators and of the `print` family, sort directives).
//!
//! Errors found here do not stop the parse; they are collected in the
//! [`Ctx`] and the node is built as well as it can be.

use lalrpop_util::{ErrorRecovery, ParseError};

use super::Ctx;
use super::ast::*;
use super::lexer::{Tok, number_value};
use crate::diag::Diagnostic;
use crate::source::Span;

/// How many probe points one brace expansion may produce.
const MAX_EXPANSION: usize = 10_000;

/// One probe point a dotted point with brace expansions stands for: its
/// components, its span, and the `?` or `!` its alternative inside braces
/// carries.
pub type PointAlt = (Vec<Component>, Span, Option<char>);

/// The mark of a point whose alternative carries `inner` and which is
/// written with `outer`: `!` (sufficient, so also optional) wins over `?`.
pub fn merge_marks(outer: Option<char>, inner: Option<char>) -> Option<char> {
    match (outer, inner) {
        (Some('!'), _) | (_, Some('!')) => Some('!'),
        (Some('?'), _) | (_, Some('?')) => Some('?'),
        _ => None,
    }
}

/// A top-level item, before the items are sorted by kind.
pub enum Item {
    Probe(Probe),
    Alias(ProbeAlias),
    Globals(Vec<Global>),
    Function(Function),
    Embedded(Embedded),
    Error,
}

/// Statements of a block, and whether the last one may still absorb a
/// following `;` (stap's parser consumes one `;` after every statement).
pub type StmtList = (Vec<Stmt>, bool);

pub fn push_stmt((mut v, absorbing): StmtList, s: Stmt) -> StmtList {
    if matches!(s.kind, StmtKind::Null) && absorbing {
        return (v, false);
    }
    v.push(s);
    (v, true)
}

pub fn private_globals(gs: Vec<Global>) -> Vec<Global> {
    gs.into_iter().map(|g| Global { private: true, ..g }).collect()
}

pub fn stmt(ctx: &Ctx<'_>, kind: StmtKind, lo: u32, hi: u32) -> Stmt {
    Stmt { kind, span: ctx.span(lo, hi) }
}

pub fn binary(ctx: &Ctx<'_>, op: BinaryOp, l: Expr, r: Expr, lo: u32, hi: u32) -> Expr {
    Expr::new(ExprKind::Binary { op, lhs: Box::new(l), rhs: Box::new(r) }, ctx.span(lo, hi))
}

pub fn logical(ctx: &Ctx<'_>, op: LogicalOp, l: Expr, r: Expr, lo: u32, hi: u32) -> Expr {
    Expr::new(ExprKind::Logical { op, lhs: Box::new(l), rhs: Box::new(r) }, ctx.span(lo, hi))
}

pub fn unary(ctx: &Ctx<'_>, op: UnaryOp, e: Expr, lo: u32, hi: u32) -> Expr {
    Expr::new(ExprKind::Unary { op, operand: Box::new(e) }, ctx.span(lo, hi))
}

pub fn crement(ctx: &Ctx<'_>, op: Crement, prefix: bool, e: Expr, lo: u32, hi: u32) -> Expr {
    Expr::new(ExprKind::Crement { op, prefix, operand: Box::new(e) }, ctx.span(lo, hi))
}

/// A `foreach` head as written, before its sort directives are merged.
pub struct ForeachHead {
    pub value: Option<(Ident, Option<bool>)>,
    pub keys: Vec<(Ident, Option<bool>)>,
    pub array: (Expr, Option<Vec<Option<Expr>>>),
    pub aggregate: Option<(String, Span)>,
    pub sort: Option<bool>,
    pub limit: Option<Expr>,
    pub span: Span,
}

/// Splits the `$` / `$$` pretty-printing suffix off a name.
fn split_pretty(name: &str) -> (&str, Option<Pretty>, usize) {
    let base = name.trim_end_matches('$');
    let dollars = name.len() - base.len();
    let pretty = match dollars {
        0 => None,
        1 => Some(Pretty::Shallow),
        _ => Some(Pretty::Deep),
    };
    (base, pretty, dollars)
}

fn placeholder(span: Span) -> Expr {
    Expr::new(ExprKind::Number(0), span)
}

fn string_arg(e: &Option<Expr>) -> Option<(Vec<u8>, Span)> {
    match e {
        Some(Expr { kind: ExprKind::String(s), span }) => Some((s.clone(), *span)),
        _ => None,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Ctx<'_> {
    /// The span covering tokens `lo..hi`.
    pub fn span(&self, lo: u32, hi: u32) -> Span {
        let get = |i: u32| self.spans.get(i as usize).or_else(|| self.spans.last()).copied().unwrap_or(Span::DUMMY);
        if hi > lo { get(lo).to(get(hi - 1)) } else { get(lo) }
    }

    pub fn error(&self, d: Diagnostic) {
        self.errors.borrow_mut().push(d);
    }

    fn parse_error(&self, msg: impl AsRef<str>, span: Span) {
        self.error(Diagnostic::parse_error(msg, span));
    }

    /// `probe NAMES = POINTS { .. }`, `+= POINTS { .. }`, or with both a
    /// prologue and an epilogue, `= POINTS { .. }, { .. }` (stap(1) gives
    /// that form only with `=`).
    #[allow(clippy::too_many_arguments)]
    pub fn alias(
        &self,
        names: Vec<PointAlt>,
        epilogue: bool,
        points: Vec<ProbePoint>,
        body: Block,
        after: Option<Block>,
        lo: u32,
        hi: u32,
    ) -> ProbeAlias {
        if epilogue && let Some(b) = &after {
            self.parse_error("an epilogue-style ('+=') alias cannot have a second block", b.span);
        }
        for (_, span, mark) in &names {
            if mark.is_some() {
                self.parse_error("a probe alias name cannot be optional or sufficient", *span);
            }
        }
        ProbeAlias {
            names: names
                .into_iter()
                .map(|(components, span, _)| ProbePoint {
                    components,
                    optional: false,
                    sufficient: false,
                    condition: None,
                    span,
                })
                .collect(),
            epilogue,
            points,
            body,
            epilogue_body: if epilogue { None } else { after },
            span: self.span(lo, hi),
        }
    }

    pub fn recover(&self, e: ErrorRecovery<u32, Tok, ()>) {
        self.error(self.describe_error(&e.error));
    }

    /// Turns a grammar error into stap's `parse error: expected ...`.
    pub fn describe_error(&self, e: &ParseError<u32, Tok, ()>) -> Diagnostic {
        match e {
            ParseError::InvalidToken { location } => {
                Diagnostic::parse_error("invalid token", self.span(*location, *location + 1))
            }
            ParseError::UnrecognizedEof { location, expected } => {
                let span = self.eof;
                let _ = location;
                Diagnostic::parse_error(expected_message(expected), span).at(span, "saw: end of input")
            }
            ParseError::UnrecognizedToken { token: (lo, tok, hi), expected } => {
                self.note_error_at(*lo);
                // A `;` the parser put in (an empty span) is not what the
                // user wrote: name the token after it.
                let inserted = *tok == Tok::Semi && self.span(*lo, *hi).range().is_empty();
                let (lo, hi, tok) = match self.tokens.get(*lo as usize + 1) {
                    Some(next) if inserted => (lo + 1, hi + 1, &next.tok),
                    _ => (*lo, *hi, tok),
                };
                let span = self.span(lo, hi);
                let saw = format!("saw: {}", tok.describe());
                let msg = match tok {
                    Tok::DollarArg(_) | Tok::AtArg(_) | Tok::DollarCount | Tok::AtCount => {
                        "command line argument pasted where it cannot stand".to_string()
                    }
                    _ => expected_message(expected),
                };
                Diagnostic::parse_error(msg, span).at(span, saw)
            }
            ParseError::ExtraToken { token: (lo, tok, hi) } => {
                let span = self.span(*lo, *hi);
                Diagnostic::parse_error("unexpected token", span).at(span, format!("saw: {}", tok.describe()))
            }
            ParseError::User { .. } => Diagnostic::parse_error("invalid input", self.eof),
        }
    }

    pub fn number(&self, text: &str, lo: u32, hi: u32) -> i64 {
        match number_value(text) {
            Some(v) => v,
            None => {
                let span = self.span(lo, hi);
                self.error(
                    Diagnostic::parse_error("number invalid or out of range", span)
                        .at(span, format!("saw: number '{text}'")),
                );
                0
            }
        }
    }

    pub fn signed_number(&self, l: Literal, lo: u32, hi: u32) -> (i64, Span) {
        let span = self.span(lo, hi);
        match l {
            Literal::Number(n) => (n, span),
            Literal::String(_) => {
                self.parse_error("expected number", span);
                (0, span)
            }
        }
    }

    pub fn type_name(&self, t: &str, lo: u32, hi: u32) -> (TypeName, Span) {
        let span = self.span(lo, hi);
        match t {
            "long" => (TypeName::Long, span),
            "string" => (TypeName::String, span),
            _ => {
                self.error(
                    Diagnostic::parse_error("expected type 'long' or 'string'", span).at(span, format!("saw: '{t}'")),
                );
                (TypeName::Long, span)
            }
        }
    }

    pub fn global(
        &self,
        name: Ident,
        wrap: bool,
        size: Option<Option<i64>>,
        init: Option<(Literal, Span)>,
        lo: u32,
        hi: u32,
    ) -> Global {
        let span = self.span(lo, hi);
        if let (Some(_), Some((_, ispan))) = (&size, &init) {
            self.parse_error("array variables cannot be initialized", *ispan);
        }
        if let Some(Some(n)) = size
            && n <= 0
        {
            self.error(
                Diagnostic::parse_error("array size out of range", span).with_note("an array size must be positive"),
            );
        }
        Global { name, private: false, size: size.flatten(), array: size.is_some(), wrap, init, span }
    }

    /// Joins the pieces of a probe-point component name, which must be
    /// written without spaces between them.
    pub fn component_name(&self, lo: u32, first: String, rest: Vec<(u32, String)>) -> String {
        let mut name = first;
        let mut prev = lo;
        for (at, piece) in rest {
            let (a, b) = (self.span(prev, prev + 1), self.span(at, at + 1));
            if a.file != b.file || a.end != b.start {
                self.error(
                    Diagnostic::parse_error("expected one of ', { } = +='", b)
                        .at(b, format!("saw: '{piece}'"))
                        .with_help("a probe point component is written without spaces"),
                );
            }
            name.push_str(&piece);
            prev = at;
        }
        name
    }

    /// Every combination of a dotted point's parts (brace expansion).
    pub fn product(&self, a: Vec<PointAlt>, b: Vec<PointAlt>) -> Vec<PointAlt> {
        if a.len().saturating_mul(b.len()) > MAX_EXPANSION {
            let span = a.first().map_or(self.eof, |p| p.1);
            self.error(
                Diagnostic::parse_error("brace expansion makes too many probe points", span)
                    .with_note(format!("at most {MAX_EXPANSION} are allowed")),
            );
            return a;
        }
        let mut out = Vec::with_capacity(a.len() * b.len());
        for (pa, sa, ma) in &a {
            for (pb, sb, mb) in &b {
                let mut comps = pa.clone();
                comps.extend(pb.iter().cloned());
                out.push((comps, sa.to(*sb), merge_marks(*ma, *mb)));
            }
        }
        out
    }

    pub fn assign(&self, op: AssignOp, l: Expr, r: Expr, lo: u32, hi: u32) -> Expr {
        Expr::new(ExprKind::Assign { op, lhs: Box::new(l), rhs: Box::new(r) }, self.span(lo, hi))
    }

    pub fn foreach(&self, h: ForeachHead, body: Stmt, lo: u32, hi: u32) -> Stmt {
        let mut sorts: Vec<(Sort, Span)> = Vec::new();
        if let Some((v, Some(desc))) = &h.value {
            sorts.push((Sort { by: SortBy::Value, descending: *desc }, v.span));
        }
        for (i, (k, s)) in h.keys.iter().enumerate() {
            if let Some(desc) = s {
                sorts.push((Sort { by: SortBy::Key(i), descending: *desc }, k.span));
            }
        }
        if let Some(desc) = h.sort {
            sorts.push((Sort { by: SortBy::Value, descending: desc }, h.array.0.span));
        }
        if let (Some((_, span)), None) = (&h.aggregate, h.sort) {
            self.parse_error("expected sort directive", *span);
        }
        if let Some((_, span)) = sorts.get(1) {
            self.parse_error("multiple sort directives", *span);
        }
        let (array, slice) = h.array;
        let aggregate = h.aggregate.and_then(|(name, span)| {
            let op = StatOp::from_name(&name);
            if op.is_none() {
                self.parse_error(format!("expected statistical operation, not '@{name}'"), span);
            }
            op
        });
        let f = Foreach {
            aggregate,
            value: h.value.map(|(v, _)| v),
            keys: h.keys.into_iter().map(|(k, _)| k).collect(),
            array,
            slice,
            sort: sorts.first().map(|s| s.0),
            limit: h.limit,
            body,
            span: h.span,
        };
        Stmt { kind: StmtKind::Foreach(Box::new(f)), span: self.span(lo, hi) }
    }

    /// A target variable token: `$name`, `$name$`, `$$vars`, `$$parms$$`.
    pub fn target_var(&self, text: String, lo: u32, hi: u32) -> Expr {
        let span = self.span(lo, hi);
        let body = text.strip_prefix('$').unwrap_or(&text);
        let (base, pretty) = if let Some(group) = body.strip_prefix('$') {
            let (name, pretty, _) = split_pretty(group);
            let ctxvars = match name {
                "vars" => ContextVars::Vars,
                "locals" => ContextVars::Locals,
                "parms" => ContextVars::Parms,
                "return" => ContextVars::Return,
                // Other `$$name`s are context values of particular probe
                // kinds (`$$name` of `.plt` probes); elaboration checks them.
                _ => {
                    return Expr::new(
                        ExprKind::Target(Box::new(Target {
                            pretty,
                            ..Target::bare(TargetBase::Var(format!("${name}")))
                        })),
                        span,
                    );
                }
            };
            (TargetBase::Context(ctxvars), pretty)
        } else {
            let (name, pretty, dollars) = split_pretty(body);
            if dollars > 2 {
                self.parse_error("too many '$' after a target variable", span);
            }
            (TargetBase::Var(name.to_string()), pretty)
        };
        Expr::new(ExprKind::Target(Box::new(Target { pretty, ..Target::bare(base) })), span)
    }

    fn autocast(&self, e: Expr) -> Target {
        if !self.opts.autocast {
            self.error(
                Diagnostic::parse_error("member access on an expression (autocast) needs SystemTap 2.6", e.span)
                    .with_note("--compatible asks for an older version"),
            );
        }
        Target::bare(TargetBase::Autocast(Box::new(e)))
    }

    /// Makes `e` a target expression that more `->`/`[]` can extend.
    fn extendable(&self, e: Expr, what: Span) -> Target {
        match e.kind {
            ExprKind::Target(t) if t.pretty.is_none() && !t.addr_of => *t,
            ExprKind::Target(t) if t.pretty.is_some() => {
                self.error(
                    Diagnostic::parse_error("-> and [ are not accepted for a pretty-printing variable", what)
                        .at(what, "saw: this"),
                );
                *t
            }
            kind => self.autocast(Expr { kind, span: e.span }),
        }
    }

    pub fn member(&self, e: Expr, m: String, mlo: u32, lo: u32, hi: u32) -> Expr {
        let span = self.span(lo, hi);
        let mspan = self.span(mlo, hi);
        let arrow = self.span(mlo.saturating_sub(1), mlo);
        let mut t = self.extendable(e, arrow);
        let (name, pretty, _) = split_pretty(&m);
        if !name.is_empty() {
            t.ops.push(TargetOp::Member(Ident { name: name.to_string(), span: mspan }));
        }
        t.pretty = pretty;
        Expr::new(ExprKind::Target(Box::new(t)), span)
    }

    pub fn index(&self, e: Expr, keys: Vec<Option<Expr>>, lo: u32, hi: u32) -> Expr {
        let span = self.span(lo, hi);
        if let ExprKind::Hist { .. } = &e.kind {
            return Expr::new(ExprKind::Index { base: Box::new(e), keys }, span);
        }
        let bracket = self.span(lo, hi);
        let mut t = self.extendable(e, bracket);
        let mut keys = keys.into_iter();
        match (keys.next(), keys.next()) {
            (Some(Some(k)), None) => t.ops.push(TargetOp::Index(k)),
            (Some(None), _) => self.parse_error("'*' cannot index a target variable", span),
            _ => self.parse_error("a target variable takes one index", span),
        }
        Expr::new(ExprKind::Target(Box::new(t)), span)
    }

    pub fn pretty(&self, e: Expr, p: Pretty, lo: u32, hi: u32) -> Expr {
        let span = self.span(lo, hi);
        let mut t = match e.kind {
            ExprKind::Target(t) if t.pretty.is_none() && !t.addr_of => *t,
            kind => self.autocast(Expr { kind, span: e.span }),
        };
        t.pretty = Some(p);
        Expr::new(ExprKind::Target(Box::new(t)), span)
    }

    pub fn address_of(&self, e: Expr, lo: u32, hi: u32) -> Expr {
        let span = self.span(lo, hi);
        let mut t = match e.kind {
            ExprKind::Target(t) if !t.addr_of => *t,
            kind => self.autocast(Expr { kind, span: e.span }),
        };
        t.addr_of = true;
        Expr::new(ExprKind::Target(Box::new(t)), span)
    }

    /// `name(args)`, which may be one of the `print` family.
    pub fn call(&self, name: Ident, args: Vec<Expr>, lo: u32, hi: u32) -> Expr {
        let span = self.span(lo, hi);
        let Some(kind) = PrintKind::from_name(&name.name) else {
            return Expr::new(ExprKind::Call { name, args }, span);
        };
        let mut args = args.into_iter();
        let mut format = None;
        let mut delimiter = None;
        let end = self.span(hi.saturating_sub(1), hi);
        if kind.has_format() {
            match args.next() {
                Some(Expr { kind: ExprKind::String(s), span }) => format = Some((s, span)),
                Some(other) => self.error(
                    Diagnostic::parse_error("expected literal string", other.span)
                        .at(other.span, "the format must be a string literal"),
                ),
                None => self.error(Diagnostic::parse_error("expected literal string", end).at(end, "saw: ')'")),
            }
        }
        if kind.has_delimiter() {
            match args.next() {
                Some(e @ Expr { kind: ExprKind::String(_), .. }) => delimiter = Some(Box::new(e)),
                Some(other) => self.error(
                    Diagnostic::parse_error("expected literal string", other.span)
                        .at(other.span, "the delimiter must be a string literal"),
                ),
                None => self.error(Diagnostic::parse_error("expected literal string", end).at(end, "saw: ')'")),
            }
        }
        let args: Vec<Expr> = args.collect();
        let needed = match kind {
            PrintKind::Print | PrintKind::Sprint => 1,
            k if k.has_delimiter() => 2,
            _ => 0,
        };
        if args.len() < needed && (!kind.has_delimiter() || delimiter.is_some()) {
            let msg = if needed == 1 {
                format!("{} needs a value to print", kind.name())
            } else {
                format!("{} needs at least two values after the delimiter", kind.name())
            };
            self.error(Diagnostic::parse_error(msg, end).at(end, "saw: ')'"));
        }
        Expr::new(ExprKind::Print { kind, format, delimiter, args }, span)
    }

    pub fn unknown_operator(&self, name: String, lo: u32, hi: u32) -> Expr {
        let span = self.span(lo, hi);
        self.error(
            Diagnostic::parse_error(format!("unknown operator @{name}"), span).at(span, format!("saw: '@{name}'")),
        );
        placeholder(span)
    }

    /// `@name(args)` where an array may stand: also the histograms.
    pub fn at_operator(&self, name: String, args: Vec<Option<Expr>>, lo: u32, hi: u32) -> Expr {
        let e = self.at_operator_any(name, args, lo, hi);
        if !matches!(e.kind, ExprKind::Hist { .. }) {
            self.parse_error("expected an array or a histogram to iterate over", e.span);
        }
        e
    }

    /// `@name(args)` as an expression: histograms alone are not values.
    pub fn at_operator_expr(&self, name: String, args: Vec<Option<Expr>>, lo: u32, hi: u32) -> Expr {
        self.at_operator_any(name, args, lo, hi)
    }

    fn at_operator_any(&self, name: String, args: Vec<Option<Expr>>, lo: u32, hi: u32) -> Expr {
        let span = self.span(lo, hi);
        let op_span = self.span(lo, lo + 1);
        // Collect the arguments, rejecting a bare `*`.
        let mut exprs: Vec<Option<Expr>> = Vec::with_capacity(args.len());
        for a in args {
            if a.is_none() {
                self.parse_error(format!("'*' is not an argument of @{name}"), span);
            }
            exprs.push(a);
        }
        let count = exprs.len();
        let arity = |min: usize, max: usize| -> bool {
            if count < min || count > max {
                let msg = if min == max {
                    format!("@{name} takes {min} argument{}", if min == 1 { "" } else { "s" })
                } else {
                    format!("@{name} takes {min} to {max} arguments")
                };
                self.error(Diagnostic::parse_error(msg, span).at(op_span, format!("saw: {count} arguments")));
                false
            } else {
                true
            }
        };
        // Arguments are moved out, never cloned: cloning would copy the
        // whole subtree at every level of `@sum(@sum(...))`.
        let slots = std::cell::RefCell::new(exprs);
        let take = |i: usize| -> Box<Expr> {
            Box::new(slots.borrow_mut().get_mut(i).and_then(Option::take).unwrap_or_else(|| placeholder(span)))
        };
        let string_at = |i: usize, what: &str| -> Option<Vec<u8>> {
            let slots = slots.borrow();
            let s = slots.get(i).and_then(string_arg).map(|(s, _)| s);
            if s.is_none() {
                let at = slots.get(i).and_then(|e| e.as_ref().map(|e| e.span)).unwrap_or(span);
                self.error(Diagnostic::parse_error(format!("expected string: {what}"), at));
            }
            s
        };
        let kind = match name.as_str() {
            "cast" => {
                if !arity(2, 3) {
                    return placeholder(span);
                }
                let type_name = string_at(1, "the type name").map(|s| lossy(&s)).unwrap_or_default();
                let module = if count > 2 { string_at(2, "the module").map(|s| lossy(&s)) } else { None };
                ExprKind::Target(Box::new(Target::bare(TargetBase::Cast { operand: take(0), type_name, module })))
            }
            "var" => {
                if !arity(1, 2) {
                    return placeholder(span);
                }
                let var = string_at(0, "the variable name").map(|s| lossy(&s)).unwrap_or_default();
                let module = if count > 1 { string_at(1, "the module").map(|s| lossy(&s)) } else { None };
                ExprKind::Target(Box::new(Target::bare(TargetBase::AtVar { name: var, module })))
            }
            "defined" if arity(1, 1) => ExprKind::Defined(take(0)),
            "entry" if arity(1, 1) => ExprKind::Entry(take(0)),
            "perf" if arity(1, 1) => {
                let counter = string_at(0, "the perf counter name").unwrap_or_default();
                if counter.is_empty()
                    && let Some(Some(arg_span)) = slots.borrow().first().map(|e| e.as_ref().map(|e| e.span))
                {
                    self.parse_error("expected non-empty string", arg_span);
                }
                ExprKind::Perf(counter)
            }
            "probewrite" if arity(1, 1) => match slots.borrow_mut().first_mut().and_then(Option::take) {
                Some(Expr { kind: ExprKind::Var(v), span }) => ExprKind::ProbeWrite(Ident { name: v, span }),
                _ => {
                    self.parse_error("expected a variable name in @probewrite", span);
                    return placeholder(span);
                }
            },
            "kregister" | "uregister" if arity(1, 1) => {
                ExprKind::Register { user: name.starts_with('u'), number: take(0) }
            }
            "kderef" | "uderef" if arity(2, 2) => {
                ExprKind::Deref { user: name.starts_with('u'), size: take(0), addr: take(1) }
            }
            "const" if arity(1, 1) => match string_at(0, "the constant") {
                Some(s) => ExprKind::Embedded(format!(" /* pure */ /* unprivileged */ /* stable */ {} ", lossy(&s))),
                None => return placeholder(span),
            },
            "hist_log" if arity(1, 1) => ExprKind::Hist { kind: HistKind::Log, operand: take(0) },
            "hist_linear" if arity(4, 4) => {
                // The bounds are numbers: stap reads them as literals; a
                // constant expression (`-100`, `2*50`, a macro) is folded.
                let bound = |i: usize| -> Box<Expr> {
                    let e = take(i);
                    match super::fold::constant(&e) {
                        Some(n) => Box::new(Expr::new(ExprKind::Number(n), e.span)),
                        None => {
                            self.parse_error("expected number", e.span);
                            e
                        }
                    }
                };
                ExprKind::Hist {
                    kind: HistKind::Linear { start: bound(1), stop: bound(2), step: bound(3) },
                    operand: take(0),
                }
            }
            other => match StatOp::from_name(other) {
                Some(op) => {
                    let max = if op == StatOp::Variance { 2 } else { 1 };
                    if !arity(1, max) {
                        return placeholder(span);
                    }
                    // `@variance(s, b)`: the bit shift b is a number in
                    // 0..=62 (stap(1)); a constant expression is folded.
                    let extra = slots
                        .borrow_mut()
                        .iter_mut()
                        .skip(1)
                        .filter_map(Option::take)
                        .map(|e| match super::fold::constant(&e) {
                            Some(n) => {
                                if !(0..=62).contains(&n) {
                                    self.parse_error(format!("bit shift {n} out of range <0..62>"), e.span);
                                }
                                Expr::new(ExprKind::Number(n), e.span)
                            }
                            None => {
                                self.parse_error("expected number", e.span);
                                e
                            }
                        })
                        .collect();
                    ExprKind::Stat { op, operand: take(0), extra }
                }
                None => {
                    if matches!(
                        other,
                        "defined"
                            | "entry"
                            | "perf"
                            | "probewrite"
                            | "kregister"
                            | "uregister"
                            | "kderef"
                            | "uderef"
                            | "const"
                            | "hist_log"
                            | "hist_linear"
                    ) {
                        // Wrong arity, already reported.
                        return placeholder(span);
                    }
                    self.error(
                        Diagnostic::parse_error(format!("unknown operator @{other}"), op_span)
                            .at(op_span, format!("saw: '@{other}'")),
                    );
                    return placeholder(span);
                }
            },
        };
        Expr::new(kind, span)
    }
}

/// `expected one of ...` from the grammar's list of acceptable tokens.
fn expected_message(expected: &[String]) -> String {
    let mut names: Vec<String> = expected.iter().map(|e| e.trim_matches('"').to_string()).collect();
    names.sort();
    names.dedup();
    let has = |n: &str| names.iter().any(|x| x == n);
    if has("identifier") && has("number") && has("string") {
        return "expected literal string or number".to_string();
    }
    if has("+=") && has("{") && has(",") {
        return "expected one of ', { } = +='".to_string();
    }
    if has("probe") && has("global") && has("function") {
        return "expected 'probe', 'global', 'private', 'function', or '%{'".to_string();
    }
    match names.as_slice() {
        [] => "unexpected token".to_string(),
        [one] => format!("expected '{one}'"),
        many if many.len() <= 8 => {
            let list: Vec<String> = many.iter().map(|n| format!("'{n}'")).collect();
            format!("expected one of {}", list.join(", "))
        }
        many => {
            let list: Vec<String> = many.iter().take(8).map(|n| format!("'{n}'")).collect();
            format!("expected one of {}, ...", list.join(", "))
        }
    }
}
