//! The IR's text read back: what [`super::print`] writes (the part of
//! `-p3`'s output before `# eBPF`), parsed into a [`Module`], for tests
//! of single passes written as text (`tests/ir/*.ir`).
//!
//! In: the text. Out: the module, the probe points of each probe (the
//! `probe N ...` lines) and a [`SourceMap`] for its spans; or the first
//! error, with its line. The parser is written by hand, a line at a time
//! (the text is line-shaped: a global, a probe, a function header, a
//! block label, an instruction or a terminator per line), over a small
//! cursor that splits a line into operands and punctuation (`cursor`);
//! `inst` reads instructions, `target` target walks. [`Parsed::program`]
//! resolves the probe points again, for the back ends.
//!
//! Invariants: printing the module again gives the text the printer
//! wrote (blank lines between the parts aside; lines
//! starting with `;` are comments and are dropped; so is everything from
//! a line starting with `# `, such as `# eBPF`). Spans: an instruction's
//! location comment (`# file:line:col`) becomes a span at that place of
//! a stand-in file of the same name (blank text of the right shape), so
//! that it prints the same; a span's end is its start, and terminators,
//! functions and instructions without a location get the dummy span.
//! Target walks keep what the text shows: BTF type ids are `None`, and a
//! record field's C type and size come from the walk's own. Whether the
//! module is consistent is the IR verifier's business, not the parser's.

use std::collections::BTreeMap;

use super::{
    Block, BlockId, Catch, FuncId, Function, Global, GlobalId, GlobalKind, Handler, Inst, InstKind, Module, Operand,
    Terminator, Ty, VarDecl, VarId,
};
use crate::elab::Placement;
use crate::source::{FileKind, SourceMap, Span};

/// A parsed module and what came with it.
#[derive(Debug)]
pub struct Parsed {
    pub module: Module,
    /// The points of each probe, by probe number, as the text names them.
    pub probes: Vec<Vec<String>>,
    /// Stand-ins for the files the location comments name.
    pub sources: SourceMap,
}

impl Parsed {
    /// The elaborated program the back ends take beside the module: its
    /// probes, each point resolved again against `kernel` (bodies,
    /// globals and functions empty: the module has them).
    pub fn program(&self, kernel: &crate::kernel::Kernel) -> Result<crate::elab::Program, String> {
        let ctx = crate::elab::points::PointContext { kernel, guru: false, target_pid: None, command: None };
        let mut probes = Vec::new();
        for (i, names) in self.probes.iter().enumerate() {
            let placement = self
                .module
                .handlers
                .iter()
                .find(|h| h.probe == i)
                .and_then(|h| self.module.function(h.func))
                .map_or(Placement::Kernel, |f| f.placement);
            let mut points: Vec<crate::elab::points::ResolvedPoint> = Vec::new();
            if !names.is_empty() {
                let mut sm = SourceMap::new();
                let file = sm.add("<probe>", format!("probe {} {{}}", names.join(", ")), FileKind::Synthetic);
                let text = sm.text(file).to_string();
                let (tokens, lex) = crate::parse::lexer::lex(file, &text);
                let eof = Span::new(file, text.len() as u32, text.len() as u32);
                let opts = crate::parse::ParseOptions { guru: false, tapset: false, autocast: true };
                let (script, diags) = crate::parse::parse_tokens(file, &tokens, eof, opts);
                if let Some(d) = lex.iter().chain(&diags).find(|d| d.severity == crate::diag::Severity::Error) {
                    return Err(format!("probe {i}: {}", d.message));
                }
                for point in script.probes.iter().flat_map(|p| &p.points) {
                    let found =
                        crate::elab::points::resolve(point, &ctx).map_err(|d| format!("probe {i}: {}", d.message))?;
                    for r in found {
                        if !points.iter().any(|p| p.key() == r.key()) {
                            points.push(r);
                        }
                    }
                }
            }
            probes.push(crate::elab::DerivedProbe {
                origin: names.join(", "),
                points,
                body: crate::parse::ast::Block { stmts: Vec::new(), span: Span::DUMMY },
                locals: Vec::new(),
                condition: None,
                placement,
                file: crate::source::FileId(0),
                span: Span::DUMMY,
                from_tapset: false,
            });
        }
        Ok(crate::elab::Program {
            globals: Vec::new(),
            functions: Vec::new(),
            probes,
            tapsets: Vec::new(),
            targets: Vec::new(),
        })
    }
}

/// What went wrong, and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

