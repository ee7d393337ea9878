//! The coverage of SystemTap's tapset reference, `docs/tapset-functions.md`,
//! made from the compiler itself: every function of the reference
//! (`docs/tapset-reference.tsv`, written by `tools/tapset_reference.py`
//! from the `function::NAME(3stap)` pages) is called, in each of its
//! forms, from a kernel-placed handler (`kernel.function("vfs_read")`,
//! then its `.return`) and from a user-placed one (`begin`), through
//! `stp -p3` against the kernel snapshot in `tests/kernel`. What
//! translates is available there; what stp refuses is listed with stp's
//! own reason; an unresolved name is missing.
//!
//! The test fails when the committed file differs from what the compiler
//! says now; `UPDATE_TAPSET_DOC=1 cargo test --test tapset_functions`
//! rewrites it.

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::fmt::Write as _;
use std::process::Command;

use common::{crashed, root, run_in, stp};

/// One function of the reference.
struct Function {
    name: String,
    family: String,
    forms: Vec<Form>,
}

/// One signature: `name:ret(arg:type,...)`.
struct Form {
    text: String,
    /// Whether it returns a value.
    value: bool,
    /// Whether each argument is a string.
    args: Vec<bool>,
}

/// Pages of the reference that leave out the return type of a function
/// that has one.
const UNTYPED_RESULTS: &[&str] = &[
    "tz_ctime",
    "signal_str",
    "sa_handler_str",
    "target_set_pid",
    "fullpath_struct_nameidata",
    "sprint_syms",
    "sprint_usyms",
    "tz_gmtoff",
    "tz_name",
    "user_string_n_nofault",
];

fn parse_form(name: &str, text: &str) -> Form {
    let open = text.find('(').unwrap();
    let head = &text[..open];
    let args = text[open + 1..text.len() - 1].split(',').filter(|a| !a.is_empty());
    Form {
        text: text.to_string(),
        value: head.contains(':') || UNTYPED_RESULTS.contains(&name),
        args: args.map(|a| a.ends_with(":string")).collect(),
    }
}

fn reference() -> Vec<Function> {
    let text = std::fs::read_to_string(root().join("docs/tapset-reference.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let name = cols[0].to_string();
            let forms = cols[2].split(" | ").map(|f| parse_form(&name, f)).collect();
            Function { name, family: cols[1].to_string(), forms }
        })
        .collect()
}

/// Arguments a function needs to mean anything (a register's name).
fn argument(name: &str, string: bool) -> &'static str {
    match (name, string) {
        ("register" | "u_register", true) => "\"ax\"",
        (_, true) => "\"x\"",
        (_, false) => "1",
    }
}

/// The statement calling `form`, its value used (else the optimizer could
/// drop it); a call without a value is followed by a print, so that a
/// handler whose call changes nothing (`asmlinkage()`) is not empty.
fn call(f: &Function, form: &Form) -> String {
    let args: Vec<&str> = form.args.iter().map(|s| argument(&f.name, *s)).collect();
    let call = format!("{}({})", f.name, args.join(", "));
    if form.value { format!("println({call})") } else { format!("{call} println(\"\")") }
}

/// What stp says of one script: `Ok` when it translates, else its first
/// error (without `semantic error: `).
fn translate(script: &str, guru: bool) -> Result<(), String> {
    let mut cmd = Command::new("timeout");
    cmd.arg("120").arg(stp()).arg("--kernel").arg(root().join("tests/kernel")).args(["-p3", "-e", script]);
    if guru {
        cmd.arg("-g");
    }
    let out = run_in(&mut cmd, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!crashed(&out) && !err.contains("internal error"), "{script}\n{err}");
    if out.status.success() {
        return Ok(());
    }
    let first = err.lines().find(|l| l.contains("error:")).unwrap_or("failed");
    let first = first.split_once("error: ").map_or(first, |(_, m)| m);
    Err(first.trim().to_string())
}

/// One placement's verdict on one form.
#[derive(Clone, PartialEq)]
enum Verdict {
    Yes,
    /// Only with `-g`.
    Guru,
    /// Refused without `-g`, and with it this.
    GuruThen(Box<Verdict>),
    /// Not known to stp.
    Missing,
    /// Known, not translated there yet.
    NotYet,
    /// Refused, with stp's reason.
    Refused(String),
}

impl Verdict {
    fn works(&self) -> bool {
        matches!(self, Verdict::Yes | Verdict::Guru)
    }

    fn cell(&self) -> String {
        match self {
            Verdict::Yes => "yes".into(),
            Verdict::Guru => "yes (-g)".into(),
            Verdict::GuruThen(v) => format!("needs -g, then {}", v.cell()),
            Verdict::Missing => "missing".into(),
            Verdict::NotYet => "not yet".into(),
            Verdict::Refused(why) => format!("no: {}", why.replace('|', "\\|")),
        }
    }
}

fn classify(result: Result<(), String>) -> Verdict {
    match result {
        Ok(()) => Verdict::Yes,
        Err(e) if e.starts_with("unresolved function") || e.starts_with("arity mismatch") => Verdict::Missing,
        Err(e) if e.contains("does not translate") || e.contains("not supported yet") => Verdict::NotYet,
        Err(e) => Verdict::Refused(e),
    }
}

