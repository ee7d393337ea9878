//! The kernel's eBPF ABI as stp's back end uses it: map types, map and
//! update flags, helper function ids (with the names `-p3` shows) and the
//! ring buffer's flags.
//!
//! In: nothing; out: constants with the kernel's values (`enum
//! bpf_map_type`, `enum bpf_func_id`, `BPF_F_*` of `include/uapi/linux/
//! bpf.h`). These values are the kernel's ABI: they never change, and a new
//! one is added here, under the kernel's name, before code uses it. Program
//! types are chosen by section name (see `codegen::section`), which the
//! loader reads; the compiler needs no attach type.

pub const MAP_HASH: u32 = 1;
pub const MAP_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_PROG_ARRAY`.
pub const MAP_PROG_ARRAY: u32 = 3;
pub const MAP_PERCPU_HASH: u32 = 5;
pub const MAP_PERCPU_ARRAY: u32 = 6;
pub const MAP_LRU_HASH: u32 = 9;
pub const MAP_LRU_PERCPU_HASH: u32 = 10;
pub const MAP_RINGBUF: u32 = 27;
/// `BPF_F_NO_PREALLOC`: a hash map whose entries are allocated as they
/// are added (Linux 6.1 lets tracing programs use such maps).
pub const F_NO_PREALLOC: u32 = 1;
/// `BPF_F_MMAPABLE`: user space maps the globals record.
pub const F_MMAPABLE: u32 = 1 << 10;
/// `BPF_NOEXIST`.
pub const NOEXIST: i32 = 1;

pub const HELPER_MAP_LOOKUP: i32 = 1;
pub const HELPER_MAP_UPDATE: i32 = 2;
pub const HELPER_MAP_DELETE: i32 = 3;
/// `bpf_ktime_get_ns`: CLOCK_MONOTONIC.
pub const HELPER_KTIME: i32 = 5;
pub const HELPER_TRACE_PRINTK: i32 = 6;
pub const HELPER_PRANDOM: i32 = 7;
pub const HELPER_GET_STACK: i32 = 67;
/// `bpf_snprintf(str, size, fmt, data, data_len)`: `%ps`/`%pS` name kernel
/// addresses.
pub const HELPER_SNPRINTF: i32 = 165;
pub const HELPER_CPU: i32 = 8;
pub const HELPER_TAIL_CALL: i32 = 12;
/// `bpf_get_current_pid_tgid`: tgid in the high half, pid in the low.
pub const HELPER_PID_TGID: i32 = 14;
/// `bpf_get_current_uid_gid`: gid in the high half, uid in the low.
pub const HELPER_UID_GID: i32 = 15;
pub const HELPER_COMM: i32 = 16;
pub const HELPER_CURRENT_TASK: i32 = 35;
pub const HELPER_PROBE_READ_USER: i32 = 112;
/// `bpf_probe_write_user(dst, src, len)`.
pub const HELPER_PROBE_WRITE_USER: i32 = 36;
pub const HELPER_PROBE_READ_KERNEL: i32 = 113;
pub const HELPER_PROBE_READ_USER_STR: i32 = 114;
pub const HELPER_PROBE_READ_KERNEL_STR: i32 = 115;
pub const HELPER_JIFFIES: i32 = 118;
pub const HELPER_SEND_SIGNAL_THREAD: i32 = 117;
pub const HELPER_CURRENT_TASK_BTF: i32 = 158;
pub const HELPER_GET_FUNC_IP: i32 = 173;
pub const HELPER_TASK_PT_REGS: i32 = 175;
pub const HELPER_RINGBUF_RESERVE: i32 = 131;
/// `bpf_for_each_map_elem` (Linux 5.13) and `bpf_loop` (5.17): calls of
/// a callback subprogram.
pub const HELPER_FOR_EACH: i32 = 164;
pub const HELPER_LOOP: i32 = 181;
/// `bpf_map_lookup_percpu_elem` (Linux 6.0).
pub const HELPER_LOOKUP_PERCPU: i32 = 195;
pub const HELPER_RINGBUF_SUBMIT: i32 = 132;
pub const HELPER_RINGBUF_QUERY: i32 = 134;
/// `bpf_ringbuf_query`'s question: the bytes not yet consumed.
pub const RB_AVAIL_DATA: i32 = 0;
/// `bpf_ringbuf_submit` flags.
pub const RB_NO_WAKEUP: i32 = 1;
pub const RB_FORCE_WAKEUP: i32 = 2;

/// The helper names `-p3` shows.
pub fn helper_name(h: i32) -> Option<&'static str> {
    Some(match h {
        HELPER_MAP_LOOKUP => "bpf_map_lookup_elem",
        HELPER_MAP_UPDATE => "bpf_map_update_elem",
        HELPER_MAP_DELETE => "bpf_map_delete_elem",
        HELPER_CPU => "bpf_get_smp_processor_id",
        HELPER_PID_TGID => "bpf_get_current_pid_tgid",
        HELPER_UID_GID => "bpf_get_current_uid_gid",
        HELPER_COMM => "bpf_get_current_comm",
        HELPER_CURRENT_TASK => "bpf_get_current_task",
        HELPER_TAIL_CALL => "bpf_tail_call",
        HELPER_KTIME => "bpf_ktime_get_ns",
        HELPER_TRACE_PRINTK => "bpf_trace_printk",
        HELPER_PRANDOM => "bpf_get_prandom_u32",
        HELPER_GET_STACK => "bpf_get_stack",
        HELPER_JIFFIES => "bpf_jiffies64",
        HELPER_SEND_SIGNAL_THREAD => "bpf_send_signal_thread",
        HELPER_CURRENT_TASK_BTF => "bpf_get_current_task_btf",
        HELPER_GET_FUNC_IP => "bpf_get_func_ip",
        HELPER_TASK_PT_REGS => "bpf_task_pt_regs",
        HELPER_PROBE_READ_USER => "bpf_probe_read_user",
        HELPER_PROBE_READ_USER_STR => "bpf_probe_read_user_str",
        HELPER_PROBE_READ_KERNEL => "bpf_probe_read_kernel",
        HELPER_PROBE_READ_KERNEL_STR => "bpf_probe_read_kernel_str",
        HELPER_RINGBUF_RESERVE => "bpf_ringbuf_reserve",
        HELPER_RINGBUF_SUBMIT => "bpf_ringbuf_submit",
        HELPER_RINGBUF_QUERY => "bpf_ringbuf_query",
        HELPER_LOOKUP_PERCPU => "bpf_map_lookup_percpu_elem",
        HELPER_FOR_EACH => "bpf_for_each_map_elem",
        HELPER_LOOP => "bpf_loop",
        _ => return None,
    })
}