type Res<T> = Result<T, String>;

mod cursor;
mod inst;
mod target;

use cursor::Cursor;

/// Parses the IR text of a module.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .take_while(|(_, l)| !l.starts_with("# "))
        .filter(|(_, l)| !l.starts_with(';') && !l.trim().is_empty())
        .collect();
    let locations = Locations::new(&lines);
    let mut p = ModuleParser { module: Module::default(), probes: Vec::new(), locations };
    let mut i = 0;
    while let Some(&(n, line)) = lines.get(i) {
        let err = |message: String| ParseError { line: n, message };
        if let Some(rest) = line.strip_prefix("global ") {
            p.global(rest).map_err(err)?;
            i += 1;
        } else if let Some(rest) = line.strip_prefix("probe ") {
            p.probe(rest).map_err(err)?;
            i += 1;
        } else if line.starts_with("func ") {
            let end = lines
                .iter()
                .skip(i)
                .position(|(_, l)| *l == "}")
                .map(|k| i + k)
                .ok_or_else(|| err("a function without its closing `}`".to_string()))?;
            p.function(lines.get(i..end).unwrap_or_default())?;
            i = end + 1;
        } else {
            return Err(err(format!("expected `global`, `probe` or `func`, found `{line}`")));
        }
    }
    Ok(Parsed { module: p.module, probes: p.probes, sources: p.locations.sources })
}

/// The files and places the location comments name, as a source map of
/// blank stand-ins.
/// The most bytes a stand-in file may have (a location names at most
/// about a 64 MiB place).
const MAX_STAND_IN: u64 = 1 << 26;

/// The most variables a function may have.
const MAX_VARS: u32 = 1 << 20;

struct Locations {
    sources: SourceMap,
    /// Per file: its id and the width of each line of its stand-in.
    files: BTreeMap<String, (crate::source::FileId, u32)>,
}

impl Locations {
    fn new(lines: &[(usize, &str)]) -> Locations {
        let mut shape: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for (_, l) in lines {
            if let Some((file, line, col)) = l.rsplit_once(" # ").and_then(|(_, loc)| split_location(loc)) {
                let e = shape.entry(file.to_string()).or_default();
                e.0 = e.0.max(line);
                e.1 = e.1.max(col);
            }
        }
        let mut sources = SourceMap::new();
        let mut files = BTreeMap::new();
        for (name, (lines, cols)) in shape {
            let width = cols.saturating_add(1);
            let size = u64::from(width + 1) * u64::from(lines);
            if size > MAX_STAND_IN {
                // (Its locations are refused.)
                continue;
            }
            let mut text = String::with_capacity(size as usize);
            for _ in 0..lines {
                text.extend(std::iter::repeat_n(' ', width as usize));
                text.push('\n');
            }
            let id = sources.add(name.clone(), text, FileKind::User);
            files.insert(name, (id, width));
        }
        Locations { sources, files }
    }

    /// The span a location comment names; the dummy span for none.
    fn span(&self, loc: &str) -> Res<Span> {
        if loc.is_empty() {
            return Ok(Span::DUMMY);
        }
        let (file, line, col) = split_location(loc).ok_or_else(|| format!("`{loc}` is not a location"))?;
        let (id, width) =
            self.files.get(file).copied().ok_or_else(|| format!("the locations in {file} are too far to keep"))?;
        let start = (line.saturating_sub(1)) * (width + 1) + col.saturating_sub(1);
        Ok(Span::new(id, start, start))
    }
}

/// `file:line:col`.
fn split_location(loc: &str) -> Option<(&str, u32, u32)> {
    let mut parts = loc.rsplitn(3, ':');
    let col = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    (line > 0 && col > 0).then_some((file, line, col))
}

struct ModuleParser {
    module: Module,
    probes: Vec<Vec<String>>,
    locations: Locations,
}

