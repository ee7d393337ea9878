//! The grammar of built-in probe points: a template tree of every family
//! stp knows (and of the SystemTap families it refuses, so that those get
//! "not supported" rather than "mismatch"), and the matching of a point's
//! components against it, wildcards included.
//!
//! In: a [`ProbePoint`]'s components. Out: every complete path through the
//! tree they match, each with the [`Family`] it builds and the template
//! components matched ([`MatchedPath`]), or the deepest [`Failure`] for the
//! `probe point mismatch` diagnostic. Nothing here looks at the kernel or
//! at files.

use std::sync::OnceLock;

use super::perf::{PERF_HW, PERF_SW};
use crate::diag::{Diagnostic, edit_distance};
use crate::glob::{glob_match, has_glob};
use crate::parse::ast::{Component, Literal, ProbePoint};
use crate::parse::lexer::escape_bytes;
use crate::source::Span;

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
pub(super) enum Family {
    Begin,
    End,
    Error,
    Never,
    /// `prometheus`: run on the user side at each scrape of `--metrics`.
    Prometheus,
    KFunc,
    KStatement,
    Trace,
    UFunc,
    Usdt,
    Timer,
    Profile,
    Perf,
    /// `process(...).begin`, `.end`, `.thread.*`, `.syscall[.return]`.
    Lifecycle,
    /// A SystemTap family stp does not implement; the text names it.
    Unsupported(&'static str),
}

pub(super) struct Node {
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

const DWARF_INLINE: &str = "inline-instance probes, which need DWARF debuginfo";
const DWARF_LABEL: &str = "label probes, which need DWARF debuginfo";
const DWARF_CALLEE: &str = "callee probes, which need DWARF debuginfo";
const DWARF_STATEMENT: &str = "statement probes, which need DWARF debuginfo";
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

pub(super) fn tree() -> &'static Node {
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
        leaf("begin", Arg::None, Family::Lifecycle),
        leaf("end", Arg::None, Family::Lifecycle),
        node(
            "thread",
            Arg::None,
            None,
            vec![leaf("begin", Arg::None, Family::Lifecycle), leaf("end", Arg::None, Family::Lifecycle)],
        ),
        node("syscall", Arg::None, Some(Family::Lifecycle), vec![leaf("return", Arg::None, Family::Lifecycle)]),
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
            leaf("prometheus", Arg::None, Family::Prometheus),
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
            unsup("procfs", Arg::OptStr, PROCFS),
            unsup("netfilter", Arg::None, NETFILTER),
            unsup("input", Arg::None, INPUT),
            unsup("stap", Arg::None, STAP_MARKS),
            unsup("staprun", Arg::None, STAP_MARKS),
            unsup("stapio", Arg::None, STAP_MARKS),
            unsup("python2", Arg::None, "Python probes"),
            unsup("python3", Arg::None, "Python probes"),
            unsup("java", Arg::Str, "Java probes"),
        ],
    )
}

/// Why `procfs(...)` probes are refused, and what to use instead.
const PROCFS: &str = "procfs probes: they are files a kernel module serves under \
/proc/systemtap/MODULE, and stp loads no module; publish values with `probe prometheus` \
(--metrics ADDR:PORT) or print them from a timer probe";

/// Why `netfilter.*` probes are refused.
const NETFILTER: &str = "netfilter hooks yet: they need BPF netfilter programs \
(BPF_PROG_TYPE_NETFILTER, kernel 6.4 and later), which stp does not load yet; \
observe packets with the netdev.*, tcp.* and udp.* probes or kernel.trace(\"net:*\")";

/// Why `input.char` and `input.line` are refused.
const INPUT: &str = "input.char and input.line: SystemTap feeds them its standard \
input through a procfs file of its module, and stp has no module; pass data as script \
arguments ($1, @1) instead";

/// Why `stap.*`, `staprun.*` and `stapio.*` are refused.
const STAP_MARKS: &str = "the stap.*, staprun.* and stapio.* probes: they are static \
marks in SystemTap's own programs, which stp does not run (stp's passes are timed by -v)";

// ---------------------------------------------------------------------------
// Matching a point against the tree
// ---------------------------------------------------------------------------

/// One template component a point's component matched.
#[derive(Clone)]
pub(super) struct Step<'p> {
    pub(super) name: &'static str,
    pub(super) arg: Option<&'p Literal>,
    pub(super) span: Span,
}

/// The deepest place where matching failed.
pub(super) struct Failure {
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

pub(super) struct Walker<'p> {
    pub(super) comps: &'p [Component],
    pub(super) matches: Vec<(Family, Vec<Step<'p>>)>,
    pub(super) failure: Option<Failure>,
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

    pub(super) fn walk(&mut self, node: &'static Node, i: usize, path: &mut Vec<Step<'p>>) {
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

pub(super) fn mismatch(point: &ProbePoint, failure: Option<Failure>) -> Diagnostic {
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

pub(super) struct MatchedPath<'p> {
    pub(super) steps: Vec<Step<'p>>,
    pub(super) point: &'p ProbePoint,
}

impl MatchedPath<'_> {
    pub(super) fn step(&self, name: &str) -> Option<&Step<'_>> {
        self.steps.iter().find(|s| s.name == name)
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.step(name).is_some()
    }

    pub(super) fn num(&self, name: &str) -> Option<i64> {
        match self.step(name)?.arg? {
            Literal::Number(n) => Some(*n),
            Literal::String(_) => None,
        }
    }

    pub(super) fn string(&self, name: &str) -> Option<String> {
        match self.step(name)?.arg? {
            Literal::String(s) => Some(String::from_utf8_lossy(s).into_owned()),
            Literal::Number(_) => None,
        }
    }

    pub(super) fn span(&self, name: &str) -> Span {
        self.step(name).map_or(self.point.span, |s| s.span)
    }

    /// The path as stap writes it: template names with their arguments.
    pub(super) fn canonical(&self) -> String {
        let parts: Vec<String> = self.steps.iter().map(|s| component_text(s.name, s.arg)).collect();
        parts.join(".")
    }
}

pub(super) fn quote(s: &str) -> String {
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
pub(super) fn written(point: &ProbePoint) -> String {
    let parts: Vec<String> =
        point.components.iter().map(|c| component_text(&c.name, c.arg.as_ref().map(|(l, _)| l))).collect();
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::super::ProbeKind;
    use super::super::testing::{err, ok, only, point};

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
            "input.char",
            "stap.pass0",
            "staprun.insert_module",
            "kernel.data(4096).write",
            "kernel.mark(\"x\")",
            "python3.module(\"m\").function(\"f\")",
            "java(\"org.x\").class(\"C\").method(\"m\")",
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
}
