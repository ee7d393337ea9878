//! tracefs: the tracepoint list and each event's record format.

use std::path::Path;

use super::{KernelError, TpField, Tracepoint};

/// Mounts tracefs at `dir` (as root). Whether it is mounted afterwards.
pub(super) fn mount(dir: &str) -> bool {
    let (Ok(target), Ok(fstype)) = (std::ffi::CString::new(dir), std::ffi::CString::new("tracefs")) else {
        return false;
    };
    // SAFETY: the strings are NUL-terminated and outlive the call; a null
    // data pointer is allowed for tracefs.
    let rc = unsafe { libc::mount(fstype.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    rc == 0 && Path::new(dir).join("events").is_dir()
}

/// Why tracefs cannot be used: a place of it this user may not read
/// (tracefs is root's on most systems), else it is not mounted.
pub(super) fn missing() -> KernelError {
    for d in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if let Err(e) = std::fs::read_dir(d)
            && e.kind() == std::io::ErrorKind::PermissionDenied
        {
            return KernelError(format!(
                "cannot read {d}: {e}; the kernel's tracepoints are listed in tracefs, which needs root (or read \
                 access to it)"
            ));
        }
    }
    KernelError("tracefs is not mounted and cannot be mounted".into())
}

/// Every tracepoint: `available_events` where it exists, else the
/// `events/SYSTEM/NAME/format` files. Sorted.
pub(super) fn events(dir: &Path) -> Result<Vec<Tracepoint>, KernelError> {
    let mut out: Vec<Tracepoint> = match std::fs::read_to_string(dir.join("available_events")) {
        Ok(text) => text
            .lines()
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(s, n)| Tracepoint { system: s.to_string(), name: n.to_string() })
            .collect(),
        Err(_) => {
            let events = dir.join("events");
            let systems = std::fs::read_dir(&events)
                .map_err(|e| KernelError(format!("cannot list tracepoints in {}: {e}", events.display())))?;
            let mut out = Vec::new();
            for sys in systems.filter_map(|e| e.ok()) {
                let Ok(names) = std::fs::read_dir(sys.path()) else { continue };
                let system = sys.file_name().to_string_lossy().into_owned();
                for n in names.filter_map(|e| e.ok()) {
                    if n.path().join("format").is_file() {
                        out.push(Tracepoint {
                            system: system.clone(),
                            name: n.file_name().to_string_lossy().into_owned(),
                        });
                    }
                }
            }
            out
        }
    };
    out.sort();
    out.dedup();
    Ok(out)
}

/// The fields of a `format` file, without the `common_` header fields.
pub(super) fn parse_format(text: &str) -> Vec<TpField> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("field:") else { continue };
        let mut decl = "";
        let (mut offset, mut size, mut signed) = (0, 0, false);
        for part in rest.split(';') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("offset:") {
                offset = v.parse().unwrap_or(0);
            } else if let Some(v) = part.strip_prefix("size:") {
                size = v.parse().unwrap_or(0);
            } else if let Some(v) = part.strip_prefix("signed:") {
                signed = v == "1";
            } else if decl.is_empty() {
                decl = part;
            }
        }
        let Some(field) = parse_decl(decl, offset, size, signed) else { continue };
        if !field.name.starts_with("common_") {
            out.push(field);
        }
    }
    out
}

/// `unsigned long addr`, `char comm[16]`, `__data_loc char[] name`.
fn parse_decl(decl: &str, offset: u32, size: u32, signed: bool) -> Option<TpField> {
    let (ty, name) = decl.rsplit_once(char::is_whitespace)?;
    let (ty, data_loc) = match ty.trim().strip_prefix("__data_loc") {
        Some(t) => (t.trim(), true),
        None => (ty.trim(), false),
    };
    let (name, array_len) = match name.split_once('[') {
        Some((n, len)) => (n, len.strip_suffix(']').and_then(|l| l.parse().ok())),
        None => (name, None),
    };
    let c_type = match array_len {
        Some(n) => format!("{ty}[{n}]"),
        None => ty.to_string(),
    };
    Some(TpField { name: name.to_string(), c_type, offset, size, signed, data_loc, array_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMAT: &str = "name: sched_process_exec\nID: 300\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n\
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n\
\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;\n\n\
print fmt: \"filename=%s\", __get_str(filename)\n";

    #[test]
    fn format_fields() {
        let f = parse_format(FORMAT);
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["filename", "pid", "comm"]);
        assert!(f.first().is_some_and(|x| x.data_loc && x.c_type == "char[]" && x.offset == 8 && x.size == 4));
        assert!(f.get(1).is_some_and(|x| x.signed && x.c_type == "pid_t" && !x.data_loc));
        assert!(f.get(2).is_some_and(|x| x.array_len == Some(16) && x.c_type == "char[16]" && x.offset == 16));
    }
}