impl ModuleParser {
    /// `@0:name long[string, long] size 100 wrap = 5`.
    fn global(&mut self, text: &str) -> Res<()> {
        let mut c = Cursor::new(text);
        let id = c.global()?;
        if id.0 as usize != self.module.globals.len() {
            return Err(format!("global @{} out of order", id.0));
        }
        c.expect(":")?;
        let name = c.word()?;
        let kind = match c.word()?.as_str() {
            "stats" => GlobalKind::Stats { keys: if c.peek("[") { c.type_list()? } else { Vec::new() } },
            t => {
                let ty = ty(t)?;
                if c.peek("[") { GlobalKind::Array { keys: c.type_list()?, value: ty } } else { GlobalKind::Scalar(ty) }
            }
        };
        let mut global = Global { name, kind, size: None, wrap: false, init: None };
        if c.eat_word("size") {
            global.size = Some(c.number()?.try_into().map_err(|_| "a negative size".to_string())?);
        }
        global.wrap = c.eat_word("wrap");
        if c.eat("=") {
            global.init = Some(match c.operand()? {
                Operand::Var(_) => return Err("a global's initial value is a constant".to_string()),
                o => o,
            });
        }
        c.end()?;
        self.module.globals.push(global);
        Ok(())
    }

    /// `0 kernel.function("vfs_read"), kernel.function("vfs_write")`.
    fn probe(&mut self, text: &str) -> Res<()> {
        let (n, points) = text.split_once(' ').unwrap_or((text, ""));
        let n: usize = n.parse().map_err(|_| format!("`{n}` is not a probe number"))?;
        if n != self.probes.len() {
            return Err(format!("probe {n} out of order"));
        }
        self.probes.push(split_points(points));
        Ok(())
    }

    fn function(&mut self, lines: &[(usize, &str)]) -> Result<(), ParseError> {
        let Some(&(n, header)) = lines.first() else { return Ok(()) };
        let err = |line: usize| move |message: String| ParseError { line, message };
        let index = self.module.functions.len();
        let (mut f, handler) = header_of(header, index).map_err(err(n))?;
        let mut rest = lines.get(1..).unwrap_or_default();
        if let Some(&(n, l)) = rest.first()
            && let Some(vars) = l.strip_prefix("  vars ")
        {
            let mut c = Cursor::new(vars);
            while !c.at_end() {
                let (id, decl) =
                    c.var_decl().and_then(|d| d.ok_or_else(|| "expected a variable".to_string())).map_err(err(n))?;
                set_var(&mut f.vars, id, decl).map_err(err(n))?;
            }
            rest = rest.get(1..).unwrap_or_default();
        }
        if let Some(i) = f.vars.iter().position(|v| v.is_none()) {
            return Err(err(n)(format!("variable %{i} is not declared")));
        }
        let vars: Vec<VarDecl> = f.vars.into_iter().flatten().collect();
        let mut func = Function {
            name: f.name,
            placement: f.placement,
            params: f.params,
            ret: f.ret,
            vars,
            blocks: Vec::new(),
            span: Span::DUMMY,
        };
        // Blocks: a label, instructions, and a terminator last.
        let mut i = 0;
        while let Some(&(n, label)) = rest.get(i) {
            let on_error = block_label(label, func.blocks.len()).map_err(err(n))?;
            let end = rest.iter().skip(i + 1).position(|(_, l)| !l.starts_with("  ")).map_or(rest.len(), |k| i + 1 + k);
            let body = rest.get(i + 1..end).unwrap_or_default();
            let Some((&(tn, term), insts)) = body.split_last() else {
                return Err(err(n)("a block without a terminator".to_string()));
            };
            let mut block =
                Block { insts: Vec::new(), term: Terminator::Return(None), term_span: Span::DUMMY, on_error };
            for &(n, line) in insts {
                // The location comment, when there is one.
                let (text, loc) =
                    line.rsplit_once(" # ").filter(|(_, loc)| split_location(loc).is_some()).unwrap_or((line, ""));
                let span = self.locations.span(loc).map_err(err(n))?;
                let kind = inst::inst(&func, text.trim()).map_err(err(n))?;
                block.insts.push(Inst { kind, span });
            }
            block.term = terminator(term.trim()).map_err(err(tn))?;
            func.blocks.push(block);
            i = end;
        }
        // A `next` names its iteration's map only through the iteration.
        let starts: BTreeMap<VarId, GlobalId> = func
            .blocks
            .iter()
            .flat_map(|b| &b.insts)
            .filter_map(|i| match &i.kind {
                InstKind::IterStart { iter, map, .. } => Some((*iter, *map)),
                _ => None,
            })
            .collect();
        for inst in func.blocks.iter_mut().flat_map(|b| &mut b.insts) {
            if let InstKind::IterNext { iter, map, .. } = &mut inst.kind {
                *map =
                    starts.get(iter).copied().ok_or_else(|| format!("%{} is no iteration", iter.0)).map_err(err(n))?;
            }
        }
        if let Some((probe, at_entry)) = handler {
            self.module.handlers.push(Handler { func: FuncId(index as u32), probe, at_entry });
        }
        self.module.functions.push(func);
        Ok(())
    }
}

