//! Where pass 4's object goes on disk, written so that nobody else's
//! file or link can be made to receive it.
//!
//! - `-p4` writes `NAME.o` in the current directory: a new file of a
//!   unique name is created there (`O_CREAT|O_EXCL`, which never follows a
//!   link) and renamed over `NAME.o`. A link planted at `NAME.o` is
//!   replaced, not followed.
//! - `-k`/`--save-temps` on a run keeps the object in a private
//!   temporary directory (`mkdtemp`, mode 0700) that outlives stp.
//! - A plain run writes nothing: the runtime loads the object from memory.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `dir/NAME.o` by creating a new file and renaming it
/// into place; its mode is 0644 less the umask, as a plain create gives.
pub fn write_in(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data()?;
    set_plain_mode(tmp.as_file())?;
    let dest = dir.join(format!("{name}.o"));
    tmp.persist(&dest).map_err(|e| e.error)?;
    Ok(dest)
}

/// Writes `bytes` to `NAME.o` in a new private temporary directory that
/// is kept; returns the directory and the object's path.
pub fn keep_in_tempdir(name: &str, bytes: &[u8]) -> std::io::Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("stp").permissions(std::fs::Permissions::from_mode(0o700)).tempdir()?;
    let path = write_in(dir.path(), name, bytes)?;
    Ok((dir.keep(), path))
}

fn set_plain_mode(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask only swaps the process's mask; it is put back at once.
    let mask = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    };
    file.set_permissions(std::fs::Permissions::from_mode(0o644 & !mask))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_planted_link_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("x.o")).unwrap();
        let path = write_in(dir.path(), "x", b"\x7fELF").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&path).unwrap(), b"\x7fELF");
        // Nothing else is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_kept_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, path) = keep_in_tempdir("y", b"obj").unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(std::fs::read(&path).unwrap(), b"obj");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
