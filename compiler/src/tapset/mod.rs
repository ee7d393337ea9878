//! The tapset library: the embedded `stdlib/` and the `-I` directories.
//!
//! Files are found as stap finds them: in each directory, `*.stp` and
//! `*.stpm`, then the `linux/`, `ARCH/` and `linux/ARCH/` subdirectories.
//! Macro libraries (`.stpm`) are read at once, since any script may use
//! their macros. Tapset scripts of the embedded library are parsed only
//! when the script may need what they define: an index made when stp is
//! built ([`scan`], from `build.rs`) says which names each file defines
//! and mentions, and [`Library::needed`] follows them from the user's
//! script. Those of `-I` directories are parsed when loaded, so that their
//! syntax errors are reported (as warnings, or errors under `-W`, like
//! stap).

pub mod doc;
pub mod scan;

use std::collections::{HashMap, HashSet};
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

/// What a library file defines and mentions, known without parsing it.
#[derive(Debug, Clone)]
pub enum FileIndex {
    /// The embedded library's, made by `build.rs`.
    Embedded { defines: &'static [&'static str], uses: &'static [&'static str] },
    /// A `SYSTEMTAP_TAPSET` directory's, scanned when loaded.
    Scanned(scan::Scan),
}

impl FileIndex {
    fn defines(&self) -> Vec<&str> {
        match self {
            FileIndex::Embedded { defines, .. } => defines.to_vec(),
            FileIndex::Scanned(s) => s.defines.iter().map(String::as_str).collect(),
        }
    }

    fn uses(&self) -> Vec<&str> {
        match self {
            FileIndex::Embedded { uses, .. } => uses.to_vec(),
            FileIndex::Scanned(s) => s.uses.iter().map(String::as_str).collect(),
        }
    }
}

/// The syscall table of a tapset directory (under `linux/`), and the
/// tapset script made from it.
pub const SYSCALL_TABLE: &str = "syscalls.tsv";
pub const SYSCALL_TAPSET: &str = "syscalls.stp";

/// One tapset script of the library.
#[derive(Debug)]
pub struct TapsetFile {
    /// The name diagnostics use: `stdlib/x.stp` or the path on disk.
    pub name: String,
    pub file: FileId,
    /// Set once the file is parsed.
    pub script: Option<Script>,
    /// Where known, what the file defines and mentions: it is parsed only
    /// when needed. A file without one is parsed at once.
    pub index: Option<FileIndex>,
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
    // (name, text, index): a file with an index is parsed when needed.
    let mut sources: Vec<(String, String, Option<FileIndex>)> = Vec::new();
    match opts.tapset_dir {
        Some(dir) => {
            for path in files_in(dir, opts.arch) {
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let index = FileIndex::Scanned(scan::scan(&text));
                        sources.push((path.display().to_string(), text, Some(index)));
                    }
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
                        let text = crate::syscall_table::tapset(&calls);
                        let index = FileIndex::Scanned(scan::scan(&text));
                        sources.push((name, text, Some(index)));
                    }
                    Err(e) => diags.push(Diagnostic::warning(format!("cannot read {}: {e}", table.display()))),
                }
            }
        }
        None => {
            for (i, (name, text)) in embedded_files().iter().enumerate() {
                let index = embedded::INDEX.get(i).map(|&(defines, uses)| FileIndex::Embedded { defines, uses });
                sources.push((format!("stdlib/{name}"), (*text).to_string(), index));
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
                Ok(text) => sources.push((path.display().to_string(), text, None)),
                Err(e) => diags.push(Diagnostic::warning(format!("cannot read tapset {}: {e}", path.display()))),
            }
        }
    }

    let mut lib = Library::default();
    let mut pending = Vec::new();
    for (name, text, index) in sources {
        if is_macro_file(&name) {
            let file = sm.add(name, text, FileKind::Macros);
            let (macros, d) = parse::parse_macro_file(sm, file, env);
            diags.extend(d.into_iter().map(as_warning));
            for (k, v) in macros {
                lib.macros.macros.entry(k).or_insert(v);
            }
        } else {
            let file = sm.add(name.clone(), text, FileKind::Tapset);
            if index.is_none() {
                pending.push(lib.files.len());
            }
            lib.files.push(TapsetFile { name, file, script: None, index });
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
    /// The files not parsed yet that a script may need: those defining a
    /// name in `roots` (what the user's scripts mention, see
    /// [`scan::mentioned`]) or matching one of `patterns` (the user's
    /// wildcard probe points, as `a.b`), and, in turn, those defining a
    /// name a needed file mentions. Files without an index are needed.
    pub fn needed(&self, roots: &[String], patterns: &[String]) -> Vec<usize> {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut need = vec![false; self.files.len()];
        for (i, f) in self.files.iter().enumerate().filter(|(_, f)| f.script.is_none()) {
            match &f.index {
                Some(index) => index.defines().into_iter().for_each(|d| by_name.entry(d).or_default().push(i)),
                None => {
                    if let Some(n) = need.get_mut(i) {
                        *n = true;
                    }
                }
            }
        }
        let mut queue: Vec<&str> = roots.iter().chain(patterns).map(String::as_str).collect();
        let mut seen: HashSet<&str> = HashSet::new();
        while let Some(word) = queue.pop() {
            if !seen.insert(word) {
                continue;
            }
            // A wildcard (`syscall.*`) reaches every name it matches.
            let files: Vec<usize> = if crate::glob::has_glob(word) {
                let matching = by_name.iter().filter(|(name, _)| crate::glob::glob_match(word, name));
                matching.flat_map(|(_, files)| files.iter().copied()).collect()
            } else {
                by_name.get(word).cloned().unwrap_or_default()
            };
            for i in files {
                if let Some(n) = need.get_mut(i).filter(|n| !**n) {
                    *n = true;
                    let uses = self.files.get(i).and_then(|f| f.index.as_ref()).map(FileIndex::uses);
                    queue.extend(uses.unwrap_or_default());
                }
            }
        }
        need.iter().enumerate().filter(|(_, n)| **n).map(|(i, _)| i).collect()
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn library(texts: &[&str]) -> Library {
        let mut sm = SourceMap::new();
        let files = texts
            .iter()
            .enumerate()
            .map(|(i, text)| TapsetFile {
                name: format!("t{i}.stp"),
                file: sm.add(format!("t{i}.stp"), *text, FileKind::Tapset),
                script: None,
                index: Some(FileIndex::Scanned(scan::scan(text))),
            })
            .collect();
        Library { files, macros: MacroLibrary::default() }
    }

    #[test]
    fn needed_follows_names_from_the_script_through_the_library() {
        let lib = library(&[
            "function f() { return g() + limit }",
            "function g() { return 1 }",
            "global limit = 3",
            "function unrelated() { return 2 }",
            "probe sys.open = kernel.trace(\"x\") { v = f() }",
            "private function h() { } probe begin { h() }",
        ]);
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(lib.needed(&words(&["f"]), &[]), [0, 1, 2]);
        assert_eq!(lib.needed(&words(&["x", "y", "sys", "open"]), &[]), Vec::<usize>::new());
        assert_eq!(lib.needed(&words(&["sys.open"]), &[]), [0, 1, 2, 4]);
        // A wildcard reaches the aliases it matches, and what they use;
        // private names and plain probes define nothing.
        assert_eq!(lib.needed(&[], &words(&["s*.*"])), [0, 1, 2, 4]);
        assert_eq!(lib.needed(&words(&["h", "begin"]), &[]), Vec::<usize>::new());
    }
}
