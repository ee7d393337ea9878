//! System calls the kernel has and the syscall table lacks: each
//! `syscalls:sys_enter_NAME` tracepoint (with its `sys_exit_NAME`) whose
//! call no row of `stdlib/linux/syscalls.tsv` names still gets
//! `syscall.NAME` and `syscall.NAME.return` (and the synonyms), made at
//! elaboration time from the tracepoint's format: `name`, one variable
//! per field (named after it), `argstr` showing the raw values (pointers
//! in hex, integers in decimal), and `retval` and `retstr`.
//!
//! In: the kernel model. Out: rows for `syscall_table::aliases`, which
//! the driver adds to the library as `stdlib/linux/syscalls_kernel.stp`.

use std::collections::HashSet;

use crate::kernel::{Kernel, TpField};
use crate::syscall_table::{self, Arg, Kind, Ret, Syscall};

const TABLE: &str = include_str!("../../stdlib/linux/syscalls.tsv");

/// The kernel's system calls that the table lacks, as table rows.
pub fn missing(kernel: &Kernel) -> Vec<Syscall> {
    let Ok(table) = syscall_table::parse(TABLE) else { return Vec::new() };
    let known: HashSet<&str> = table.iter().flat_map(|c| [c.tracepoint.as_str(), c.name.as_str()]).collect();
    let Ok(entries) = kernel.match_tracepoints("syscalls:sys_enter_*") else { return Vec::new() };
    let exits: HashSet<String> =
        kernel.match_tracepoints("syscalls:sys_exit_*").unwrap_or_default().into_iter().map(|t| t.name).collect();
    let mut out = Vec::new();
    for tp in entries {
        let Some(name) = tp.name.strip_prefix("sys_enter_") else { continue };
        if known.contains(name)
            || !exits.contains(&format!("sys_exit_{name}"))
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let Ok(fields) = kernel.tracepoint_fields(&tp) else { continue };
        let args = fields
            .iter()
            .filter(|f| f.name != "__syscall_nr" && !f.data_loc && f.array_len.is_none())
            .map(|f| Arg {
                var: var_name(&f.name),
                field: f.name.clone(),
                kind: kind_of(f),
                decoder: None,
                shown: true,
            })
            .collect();
        out.push(Syscall {
            name: name.to_string(),
            tracepoint: name.to_string(),
            nr: None,
            kernel_name: None,
            ret: Ret::Decimal,
            ret_fn: None,
            ret_extras: Vec::new(),
            args,
            extras: Vec::new(),
            argstr: None,
        });
    }
    out
}

/// The variable of a field: its name, unless the probe's own variables
/// have it.
fn var_name(field: &str) -> String {
    match field {
        "name" | "argstr" | "retval" | "retstr" => format!("{field}_arg"),
        _ => field.to_string(),
    }
}

/// How a field is read and shown, from its C type.
fn kind_of(f: &TpField) -> Kind {
    let t = f.c_type.as_str();
    if t.contains('*') {
        return Kind::Pointer;
    }
    let unsigned = t.starts_with("unsigned") || t.starts_with('u') || t.contains("size_t") && !t.contains("ssize_t");
    let wide = t.contains("long") || t.contains("64") || t.contains("size_t") || t.contains("off_t");
    match (wide, unsigned) {
        (true, true) => Kind::Ulong,
        (true, false) => Kind::Long,
        (false, true) => Kind::Uint,
        (false, false) => Kind::Int,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMAT: &str = "name: sys_enter_frobnicate\nID: 9999\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\
        \tfield:int fd;\toffset:16;\tsize:8;\tsigned:0;\n\
        \tfield:const char * name;\toffset:24;\tsize:8;\tsigned:0;\n\
        \tfield:size_t len;\toffset:32;\tsize:8;\tsigned:0;\n\
        \nprint fmt: \"fd: 0x%08lx\"\n";

    /// A snapshot kernel with one call the table knows (read) and one it
    /// does not (frobnicate).
    fn kernel(dir: &std::path::Path) -> Kernel {
        let events = dir.join("tracing/events/syscalls");
        for tp in ["sys_enter_frobnicate", "sys_exit_frobnicate", "sys_enter_read", "sys_exit_read"] {
            std::fs::create_dir_all(events.join(tp)).expect("a directory");
            std::fs::write(events.join(tp).join("format"), FORMAT).expect("a format");
        }
        std::fs::write(
            dir.join("tracing/available_events"),
            "syscalls:sys_enter_frobnicate\nsyscalls:sys_exit_frobnicate\nsyscalls:sys_enter_read\nsyscalls:sys_exit_read\n",
        )
        .expect("the events");
        std::fs::write(dir.join("release"), "6.99.0").expect("release");
        std::fs::write(dir.join("arch"), "x86_64").expect("arch");
        Kernel::snapshot(dir)
    }

    #[test]
    fn a_call_the_table_lacks_gets_raw_aliases() {
        let dir = std::env::temp_dir().join(format!("stp-syscall-fallback-{}", std::process::id()));
        let rows = missing(&kernel(&dir));
        let _ = std::fs::remove_dir_all(&dir);
        let names: Vec<&str> = rows.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["frobnicate"]);
        let vars: Vec<(String, &str)> = rows.first().map(Syscall::variables).unwrap_or_default();
        let vars: Vec<String> = vars.into_iter().map(|(v, t)| format!("{v}:{t}")).collect();
        assert_eq!(vars, ["name:string", "fd:long", "name_arg:long", "len:long", "argstr:string"]);
        let text = syscall_table::aliases(&rows);
        assert!(text.contains("probe syscall.frobnicate = kernel.trace(\"syscalls:sys_enter_frobnicate\")"), "{text}");
        assert!(text.contains("argstr = sprintf(\"%d, 0x%x, %u\", fd, name_arg, len)"), "{text}");
        assert!(text.contains("retstr = return_str(1, retval)"), "{text}");
        assert!(text.contains("probe nd_syscall.frobnicate.return = syscall.frobnicate.return { }"), "{text}");
    }
}
