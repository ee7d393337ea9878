//! Concrete probe points: what a probe point that is not an alias names,
//! resolved against the kernel model and ELF files into typed probe kinds
//! with their attach targets.
//!
//! Alias expansion happens before (in `elab`); this module sees points
//! whose components name stp's built-in probe families.

// `resolve` returns `Diagnostic` like every pass; its size is the
// diagnostics' business, not this module's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::diag::{Diagnostic, edit_distance};
use crate::elab::{glob_match, has_glob};
use crate::kernel::{KFunc, Kernel, Tracepoint};
use crate::parse::ast::{Component, Literal, ProbePoint};
use crate::parse::lexer::escape_bytes;
use crate::source::Span;

/// What resolving needs besides the point itself.
pub struct PointContext<'a> {
    pub kernel: &'a Kernel,
    /// `-g`.
    pub guru: bool,
    /// `-x PID`.
    pub target_pid: Option<u32>,
    /// `-c CMD`: the command (its first word is the `process` of
    /// `process.function(...)` without a path).
    pub command: Option<&'a str>,
}

/// Where a handler is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Begin {
        priority: i64,
    },
    End {
        priority: i64,
    },
    Error {
        priority: i64,
    },
    Never,
    /// `kernel.function`, `module().function`, `kprobe.function`.
    KernelFunction {
        func: KFunc,
        ret: bool,
        maxactive: Option<i64>,
    },
    /// `kernel.statement(ADDR).absolute`.
    KernelStatement {
        addr: u64,
    },
    /// `kernel.trace("system:name")`.
    Tracepoint {
        tp: Tracepoint,
    },
    /// `process(...).function(...)` and `.library(...)`: a uprobe at a
    /// symbol's offset in an ELF file.
    Uprobe {
        path: String,
        symbol: String,
        offset: u64,
        ret: bool,
        pid: Option<u32>,
    },
    /// `process(...).mark(...)`: a USDT note.
    Usdt {
        path: String,
        provider: String,
        name: String,
        offset: u64,
        semaphore: u64,
        args: String,
        pid: Option<u32>,
    },
    /// `timer.s/ms/us/ns/hz/jiffies(N)[.randomize(M)]`.
    Timer {
        period_ns: u64,
        randomize_ns: u64,
    },
    /// `timer.profile`.
    Profile,
    /// `perf.sw.*`, `perf.hw.*`, `perf.type(T).config(C)`.
    Perf {
        type_: u32,
        config: u64,
        /// Events per sample, or samples per second with `frequency`
        /// (`.hz(N)`).
        sample_period: u64,
        frequency: bool,
        process: Option<String>,
    },
    /// `lsm.HOOK`: a BPF LSM program on the kernel's `bpf_lsm_HOOK`.
    Lsm {
        hook: String,
    },
}

/// `lsm.HOOK`: the hooks are the kernel's `bpf_lsm_*` functions, so the
/// names come from BTF rather than from the template tree. `None`: not an
/// LSM point.
fn lsm(point: &ProbePoint, ctx: &PointContext<'_>) -> Option<Result<Vec<ResolvedPoint>, Diagnostic>> {
    let [family, hook] = point.components.as_slice() else { return None };
    if family.arg.is_some() || !crate::elab::glob_match(&family.name, "lsm") || family.name.contains("**") {
        return None;
    }
    if hook.arg.is_some() {
        let d = Diagnostic::semantic_error("an LSM hook takes no argument", hook.span);
        return Some(Err(d));
    }
    let pattern = format!("bpf_lsm_{}", hook.name);
    Some(match ctx.kernel.match_functions(None, &pattern) {
        Err(e) => Err(Diagnostic::semantic_error(e.to_string(), hook.span)),
        Ok(funcs) => Ok(funcs
            .into_iter()
            .filter_map(|f| f.name.strip_prefix("bpf_lsm_").map(str::to_string))
            .map(|hook| ResolvedPoint { name: format!("lsm.{hook}"), kind: ProbeKind::Lsm { hook } })
            .collect()),
    })
}

/// One concrete point a probe point resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedPoint {
    pub kind: ProbeKind,
    /// The point as `pp()` names it: `kernel.function("vfs_read@fs/read_write.c:450").return`
    /// where stap would print a file, else `kernel.function("vfs_read").return`.
    pub name: String,
}

