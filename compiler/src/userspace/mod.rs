//! What stp knows of user-space programs: where an executable or a
//! library is, and what its ELF file holds (function symbols, `DT_NEEDED`,
//! `.note.stapsdt` entries, USDT argument specifications).
//!
//! In: paths and file contents. Out: file offsets, names and notes as the
//! files give them. This layer sits beside the kernel model: elaboration
//! asks it, and it knows nothing of probe points or elaboration (it does
//! not import `elab`). Errors are diagnostics at the span the caller gives.

pub mod elf;
pub mod sdt;

use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;
use crate::glob::{glob_match, has_glob};
use crate::source::Span;
use elf::needed_libraries;

/// Looks `name` up like a shell: as a path when it has a `/`, else in `$PATH`.
pub fn find_executable(name: &str) -> Option<PathBuf> {
    if name.contains('/') && has_glob(name) {
        return match glob_files(name).as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
    }
    if name.contains('/') {
        let p = Path::new(name);
        return p.is_file().then(|| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()));
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs).map(|d| d.join(name)).find(|p| p.is_file()).map(|p| p.canonicalize().unwrap_or(p))
}

/// The files an absolute path with wildcards in any of its components
/// names (`/usr/lib/*/libssl.so.*`), canonical and sorted.
pub fn glob_files(pattern: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/")];
    let parts: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for d in &dirs {
            if has_glob(part) {
                let mut names: Vec<PathBuf> = std::fs::read_dir(d)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| file_glob(part, &e.file_name().to_string_lossy()))
                    .map(|e| e.path())
                    .collect();
                names.sort();
                next.extend(names);
            } else {
                next.push(d.join(part));
            }
        }
        next.retain(|p| if last { p.is_file() } else { p.is_dir() });
        dirs = next;
    }
    let mut out: Vec<PathBuf> = dirs.into_iter().map(|p| p.canonicalize().unwrap_or(p)).collect();
    out.sort();
    out.dedup();
    out
}

/// The executable of process `pid`, as `/proc/PID/exe` links to it.
pub fn pid_exe(pid: u32, span: Span) -> Result<PathBuf, Diagnostic> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map_err(|e| Diagnostic::semantic_error(format!("cannot find executable of process {pid}: {e}"), span))
}

/// Where libraries named without a path are looked for.
pub const LIBRARY_DIRS: [&str; 5] =
    ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib", "/lib"];

/// Whether the file at `p` starts with the ELF magic.
pub fn is_elf(p: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// A glob over file names: `*` crosses dots here (`libc.so*`).
fn file_glob(pattern: &str, name: &str) -> bool {
    glob_match(&pattern.replace('*', "**"), name)
}

/// The files `process(...).library("LIB")` names.
pub fn libraries(spec: &str, exe: &Path, span: Span) -> Result<Vec<PathBuf>, Diagnostic> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// Wildcards in a directory and in the file name; directories and
    /// missing files are not executables; two matches are not one.
    #[test]
    fn a_wildcard_path_names_the_files_it_matches() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("lib/x86_64/sub")).unwrap();
        std::fs::create_dir_all(root.join("lib32")).unwrap();
        std::fs::write(root.join("lib/x86_64/libssl.so.3"), b"").unwrap();
        std::fs::create_dir(root.join("lib/x86_64/libssl.so.dir")).unwrap();
        let one = format!("{}/lib*/*/libssl.so.*", root.display());
        assert_eq!(glob_files(&one), [root.join("lib/x86_64/libssl.so.3")]);
        assert_eq!(find_executable(&one), Some(root.join("lib/x86_64/libssl.so.3")));
        std::fs::write(root.join("lib32/libssl.so.1"), b"").unwrap();
        let two = format!("{}/lib*/libssl.so.*", root.display());
        assert_eq!(glob_files(&two), [root.join("lib32/libssl.so.1")]);
        std::fs::write(root.join("lib/libssl.so.2"), b"").unwrap();
        assert_eq!(glob_files(&two), [root.join("lib/libssl.so.2"), root.join("lib32/libssl.so.1")]);
        assert_eq!(find_executable(&two), None);
        assert!(glob_files(&format!("{}/nothing*/x", root.display())).is_empty());
    }
}
