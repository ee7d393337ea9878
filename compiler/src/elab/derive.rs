//! Probe aliases: expanding a user's probe points through `=` and `+=`
//! aliases (of aliases, with suffixes, wildcards, several definitions of
//! one name) down to concrete points, and building each derived probe's
//! body with the alias prologues before and epilogues after the user's.

use super::points::{self, PointContext, ProbeKind, ResolvedPoint};
use super::symbols::{PendingProbe, Session};
use super::{DerivedProbe, Placement, glob_match, origin_of};
use crate::diag::Diagnostic;
use crate::parse::ast::{Block, Component, Expr, ExprKind, LogicalOp, ProbeAlias, ProbePoint, Stmt, StmtKind};
use crate::source::Span;

/// An alias the session can see.
pub(crate) struct AliasDef<'a> {
    /// Each name's components (brace expansion gives several names).
    pub names: Vec<Vec<String>>,
    pub def: &'a ProbeAlias,
    /// The library file that defines it, pulled in when it is used.
    pub lib: Option<usize>,
}

/// One concrete point reached from a user's point.
struct Expansion {
    /// Aliases crossed, the one the user named first.
    path: Vec<usize>,
    point: ResolvedPoint,
    conditions: Vec<Expr>,
}

const MAX_ALIAS_DEPTH: usize = 32;
/// The alias expansions one probe may take. Wildcards that match aliases
/// whose points are wildcards again branch at every level: without a
/// budget, a recursive set of them takes exponential time before it
/// reaches the depth limit.
const MAX_ALIAS_STEPS: usize = 20_000;

/// Placement of a concrete point's handler.
pub fn placement_of(kind: &ProbeKind) -> Placement {
    match kind {
        ProbeKind::Begin { .. }
        | ProbeKind::End { .. }
        | ProbeKind::Error { .. }
        | ProbeKind::Never
        | ProbeKind::Prometheus
        | ProbeKind::Timer { .. } => Placement::User,
        _ => Placement::Kernel,
    }
}

/// Derived probes that share a handler: (alias path, placement, condition
/// text, conditions, points).
type Group = (Vec<usize>, Placement, String, Vec<Expr>, Vec<ResolvedPoint>);

impl<'a> Session<'a> {
    pub(crate) fn collect_aliases(&mut self) {
        let names_of = |a: &ProbeAlias| -> Vec<Vec<String>> {
            a.names.iter().map(|n| n.components.iter().map(|c| c.name.clone()).collect()).collect()
        };
        for s in self.user {
            for a in &s.aliases {
                for n in &a.names {
                    if n.components.iter().any(|c| super::has_glob(&c.name)) {
                        let shown = crate::parse::printer::print_point(n);
                        self.error(Diagnostic::semantic_error(
                            format!("probe alias name '{shown}' may not contain wildcards"),
                            n.span,
                        ));
                    }
                }
                self.aliases.push(AliasDef { names: names_of(a), def: a, lib: None });
            }
        }
        let library = self.library;
        for (i, f) in library.files.iter().enumerate() {
            let Some(s) = &f.script else { continue };
            for a in &s.aliases {
                self.aliases.push(AliasDef { names: names_of(a), def: a, lib: Some(i) });
            }
        }
        self.alias_first.clear();
        for (ai, a) in self.aliases.iter().enumerate() {
            for first in a.names.iter().filter_map(|n| n.first()) {
                let list = self.alias_first.entry(first.clone()).or_default();
                if list.last() != Some(&ai) {
                    list.push(ai);
                }
            }
        }
    }

    /// Aliases a point names, each with how many of the point's leading
    /// components spell the alias name (the rest is a suffix added to the
    /// alias's own points), most components first. A component holding
    /// `**` may spell several components of a name (stap's doubleglob).
    fn match_aliases(&self, point: &ProbePoint) -> Vec<(usize, usize)> {
        let mut found: Vec<(usize, usize)> = Vec::new();
        // A first component without wildcards must spell the alias
        // name's first component exactly: a cheap test that skips most of
        // a large library (the syscall family has thousands of aliases).
        let first = point.components.first().map(|c| c.name.as_str()).filter(|n| !super::has_glob(n));
        let all: Vec<usize>;
        let candidates: &[usize] = match first {
            Some(f) => self.alias_first.get(f).map_or(&[], Vec::as_slice),
            None => {
                all = (0..self.aliases.len()).collect();
                &all
            }
        };
        for &ai in candidates {
            let Some(a) = self.aliases.get(ai) else { continue };
            for name in &a.names {
                if name.is_empty() || first.is_some_and(|f| name.first().is_some_and(|n| n != f)) {
                    continue;
                }
                let mut used = Vec::new();
                spell(&point.components, name, 0, &mut used);
                for u in used {
                    if !found.contains(&(ai, u)) {
                        found.push((ai, u));
                    }
                }
            }
        }
        // Stable: aliases keep their order within one length.
        found.sort_by_key(|&(_, u)| std::cmp::Reverse(u));
        found
    }