/// Splits `a("x, y"), b` at the commas outside strings.
fn split_points(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for ch in text.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// A function's header, before its blocks.
struct Header {
    name: String,
    placement: Placement,
    params: Vec<VarId>,
    ret: Option<Ty>,
    vars: Vec<Option<VarDecl>>,
}

fn set_var(vars: &mut Vec<Option<VarDecl>>, id: VarId, decl: VarDecl) -> Res<()> {
    if id.0 >= MAX_VARS {
        return Err(format!("variable %{}: a function has at most {MAX_VARS} variables", id.0));
    }
    let i = id.0 as usize;
    if vars.len() <= i {
        vars.resize(i + 1, None);
    }
    let slot = vars.get_mut(i).expect("resized above");
    if slot.is_some() {
        return Err(format!("variable %{i} declared twice"));
    }
    *slot = Some(decl);
    Ok(())
}

/// `func #0 name:long(%0:x:long) /* kernel, handler of probe 0 */ {`.
fn header_of(line: &str, index: usize) -> Res<(Header, Option<(usize, bool)>)> {
    let mut c = Cursor::new(line);
    c.expect_word("func")?;
    if c.func()? != FuncId(index as u32) {
        return Err(format!("function #{index} expected"));
    }
    let name = c.word()?;
    let ret = if c.eat(":") { Some(ty(&c.word()?)?) } else { None };
    c.expect("(")?;
    let mut params = Vec::new();
    let mut vars = Vec::new();
    while !c.eat(")") {
        if !params.is_empty() {
            c.expect(",")?;
        }
        let (id, decl) = c.var_decl()?.ok_or_else(|| "expected a parameter".to_string())?;
        set_var(&mut vars, id, decl)?;
        params.push(id);
    }
    c.expect("/*")?;
    let placement = match c.word()?.as_str() {
        "kernel" => Placement::Kernel,
        "user" => Placement::User,
        p => return Err(format!("`{p}` is no placement")),
    };
    c.expect(",")?;
    let handler = match c.word()?.as_str() {
        "function" => None,
        w @ ("handler" | "entry") => {
            c.expect_word("of")?;
            c.expect_word("probe")?;
            let p = usize::try_from(c.number()?).map_err(|_| "a negative probe".to_string())?;
            Some((p, w == "entry"))
        }
        w => return Err(format!("`{w}`: expected `function`, `handler` or `entry`")),
    };
    c.expect("*/")?;
    c.expect("{")?;
    c.end()?;
    Ok((Header { name, placement, params, ret, vars }, handler))
}

/// `b3:` or `b3: (on error: b5, message to %2:msg)`.
fn block_label(line: &str, index: usize) -> Res<Option<Catch>> {
    let mut c = Cursor::new(line);
    if c.block()? != BlockId(index as u32) {
        return Err(format!("block b{index} expected"));
    }
    c.expect(":")?;
    if c.at_end() {
        return Ok(None);
    }
    c.expect("(")?;
    c.expect_word("on")?;
    c.expect_word("error")?;
    c.expect(":")?;
    let block = c.block()?;
    let message = if c.eat(",") {
        c.expect_word("message")?;
        c.expect_word("to")?;
        Some(c.var()?)
    } else {
        None
    };
    c.expect(")")?;
    c.end()?;
    Ok(Some(Catch { block, message }))
}

fn terminator(text: &str) -> Res<Terminator> {
    let mut c = Cursor::new(text);
    let t = match c.word()?.as_str() {
        "jump" => Terminator::Jump(c.block()?),
        "branch" => {
            let cond = c.operand()?;
            c.expect("?")?;
            let then = c.block()?;
            c.expect(":")?;
            Terminator::Branch { cond, then, otherwise: c.block()? }
        }
        "return" if c.at_end() => Terminator::Return(None),
        "return" => Terminator::Return(Some(c.operand()?)),
        "next" => Terminator::Next,
        "error" => Terminator::Error(c.operand()?),
        w => return Err(format!("`{w}` is no terminator")),
    };
    c.end()?;
    Ok(t)
}

pub(super) fn ty(name: &str) -> Res<Ty> {
    match name {
        "long" => Ok(Ty::Long),
        "string" => Ok(Ty::Str),
        t => Err(format!("`{t}` is no type")),
    }
}

#[cfg(test)]
mod tests;
