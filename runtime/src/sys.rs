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
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// `union bpf_attr` as the batch commands read it.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

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

/// Every entry of a hash map, `value_size` bytes of value each (a per-CPU
/// map's values for every possible CPU), read a batch of entries per
/// system call (Linux 5.6); `None` where the kernel has no batch
/// lookups for the map, for the caller to read key by key.
pub fn entries(fd: RawFd, key_size: usize, value_size: usize) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut chunk: u32 = 256;
    let mut token: u32 = 0;
    let mut first = true;
    loop {
        let mut keys = vec![0u8; key_size * chunk as usize];
        let mut values = vec![0u8; value_size * chunk as usize];
        let mut next: u32 = 0;
        let mut a = BatchAttr {
            in_batch: if first { 0 } else { &raw const token as u64 },
            out_batch: &raw mut next as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: chunk,
            map_fd: fd as u32,
            ..Default::default()
        };
        // SAFETY: a valid `bpf_attr` prefix of the size passed; the kernel
        // writes at most `count` keys and values into the buffers, sized
        // for that many, and a u32 token.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &mut a as *mut BatchAttr,
                std::mem::size_of::<BatchAttr>() as u32,
            )
        };
        let err = (r < 0).then(|| io::Error::last_os_error().raw_os_error()).flatten();
        match err {
            // A bucket with more entries than the batch holds.
            Some(libc::ENOSPC) if chunk < 1 << 16 => {
                chunk *= 4;
                continue;
            }
            None | Some(libc::ENOENT) => {}
            Some(_) => return if first { None } else { Some(out) },
        }
        let n = a.count as usize;
        for i in 0..n {
            let key = keys.get(i * key_size..(i + 1) * key_size)?.to_vec();
            let value = values.get(i * value_size..(i + 1) * value_size)?.to_vec();
            out.push((key, value));
        }
        if err == Some(libc::ENOENT) {
            return Some(out);
        }
        token = next;
        first = false;
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
const PERF_TYPE_TRACEPOINT: u32 = 2;
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
    let fd = perf_event_with(&attr, pid, cpu, prog);
    drop(c_path);
    fd
}

/// Opens the perf event `attr` (for process `pid` or all, on `cpu`) and
/// runs `prog` on it.
fn perf_event_with(attr: &PerfEventAttr, pid: libc::pid_t, cpu: i32, prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a valid perf_event_attr of the size it states;
    // what it points to lives until the call returns.
    let fd = unsafe {
        libc::syscall(libc::SYS_perf_event_open, attr as *const PerfEventAttr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)
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

/// A kretprobe stp made itself, through tracefs, to give it the
/// `maxactive` the kernel's kprobe PMU cannot take: its perf event, and
/// the event definition, removed once the perf event is closed.
pub struct OwnKretprobe {
    fd: Option<OwnedFd>,
    events: std::path::PathBuf,
    name: String,
}

impl Drop for OwnKretprobe {
    fn drop(&mut self) {
        drop(self.fd.take());
        let _ = write_kprobe_events(&self.events, &format!("-:{}\n", self.name));
    }
}

/// Removes the kprobe event `group/name` that `path` (tracefs's
/// `kprobe_events`) defines.
pub fn remove_kprobe_event(path: &std::path::Path, name: &str) -> io::Result<()> {
    write_kprobe_events(path, &format!("-:{name}\n"))
}

fn write_kprobe_events(path: &std::path::Path, line: &str) -> io::Result<()> {
    use std::io::Write as _;
    std::fs::OpenOptions::new().append(true).open(path)?.write_all(line.as_bytes())
}

/// Attaches the kprobe-type program `prog` as a kretprobe on `func` with
/// at most `maxactive` returns pending at once, as the event `name`
/// (`group/event`, unique to this run).
pub fn kretprobe_with_maxactive(
    prog: BorrowedFd<'_>,
    func: &str,
    maxactive: u32,
    name: &str,
) -> io::Result<OwnKretprobe> {
    let tracefs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|d| d.join("kprobe_events").exists())
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "tracefs has no kprobe_events"))?;
    let events = tracefs.join("kprobe_events");
    write_kprobe_events(&events, &format!("r{maxactive}:{name} {func}\n"))?;
    // From here the definition goes with the guard, whatever fails.
    let mut probe = OwnKretprobe { fd: None, events, name: name.to_string() };
    let id: u64 = std::fs::read_to_string(tracefs.join("events").join(name).join("id"))?
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a kprobe event id that is not a number"))?;
    let attr = PerfEventAttr {
        type_: PERF_TYPE_TRACEPOINT,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: id,
        sample_period: 1,
        wakeup_events: 1,
        ..Default::default()
    };
    // Every process; a BPF program on a trace event runs on every CPU.
    probe.fd = Some(perf_event_with(&attr, -1, 0, prog)?);
    Ok(probe)
}

/// Whether the kernel has kprobes (their perf event type is listed).
pub fn has_kprobes() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
}

/// Loads a compiled object with aya, without aya's loader reading and
/// parsing the kernel's BTF, which it reads only for CO-RE relocations
/// (stp emits none; fentry programs get the BTF apart) and which costs a
/// run about 10 MiB of memory and 30 ms. The load runs in a thread of its
/// own that moves to a private mount namespace, where
/// `/sys/kernel/btf/vmlinux` reads as empty; the rest of the process
/// keeps its view. Where that cannot be arranged (no CAP_SYS_ADMIN, a
/// restricted container), the object loads as usual.
pub fn load_object(object: &[u8]) -> Result<aya::Ebpf, aya::EbpfError> {
    load_object_with(object, None)
}

/// As `load_object`, the ring buffer `events` made `ringbuf` bytes where
/// given.
pub fn load_object_with(object: &[u8], ringbuf: Option<u32>) -> Result<aya::Ebpf, aya::EbpfError> {
    let load = || {
        let mut loader = aya::EbpfLoader::new();
        if let Some(size) = ringbuf {
            loader.map_max_entries("events", size);
        }
        loader.load(object)
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            hide_kernel_btf();
            load()
        })
        .join()
        .unwrap_or_else(|_| load())
    })
}

/// In the calling thread only: a private mount namespace with
/// `/dev/null` over the kernel's BTF. Whether it worked.
fn hide_kernel_btf() -> bool {
    let (Ok(root), Ok(btf), Ok(null)) =
        (CString::new("/"), CString::new("/sys/kernel/btf/vmlinux"), CString::new("/dev/null"))
    else {
        return false;
    };
    // SAFETY: unshare and mount take these flags and NUL-terminated paths
    // (or null where unused); they change only this thread's view of the
    // file system (CLONE_FS comes with CLONE_NEWNS).
    unsafe {
        libc::unshare(libc::CLONE_FS | libc::CLONE_NEWNS) == 0
            && libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
            && libc::mount(null.as_ptr(), btf.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) == 0
    }
}