impl ResolvedPoint {
    /// What tells two points apart: the name, and for a mark, which of its
    /// sites (they share the name).
    pub fn key(&self) -> String {
        match &self.kind {
            ProbeKind::Usdt { offset, .. } => format!("{}@{offset:#x}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// Resolves a point that names a built-in probe family. `Ok(vec![])`:
/// the point is valid but matched nothing (the caller applies `?`/`!`).
/// Points stp does not support at all get `semantic error: probe point
/// not supported by stp: ...`.
pub fn resolve(point: &ProbePoint, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    if let Some(found) = lsm(point, ctx) {
        return found;
    }
    let mut walker = Walker { comps: &point.components, matches: Vec::new(), failure: None };
    let mut path = Vec::new();
    walker.walk(tree(), 0, &mut path);
    let Walker { matches, failure, .. } = walker;
    if matches.is_empty() {
        return Err(mismatch(point, failure));
    }
    let single = matches.len() == 1;
    let mut results: Vec<ResolvedPoint> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut real_error = None;
    let mut unsupported = None;
    let mut any_ok = false;
    for (family, steps) in matches {
        let path = MatchedPath { steps, point };
        match build(family, &path, ctx) {
            Ok(list) => {
                any_ok = true;
                for r in list {
                    if seen.insert(r.key()) {
                        results.push(r);
                    }
                }
            }
            Err(e) if single => return Err(e),
            Err(e) if matches!(family, Family::Unsupported(_)) => {
                unsupported.get_or_insert(e);
            }
            Err(e) => {
                real_error.get_or_insert(e);
            }
        }
    }
    if !results.is_empty() || (any_ok && real_error.is_none()) {
        return Ok(results);
    }
    match real_error.or(unsupported) {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

// ---------------------------------------------------------------------------
// The template tree
// ---------------------------------------------------------------------------

/// What argument a template component takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    None,
    Num,
    Str,
    OptNum,
    OptStr,
    NumOrStr,
    Any,
}

impl Arg {
    fn accepts(self, lit: Option<&Literal>) -> bool {
        matches!(
            (self, lit),
            (Arg::None | Arg::OptNum | Arg::OptStr | Arg::Any, None)
                | (Arg::Num | Arg::OptNum | Arg::NumOrStr | Arg::Any, Some(Literal::Number(_)))
                | (Arg::Str | Arg::OptStr | Arg::NumOrStr | Arg::Any, Some(Literal::String(_)))
        )
    }

    fn describe(self) -> &'static str {
        match self {
            Arg::None => "takes no argument",
            Arg::Num => "needs a number argument",
            Arg::Str => "needs a string argument",
            Arg::OptNum => "takes an optional number argument",
            Arg::OptStr => "takes an optional string argument",
            Arg::NumOrStr => "needs a number or string argument",
            Arg::Any => "takes an optional number or string argument",
        }
    }
}

/// What a complete path through the tree builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Begin,
    End,
    Error,
    Never,
    KFunc,
    KStatement,
    Trace,
    UFunc,
    Usdt,
    Timer,
    Profile,
    Perf,
    /// A SystemTap family stp does not implement; the text names it.
    Unsupported(&'static str),
}

struct Node {
    name: &'static str,
    arg: Arg,
    /// Set when a point may end here.
    end: Option<Family>,
    /// Any further components are accepted (for unsupported families,
    /// whose exact grammar does not matter).
    rest: bool,
    kids: Vec<Node>,
}

fn node(name: &'static str, arg: Arg, end: Option<Family>, kids: Vec<Node>) -> Node {
    Node { name, arg, end, rest: false, kids }
}

fn leaf(name: &'static str, arg: Arg, family: Family) -> Node {
    node(name, arg, Some(family), Vec::new())
}

/// An unsupported family: this component and anything after it.
fn unsup(name: &'static str, arg: Arg, what: &'static str) -> Node {
    Node { name, arg, end: Some(Family::Unsupported(what)), rest: true, kids: Vec::new() }
}

const DWARF_INLINE: &str = "inline-instance probes need DWARF debuginfo";
const DWARF_LABEL: &str = "label probes need DWARF debuginfo";
const DWARF_CALLEE: &str = "callee probes need DWARF debuginfo";
const DWARF_STATEMENT: &str = "statement probes need DWARF debuginfo";
const EXPORTED: &str = "'.exported' function filtering";

/// The suffixes of a kernel `function(...)`.
fn kfunc_kids() -> Vec<Node> {
    vec![
        leaf("call", Arg::None, Family::KFunc),
        node("return", Arg::None, Some(Family::KFunc), vec![leaf("maxactive", Arg::Num, Family::KFunc)]),
        unsup("inline", Arg::None, DWARF_INLINE),
        unsup("label", Arg::Str, DWARF_LABEL),
        unsup("callee", Arg::Str, DWARF_CALLEE),
        unsup("callees", Arg::OptNum, DWARF_CALLEE),
        unsup("exported", Arg::None, EXPORTED),
    ]
}

/// The suffixes of a user-space `function(...)`.
fn ufunc_kids() -> Vec<Node> {
    vec![
        leaf("call", Arg::None, Family::UFunc),
        leaf("return", Arg::None, Family::UFunc),
        unsup("inline", Arg::None, DWARF_INLINE),
        unsup("label", Arg::Str, DWARF_LABEL),
        unsup("callee", Arg::Str, DWARF_CALLEE),
        unsup("callees", Arg::OptNum, DWARF_CALLEE),
        unsup("exported", Arg::None, EXPORTED),
    ]
}

fn usdt_nodes() -> Vec<Node> {
    vec![
        leaf("mark", Arg::Str, Family::Usdt),
        node("provider", Arg::Str, None, vec![leaf("mark", Arg::Str, Family::Usdt)]),
    ]
}

fn timer_unit(name: &'static str) -> Node {
    node(name, Arg::Num, Some(Family::Timer), vec![leaf("randomize", Arg::Num, Family::Timer)])
}

const PERF_SW: [(&str, u64); 9] = [
    ("cpu_clock", 0),
    ("task_clock", 1),
    ("page_faults", 2),
    ("context_switches", 3),
    ("cpu_migrations", 4),
    ("page_faults_min", 5),
    ("page_faults_maj", 6),
    ("alignment_faults", 7),
    ("emulation_faults", 8),
];

const PERF_HW: [(&str, u64); 10] = [
    ("cpu_cycles", 0),
    ("instructions", 1),
    ("cache_references", 2),
    ("cache_misses", 3),
    ("branch_instructions", 4),
    ("branch_misses", 5),
    ("bus_cycles", 6),
    ("stalled_cycles_frontend", 7),
    ("stalled_cycles_backend", 8),
    ("ref_cpu_cycles", 9),
];

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_SOFTWARE: u32 = 1;
const DEFAULT_SAMPLE_PERIOD: u64 = 1_000_000;

/// What may follow a perf event: `.sample(N)`, `.process[("P")]`, `.counter("C")`.
fn perf_kids() -> Vec<Node> {
    let process = || leaf("process", Arg::OptStr, Family::Perf);
    let counter = || unsup("counter", Arg::Str, "perf counters");
    vec![
        node("sample", Arg::Num, Some(Family::Perf), vec![process(), counter()]),
        node("hz", Arg::Num, Some(Family::Perf), vec![process(), counter()]),
        process(),
        counter(),
    ]
}

fn perf_event(name: &'static str) -> Node {
    node(name, Arg::None, Some(Family::Perf), perf_kids())
}

fn tree() -> &'static Node {
    static TREE: OnceLock<Node> = OnceLock::new();
    TREE.get_or_init(build_tree)
}

fn build_tree() -> Node {
    let kfunction = || node("function", Arg::Str, Some(Family::KFunc), kfunc_kids());
    let kprobe_function = || {
        node(
            "function",
            Arg::Str,
            Some(Family::KFunc),
            vec![node("return", Arg::None, Some(Family::KFunc), vec![leaf("maxactive", Arg::Num, Family::KFunc)])],
        )
    };
    let statement = || {
        node(
            "statement",
            Arg::NumOrStr,
            Some(Family::Unsupported(DWARF_STATEMENT)),
            vec![
                leaf("absolute", Arg::None, Family::KStatement),
                unsup("nearest", Arg::None, DWARF_STATEMENT),
                unsup("label", Arg::Str, DWARF_LABEL),
            ],
        )
    };
    let mut ufunction_kids = vec![node("function", Arg::Str, Some(Family::UFunc), ufunc_kids())];
    ufunction_kids.extend(usdt_nodes());
    ufunction_kids.push(unsup("statement", Arg::NumOrStr, DWARF_STATEMENT));
    ufunction_kids.push(unsup("plt", Arg::OptStr, "PLT probes"));

    let mut process_kids = vec![
        node("function", Arg::Str, Some(Family::UFunc), ufunc_kids()),
        node("library", Arg::Str, None, ufunction_kids),
    ];
    process_kids.extend(usdt_nodes());
    process_kids.extend([
        unsup("begin", Arg::None, "process lifecycle probes"),
        unsup("end", Arg::None, "process lifecycle probes"),
        unsup("thread", Arg::None, "thread lifecycle probes"),
        unsup("syscall", Arg::None, "process syscall probes"),
        unsup("plt", Arg::OptStr, "PLT probes"),
        unsup("insn", Arg::None, "single-step (insn) probes"),
        unsup("statement", Arg::NumOrStr, DWARF_STATEMENT),
        unsup("mark", Arg::None, "USDT probes without a name"),
        unsup("function", Arg::Num, "user-space function probes by address"),
    ]);

    let mut sw = vec![];
    for (name, _) in PERF_SW {
        sw.push(perf_event(name));
    }
    let mut hw = vec![];
    for (name, _) in PERF_HW {
        hw.push(perf_event(name));
    }

    node(
        "",
        Arg::None,
        None,
        vec![
            leaf("begin", Arg::OptNum, Family::Begin),
            leaf("end", Arg::OptNum, Family::End),
            leaf("error", Arg::OptNum, Family::Error),
            leaf("never", Arg::None, Family::Never),
            node(
                "kernel",
                Arg::None,
                None,
                vec![
                    kfunction(),
                    statement(),
                    leaf("trace", Arg::Str, Family::Trace),
                    unsup("data", Arg::NumOrStr, "hardware watchpoints (kernel.data)"),
                    unsup("mark", Arg::Str, "kernel markers"),
                ],
            ),
            node("module", Arg::Str, None, vec![kfunction(), unsup("statement", Arg::NumOrStr, DWARF_STATEMENT)]),
            node(
                "kprobe",
                Arg::None,
                None,
                vec![kprobe_function(), node("module", Arg::Str, None, vec![kprobe_function()]), statement()],
            ),
            node("process", Arg::Any, None, process_kids),
            node(
                "timer",
                Arg::None,
                None,
                vec![
                    timer_unit("s"),
                    timer_unit("sec"),
                    timer_unit("ms"),
                    timer_unit("msec"),
                    timer_unit("us"),
                    timer_unit("usec"),
                    timer_unit("ns"),
                    timer_unit("nsec"),
                    timer_unit("jiffies"),
                    leaf("hz", Arg::Num, Family::Timer),
                    node("profile", Arg::None, Some(Family::Profile), vec![leaf("tick", Arg::None, Family::Profile)]),
                ],
            ),
            node(
                "perf",
                Arg::None,
                None,
                vec![
                    node("sw", Arg::None, None, sw),
                    node("hw", Arg::None, None, hw),
                    node("type", Arg::Num, None, vec![node("config", Arg::Num, Some(Family::Perf), perf_kids())]),
                    unsup("hw_cache", Arg::None, "perf hardware cache events"),
                    unsup("raw", Arg::None, "raw perf events"),
                ],
            ),
            unsup("procfs", Arg::OptStr, "procfs probes"),
            unsup("netfilter", Arg::None, "netfilter hooks"),
            unsup("python2", Arg::None, "Python probes"),
            unsup("python3", Arg::None, "Python probes"),
            unsup("java", Arg::Str, "Java probes"),
        ],
    )
}

// ---------------------------------------------------------------------------
// Matching a point against the tree
// ---------------------------------------------------------------------------

/// One template component a point's component matched.
#[derive(Clone)]
struct Step<'p> {
    name: &'static str,
    arg: Option<&'p Literal>,
    span: Span,
}

/// The deepest place where matching failed.
struct Failure {
    /// The component that did not match (or the last one, when the point
    /// ended too early).
    pos: usize,
    /// The template names valid there.
    alts: Vec<&'static str>,
    /// The point ended before a complete probe point.
    incomplete: bool,
    /// A name matched but its argument did not: (name, what it takes).
    arg_hint: Option<(&'static str, &'static str)>,
}

struct Walker<'p> {
    comps: &'p [Component],
    matches: Vec<(Family, Vec<Step<'p>>)>,
    failure: Option<Failure>,
}

impl<'p> Walker<'p> {
    fn fail(&mut self, f: Failure) {
        match &mut self.failure {
            Some(old) if old.pos > f.pos || (old.pos == f.pos && old.incomplete && !f.incomplete) => {}
            Some(old) if old.pos == f.pos && old.incomplete == f.incomplete => {
                for a in f.alts {
                    if !old.alts.contains(&a) {
                        old.alts.push(a);
                    }
                }
                old.arg_hint = old.arg_hint.or(f.arg_hint);
            }
            _ => self.failure = Some(f),
        }
    }

    fn walk(&mut self, node: &'static Node, i: usize, path: &mut Vec<Step<'p>>) {
        if node.rest {
            if let Some(family) = node.end {
                self.matches.push((family, path.clone()));
            }
            return;
        }
        let Some(comp) = self.comps.get(i) else {
            match node.end {
                Some(family) => self.matches.push((family, path.clone())),
                None => self.fail(Failure {
                    pos: i.saturating_sub(1),
                    alts: names_of(&node.kids),
                    incomplete: true,
                    arg_hint: None,
                }),
            }
            return;
        };
        let arg = comp.arg.as_ref().map(|(l, _)| l);
        let mut matched = false;
        let mut arg_hint = None;
        for kid in &node.kids {
            if glob_match(&comp.name, kid.name) {
                if kid.arg.accepts(arg) {
                    matched = true;
                    path.push(Step { name: kid.name, arg, span: comp.span });
                    self.walk(kid, i + 1, path);
                    path.pop();
                } else {
                    arg_hint.get_or_insert((kid.name, kid.arg.describe()));
                }
            }
        }
        if comp.name.contains("**") {
            // `**` may stand for several components: try every chain of
            // two or more, the argument going to the last.
            let mut chain = Vec::new();
            for kid in &node.kids {
                matched |= self.chains(kid, comp, arg, i, path, &mut chain);
            }
        }
        if !matched {
            self.fail(Failure { pos: i, alts: names_of(&node.kids), incomplete: false, arg_hint });
        }
    }

    /// Extends `chain` by `node` and tries it and its descendants as what
    /// the `**` component `comp` stands for.
    fn chains(
        &mut self,
        node: &'static Node,
        comp: &'p Component,
        arg: Option<&'p Literal>,
        i: usize,
        path: &mut Vec<Step<'p>>,
        chain: &mut Vec<&'static Node>,
    ) -> bool {
        chain.push(node);
        let mut matched = false;
        if chain.len() >= 2 && node.arg.accepts(arg) {
            let joined = chain.iter().map(|n| n.name).collect::<Vec<_>>().join(".");
            if glob_match(&comp.name, &joined) {
                matched = true;
                let before = path.len();
                for (k, n) in chain.iter().enumerate() {
                    let a = if k + 1 == chain.len() { arg } else { None };
                    path.push(Step { name: n.name, arg: a, span: comp.span });
                }
                self.walk(node, i + 1, path);
                path.truncate(before);
            }
        }
        // Intermediate components of a chain get no argument.
        if !node.rest && matches!(node.arg, Arg::None | Arg::OptNum | Arg::OptStr | Arg::Any) {
            for kid in &node.kids {
                matched |= self.chains(kid, comp, arg, i, path, chain);
            }
        }
        chain.pop();
        matched
    }
}

/// The names of template nodes, each once, in order.
fn names_of(nodes: &[Node]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for n in nodes {
        if !out.contains(&n.name) {
            out.push(n.name);
        }
    }
    out
}

fn similar<'a>(name: &str, alts: &[&'a str]) -> Vec<&'a str> {
    if has_glob(name) {
        return Vec::new();
    }
    let prefix = |a: &str| {
        let common = a.chars().zip(name.chars()).take_while(|(x, y)| x == y).count();
        common >= 3 || (common >= 1 && common == name.chars().count().min(a.chars().count()))
    };
    let mut out: Vec<&str> = alts.iter().copied().filter(|a| edit_distance(name, a) <= 2 || prefix(a)).collect();
    out.sort_by_key(|a| edit_distance(name, a));
    out.dedup();
    out
}

