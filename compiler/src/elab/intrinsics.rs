//! Functions the compiler implements itself: everything that needs a
//! machine operation (reading the current task, the clock, memory, the
//! output stream). Tapset scripts build the rest on top of them.
//!
//! One table, written as stap's tapset declarations (`name:ret(arg:type,
//! ...)`), so the names and signatures read like SystemTap's tapset
//! reference. A name may appear with several arities. Each lowering (eBPF
//! and user-side) is keyed by the same name and arity.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::Type;

/// Where an intrinsic can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    /// In kernel-placed and user-placed handlers alike.
    Anywhere,
    /// Only in kernel-placed handlers: it reads the probe's context
    /// (registers, the current task as the probe saw it).
    Kernel,
    /// Only in guru mode (`-g`): it writes kernel memory or the log.
    Guru,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intrinsic {
    pub name: &'static str,
    pub ret: Type,
    pub params: Vec<(&'static str, Type)>,
    pub place: Where,
}

/// The table: `name:ret(arg:type, ...)`, `!` marks kernel-only, `#`
/// guru-only.
const TABLE: &str = "
execname:string() pexecname:string() pid:long() tid:long() ppid:long() pgrp:long() sid:long()
ns_pid:long() ns_tid:long() ns_ppid:long() ns_pgrp:long() ns_sid:long()
gid:long() egid:long() uid:long() euid:long() ns_gid:long() ns_egid:long() ns_uid:long() ns_euid:long()
is_myproc:long() cpu:long() cpuid:long() target:long() stp_pid:long() is_return:long()
registers_valid:long() user_mode:long() addr:long() uaddr:long()
module_name:string()
!stack_size:long() !stack_used:long() !stack_unused:long()
pp:string() ppfunc:string() probefunc:string() probemod:string() probe_type:string()
symname:string(addr:long) symdata:string(addr:long)
usymname:string(addr:long) usymdata:string(addr:long)
!backtrace:string() !ubacktrace:string() !print_backtrace() !print_ubacktrace() !sprint_backtrace:string()
!sprint_ubacktrace:string() !callers:string(n:long) !caller:string() !caller_addr:long()
!stack:long(n:long) !__ustack_raw:long(n:long) print_stack(stk:string) sprint_stack:string(stk:string)
print_syms(callers:string) sprint_syms:string(callers:string) print_usyms(callers:string) sprint_usyms:string(callers:string)
!task_backtrace:string(task:long)
!print_regs() !print_uregs()
!int_arg:long(n:long) !uint_arg:long(n:long) !long_arg:long(n:long) !ulong_arg:long(n:long)
!longlong_arg:long(n:long) !ulonglong_arg:long(n:long) !pointer_arg:long(n:long) !s32_arg:long(n:long)
!u32_arg:long(n:long) !s64_arg:long(n:long) !u64_arg:long(n:long) !register:long(name:string)
!u_register:long(name:string) !returnval:long()
#set_returnval(val:long)
log(msg:string) warn(msg:string) system(cmd:string) #raise(signo:long) exit() abort() error(msg:string) #printk(level:long,msg:string) ftrace(msg:string)
assert(expression:long) assert(expression:long,msg:string)
strlen:long(s:string) substr:string(str:string,start:long,length:long) stringat:long(str:string,pos:long)
isinstr:long(s1:string,s2:string) strpos:long(s1:string,s2:string) text_str:string(input:string)
text_strn:string(input:string,len:long,quoted:long) str_replace:string(prnt_str:string,srch_str:string,rplc_str:string)
strtol:long(str:string,base:long) isdigit:long(str:string) string_quoted:string(str:string)
tokenize:string(input:string,delim:string) matched:string(n:long) matched_str:string() ngroups:long()
kernel_string:string(addr:long) kernel_string:string(addr:long,err_msg:string) kernel_string2:string(addr:long,err_msg:string)
kernel_string_n:string(addr:long,n:long)
kernel_long:long(addr:long) kernel_int:long(addr:long) kernel_short:long(addr:long) kernel_char:long(addr:long)
kernel_pointer:long(addr:long) kernel_buffer_quoted:string(addr:long,inlen:long)
kernel_buffer_quoted:string(addr:long,inlen:long,outlen:long)
#set_kernel_string(addr:long,val:string) #set_kernel_string_n(addr:long,n:long,val:string) #set_kernel_long(addr:long,val:long)
#set_kernel_int(addr:long,val:long) #set_kernel_short(addr:long,val:long) #set_kernel_char(addr:long,val:long)
#set_kernel_pointer(addr:long,val:long)
#set_user_string(addr:long,val:string) #set_user_string_n(addr:long,n:long,val:string) #set_user_long(addr:long,val:long)
#set_user_int(addr:long,val:long) #set_user_short(addr:long,val:long) #set_user_char(addr:long,val:long)
#set_user_pointer(addr:long,val:long)
user_string:string(addr:long) user_string:string(addr:long,err_msg:string) user_string2:string(addr:long,err_msg:string)
user_string_n:string(addr:long,n:long)
user_string_n:string(addr:long,n:long,err_msg:string)
user_char_error:long(addr:long) user_short_error:long(addr:long) user_ushort_error:long(addr:long) user_int_error:long(addr:long)
user_long_error:long(addr:long) user_ulong_error:long(addr:long) user_int8_error:long(addr:long) user_uint8_error:long(addr:long)
user_int16_error:long(addr:long) user_uint16_error:long(addr:long) user_int32_error:long(addr:long) user_uint32_error:long(addr:long)
user_int64_error:long(addr:long) user_uint64_error:long(addr:long)
user_buffer_quoted:string(addr:long,inlen:long,outlen:long)
get_cycles:long() jiffies:long() HZ:long() gettimeofday_s:long() gettimeofday_ms:long() gettimeofday_us:long()
gettimeofday_ns:long() local_clock_ns:long() local_clock_us:long() local_clock_ms:long() local_clock_s:long()
cpu_clock_ns:long(cpu:long) cpu_clock_us:long(cpu:long) cpu_clock_ms:long(cpu:long) cpu_clock_s:long(cpu:long)
ktime_get_ns:long() __tz_gmtoff:long() __tz_name:string() sprint_loadavg:string() get_loadavg_index:long(indx:long)
randint:long(n:long)
task_current:long() task_parent:long(task:long) task_state:long(task:long) task_execname:string(task:long)
task_pid:long(task:long) #task_ns_pid:long(task:long) task_tid:long(task:long) #task_ns_tid:long(task:long)
task_gid:long(task:long) task_egid:long(task:long) task_uid:long(task:long) task_euid:long(task:long)
#task_ns_gid:long(task:long) #task_ns_egid:long(task:long) #task_ns_uid:long(task:long) #task_ns_euid:long(task:long)
task_prio:long(task:long) task_nice:long(task:long) task_cpu:long(task:long) pid2task:long(pid:long)
pid2execname:string(pid:long)
env_var:string(name:string)
sprint_ustack:string(stk:string) umodname:string(addr:long)
";

/// Functions of SystemTap's tapset reference that stp cannot offer, with
/// the reason, given where a script calls one (rather than "unresolved").
const REFUSED: &[(&[&str], &str)] = &[
    (
        &[
            "symfile",
            "symline",
            "symfileline",
            "usymfile",
            "usymline",
            "usymfileline",
            "print_backtrace_fileline",
            "print_ubacktrace_fileline",
        ],
        "it needs DWARF line tables, and stp reads only BTF and ELF symbol tables",
    ),
    (
        &[
            "set_int_arg",
            "set_uint_arg",
            "set_long_arg",
            "set_ulong_arg",
            "set_longlong_arg",
            "set_ulonglong_arg",
            "set_pointer_arg",
            "set_s32_arg",
            "set_u32_arg",
            "set_s64_arg",
            "set_u64_arg",
        ],
        "eBPF programs cannot write the probed code's registers",
    ),
    (&["mdelay", "udelay"], "eBPF programs cannot wait or sleep in a probe handler"),
    (&["panic"], "eBPF programs cannot panic the kernel"),
    (&["dump_stack"], "eBPF programs cannot write the kernel's log (print_backtrace() prints the stack)"),
    (
        &[
            "json_set_prefix",
            "json_add_numeric_metric",
            "json_add_string_metric",
            "json_add_array",
            "json_add_array_numeric_metric",
            "json_add_array_string_metric",
        ],
        "the JSON tapset serves its metrics as procfs files (/proc/systemtap/MODULE/*.json), which stp does not \
         offer",
    ),
    (&["module_size"], "stp loads eBPF programs, not a kernel module with sections to measure"),
];

/// Why stp cannot offer `name`, if it is one of those it refuses.
pub fn refusal(name: &str) -> Option<&'static str> {
    REFUSED.iter().find(|(names, _)| names.contains(&name)).map(|(_, why)| *why)
}

