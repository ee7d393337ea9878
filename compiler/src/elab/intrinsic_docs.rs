//! One-line descriptions of the functions the compiler implements itself
//! ([`super::intrinsics`]), for `--dump-functions` and `docs/library.md`;
//! the tapset functions take theirs from the comment above them. A name
//! the table does not describe is listed without a description (the unit
//! test below says which).

/// `name<TAB>description` lines; families share a line by a `*` suffix
/// (`user_*_error`), tried after the exact names.
const TABLE: &str = "
execname	The name of the current process's executable (its comm).
pexecname	The executable name of the current process's parent.
pid	The current process's ID (its thread group ID).
tid	The current thread's ID.
ppid	The parent process's ID.
pgrp	The process group ID of the current process.
sid	The session ID of the current process.
ns_pid	The process ID as the current process's PID namespace sees it.
ns_tid	The thread ID as the current process's PID namespace sees it.
ns_ppid	The parent's process ID in the current PID namespace.
ns_pgrp	The process group ID in the current PID namespace.
ns_sid	The session ID in the current PID namespace.
gid	The real group ID of the current process.
egid	The effective group ID of the current process.
uid	The real user ID of the current process.
euid	The effective user ID of the current process.
ns_gid	The real group ID as the current user namespace sees it.
ns_egid	The effective group ID as the current user namespace sees it.
ns_uid	The real user ID as the current user namespace sees it.
ns_euid	The effective user ID as the current user namespace sees it.
is_myproc	1 when the current process belongs to the user running the script.
cpu	The number of the CPU the probe runs on.
cpuid	The number of the CPU the probe runs on (as cpu()).
target	The process ID given with -x, or of the -c command.
stp_pid	The process ID of stp itself.
is_return	1 in a return probe.
registers_valid	1 when the probe's registers can be read.
user_mode	1 when the probe fired in user mode.
addr	The address the probe fired at.
uaddr	The user-space address of the current task's execution.
module_name	The name of the running script's module.
remote_id	The index of this host among the hosts of a remote run.
remote_uri	The address of this host in a remote run.
stack_size	The size of the kernel stack.
stack_used	The bytes of the kernel stack in use.
stack_unused	The bytes of the kernel stack left.
pp	The probe point that fired, as a string.
ppfunc	The function name of the probe point that fired.
probefunc	The function the probe fired in.
probemod	The kernel module the probe fired in.
probe_type	The kind of the probe that fired (kprobe, tracepoint, ...).
modname	The kernel module holding an address.
symname	The kernel symbol at an address.
symdata	The kernel symbol at an address, with its offset, size and module.
usymname	The user-space symbol at an address of the current process.
usymdata	The user-space symbol at an address, with its offset and size.
backtrace	The kernel stack of the probe, as a string of hex addresses.
ubacktrace	The user-space stack of the probe, as a string of hex addresses.
print_backtrace	Prints the kernel stack of the probe, symbolized.
print_ubacktrace	Prints the user-space stack of the probe, symbolized.
sprint_backtrace	The kernel stack of the probe, symbolized, as a string.
sprint_ubacktrace	The user-space stack of the probe, symbolized, as a string.
callers	The first N addresses of the kernel stack.
ucallers	The first N addresses of the user-space stack.
caller	The name and address of the calling function.
caller_addr	The address of the calling function.
stack	The Nth address of the kernel stack.
ustack	The Nth address of the user-space stack.
print_stack	Prints a stack string (of backtrace()), one symbol a line.
sprint_stack	A stack string (of backtrace()) symbolized, one symbol a line.
print_syms	Prints the kernel symbols of a string of addresses.
sprint_syms	The kernel symbols of a string of addresses.
print_usyms	Prints the user-space symbols of a string of addresses.
sprint_usyms	The user-space symbols of a string of addresses.
task_backtrace	The kernel stack of a task, as a string of hex addresses.
print_regs	Prints the registers of the probe.
print_uregs	Prints the user-space registers of the probe.
int_arg	The Nth argument of the probed function, as a signed int.
uint_arg	The Nth argument of the probed function, as an unsigned int.
long_arg	The Nth argument of the probed function, as a signed long.
ulong_arg	The Nth argument of the probed function, as an unsigned long.
longlong_arg	The Nth argument of the probed function, as a long long.
ulonglong_arg	The Nth argument of the probed function, as an unsigned long long.
pointer_arg	The Nth argument of the probed function, as a pointer.
s32_arg	The Nth argument of the probed function, as a signed 32-bit value.
u32_arg	The Nth argument of the probed function, as an unsigned 32-bit value.
s64_arg	The Nth argument of the probed function, as a signed 64-bit value.
u64_arg	The Nth argument of the probed function, as an unsigned 64-bit value.
register	A register of the probe, by name (ax, bx, ...).
u_register	A register of the probe, by name, as an unsigned value.
returnval	The return value of the probed function.
returnstr	The return value of the probed function as text (a number or an errno name).
set_returnval	Changes the return value of the probed function (-g).
log	Writes a line to the output.
warn	Reports a warning.
system	Runs a shell command once the probe is done.
raise	Sends a signal to the current process (-g).
exit	Ends the script after the current probe (end probes run).
abort	Ends the script at once, without end probes.
error	Raises a runtime error with the message.
printk	Writes a message to the kernel's log (-g).
ftrace	Writes a message to the kernel's trace buffer.
assert	Raises an error when the condition is false.
strlen	The length of a string.
substr	The part of a string from a position, of a length.
stringat	The character at a position of a string.
isinstr	1 when the second string occurs in the first.
strpos	The position of the second string in the first, or -1.
text_str	A string with its special characters escaped.
text_strn	A string escaped, cut to a length, quoted or not.
str_replace	A string with every occurrence of one string replaced by another.
strtol	A string's number in a base.
isdigit	1 when the string starts with a digit.
string_quoted	A string escaped and in double quotes.
tokenize	The next token of a string, split at any of the delimiters.
matched	The Nth group matched by the last =~ match.
matched_str	The text matched by the last =~ match.
ngroups	The number of groups of the last =~ match.
kernel_string	A NUL-terminated string read from kernel memory.
kernel_string2	A string read from kernel memory, or the given text on a fault.
kernel_string_quoted	A string read from kernel memory, quoted and escaped.
kernel_string_n	A string of at most N bytes read from kernel memory.
kernel_long	A long read from kernel memory.
kernel_int	An int read from kernel memory.
kernel_short	A short read from kernel memory.
kernel_char	A char read from kernel memory.
kernel_pointer	A pointer read from kernel memory.
kernel_buffer_quoted	Bytes read from kernel memory, escaped and quoted.
set_kernel_*	Writes a value to kernel memory (-g).
user_string	A NUL-terminated string read from user memory.
user_string2	A string read from user memory, or the given text on a fault.
user_string_warn	A string read from user memory, with a warning on a fault.
user_string_n	A string of at most N bytes read from user memory.
user_*_error	A value of that type read from user memory; a fault is an error.
user_buffer_quoted	Bytes read from user memory, escaped and quoted.
get_cycles	The processor's cycle counter.
jiffies	The kernel's jiffies counter.
HZ	The kernel's timer frequency (jiffies per second).
gettimeofday_s	Seconds since the epoch.
gettimeofday_ms	Milliseconds since the epoch.
gettimeofday_us	Microseconds since the epoch.
gettimeofday_ns	Nanoseconds since the epoch.
local_clock_ns	The CPU-local clock in nanoseconds.
local_clock_us	The CPU-local clock in microseconds.
local_clock_ms	The CPU-local clock in milliseconds.
local_clock_s	The CPU-local clock in seconds.
cpu_clock_ns	The clock of a CPU in nanoseconds.
cpu_clock_us	The clock of a CPU in microseconds.
cpu_clock_ms	The clock of a CPU in milliseconds.
cpu_clock_s	The clock of a CPU in seconds.
ktime_get_ns	The monotonic clock in nanoseconds.
sprint_loadavg	The load averages, as /proc/loadavg shows them.
get_loadavg_index	One load average (0: 1 min, 1: 5 min, 2: 15 min), times 100.
randint	A random number below N.
task_current	The current task (its task_struct).
task_parent	The parent of a task.
task_state	The scheduling state of a task.
task_execname	The executable name of a task.
task_pid	The process ID of a task.
task_ns_pid	The process ID of a task in its PID namespace.
task_ns_uid	The real user ID of a task in its user namespace (-g).
task_ns_euid	The effective user ID of a task in its user namespace (-g).
task_ns_gid	The real group ID of a task in its user namespace (-g).
task_ns_egid	The effective group ID of a task in its user namespace (-g).
set_user_char	Writes a char to user memory at an address (-g).
set_user_short	Writes a short to user memory at an address (-g).
set_user_int	Writes an int to user memory at an address (-g).
set_user_long	Writes a long to user memory at an address (-g).
set_user_pointer	Writes a pointer to user memory at an address (-g).
set_user_string	Writes a string, with its NUL, to user memory at an address (-g).
set_user_string_n	Writes at most n bytes of a string to user memory at an address (-g).
task_tid	The thread ID of a task.
task_ns_tid	The thread ID of a task in its PID namespace.
task_gid	The real group ID of a task.
task_egid	The effective group ID of a task.
task_uid	The real user ID of a task.
task_euid	The effective user ID of a task.
task_prio	The scheduling priority of a task.
task_nice	The nice value of a task.
task_cpu	The CPU a task last ran on.
pid2task	The task of a process ID.
pid2execname	The executable name of a process ID.
task_open_file_handles	The number of open files of a task.
task_max_file_handles	The most files a task may open.
current_exe_file	The executable file of the current process.
task_exe_file	The executable file of a task.
env_var	An environment variable of the current process.
sprint_ustack	A user-space stack string symbolized, one symbol a line.
umodname	The user-space module (library or executable) holding an address.
";

/// The description of an intrinsic, by name.
pub fn description(name: &str) -> Option<&'static str> {
    let rows = || TABLE.lines().filter_map(|l| l.split_once('\t'));
    rows()
        .find(|(n, _)| *n == name)
        .or_else(|| {
            rows().find(|(n, _)| match n.split_once('*') {
                Some((head, tail)) => {
                    name.len() > head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
                }
                None => false,
            })
        })
        .map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_intrinsic_is_described() {
        let missing: Vec<&str> =
            super::super::intrinsics::names().filter(|n| !n.starts_with("__") && description(n).is_none()).collect();
        assert!(missing.is_empty(), "intrinsics without a description: {missing:?}");
        assert_eq!(
            description("user_uint16_error"),
            Some("A value of that type read from user memory; a fault is an error.")
        );
        assert_eq!(description("set_kernel_long"), Some("Writes a value to kernel memory (-g)."));
    }
}