fn mismatch(point: &ProbePoint, failure: Option<Failure>) -> Diagnostic {
    let Some(f) = failure else {
        return Diagnostic::semantic_error("probe point mismatch", point.span);
    };
    let Some(comp) = point.components.get(f.pos) else {
        return Diagnostic::semantic_error("probe point mismatch", point.span);
    };
    let alts = f.alts;
    let sim = if f.incomplete { Vec::new() } else { similar(&comp.name, &alts) };
    let msg = if sim.is_empty() {
        format!("probe point mismatch: identifier '{}'", comp.name)
    } else {
        format!("probe point mismatch (similar: {}): identifier '{}'", sim.join(", "), comp.name)
    };
    let mut d = Diagnostic::semantic_error(msg, comp.span);
    let shown = written(point);
    if f.incomplete {
        d = d.with_note(format!("'{shown}' is not a complete probe point; it may continue with: {}", alts.join(", ")));
    } else if let Some((name, takes)) = f.arg_hint {
        d = d.with_note(format!("'{name}' {takes}"));
    } else if !alts.is_empty() {
        d = d.with_note(format!("expected one of: {}", alts.join(", ")));
    } else if let Some(prev) = f.pos.checked_sub(1).and_then(|p| point.components.get(p)) {
        d = d.with_note(format!("nothing may follow '{}' here", prev.name));
    }
    d
}

// ---------------------------------------------------------------------------
// Building results
// ---------------------------------------------------------------------------

struct MatchedPath<'p> {
    steps: Vec<Step<'p>>,
    point: &'p ProbePoint,
}

impl MatchedPath<'_> {
    fn step(&self, name: &str) -> Option<&Step<'_>> {
        self.steps.iter().find(|s| s.name == name)
    }

    fn has(&self, name: &str) -> bool {
        self.step(name).is_some()
    }

    fn num(&self, name: &str) -> Option<i64> {
        match self.step(name)?.arg? {
            Literal::Number(n) => Some(*n),
            Literal::String(_) => None,
        }
    }

    fn string(&self, name: &str) -> Option<String> {
        match self.step(name)?.arg? {
            Literal::String(s) => Some(String::from_utf8_lossy(s).into_owned()),
            Literal::Number(_) => None,
        }
    }

    fn span(&self, name: &str) -> Span {
        self.step(name).map_or(self.point.span, |s| s.span)
    }

    /// The path as stap writes it: template names with their arguments.
    fn canonical(&self) -> String {
        let parts: Vec<String> = self.steps.iter().map(|s| component_text(s.name, s.arg)).collect();
        parts.join(".")
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", escape_bytes(s.as_bytes()))
}

fn component_text(name: &str, arg: Option<&Literal>) -> String {
    match arg {
        None => name.to_string(),
        Some(Literal::Number(n)) => format!("{name}({n})"),
        Some(Literal::String(s)) => format!("{name}(\"{}\")", escape_bytes(s)),
    }
}

/// The point as written, without `?`, `!` and condition.
fn written(point: &ProbePoint) -> String {
    let parts: Vec<String> =
        point.components.iter().map(|c| component_text(&c.name, c.arg.as_ref().map(|(l, _)| l))).collect();
    parts.join(".")
}

fn build(family: Family, path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let one = |kind: ProbeKind| Ok(vec![ResolvedPoint { kind, name: path.canonical() }]);
    match family {
        Family::Begin => one(ProbeKind::Begin { priority: path.num("begin").unwrap_or(0) }),
        Family::End => one(ProbeKind::End { priority: path.num("end").unwrap_or(0) }),
        Family::Error => one(ProbeKind::Error { priority: path.num("error").unwrap_or(0) }),
        Family::Never => one(ProbeKind::Never),
        Family::Profile => one(ProbeKind::Profile),
        Family::KFunc => kernel_function(path, ctx),
        Family::KStatement => kernel_statement(path, ctx),
        Family::Trace => tracepoints(path, ctx),
        Family::UFunc => user_functions(path, ctx),
        Family::Usdt => usdt(path, ctx),
        Family::Timer => timer(path, ctx).and_then(one),
        Family::Perf => perf(path, ctx).and_then(one),
        Family::Unsupported(what) => {
            let shown = written(path.point);
            Err(Diagnostic::semantic_error(format!("probe point not supported by stp: {shown}"), path.point.span)
                .with_note(format!("stp does not implement {what}")))
        }
    }
}

/// `func@file.c`, `func:10`, `*@fs/*.c:10-20`: forms that need DWARF line
/// information. (`::` of C++ names is not a line number.)
fn needs_dwarf(pattern: &str) -> bool {
    if pattern.contains('@') {
        return true;
    }
    match pattern.rsplit_once(':') {
        Some((head, tail)) => {
            !head.ends_with(':')
                && !tail.is_empty()
                && tail.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '*'))
        }
        None => false,
    }
}