fn parse_type(t: &str) -> Type {
    match t.trim() {
        "long" => Type::Long,
        "string" => Type::String,
        _ => Type::Unknown,
    }
}

fn parse_entry(entry: &'static str) -> Option<Intrinsic> {
    let (place, entry) = if let Some(rest) = entry.strip_prefix('!') {
        (Where::Kernel, rest)
    } else if let Some(rest) = entry.strip_prefix('#') {
        (Where::Guru, rest)
    } else {
        (Where::Anywhere, entry)
    };
    let open = entry.find('(')?;
    let head = entry.get(..open)?;
    let args = entry.get(open + 1..entry.len().checked_sub(1)?)?;
    let (name, ret) = match head.split_once(':') {
        Some((n, r)) => (n, parse_type(r)),
        None => (head, Type::Unknown),
    };
    let params = args
        .split(',')
        .filter(|a| !a.is_empty())
        .filter_map(|a| a.split_once(':').map(|(n, t)| (n, parse_type(t))))
        .collect();
    Some(Intrinsic { name, ret, params, place })
}

fn table() -> &'static HashMap<&'static str, Vec<Intrinsic>> {
    static TABLE_MAP: OnceLock<HashMap<&'static str, Vec<Intrinsic>>> = OnceLock::new();
    TABLE_MAP.get_or_init(|| {
        let mut map: HashMap<&'static str, Vec<Intrinsic>> = HashMap::new();
        for entry in TABLE.split_whitespace() {
            if let Some(i) = parse_entry(entry) {
                map.entry(i.name).or_default().push(i);
            }
        }
        map
    })
}