    /// One alias's expansions for a point, `used` of whose components
    /// spell the alias name.
    fn expand_alias(
        &mut self,
        point: &ProbePoint,
        ai: usize,
        used: usize,
        optional: bool,
        depth: usize,
    ) -> Result<Vec<Expansion>, Diagnostic> {
        let mut out = Vec::new();
        let Some(alias) = self.aliases.get(ai) else { return Ok(out) };
        let (def, lib) = (alias.def, alias.lib);
        if let Some(i) = lib {
            self.pull(i);
        }
        let suffix = point.components.get(used..).unwrap_or_default();
        for q in &def.points {
            let mut q = q.clone();
            q.components.extend(suffix.iter().cloned());
            let sub = match self.expand(&q, optional, depth + 1) {
                Ok(sub) => sub,
                Err(_) if optional => Vec::new(),
                Err(e) => return Err(e),
            };
            let hit = !sub.is_empty();
            for mut x in sub {
                x.path.insert(0, ai);
                if let Some(c) = &point.condition {
                    x.conditions.push(c.clone());
                }
                out.push(x);
            }
            if hit && q.sufficient {
                break;
            }
        }
        Ok(out)
    }

    fn expand(&mut self, point: &ProbePoint, optional: bool, depth: usize) -> Result<Vec<Expansion>, Diagnostic> {
        let optional = optional || point.optional || point.sufficient;
        if depth > MAX_ALIAS_DEPTH {
            return Err(Diagnostic::semantic_error("probe alias expansion is too deep (recursive alias?)", point.span));
        }
        // Once spent, the budget stays spent: every pending expansion
        // unwinds at once, and the probe reports it.
        if self.alias_steps == 0 {
            return Err(Diagnostic::semantic_error(
                format!("probe alias expansion takes more than {MAX_ALIAS_STEPS} steps (recursive aliases?)"),
                point.span,
            ));
        }
        self.alias_steps -= 1;
        let mut out = Vec::new();
        let matches = self.match_aliases(point);
        let wild = point.components.iter().any(|c| super::has_glob(&c.name));
        // A plain point takes the aliases spelled by the most components.
        // A wildcard point (as stap's match tree does) ignores the errors of
        // the aliases it happens to match, and falls back to shorter names
        // with a suffix when the longer ones give nothing.
        let mut i = 0;
        while let Some(&(_, len)) = matches.get(i) {
            if i > 0 && (!wild || !out.is_empty()) {
                break;
            }
            while let Some(&(ai, used)) = matches.get(i)
                && used == len
            {
                i += 1;
                match self.expand_alias(point, ai, used, optional, depth) {
                    Ok(x) => out.extend(x),
                    Err(_) if wild => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if matches.is_empty() || wild {
            let ctx = PointContext {
                kernel: self.opts.kernel,
                guru: self.opts.guru,
                target_pid: self.opts.target_pid,
                command: self.opts.command,
            };
            match points::resolve(point, &ctx) {
                Ok(list) => {
                    for p in list {
                        out.push(Expansion {
                            path: Vec::new(),
                            point: p,
                            conditions: point.condition.iter().cloned().collect(),
                        });
                    }
                }
                Err(e) => {
                    if matches.is_empty() && !optional {
                        return Err(e);
                    }
                }
            }
        }
        if out.is_empty() && !optional {
            let shown = crate::parse::printer::print_point(point);
            return Err(Diagnostic::semantic_error(format!("probe point '{shown}' matched nothing"), point.span)
                .with_help("add '?' to the probe point if it may match nothing"));
        }
        Ok(out)
    }

    /// Expands one probe into derived probes and resolves their bodies.
    pub(crate) fn derive(&mut self, p: PendingProbe) {
        let origin = origin_of(&p.probe.points);
        let mut expansions = Vec::new();
        self.alias_steps = MAX_ALIAS_STEPS;
        for point in &p.probe.points {
            let expanded = self.expand(point, false, 0);
            let expanded = if self.alias_steps == 0 {
                Err(Diagnostic::semantic_error(
                    format!("probe alias expansion takes more than {MAX_ALIAS_STEPS} steps (recursive aliases?)"),
                    point.span,
                ))
            } else {
                expanded
            };
            match expanded {
                Ok(x) => {
                    let reached: Vec<&ResolvedPoint> = x.iter().map(|e| &e.point).collect();
                    if let Some(w) = super::coverage::syscall_coverage(self.opts.kernel, point, &reached) {
                        self.error(w);
                    }
                    let hit = !x.is_empty();
                    expansions.extend(x);
                    if hit && point.sufficient {
                        break;
                    }
                }
                Err(d) => {
                    let shown = crate::parse::printer::print_point(point);
                    let d = if d.span().is_some() { d } else { d.at(point.span, "") };
                    self.error(d.with_note(format!("while resolving probe point {shown}")));
                    return;
                }
            }
        }
        // Group the concrete points by the aliases crossed, placement and condition.
        let mut groups: Vec<Group> = Vec::new();
        // (group, point key) pairs already placed: a wildcard can name
        // tens of thousands of points.
        let mut seen: std::collections::HashSet<(usize, String)> = std::collections::HashSet::new();
        for x in expansions {
            let place = placement_of(&x.point.kind);
            let mut cond_key: String =
                x.conditions.iter().map(crate::parse::printer::print_expr).collect::<Vec<_>>().join("&&");
            // Each guarded point (process life-cycle) tests its own event.
            if let Some(g) = &x.point.guard {
                cond_key.push_str(&format!(" guard {g:?}"));
            }
            match groups.iter().position(|g| g.0 == x.path && g.1 == place && g.2 == cond_key) {
                Some(i) => {
                    if seen.insert((i, x.point.key()))
                        && let Some(g) = groups.get_mut(i)
                    {
                        g.4.push(x.point);
                    }
                }
                None => {
                    seen.insert((groups.len(), x.point.key()));
                    groups.push((x.path, place, cond_key, x.conditions, vec![x.point]));
                }
            }
        }
        // Target expressions resolve per point (a wildcard's functions have
        // different parameters): such bodies get one probe per point.
        let per_point = super::target::uses_targets(&p.probe.body)
            || path_bodies_use_targets(&groups.iter().flat_map(|g| g.0.clone()).collect::<Vec<_>>(), &self.aliases);
        let groups: Vec<_> = if per_point {
            groups
                .into_iter()
                .flat_map(|(path, place, key, conds, points)| {
                    points.into_iter().map(move |pt| (path.clone(), place, key.clone(), conds.clone(), vec![pt]))
                })
                .collect()
        } else {
            groups
        };
        for (path, placement, _, conditions, points) in groups {
            let mut body = p.probe.body.clone();
            for ai in &path {
                let Some(a) = self.aliases.get(*ai) else { continue };
                let alias_body = Stmt { span: a.def.body.span, kind: StmtKind::Block(a.def.body.clone()) };
                let user = Stmt { span: body.span, kind: StmtKind::Block(body) };
                let mut stmts = if a.def.epilogue { vec![user, alias_body] } else { vec![alias_body, user] };
                if let Some(b) = &a.def.epilogue_body {
                    stmts.push(Stmt { span: b.span, kind: StmtKind::Block(b.clone()) });
                }
                body = Block { stmts, span: p.probe.body.span };
            }
            if let Some(g) = points.first().and_then(|pt| pt.guard.as_ref()) {
                body = points::process::guarded(g, body);
            }
            let condition = conditions.into_iter().reduce(|a, b| {
                let span = a.span;
                Expr::new(ExprKind::Logical { op: LogicalOp::And, lhs: Box::new(a), rhs: Box::new(b) }, span)
            });
            let mut probe = DerivedProbe {
                origin: origin.clone(),
                points,
                body,
                locals: Vec::new(),
                condition,
                placement,
                file: p.file,
                span: p.probe.span,
                from_tapset: p.from_tapset,
            };
            self.probe_writes = super::uses::assigned_names(&p.probe.body);
            // A library's own probe (not an alias of it) sees only the
            // library's globals, as its functions do.
            self.in_library_function = p.from_tapset;
            self.resolve_probe_body(&mut probe);
            self.in_library_function = false;
            self.probes.push(probe);
        }
    }
}

/// Ways the leading components of a point spell an alias name: each way's
/// count of components used (past `used`) is pushed onto `out`. A `**`
/// component spells one or more name components, matched against them
/// joined with dots; any other one spells exactly one.
fn spell(comps: &[Component], name: &[String], used: usize, out: &mut Vec<usize>) {
    if name.is_empty() {
        out.push(used);
        return;
    }
    let Some((c, rest)) = comps.split_first() else { return };
    if c.arg.is_some() {
        return;
    }
    if c.name.contains("**") {
        for k in 1..=name.len() {
            let (head, tail) = name.split_at(k);
            if glob_match(&c.name, &head.join(".")) {
                spell(rest, tail, used + 1, out);
            }
        }
    } else if let Some((n, tail)) = name.split_first()
        && (c.name == *n || glob_match(&c.name, n))
    {
        spell(rest, tail, used + 1, out);
    }
}

fn path_bodies_use_targets(path: &[usize], aliases: &[AliasDef<'_>]) -> bool {
    path.iter().any(|&i| {
        aliases.get(i).is_some_and(|a| {
            super::target::uses_targets(&a.def.body)
                || a.def.epilogue_body.as_ref().is_some_and(super::target::uses_targets)
        })
    })
}

/// A span for nodes made up by expansion.
pub fn no_span() -> Span {
    Span::DUMMY
}