fn dwarf_error(point: &ProbePoint, span: Span) -> Diagnostic {
    Diagnostic::semantic_error(
        format!("probe point needs DWARF debuginfo, which stp does not use: {}", written(point)),
        span,
    )
    .with_help("drop the @file and :line part and name the function alone")
}

fn kernel_function(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let pattern = path.string("function").unwrap_or_default();
    let fspan = path.span("function");
    if needs_dwarf(&pattern) {
        return Err(dwarf_error(path.point, fspan));
    }
    let kprobe = path.has("kprobe");
    let module = path.string("module");
    let funcs = ctx
        .kernel
        .match_functions(module.as_deref(), &pattern)
        .map_err(|e| Diagnostic::semantic_error(e.to_string(), fspan))?;
    let ret = path.has("return");
    let call = path.has("call");
    let maxactive = path.num("maxactive");
    // The kernel keeps kretprobe instances in an array sized by it.
    if let Some(m) = maxactive
        && !(1..=65535).contains(&m)
    {
        return Err(Diagnostic::semantic_error("maxactive value out of range [1,65535]", path.span("maxactive")));
    }
    let mut out = Vec::new();
    for func in funcs {
        let mut name = String::new();
        if kprobe {
            name.push_str("kprobe.");
        }
        if let Some(m) = func.module.as_deref().or(module.as_deref()) {
            name.push_str(&format!("module({}).", quote(m)));
        } else if !kprobe {
            name.push_str("kernel.");
        }
        name.push_str(&format!("function({})", quote(&func.name)));
        if call {
            name.push_str(".call");
        }
        if ret {
            name.push_str(".return");
        }
        if let Some(m) = maxactive {
            name.push_str(&format!(".maxactive({m})"));
        }
        out.push(ResolvedPoint { kind: ProbeKind::KernelFunction { func, ret, maxactive }, name });
    }
    Ok(out)
}

fn kernel_statement(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let span = path.span("statement");
    let Some(addr) = path.num("statement") else {
        return Err(Diagnostic::semantic_error(
            format!("probe point not supported by stp: {}", written(path.point)),
            path.point.span,
        )
        .with_note("an absolute statement probe needs a numeric address"));
    };
    if !ctx.guru {
        return Err(Diagnostic::semantic_error("absolute statement probe in unprivileged script; need stap -g", span)
            .with_help("run with -g (guru mode)"));
    }
    let addr = addr as u64;
    let prefix = if path.has("kprobe") { "kprobe" } else { "kernel" };
    Ok(vec![ResolvedPoint {
        kind: ProbeKind::KernelStatement { addr },
        name: format!("{prefix}.statement({addr:#x}).absolute"),
    }])
}

fn tracepoints(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let pattern = path.string("trace").unwrap_or_default();
    let span = path.span("trace");
    let tps = ctx.kernel.match_tracepoints(&pattern).map_err(|e| Diagnostic::semantic_error(e.to_string(), span))?;
    Ok(tps
        .into_iter()
        .map(|tp| {
            let name = format!("kernel.trace({})", quote(&format!("{}:{}", tp.system, tp.name)));
            ResolvedPoint { kind: ProbeKind::Tracepoint { tp }, name }
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Timers and perf
// ---------------------------------------------------------------------------

const NSEC_PER_SEC: i64 = 1_000_000_000;
/// stap's hrtimer limits: 100us to one day.
const MIN_NS_INTERVAL: i64 = 100_000;
const MAX_NS_INTERVAL: i64 = NSEC_PER_SEC * 60 * 60 * 24;

fn timer(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<ProbeKind, Diagnostic> {
    let Some(unit_step) = path.steps.get(1) else {
        return Err(Diagnostic::semantic_error("unrecognized timer variant", path.point.span));
    };
    let unit = unit_step.name;
    let uspan = unit_step.span;
    let n = path.num(unit).unwrap_or(0);
    let rspan = path.span("randomize");
    let r = path.num("randomize").unwrap_or(0);
    if unit == "jiffies" {
        if n <= 0 || n > 1_000_000 {
            return Err(Diagnostic::semantic_error("invalid interval for jiffies timer", uspan)
                .with_note("the interval must be between 1 and 1000000 jiffies"));
        }
        if r < 0 || r > n {
            return Err(Diagnostic::semantic_error("invalid randomize for jiffies timer", rspan)
                .with_note("the randomization range must be between 0 and the interval"));
        }
        let hz =
            ctx.kernel.config("CONFIG_HZ").and_then(|v| v.trim().parse::<i64>().ok()).filter(|&h| h > 0).unwrap_or(250);
        let tick = NSEC_PER_SEC / hz;
        return Ok(ProbeKind::Timer { period_ns: (n * tick) as u64, randomize_ns: (r * tick) as u64 });
    }
    let (period, scale, rand) = match unit {
        "hz" => {
            if n <= 0 {
                return Err(Diagnostic::semantic_error("frequency must be greater than 0", uspan));
            }
            ((NSEC_PER_SEC + n - 1) / n, 1, 0)
        }
        _ => {
            let scale = match unit {
                "s" | "sec" => NSEC_PER_SEC,
                "ms" | "msec" => 1_000_000,
                "us" | "usec" => 1_000,
                _ => 1,
            };
            (n.checked_mul(scale).unwrap_or(i64::MAX), scale, r.checked_mul(scale).unwrap_or(i64::MAX))
        }
    };
    if !(MIN_NS_INTERVAL..=MAX_NS_INTERVAL).contains(&period) {
        let lo = if scale < MIN_NS_INTERVAL { MIN_NS_INTERVAL / scale } else { 1 };
        let hi = MAX_NS_INTERVAL / scale;
        return Err(Diagnostic::semantic_error(format!("interval value out of range ({lo},{hi})"), uspan)
            .with_note("timer periods must be between 100us and one day"));
    }
    if rand < 0 || rand > period {
        return Err(Diagnostic::semantic_error("randomization value out of range", rspan)
            .with_note("the randomization range must be between 0 and the period"));
    }
    Ok(ProbeKind::Timer { period_ns: period as u64, randomize_ns: rand as u64 })
}

fn perf(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<ProbeKind, Diagnostic> {
    let event = |table: &[(&str, u64)]| {
        path.steps.get(2).and_then(|s| table.iter().find(|(n, _)| *n == s.name)).map(|&(_, c)| c)
    };
    let (type_, config) = if path.has("sw") {
        (PERF_TYPE_SOFTWARE, event(&PERF_SW).unwrap_or(0))
    } else if path.has("hw") {
        (PERF_TYPE_HARDWARE, event(&PERF_HW).unwrap_or(0))
    } else {
        let t = path.num("type").unwrap_or(-1);
        let type_ = u32::try_from(t)
            .map_err(|_| Diagnostic::semantic_error(format!("invalid perf event type {t}"), path.span("type")))?;
        let c = path.num("config").unwrap_or(-1);
        let config = u64::try_from(c)
            .map_err(|_| Diagnostic::semantic_error(format!("invalid perf event config {c}"), path.span("config")))?;
        (type_, config)
    };
    let (sample_period, frequency) = match (path.num("sample"), path.num("hz")) {
        (Some(p), _) => (
            u64::try_from(p)
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| Diagnostic::semantic_error("invalid perf sample period", path.span("sample")))?,
            false,
        ),
        (None, Some(hz)) => (
            u64::try_from(hz)
                .ok()
                .filter(|&f| f > 0)
                .ok_or_else(|| Diagnostic::semantic_error("frequency must be greater than 0", path.span("hz")))?,
            true,
        ),
        (None, None) => (DEFAULT_SAMPLE_PERIOD, false),
    };
    let process = path.has("process").then(|| path.string("process").unwrap_or_default());
    // `.process` without a path counts the target process.
    if process.as_deref() == Some("") && ctx.target_pid.is_none() && ctx.command.is_none() {
        return Err(Diagnostic::semantic_error(
            "perf probe '.process' without a path needs a target process (-c CMD or -x PID)",
            path.span("process"),
        ));
    }
    Ok(ProbeKind::Perf { type_, config, sample_period, frequency, process })
}

// ---------------------------------------------------------------------------
// User space: process(...).function/.library/.mark
// ---------------------------------------------------------------------------

/// The executable a `process` point names, and the pid it is limited to.
struct Target {
    path: PathBuf,
    pid: Option<u32>,
}

/// Looks `name` up like a shell: as a path when it has a `/`, else in `$PATH`.
fn find_executable(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = Path::new(name);
        return p.is_file().then(|| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()));
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs).map(|d| d.join(name)).find(|p| p.is_file()).map(|p| p.canonicalize().unwrap_or(p))
}

fn pid_exe(pid: u32, span: Span) -> Result<PathBuf, Diagnostic> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map_err(|e| Diagnostic::semantic_error(format!("cannot find executable of process {pid}: {e}"), span))
}

fn process_target(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Target, Diagnostic> {
    let span = path.span("process");
    match path.step("process").and_then(|s| s.arg) {
        Some(Literal::Number(n)) => {
            let pid = u32::try_from(*n)
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| Diagnostic::semantic_error(format!("invalid process id {n}"), span))?;
            Ok(Target { path: pid_exe(pid, span)?, pid: Some(pid) })
        }
        Some(Literal::String(s)) => {
            let name = String::from_utf8_lossy(s).into_owned();
            let found = find_executable(&name).ok_or_else(|| {
                Diagnostic::semantic_error(format!("cannot find executable '{name}'"), span)
                    .with_help("give an absolute path, or a command found in $PATH")
            })?;
            Ok(Target { path: found, pid: None })
        }
        None => {
            if let Some(cmd) = ctx.command
                && let Some(first) = cmd.split_whitespace().next()
            {
                let found = find_executable(first).ok_or_else(|| {
                    Diagnostic::semantic_error(format!("cannot find executable '{first}'"), span)
                        .with_note("the process is the first word of the -c command")
                })?;
                return Ok(Target { path: found, pid: None });
            }
            if let Some(pid) = ctx.target_pid {
                return Ok(Target { path: pid_exe(pid, span)?, pid: Some(pid) });
            }
            Err(Diagnostic::semantic_error("process probe needs a path, -c CMD or -x PID", span)
                .with_help("write process(\"/path/to/program\"), or run with -c CMD or -x PID"))
        }
    }
}

const LIBRARY_DIRS: [&str; 5] = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib", "/lib"];

/// A glob over file names: `*` crosses dots here (`libc.so*`).
fn file_glob(pattern: &str, name: &str) -> bool {
    glob_match(&pattern.replace('*', "**"), name)
}

/// The files `process(...).library("LIB")` names.
fn libraries(spec: &str, exe: &Path, span: Span) -> Result<Vec<PathBuf>, Diagnostic> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut add = |p: PathBuf| {
        let p = p.canonicalize().unwrap_or(p);
        if !found.contains(&p) && is_elf(&p) {
            found.push(p);
        }
    };
    if spec.contains('/') {
        let p = Path::new(spec);
        if p.is_file() {
            add(p.to_path_buf());
        }
    } else {
        let needed = std::fs::read(exe).ok().map(|data| needed_libraries(&data)).unwrap_or_default();
        let wanted: Vec<&String> = needed.iter().filter(|n| file_glob(spec, n)).collect();
        let locate = |name: &str| LIBRARY_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file());
        for name in &wanted {
            if let Some(p) = locate(name) {
                add(p);
            }
        }
        if wanted.is_empty() {
            if has_glob(spec) {
                let mut names: Vec<PathBuf> = Vec::new();
                for dir in LIBRARY_DIRS {
                    let Ok(entries) = std::fs::read_dir(dir) else { continue };
                    for e in entries.flatten() {
                        if e.file_name().to_str().is_some_and(|n| file_glob(spec, n)) {
                            names.push(e.path());
                        }
                    }
                }
                names.sort();
                for p in names {
                    if p.is_file() {
                        add(p);
                    }
                }
            } else if let Some(p) = locate(spec) {
                add(p);
            }
        }
    }
    if found.is_empty() && !has_glob(spec) {
        return Err(Diagnostic::semantic_error(format!("cannot find library '{spec}'"), span).with_note(format!(
            "searched the libraries {} needs and {}",
            exe.display(),
            LIBRARY_DIRS.join(", ")
        )));
    }
    Ok(found)
}

