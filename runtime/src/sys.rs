//! The few system calls the runtime issues itself: `bpf(2)` map commands
//! (aya's typed maps need their key and value types at compile time,
//! while a script's records have sizes known only when it is compiled),
//! and uprobes with a reference counter (USDT semaphores), which aya does
//! not create.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

/// `union bpf_attr` as the map element commands read it.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value_or_next_key: u64,
    flags: u64,
}

fn bpf(cmd: libc::c_long, attr: &mut MapElemAttr) -> io::Result<()> {
    // SAFETY: the attribute is a valid, fully initialised `bpf_attr`
    // prefix of the size we pass; the kernel reads and writes only the
    // buffers its pointers name, which the callers keep alive and sized.
    let r = unsafe {
        libc::syscall(libc::SYS_bpf, cmd, attr as *mut MapElemAttr, std::mem::size_of::<MapElemAttr>() as u32)
    };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Fills `value` (the map's value size, times the possible CPUs for a
/// per-CPU map); false when the key is absent.
pub fn lookup(fd: RawFd, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut a = MapElemAttr {
        map_fd: fd as u32,
        key: key.as_ptr() as u64,
        value_or_next_key: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut a) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn update(fd: RawFd, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
    let mut a = MapElemAttr {
        map_fd: fd as u32,
        key: key.as_ptr() as u64,
        value_or_next_key: value.as_ptr() as u64,
        flags,
        _pad: 0,
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut a)
}

pub fn delete(fd: RawFd, key: &[u8]) -> io::Result<()> {
    let mut a = MapElemAttr { map_fd: fd as u32, key: key.as_ptr() as u64, ..Default::default() };
    match bpf(BPF_MAP_DELETE_ELEM, &mut a) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

/// Every key of a hash map.
pub fn keys(fd: RawFd, key_size: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut next = vec![0u8; key_size];
    let mut prev: Option<Vec<u8>> = None;
    loop {
        let mut a = MapElemAttr {
            map_fd: fd as u32,
            key: prev.as_ref().map_or(0, |p| p.as_ptr() as u64),
            value_or_next_key: next.as_mut_ptr() as u64,
            ..Default::default()
        };
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut a) {
            Ok(()) => {
                out.push(next.clone());
                prev = Some(next.clone());
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

/// `struct perf_event_attr` up to `PERF_ATTR_SIZE_VER5`.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    /// `uprobe_path`: the file's path, NUL-terminated.
    config1: u64,
    /// `probe_offset`: the file offset of the probed instruction.
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    reserved: u16,
}

/// `PERF_UPROBE_REF_CTR_OFFSET_SHIFT`: the uprobe PMU takes the reference
/// counter's file offset in bits 32-63 of `config`.
const REF_CTR_OFFSET_SHIFT: u32 = 32;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// `_IOW('$', 8, __u32)`.
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;
/// `_IO('$', 0)`.
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;

/// The uprobe PMU's type number.
fn uprobe_pmu() -> io::Result<u32> {
    let text = std::fs::read_to_string("/sys/bus/event_source/devices/uprobe/type")?;
    text.trim().parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad uprobe PMU type"))
}

/// Attaches the kprobe-type program `prog` as a uprobe at file offset
/// `offset` of `path` whose reference counter (a USDT semaphore, a
/// 16-bit word) is at file offset `ref_ctr`: the kernel increments it in
/// every process that maps the file while the probe exists, and
/// decrements it after. For process `pid`, or every process. The probe
/// goes when the returned descriptor is closed.
pub fn uprobe_with_ref_ctr(
    prog: BorrowedFd<'_>,
    path: &str,
    offset: u64,
    ref_ctr: u64,
    pid: Option<u32>,
) -> io::Result<OwnedFd> {
    let ref_ctr = u32::try_from(ref_ctr)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "semaphore offset beyond 4 GiB"))?;
    let c_path =
        CString::new(path).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    let attr = PerfEventAttr {
        type_: uprobe_pmu()?,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: u64::from(ref_ctr) << REF_CTR_OFFSET_SHIFT,
        sample_period: 1,
        wakeup_events: 1,
        config1: c_path.as_ptr() as u64,
        config2: offset,
        ..Default::default()
    };
    // One process on any CPU, or every process (on any CPU: cpu 0 stands
    // for all of them for a uprobe).
    let (pid, cpu) = match pid {
        Some(p) => (p as libc::pid_t, -1),
        None => (-1, 0),
    };
    // SAFETY: `attr` is a valid perf_event_attr of the size it states;
    // the path it points to lives until the call returns.
    let fd = unsafe {
        libc::syscall(libc::SYS_perf_event_open, &attr as *const PerfEventAttr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, which nothing
    // else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    // SAFETY: both descriptors are open; the ioctls read only their
    // integer arguments.
    if unsafe { libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_SET_BPF, prog.as_raw_fd()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_ENABLE, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Whether the kernel has kprobes (their perf event type is listed).
pub fn has_kprobes() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
}