/// The verdict on `body` in the probes of one placement, tried in order;
/// a refusal that asks for guru mode is tried again with `-g`.
fn verdict(probes: &[&str], body: &str) -> Verdict {
    let mut first = None;
    for probe in probes {
        let script = format!("probe {probe} {{ {body} }}");
        let mut v = classify(translate(&script, false));
        if let Verdict::Refused(why) = &v
            && (why.contains("-g") || why.contains("guru"))
        {
            v = match classify(translate(&script, true)) {
                Verdict::Yes => Verdict::Guru,
                other => Verdict::GuruThen(Box::new(other)),
            };
        }
        if v.works() || v == Verdict::Missing {
            return v;
        }
        first.get_or_insert(v);
    }
    first.unwrap_or(Verdict::Missing)
}

const KERNEL: &[&str] = &["kernel.function(\"vfs_read\")", "kernel.function(\"vfs_read\").return"];
const USER: &[&str] = &["begin"];

/// A placement's cell for a function: its verdict when all forms agree,
/// else each form's.
fn cell(f: &Function, verdicts: &[Verdict]) -> String {
    if verdicts.iter().all(|v| *v == verdicts[0]) {
        return verdicts[0].cell();
    }
    let forms: Vec<String> =
        f.forms.iter().zip(verdicts).map(|(form, v)| format!("`{}`: {}", form.text, v.cell())).collect();
    forms.join("; ")
}

struct Row {
    kernel: Vec<Verdict>,
    user: Vec<Verdict>,
}

fn rows(functions: &[Function]) -> Vec<Row> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
    std::thread::scope(|s| {
        let handles: Vec<_> = functions
            .chunks(functions.len().div_ceil(threads))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| {
                            let kernel = f.forms.iter().map(|form| verdict(KERNEL, &call(f, form))).collect();
                            let user = f.forms.iter().map(|form| verdict(USER, &call(f, form))).collect();
                            Row { kernel, user }
                        })
                        .collect::<Vec<Row>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a checker thread")).collect()
    })
}

fn percent(n: usize, of: usize) -> String {
    format!("{n} of {of} ({:.1}%)", 100.0 * n as f64 / of as f64)
}

fn document(functions: &[Function], rows: &[Row]) -> String {
    let total = functions.len();
    let any = rows.iter().filter(|r| r.kernel.iter().chain(&r.user).any(Verdict::works)).count();
    let kernel = rows.iter().filter(|r| r.kernel.iter().any(Verdict::works)).count();
    let user = rows.iter().filter(|r| r.user.iter().any(Verdict::works)).count();
    let missing = rows.iter().filter(|r| r.kernel.iter().chain(&r.user).all(|v| *v == Verdict::Missing)).count();
    let mut out = String::new();
    out.push_str("# SystemTap's tapset functions in stp\n\n");
    out.push_str(
        "Generated by `UPDATE_TAPSET_DOC=1 cargo test --test tapset_functions` (tests/tapset_functions.rs); \
         do not edit. Each function of SystemTap's tapset reference (the `function::NAME(3stap)` pages, \
         listed in `docs/tapset-reference.tsv` by `tools/tapset_reference.py`) is called in each of its \
         forms from a kernel-placed handler (`kernel.function(\"vfs_read\")`, else its `.return`) and a \
         user-placed one (`begin`) and translated with `stp -p3 --kernel tests/kernel`. \
         \"yes\": it translates there; \"yes (-g)\": only in guru mode; \"not yet\": stp knows the \
         function but does not translate it there yet; \"no\": refused, with stp's reason; \"missing\": \
         stp does not know the name.\n\n",
    );
    let _ = writeln!(out, "- Available in at least one placement: {}", percent(any, total));
    let _ = writeln!(out, "- In kernel handlers: {}", percent(kernel, total));
    let _ = writeln!(out, "- In user handlers: {}", percent(user, total));
    let _ = writeln!(out, "- Missing (name unknown to stp): {}", percent(missing, total));
    let mut families: Vec<&str> = functions.iter().map(|f| f.family.as_str()).collect();
    families.sort_unstable();
    families.dedup();
    for family in families {
        let title = if family.is_empty() { "Other" } else { family };
        let _ = write!(out, "\n## {title}\n\n| function | kernel handlers | user handlers |\n|---|---|---|\n");
        for (f, r) in functions.iter().zip(rows).filter(|(f, _)| f.family == family) {
            let forms: Vec<String> = f.forms.iter().map(|form| format!("`{}`", form.text)).collect();
            let _ = writeln!(out, "| {} | {} | {} |", forms.join("<br>"), cell(f, &r.kernel), cell(f, &r.user));
        }
    }
    out
}

#[test]
fn the_coverage_table_is_current() {
    let functions = reference();
    assert!(functions.len() > 400, "the reference lists its functions");
    let rows = rows(&functions);
    let doc = document(&functions, &rows);
    let path = root().join("docs/tapset-functions.md");
    if std::env::var("UPDATE_TAPSET_DOC").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &doc).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != doc {
        let changed: Vec<String> = doc
            .lines()
            .zip(committed.lines().chain(std::iter::repeat("")))
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("now:       {a}\ncommitted: {b}"))
            .collect();
        panic!(
            "docs/tapset-functions.md is stale; rewrite it with UPDATE_TAPSET_DOC=1 cargo test --test \
             tapset_functions\n{}",
            changed.join("\n")
        );
    }
}