fn is_elf(p: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// Reads a word of `size` (4 or 8) bytes at `at`.
fn read_word(data: &[u8], at: usize, size: usize, little: bool) -> Option<u64> {
    let bytes = data.get(at..at.checked_add(size)?)?;
    let mut v: u64 = 0;
    if little {
        for &b in bytes.iter().rev() {
            v = (v << 8) | u64::from(b);
        }
    } else {
        for &b in bytes {
            v = (v << 8) | u64::from(b);
        }
    }
    Some(v)
}

/// The NUL-terminated string at `at`.
fn read_cstr(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = data.get(at..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    Some((rest.get(..len)?, at + len + 1))
}

/// DT_NEEDED entries of an ELF file.
fn needed_libraries(data: &[u8]) -> Vec<String> {
    let Ok(obj) = object::File::parse(data) else { return Vec::new() };
    let (Some(dynamic), Some(dynstr)) = (obj.section_by_name(".dynamic"), obj.section_by_name(".dynstr")) else {
        return Vec::new();
    };
    let (Ok(dynamic), Ok(dynstr)) = (dynamic.data(), dynstr.data()) else { return Vec::new() };
    let word = if obj.is_64() { 8 } else { 4 };
    let little = obj.is_little_endian();
    let mut out = Vec::new();
    let mut at = 0;
    while let (Some(tag), Some(val)) =
        (read_word(dynamic, at, word, little), read_word(dynamic, at + word, word, little))
    {
        at += 2 * word;
        match tag {
            0 => break,
            1 => {
                if let Some((s, _)) = usize::try_from(val).ok().and_then(|v| read_cstr(dynstr, v)) {
                    out.push(String::from_utf8_lossy(s).into_owned());
                }
            }
            _ => {}
        }
    }
    out
}

/// Converts a virtual address to a file offset through the PT_LOAD
/// segment containing it.
fn file_offset(obj: &object::File<'_>, addr: u64) -> Option<u64> {
    obj.segments().find_map(|seg| {
        let (off, filesz) = seg.file_range();
        let start = seg.address();
        (addr >= start && addr - start < filesz).then(|| addr - start + off)
    })
}

fn read_elf(path: &Path, span: Span) -> Result<Vec<u8>, Diagnostic> {
    std::fs::read(path)
        .map_err(|e| Diagnostic::semantic_error(format!("cannot read executable '{}': {e}", path.display()), span))
}

fn parse_elf<'d>(data: &'d [u8], path: &Path, span: Span) -> Result<object::File<'d>, Diagnostic> {
    object::File::parse(data)
        .ok()
        .filter(|o| o.format() == object::BinaryFormat::Elf)
        .ok_or_else(|| Diagnostic::semantic_error(format!("'{}' is not an ELF file", path.display()), span))
}

/// Function symbols of an ELF file matching the glob `pattern`, as
/// (name, file offset), one per offset.
fn elf_functions(data: &[u8], path: &Path, pattern: &str, span: Span) -> Result<Vec<(String, u64)>, Diagnostic> {
    let obj = parse_elf(data, path, span)?;
    // offset -> best name for it
    let mut by_offset: BTreeMap<u64, String> = BTreeMap::new();
    for sym in obj.symbols().chain(obj.dynamic_symbols()) {
        if sym.kind() != SymbolKind::Text || !sym.is_definition() || sym.address() == 0 {
            continue;
        }
        let Ok(raw) = sym.name() else { continue };
        let name = raw.split('@').next().unwrap_or(raw);
        if name.is_empty() || !glob_match(pattern, name) {
            continue;
        }
        let Some(off) = file_offset(&obj, sym.address()) else { continue };
        let better = |old: &String| {
            let key = |n: &str| (n != pattern, n.len() - n.trim_start_matches('_').len(), n.to_string());
            key(name) < key(old)
        };
        match by_offset.get(&off) {
            Some(old) if !better(old) => {}
            _ => {
                by_offset.insert(off, name.to_string());
            }
        }
    }
    let mut out: Vec<(String, u64)> = by_offset.into_iter().map(|(o, n)| (n, o)).collect();
    out.sort();
    Ok(out)
}

/// One `.note.stapsdt` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SdtNote {
    provider: String,
    name: String,
    args: String,
    /// File offsets.
    offset: u64,
    semaphore: u64,
}

const NT_STAPSDT: u64 = 3;

