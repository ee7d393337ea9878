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
use crate::source::Span;

/// Looks `name` up like a shell: as a path when it has a `/`, else in `$PATH`.
pub fn find_executable(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = Path::new(name);
        return p.is_file().then(|| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()));
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs).map(|d| d.join(name)).find(|p| p.is_file()).map(|p| p.canonicalize().unwrap_or(p))
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