/// The intrinsics of this name, one per arity.
pub fn lookup(name: &str) -> Option<&'static [Intrinsic]> {
    table().get(name).map(Vec::as_slice)
}

/// The intrinsic of this name taking `arity` arguments.
pub fn lookup_arity(name: &str, arity: usize) -> Option<&'static Intrinsic> {
    lookup(name)?.iter().find(|i| i.params.len() == arity)
}

/// Whether calling the intrinsic changes nothing the script could see: it
/// returns a value and is not one of those that act (exit, error, output,
/// writes). stap's optimizer drops unused calls of such functions.
pub fn is_pure(name: &str, arity: usize) -> bool {
    const ACTS: &[&str] =
        &["exit", "abort", "error", "warn", "log", "printk", "ftrace", "system", "raise", "flush", "delete"];
    lookup_arity(name, arity).is_some_and(|i| {
        i.ret != Type::Unknown && !ACTS.contains(&name) && !name.starts_with("print") && !name.starts_with("set_")
    })
}

/// The kernel type an intrinsic's result points to, for autocast
/// (`task_current()->mm`).
pub fn points_to(name: &str, arity: usize) -> Option<&'static str> {
    match (name, arity) {
        ("task_current", 0) | ("task_parent", 1) => Some("struct task_struct"),
        _ => None,
    }
}

/// Every intrinsic name (for suggestions).
pub fn names() -> impl Iterator<Item = &'static str> {
    table().keys().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_entries_parse() {
        let n = TABLE.split_whitespace().count();
        let parsed: usize = table().values().map(Vec::len).sum();
        assert_eq!(n, parsed, "every entry of the table parses");
        let substr = lookup_arity("substr", 3).map(|i| i.ret);
        assert_eq!(substr, Some(Type::String));
        assert_eq!(lookup_arity("exit", 0).map(|i| i.ret), Some(Type::Unknown));
        assert_eq!(lookup("kernel_string").map(<[Intrinsic]>::len), Some(2));
        assert_eq!(lookup_arity("backtrace", 0).map(|i| i.place), Some(Where::Kernel));
        assert!(lookup("no_such_function").is_none());
        assert_eq!(lookup_arity("set_kernel_long", 2).map(|i| i.place), Some(Where::Guru));
    }
}