fn sdt_notes(data: &[u8], path: &Path, span: Span) -> Result<Vec<SdtNote>, Diagnostic> {
    let obj = parse_elf(data, path, span)?;
    let Some(notes) = obj.section_by_name(".note.stapsdt") else { return Ok(Vec::new()) };
    let Ok(notes) = notes.data() else { return Ok(Vec::new()) };
    let little = obj.is_little_endian();
    let word = if obj.is_64() { 8 } else { 4 };
    let base_addr = obj.section_by_name(".stapsdt.base").map(|s| s.address());
    let align4 = |n: usize| n.div_ceil(4) * 4;
    let mut out = Vec::new();
    let mut at = 0usize;
    while let (Some(namesz), Some(descsz), Some(ntype)) =
        (read_word(notes, at, 4, little), read_word(notes, at + 4, 4, little), read_word(notes, at + 8, 4, little))
    {
        let (Ok(namesz), Ok(descsz)) = (usize::try_from(namesz), usize::try_from(descsz)) else { break };
        let name_at = at + 12;
        let desc_at = name_at + align4(namesz);
        let next = desc_at + align4(descsz);
        at = next;
        let owner = notes.get(name_at..name_at + namesz).unwrap_or_default();
        let Some(desc) = notes.get(desc_at..desc_at + descsz) else { break };
        if ntype != NT_STAPSDT || owner.strip_suffix(b"\0").unwrap_or(owner) != b"stapsdt" {
            continue;
        }
        let (Some(mut pc), Some(base), Some(mut sem)) = (
            read_word(desc, 0, word, little),
            read_word(desc, word, word, little),
            read_word(desc, 2 * word, word, little),
        ) else {
            continue;
        };
        let Some((provider, after)) = read_cstr(desc, 3 * word) else { continue };
        let Some((name, after)) = read_cstr(desc, after) else { continue };
        let args = read_cstr(desc, after).map(|(a, _)| a).unwrap_or_default();
        if let Some(actual) = base_addr
            && base != 0
        {
            // Prelinked or otherwise moved: shift by how far .stapsdt.base moved.
            let delta = actual.wrapping_sub(base);
            pc = pc.wrapping_add(delta);
            if sem != 0 {
                sem = sem.wrapping_add(delta);
            }
        }
        let Some(offset) = file_offset(&obj, pc) else { continue };
        let semaphore = if sem == 0 { 0 } else { file_offset(&obj, sem).unwrap_or(0) };
        out.push(SdtNote {
            provider: String::from_utf8_lossy(provider).into_owned(),
            name: String::from_utf8_lossy(name).into_owned(),
            args: String::from_utf8_lossy(args).into_owned(),
            offset,
            semaphore,
        });
    }
    Ok(out)
}

