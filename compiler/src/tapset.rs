//! The tapset library: the embedded `stdlib/` and the `-I` directories.
//!
//! Files are found as stap finds them: in each directory, `*.stp` and
//! `*.stpm`, then the `linux/`, `ARCH/` and `linux/ARCH/` subdirectories.
//! Macro libraries (`.stpm`) are read at once, since any script may use
//! their macros. Tapset scripts of the embedded library are parsed only
//! when elaboration needs what they define; those of `-I` directories are
//! parsed when loaded, so that their syntax errors are reported (as
//! warnings, or errors under `-W`, like stap).

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Severity};
use crate::parse::ast::Script;
use crate::parse::{self, MacroLibrary, ParseOptions, PpEnv};
use crate::source::{FileId, FileKind, SourceMap};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/stdlib.rs"));
}

/// The files of the embedded library: (path under `stdlib/`, text).
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    embedded::FILES
}

/// The syscall table of a tapset directory (under `linux/`), and the
/// tapset script made from it.
pub const SYSCALL_TABLE: &str = "syscalls.tsv";
pub const SYSCALL_TAPSET: &str = "syscalls.stp";

/// Whether a library file is the syscall tapset made from its table.
pub fn is_generated_syscalls(name: &str) -> bool {
    name.strip_suffix(SYSCALL_TAPSET).is_some_and(|d| d.ends_with("linux/"))
}

/// One tapset script of the library.
#[derive(Debug)]
pub struct TapsetFile {
    /// The name diagnostics use: `stdlib/x.stp` or the path on disk.
    pub name: String,
    pub file: FileId,
    /// Set once the file is parsed.
    pub script: Option<Script>,
}

/// The library a session compiles against.
#[derive(Debug, Default)]
pub struct Library {
    pub files: Vec<TapsetFile>,
    pub macros: MacroLibrary,
}

pub struct LibraryOptions<'a> {
    /// `-I` directories, in order.
    pub include_dirs: &'a [PathBuf],
    /// `SYSTEMTAP_TAPSET`: a directory that replaces the embedded library.
    pub tapset_dir: Option<&'a Path>,
    pub arch: &'a str,
}

/// The files of one tapset directory, in stap's search order.
fn files_in(dir: &Path, arch: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in [PathBuf::new(), PathBuf::from("linux"), PathBuf::from(arch), Path::new("linux").join(arch)] {
        let Ok(entries) = std::fs::read_dir(dir.join(&sub)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("stp" | "stpm")))
            .collect();
        paths.sort();
        out.extend(paths);
    }
    out
}

fn is_macro_file(name: &str) -> bool {
    name.ends_with(".stpm")
}

fn as_warning(mut d: Diagnostic) -> Diagnostic {
    if d.severity == Severity::Error {
        d.severity = Severity::Warning;
    }
    d
}

/// Loads the library: registers every file in `sm`, reads every macro
/// library, and parses the tapset scripts of `-I` directories.
pub fn load(opts: &LibraryOptions<'_>, env: &PpEnv<'_>, sm: &mut SourceMap) -> (Library, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut sources: Vec<(String, String, bool)> = Vec::new();
    match opts.tapset_dir {
        Some(dir) => {
            for path in files_in(dir, opts.arch) {
                match std::fs::read_to_string(&path) {
                    Ok(text) => sources.push((path.display().to_string(), text, false)),
                    Err(e) => diags.push(Diagnostic::warning(format!("cannot read tapset {}: {e}", path.display()))),
                }
            }
            // The syscall tapset is made from its table, as build.rs makes
            // the embedded one; parsed, like the embedded library, only
            // when a script needs it.
            let table = dir.join("linux").join(SYSCALL_TABLE);
            if let Ok(text) = std::fs::read_to_string(&table) {
                match crate::syscall_table::parse(&text) {
                    Ok(calls) => {
                        let name = dir.join("linux").join(SYSCALL_TAPSET).display().to_string();
                        sources.push((name, crate::syscall_table::tapset(&calls), true));
                    }
                    Err(e) => diags.push(Diagnostic::warning(format!("cannot read {}: {e}", table.display()))),
                }
            }
        }
        None => {
            for (name, text) in embedded_files() {
                sources.push((format!("stdlib/{name}"), (*text).to_string(), true));
            }
        }
    }
    for dir in opts.include_dirs {
        if !dir.is_dir() {
            diags.push(Diagnostic::warning(format!("tapset directory '{}' does not exist", dir.display())));
            continue;
        }
        for path in files_in(dir, opts.arch) {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((path.display().to_string(), text, false)),
                Err(e) => diags.push(Diagnostic::warning(format!("cannot read tapset {}: {e}", path.display()))),
            }
        }
    }

    let mut lib = Library::default();
    let mut pending = Vec::new();
    for (name, text, embedded) in sources {
        if is_macro_file(&name) {
            let file = sm.add(name, text, FileKind::Macros);
            let (macros, d) = parse::parse_macro_file(sm, file, env);
            diags.extend(d.into_iter().map(as_warning));
            for (k, v) in macros {
                lib.macros.macros.entry(k).or_insert(v);
            }
        } else {
            let file = sm.add(name.clone(), text, FileKind::Tapset);
            if !embedded {
                pending.push(lib.files.len());
            }
            lib.files.push(TapsetFile { name, file, script: None });
        }
    }
    // Parse what is not ours, once the macros are known.
    for i in pending {
        if let Some(f) = lib.files.get(i) {
            let file = f.file;
            let (script, d) = parse::parse_file(sm, file, env, &lib.macros, tapset_options(env));
            diags.extend(d.into_iter().map(as_warning));
            if let Some(f) = lib.files.get_mut(i) {
                f.script = Some(script);
            }
        }
    }
    (lib, diags)
}

/// How tapset scripts are parsed: embedded C is allowed there.
pub fn tapset_options(env: &PpEnv<'_>) -> ParseOptions {
    ParseOptions { guru: env.guru_mode, tapset: true, autocast: true }
}

impl Library {
    /// Parses a tapset file if that has not happened yet.
    pub fn ensure_parsed(&mut self, index: usize, env: &PpEnv<'_>, sm: &mut SourceMap) -> Vec<Diagnostic> {
        let Some(f) = self.files.get(index) else {
            return Vec::new();
        };
        if f.script.is_some() {
            return Vec::new();
        }
        let file = f.file;
        let (script, diags) = parse::parse_file(sm, file, env, &self.macros, tapset_options(env));
        if let Some(f) = self.files.get_mut(index) {
            f.script = Some(script);
        }
        diags
    }
}
