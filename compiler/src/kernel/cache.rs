//! The on-disk cache of the running kernel's traceable functions.
//!
//! Finding them means reading all of `/proc/kallsyms` (tens of
//! milliseconds) and matching it against BTF; within one boot the answer
//! does not change, so it is kept under `$XDG_CACHE_HOME/stp` (or
//! `~/.cache/stp`, or `$STP_CACHE_DIR`), keyed by the boot id.

use std::path::{Path, PathBuf};

const MAGIC: &str = "stp-functions 2";

/// Where the list for this boot lives, if there is a cache directory.
pub(super) fn functions_file(release: &str, btf_len: usize) -> Option<PathBuf> {
    let dir = match std::env::var_os("STP_CACHE_DIR") {
        Some(d) if d.is_empty() => return None,
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("XDG_CACHE_HOME") {
            Some(d) if !d.is_empty() => PathBuf::from(d).join("stp"),
            _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache/stp"),
        },
    };
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let key: String = format!("{release}-{}-{btf_len}", boot.trim())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-._".contains(*c))
        .collect();
    Some(dir.join(format!("functions-{key}")))
}

pub(super) fn read_functions(path: &Path) -> Option<Vec<(Box<str>, u32)>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 24);
    for l in lines {
        let (id, name) = l.split_once(' ')?;
        out.push((Box::from(name), id.parse().ok()?));
    }
    // Written sorted; a file that is not is not ours.
    out.is_sorted().then_some(out)
}

/// Best effort: a cache that cannot be written is only slower.
pub(super) fn write_functions(path: &Path, list: &[(Box<str>, u32)]) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut text = String::with_capacity(list.len() * 24);
    text.push_str(MAGIC);
    text.push('\n');
    for (name, id) in list {
        text.push_str(&id.to_string());
        text.push(' ');
        text.push_str(name);
        text.push('\n');
    }
    let tmp = dir.join(format!(".functions-{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
