//! User-space families: `process(...).function(...)[.call|.return]`,
//! `process(...).library(...).function(...)` and
//! `process(...)[.library(...)][.provider(...)].mark(...)`.
//!
//! In: a matched path, `-c`/`-x`. Out: one [`ResolvedPoint`] per function
//! symbol or USDT note site the pattern names, with the file offset a
//! uprobe attaches at. Which executable and libraries a point names is
//! decided here; their contents are read by `crate::userspace`.

use std::path::PathBuf;

use super::grammar::{MatchedPath, quote};
use super::{PointContext, ProbeKind, ResolvedPoint, dwarf_error, needs_dwarf};
use crate::diag::Diagnostic;
use crate::glob::glob_match;
use crate::parse::ast::Literal;
use crate::userspace::elf::{elf_functions, read_elf, sdt_notes};
use crate::userspace::{find_executable, glob_files, libraries, pid_exe};

/// The executable a `process` point names, and the pid it is limited to.
struct Target {
    path: PathBuf,
    pid: Option<u32>,
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
            let found = find_executable(&name).ok_or_else(|| match glob_files(&name).as_slice() {
                [_, _, ..] => Diagnostic::semantic_error(format!("'{name}' matches several files"), span)
                    .with_help("stp probes one executable per point: name one"),
                _ => Diagnostic::semantic_error(format!("cannot find executable '{name}'"), span)
                    .with_help("give an absolute path, or a command found in $PATH"),
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

/// The ELF files a user-space point attaches to: the executable, or the
/// libraries `.library(...)` names.
fn user_files(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<(Vec<PathBuf>, Option<u32>), Diagnostic> {
    let target = process_target(path, ctx)?;
    match path.string("library") {
        Some(spec) => Ok((libraries(&spec, &target.path, path.span("library"))?, target.pid)),
        None => Ok((vec![target.path], target.pid)),
    }
}

pub(super) fn user_functions(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
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
            out.push(ResolvedPoint {
                kind: ProbeKind::Uprobe { path: shown.clone(), symbol, offset, ret, pid },
                name,
                guard: None,
            });
        }
    }
    Ok(out)
}

pub(super) fn usdt(path: &MatchedPath<'_>, ctx: &PointContext<'_>) -> Result<Vec<ResolvedPoint>, Diagnostic> {
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
                guard: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::resolve;
    use super::super::testing::{err, in_ci, kernel_with, ok, only, point, present};
    use super::*;

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

    #[test]
    fn usdt_notes() {
        let lib = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
        if !present(lib) {
            return;
        }
        let canon = std::path::Path::new(lib).canonicalize().map(|p| p.display().to_string()).unwrap_or(lib.into());
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
}