/// The ELF files a user-space point attaches to: the executable, or the
/// libraries `.library(...)` names.
fn user_files(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<(Vec<PathBuf>, Option<u32>), Diagnostic> {
    let target = process_target(path, ctx)?;
    match path.string("library") {
        Some(spec) => Ok((libraries(&spec, &target.path, path.span("library"))?, target.pid)),
        None => Ok((vec![target.path], target.pid)),
    }
}

fn user_functions(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let pattern = path.string("function").unwrap_or_default();
    let fspan = path.span("function");
    if needs_dwarf(&pattern) {
        return Err(dwarf_error(path.point, fspan));
    }
    let (files, pid) = user_files(path, ctx)?;
    let ret = path.has("return");
    let call = path.has("call");
    let mut out = Vec::new();
    for file in files {
        let data = read_elf(&file, path.span("process"))?;
        let shown = file.display().to_string();
        for (symbol, offset) in elf_functions(&data, &file, &pattern, fspan)? {
            let mut name = format!("process({}).function({})", quote(&shown), quote(&symbol));
            if call {
                name.push_str(".call");
            }
            if ret {
                name.push_str(".return");
            }
            out.push(ResolvedPoint { kind: ProbeKind::Uprobe { path: shown.clone(), symbol, offset, ret, pid }, name });
        }
    }
    Ok(out)
}

fn usdt(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let want_name = path.string("mark").unwrap_or_default();
    let want_provider = path.string("provider");
    let (files, pid) = user_files(path, ctx)?;
    let mut out = Vec::new();
    for file in files {
        let data = read_elf(&file, path.span("process"))?;
        let shown = file.display().to_string();
        let mut seen = Vec::new();
        for note in sdt_notes(&data, &file, path.span("mark"))? {
            if !glob_match(want_provider.as_deref().unwrap_or("*"), &note.provider)
                || !glob_match(&want_name, &note.name)
            {
                continue;
            }
            if seen.contains(&(note.offset, note.provider.clone(), note.name.clone())) {
                continue;
            }
            seen.push((note.offset, note.provider.clone(), note.name.clone()));
            let name = match want_provider {
                Some(_) => format!(
                    "process({}).provider({}).mark({})",
                    quote(&shown),
                    quote(&note.provider),
                    quote(&note.name)
                ),
                None => format!("process({}).mark({})", quote(&shown), quote(&note.name)),
            };
            out.push(ResolvedPoint {
                kind: ProbeKind::Usdt {
                    path: shown.clone(),
                    provider: note.provider,
                    name: note.name,
                    offset: note.offset,
                    semaphore: note.semaphore,
                    args: note.args,
                    pid,
                },
                name,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::parse::{MacroLibrary, PpEnv, parse_file};
    use crate::source::{FileKind, SourceMap};

    fn kernel_with(config: &[(&str, &str)]) -> Kernel {
        let config: HashMap<String, String> = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Kernel::fixed("6.1.0-27-cloud-amd64", "x86_64", config)
    }

    /// Parses `probe POINT {}` with the real parser and returns the point.
    fn point(text: &str) -> ProbePoint {
        let script = format!("probe {text} {{}}\n");
        let mut sm = SourceMap::new();
        let file = sm.add("<test>", script.clone(), FileKind::User);
        let kconfig = |_: &str| None;
        let env = PpEnv {
            args: &[],
            kernel_release: "6.1.0-27-cloud-amd64",
            arch: "x86_64",
            runtime: "bpf",
            systemtap_v: "5.0",
            privilege: "stapdev",
            guru_mode: true,
            kconfig: &kconfig,
            glue_across_comments: true,
        };
        let (parsed, diags) = parse_file(&mut sm, file, &env, &MacroLibrary::default(), Default::default());
        assert!(diags.iter().all(|d| !d.is_error()), "{script}: {diags:?}");
        parsed.probes.into_iter().next().and_then(|p| p.points.into_iter().next()).expect("a probe point")
    }

    fn resolve_with(text: &str, kernel: &Kernel, guru: bool) -> Result<Vec<ResolvedPoint>, Diagnostic> {
        let ctx = PointContext { kernel, guru, target_pid: None, command: None };
        resolve(&point(text), &ctx)
    }

    fn ok(text: &str) -> Vec<ResolvedPoint> {
        resolve_with(text, &kernel_with(&[]), false).expect(text)
    }

    fn only(text: &str) -> ResolvedPoint {
        let list = ok(text);
        assert_eq!(list.len(), 1, "{text}: {list:?}");
        list.into_iter().next().expect("one result")
    }

    fn err(text: &str) -> Diagnostic {
        match resolve_with(text, &kernel_with(&[]), false) {
            Ok(list) => {
                assert!(list.is_empty() && list.len() == 1, "{text} resolved to {list:?}, expected an error");
                Diagnostic::error("unreachable")
            }
            Err(d) => d,
        }
    }

    fn timer_of(text: &str) -> (u64, u64) {
        match only(text).kind {
            ProbeKind::Timer { period_ns, randomize_ns } => (period_ns, randomize_ns),
            other => {
                assert_eq!(format!("{other:?}"), "Timer", "{text}");
                (0, 0)
            }
        }
    }

    #[test]
    fn begin_end_error_priorities() {
        assert_eq!(only("begin"), ResolvedPoint { kind: ProbeKind::Begin { priority: 0 }, name: "begin".into() });
        assert_eq!(only("begin(5)"), ResolvedPoint { kind: ProbeKind::Begin { priority: 5 }, name: "begin(5)".into() });
        assert_eq!(only("end(-3)").kind, ProbeKind::End { priority: -3 });
        assert_eq!(only("error").kind, ProbeKind::Error { priority: 0 });
        assert_eq!(only("never").kind, ProbeKind::Never);
        assert!(err("begin(\"x\")").message.contains("probe point mismatch"));
        assert!(err("never(1)").message.contains("probe point mismatch"));
    }

    #[test]
    fn timer_periods() {
        assert_eq!(timer_of("timer.s(2)"), (2_000_000_000, 0));
        assert_eq!(timer_of("timer.sec(1).randomize(1)"), (1_000_000_000, 1_000_000_000));
        assert_eq!(timer_of("timer.ms(100)"), (100_000_000, 0));
        assert_eq!(timer_of("timer.msec(10).randomize(5)"), (10_000_000, 5_000_000));
        assert_eq!(timer_of("timer.us(500)"), (500_000, 0));
        assert_eq!(timer_of("timer.usec(100)"), (100_000, 0));
        assert_eq!(timer_of("timer.ns(100000)"), (100_000, 0));
        assert_eq!(timer_of("timer.nsec(250000)"), (250_000, 0));
        assert_eq!(timer_of("timer.hz(3)"), (333_333_334, 0));
        assert_eq!(timer_of("timer.hz(1000)"), (1_000_000, 0));
        assert_eq!(only("timer.ms(100)").name, "timer.ms(100)");
        assert_eq!(only("timer.s(1).randomize(1)").name, "timer.s(1).randomize(1)");
        assert_eq!(only("timer.profile").kind, ProbeKind::Profile);
        assert_eq!(only("timer.profile.tick").kind, ProbeKind::Profile);
    }

    #[test]
    fn timer_jiffies_uses_config_hz() {
        let k100 = kernel_with(&[("CONFIG_HZ", "100")]);
        let r = resolve_with("timer.jiffies(5).randomize(2)", &k100, false).expect("jiffies");
        assert_eq!(
            r.first().map(|r| &r.kind),
            Some(&ProbeKind::Timer { period_ns: 50_000_000, randomize_ns: 20_000_000 })
        );
        // Without CONFIG_HZ: 250.
        assert_eq!(timer_of("timer.jiffies(1)"), (4_000_000, 0));
        assert_eq!(err("timer.jiffies(0)").message, "semantic error: invalid interval for jiffies timer");
        assert_eq!(err("timer.jiffies(2).randomize(3)").message, "semantic error: invalid randomize for jiffies timer");
    }

    #[test]
    fn timer_errors() {
        assert_eq!(
            err("timer.ns(1000)").message,
            "semantic error: interval value out of range (100000,86400000000000)"
        );
        assert_eq!(err("timer.us(10)").message, "semantic error: interval value out of range (100,86400000000)");
        assert_eq!(err("timer.ms(0)").message, "semantic error: interval value out of range (1,86400000)");
        assert_eq!(err("timer.ms(10).randomize(20)").message, "semantic error: randomization value out of range");
        assert_eq!(err("timer.ms(10).randomize(-1)").message, "semantic error: randomization value out of range");
        assert_eq!(err("timer.hz(0)").message, "semantic error: frequency must be greater than 0");
        let d = err("timer.hz(10).randomize(1)");
        assert!(d.message.starts_with("semantic error: probe point mismatch"), "{}", d.message);
        assert!(d.message.contains("'randomize'"), "{}", d.message);
        assert!(d.notes.iter().any(|n| n == "nothing may follow 'hz' here"), "{:?}", d.notes);
        assert!(err("timer.ms").message.contains("probe point mismatch"));
    }

    #[test]
    fn perf_events() {
        let perf = |text: &str| only(text).kind;
        assert_eq!(
            perf("perf.sw.cpu_clock"),
            ProbeKind::Perf { type_: 1, config: 0, sample_period: 1_000_000, frequency: false, process: None }
        );
        assert_eq!(
            perf("perf.sw.page_faults_maj.sample(4000)"),
            ProbeKind::Perf { type_: 1, config: 6, sample_period: 4000, frequency: false, process: None }
        );
        assert_eq!(
            perf("perf.hw.cache_misses"),
            ProbeKind::Perf { type_: 0, config: 3, sample_period: 1_000_000, frequency: false, process: None }
        );
        assert_eq!(
            perf("perf.hw.ref_cpu_cycles.process(\"/bin/ls\")"),
            ProbeKind::Perf {
                type_: 0,
                config: 9,
                sample_period: 1_000_000,
                frequency: false,
                process: Some("/bin/ls".into())
            }
        );
        // `.process` without a path counts the target (-x/-c) process.
        let k = kernel_with(&[]);
        let ctx = PointContext { kernel: &k, guru: false, target_pid: Some(1), command: None };
        let r = resolve(&point("perf.type(4).config(42).sample(10).process"), &ctx).expect("with -x");
        assert_eq!(
            r.first().map(|p| p.kind.clone()),
            Some(ProbeKind::Perf {
                type_: 4,
                config: 42,
                sample_period: 10,
                frequency: false,
                process: Some(String::new())
            })
        );
        assert!(err("perf.type(4).config(42).process").message.contains("needs a target process"));
        assert_eq!(only("perf.sw.task_clock.sample(100)").name, "perf.sw.task_clock.sample(100)");
        assert!(err("perf.sw.cpu_clok").message.contains("similar: cpu_clock"));
        // Wildcards fan out over the event names.
        assert_eq!(ok("perf.sw.page_faults*").len(), 3);
    }

    #[test]
    fn wildcard_components() {
        assert_eq!(only("be*(7)").kind, ProbeKind::Begin { priority: 7 });
        // `**` spans components.
        let r = only("ti**es(2)");
        assert_eq!(r.name, "timer.jiffies(2)");
        let ms = ok("timer.m*(10)");
        let names: Vec<&str> = ms.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["timer.ms(10)", "timer.msec(10)"]);
    }

    #[test]
    fn unsupported_families() {
        for text in [
            "procfs(\"x\").read",
            "procfs",
            "netfilter.hook(\"NF_INET_PRE_ROUTING\")",
            "kernel.data(4096).write",
            "kernel.mark(\"x\")",
            "python3.module(\"m\").function(\"f\")",
            "java(\"org.x\").class(\"C\").method(\"m\")",
            "process.begin",
            "process(\"/bin/true\").end",
            "process.thread.begin",
            "process.syscall",
            "process(\"/bin/true\").plt",
            "process(\"/bin/true\").insn",
            "process(\"/bin/true\").statement(\"main@x.c:3\")",
            "kernel.function(\"vfs_read\").inline",
            "kernel.function(\"vfs_read\").label(\"out\")",
            "kernel.function(\"vfs_read\").callees",
            "kernel.statement(\"vfs_read@fs/read_write.c:10\")",
        ] {
            let d = err(text);
            assert!(
                d.message.starts_with("semantic error: probe point not supported by stp: "),
                "{text}: {}",
                d.message
            );
            assert!(d.message.ends_with(text), "{text}: {}", d.message);
            assert!(!d.notes.is_empty(), "{text}");
        }
    }

    #[test]
    fn mismatch_suggests_similar_names() {
        let d = err("kernl.function(\"x\")");
        assert_eq!(d.message, "semantic error: probe point mismatch (similar: kernel): identifier 'kernl'");
        let p = point("kernl.function(\"x\")");
        assert_eq!(d.span(), p.components.first().map(|c| c.span));
        let d = err("kernel.functoin(\"x\")");
        assert_eq!(d.message, "semantic error: probe point mismatch (similar: function): identifier 'functoin'");
        assert_eq!(d.span(), point("kernel.functoin(\"x\")").components.get(1).map(|c| c.span));
        let d = err("foo");
        assert_eq!(d.message, "semantic error: probe point mismatch: identifier 'foo'");
        let d = err("kernel");
        assert!(d.message.contains("identifier 'kernel'"), "{}", d.message);
        assert!(d.notes.iter().any(|n| n.contains("function")), "{:?}", d.notes);
        // maxactive only after return.
        assert!(err("kernel.function(\"f\").maxactive(3)").message.contains("probe point mismatch"));
    }

    #[test]
    fn dwarf_function_patterns_are_rejected() {
        let d = err("kernel.function(\"vfs_read@fs/x.c\")");
        assert_eq!(
            d.message,
            "semantic error: probe point needs DWARF debuginfo, which stp does not use: kernel.function(\"vfs_read@fs/x.c\")"
        );
        assert!(d.help.is_some());
        let d = err("module(\"ext4\").function(\"*@fs/*.c:10\").return");
        assert!(d.message.contains("needs DWARF debuginfo"), "{}", d.message);
        let d = err("process(\"/bin/true\").function(\"main@x.c\")");
        assert!(d.message.contains("needs DWARF debuginfo"), "{}", d.message);
    }

    #[test]
    fn dwarf_forms() {
        assert!(needs_dwarf("vfs_read@fs/read_write.c"));
        assert!(needs_dwarf("*@fs/*.c:10"));
        assert!(needs_dwarf("vfs_read:12"));
        assert!(needs_dwarf("f:10-20"));
        assert!(!needs_dwarf("vfs_read"));
        assert!(!needs_dwarf("std::vector*"));
        assert!(!needs_dwarf("ns::f"));
    }

    #[test]
    fn absolute_statement_needs_guru() {
        let d = err("kernel.statement(0xffff).absolute");
        assert_eq!(d.message, "semantic error: absolute statement probe in unprivileged script; need stap -g");
        let r = resolve_with("kernel.statement(0xffff).absolute", &kernel_with(&[]), true).expect("guru");
        assert_eq!(
            r,
            vec![ResolvedPoint {
                kind: ProbeKind::KernelStatement { addr: 0xffff },
                name: "kernel.statement(0xffff).absolute".into()
            }]
        );
    }

    #[test]
    fn process_needs_a_target() {
        let d = err("process.function(\"main\")");
        assert_eq!(d.message, "semantic error: process probe needs a path, -c CMD or -x PID");
        let d = err("process(\"/nonexistent/prog\").function(\"main\")");
        assert_eq!(d.message, "semantic error: cannot find executable '/nonexistent/prog'");
    }

    #[test]
    fn uprobe_symbols_of_the_test_binary() {
        let exe = std::env::current_exe().expect("current_exe");
        let exe = exe.canonicalize().unwrap_or(exe);
        let shown = exe.display().to_string();
        let text = format!("process({}).function(\"main\")", quote(&shown));
        let r = only(&text);
        assert_eq!(r.name, format!("process({}).function(\"main\")", quote(&shown)));
        match &r.kind {
            ProbeKind::Uprobe { path, symbol, offset, ret, pid } => {
                assert_eq!(path, &shown);
                assert_eq!(symbol, "main");
                assert!(*offset > 0);
                assert!(!ret);
                assert_eq!(*pid, None);
            }
            other => assert_eq!(format!("{other:?}"), "Uprobe"),
        }
        let r = only(&format!("process({}).function(\"main\").return", quote(&shown)));
        assert!(matches!(r.kind, ProbeKind::Uprobe { ret: true, .. }));
        assert!(r.name.ends_with(".return"));
        // -c: the command's first word.
        let k = kernel_with(&[]);
        let cmd = format!("{shown} --nocapture");
        let ctx = PointContext { kernel: &k, guru: false, target_pid: None, command: Some(&cmd) };
        let r = resolve(&point("process.function(\"main\")"), &ctx).expect("-c");
        assert_eq!(r.len(), 1);
        // -x: /proc/PID/exe.
        let pid = std::process::id();
        let ctx = PointContext { kernel: &k, guru: false, target_pid: Some(pid), command: None };
        let r = resolve(&point("process.function(\"main\")"), &ctx).expect("-x");
        assert!(matches!(r.first().map(|r| &r.kind), Some(ProbeKind::Uprobe { pid: Some(p), .. }) if *p == pid));
        // No such symbol: matched nothing, no error.
        assert!(ok(&format!("process({}).function(\"no_such_function_xyz\")", quote(&shown))).is_empty());
    }

    #[test]
    fn uprobe_offset_is_a_file_offset() {
        // Compare against a hand conversion through the program headers.
        let exe = std::env::current_exe().expect("current_exe");
        let data = std::fs::read(&exe).expect("read self");
        let obj = object::File::parse(&*data).expect("parse self");
        let sym = obj.symbols().find(|s| s.name() == Ok("main")).expect("main symbol");
        let seg = obj
            .segments()
            .find(|s| (s.address()..s.address() + s.size()).contains(&sym.address()))
            .expect("segment of main");
        let expect = sym.address() - seg.address() + seg.file_range().0;
        let found = elf_functions(&data, &exe, "main", Span::new(crate::source::FileId(0), 0, 0)).expect("symbols");
        assert_eq!(found, vec![("main".to_string(), expect)]);
    }

    #[test]
    fn uprobe_in_system_binaries() {
        let Some(t) = find_executable("true") else {
            assert!(!in_ci(), "CI machines have true(1)");
            eprintln!("skipped: no true(1) on PATH");
            return;
        };
        let shown = t.display().to_string();
        // process("true") is looked up in $PATH and named by its full path.
        let r = ok("process(\"true\").function(\"*\")");
        assert!(r.iter().all(|r| r.name.starts_with(&format!("process({})", quote(&shown)))));
        // A library by soname, through the executable's DT_NEEDED.
        let libc = ok("process(\"true\").library(\"libc.so.6\").function(\"malloc\")");
        assert!(!libc.is_empty(), "libc malloc");
        if let Some(first) = libc.first() {
            assert!(first.name.contains("libc.so.6\").function(\"malloc\")"), "{}", first.name);
            assert!(matches!(&first.kind, ProbeKind::Uprobe { symbol, .. } if symbol == "malloc"));
        }
        let d = err("process(\"true\").library(\"libnosuchlib.so.9\").function(\"f\")");
        assert_eq!(d.message, "semantic error: cannot find library 'libnosuchlib.so.9'");
    }

    fn in_ci() -> bool {
        std::env::var("CI").as_deref() == Ok("true")
    }

    /// Whether a system file a test reads is there; in CI it must be.
    fn present(path: &str) -> bool {
        if Path::new(path).exists() {
            return true;
        }
        assert!(!in_ci(), "CI machines have {path}");
        eprintln!("skipped: {path} is not installed");
        false
    }

    #[test]
    fn usdt_notes() {
        let lib = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
        if !present(lib) {
            return;
        }
        let canon = Path::new(lib).canonicalize().map(|p| p.display().to_string()).unwrap_or(lib.into());
        let r = ok(&format!("process(\"{lib}\").mark(\"throw\")"));
        assert!(!r.is_empty());
        for p in &r {
            assert_eq!(p.name, format!("process(\"{canon}\").mark(\"throw\")"));
            match &p.kind {
                ProbeKind::Usdt { provider, name, offset, semaphore, path, .. } => {
                    assert_eq!(provider, "libstdcxx");
                    assert_eq!(name, "throw");
                    assert_eq!(path, &canon);
                    assert!(*offset > 0);
                    assert_eq!(*semaphore, 0);
                }
                other => assert_eq!(format!("{other:?}"), "Usdt"),
            }
        }
        let r = ok(&format!("process(\"{lib}\").provider(\"libstd*\").mark(\"*\")"));
        assert!(r.len() >= 2);
        assert!(r.iter().all(|p| p.name.contains(".provider(\"libstdcxx\").mark(")));
        assert!(ok(&format!("process(\"{lib}\").provider(\"nope\").mark(\"throw\")")).is_empty());
        // Semaphores become file offsets too.
        let py = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0";
        if present(py) {
            // The semaphore is a variable in the data segment: its file
            // offset lies inside the file, past the code.
            let size = std::fs::metadata(py).map(|m| m.len()).unwrap_or(0);
            let r = ok(&format!("process(\"{py}\").mark(\"function__entry\")"));
            assert!(
                r.iter().any(|p| matches!(p.kind, ProbeKind::Usdt { offset, semaphore, .. }
                    if offset > 0 && semaphore > offset && semaphore < size)),
                "{r:?}"
            );
        }
    }

    #[test]
    fn tracepoints_and_kernel_functions_use_the_kernel_model() {
        // The snapshot in tests/kernel.
        let k = Kernel::snapshot(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kernel"));
        let names = |text: &str| -> Vec<String> {
            resolve_with(text, &k, false).expect(text).into_iter().map(|p| p.name).collect()
        };
        assert_eq!(names("kernel.trace(\"sched:sched_switch\")"), ["kernel.trace(\"sched:sched_switch\")"]);
        assert_eq!(names("kernel.trace(\"sched_switch\")"), ["kernel.trace(\"sched:sched_switch\")"]);
        let wakeups = names("kernel.trace(\"sched:sched_wak*\")");
        assert!(
            wakeups.len() >= 3 && wakeups.iter().all(|n| n.starts_with("kernel.trace(\"sched:sched_wak")),
            "{wakeups:?}"
        );
        let r = resolve_with("kerne*.funct*(\"vfs_read\").return", &k, false).expect("vfs_read");
        assert_eq!(r.len(), 1);
        assert!(
            r.iter().all(
                |p| matches!(&p.kind, ProbeKind::KernelFunction { ret: true, func, .. } if func.name == "vfs_read")
            )
        );
        let r = resolve_with("kprobe.function(\"vfs_read\").return.maxactive(10)", &k, false).expect("maxactive");
        assert!(matches!(r.first().map(|p| &p.kind), Some(ProbeKind::KernelFunction { maxactive: Some(10), .. })));
        let all = names("kernel.function(\"vfs_*\")");
        assert!(all.len() > 20 && all.contains(&"kernel.function(\"vfs_write\")".to_string()), "{all:?}");
        assert!(names("kernel.function(\"no_such_function_here\")").is_empty());
        // A kernel without BTF cannot say which functions it has.
        let e = resolve_with("kernel.function(\"vfs_read\")", &kernel_with(&[]), false).expect_err("no BTF");
        assert!(e.message.contains("kernel BTF is not available"), "{}", e.message);
    }
}
