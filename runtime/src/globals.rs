//! The script's globals: the record of scalars mapped from the kernel's
//! `globals` array map (shared with the kernel's handlers), its initial
//! values, and the globals printed at exit.
//!
//! In: the artifact's layout and IR globals, and the live maps through
//! the host. Out: the mapping, and the text of the unread globals.
//! Invariant: every access is clamped to the mapping's length.

use std::io::Write;
use std::os::fd::RawFd;

use stp_compiler::artifact::records;
use stp_compiler::ir::{GlobalId, GlobalKind, Operand, Ty};
use stp_compiler::layout::{Layout, MapLayout, ValueLayout};

use crate::host::{Host, State};
use crate::json::OutputFormat;
use crate::report::{self, Global};
use crate::run::Failure;
use crate::stats::Stat;

/// The globals record, mapped from the `globals` array map.
pub(crate) struct Globals {
    pub(crate) ptr: *mut u8,
    len: usize,
}

impl Globals {
    pub(crate) fn map(fd: RawFd, size: usize) -> Result<Globals, Failure> {
        let page = 4096;
        let len = size.div_ceil(page) * page;
        // SAFETY: mapping a BPF array map created with BPF_F_MMAPABLE;
        // the kernel checks the length against the map's size.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if ptr == libc::MAP_FAILED {
            return Err(crate::run::Failure(format!("cannot map the globals: {}", std::io::Error::last_os_error())));
        }
        Ok(Globals { ptr: ptr.cast(), len })
    }

    pub(crate) fn bytes(&self, offset: u32, len: u32) -> &[u8] {
        let end = (offset as usize + len as usize).min(self.len);
        // SAFETY: the mapping is `self.len` bytes long and lives as long
        // as `self`; the range is clamped to it.
        unsafe { std::slice::from_raw_parts(self.ptr.add(offset as usize), end - offset as usize) }
    }

    pub(crate) fn write(&mut self, offset: u32, bytes: &[u8]) {
        let n = bytes.len().min(self.len.saturating_sub(offset as usize));
        // SAFETY: as in `bytes`; the destination range is clamped.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(offset as usize), n) }
    }
}

impl Drop for Globals {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping `map` made.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Writes initial values of globals (`global x = 5`).
pub(crate) fn init_globals(st: &mut State<'_>) {
    let clock = |id| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime fills the timespec it is given.
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    };
    let offset = clock(libc::CLOCK_REALTIME) - clock(libc::CLOCK_MONOTONIC);
    let realtime_offset = st.layout().realtime_offset;
    st.globals.write(realtime_offset, &offset.to_ne_bytes());
    let target_offset = st.layout().target_offset;
    let target = st.target;
    st.globals.write(target_offset, &target.to_ne_bytes());
    for (i, g) in st.c.module.globals.iter().enumerate() {
        let (Some(slot), Some(init)) = (st.c.layout.scalar(GlobalId(i as u32)), &g.init) else { continue };
        match init {
            Operand::Long(n) => st.globals.write(slot.offset, &n.to_ne_bytes()),
            Operand::Str(s) => {
                let max = st.c.layout.limits.max_string_len as usize - 1;
                let mut b: Vec<u8> = s.iter().copied().take(max).collect();
                b.push(0);
                st.globals.write(slot.offset, &b);
            }
            Operand::Var(_) => {}
        }
    }
}

/// Globals the script writes and never reads, printed at exit as stap
/// does (or, with `--format json`, one `map` object each).
pub(crate) fn print_unread(st: &mut State<'_>) {
    let m = &st.c.module;
    let mut text = Vec::new();
    for &id in &st.c.unread {
        let Some(g) = m.global(id) else { continue };
        let shown = match &g.kind {
            GlobalKind::Scalar(ty) => {
                let Some(slot) = st.c.layout.scalar(id) else { continue };
                let bytes = st.globals.bytes(slot.offset, st.c.layout.size_of(*ty)).to_vec();
                Global::Scalar(decode(&bytes, *ty))
            }
            GlobalKind::Array { value, .. } => {
                let Some(ml) = st.c.layout.map(id).cloned() else { continue };
                let entries = st
                    .map_entries(id, ml.value_size as usize)
                    .into_iter()
                    .map(|(key, v)| (decode_key(&st.c.layout, &ml, &key), decode(&v, *value)))
                    .collect();
                Global::Array(entries)
            }
            GlobalKind::Stats { keys } if keys.is_empty() => {
                let Some(ml) = st.c.layout.map(id).cloned() else { continue };
                let ValueLayout::Stat(hist) = ml.value else { continue };
                let key = vec![0u8; ml.key_size as usize];
                Global::Stat(st.stat_get(id, &key).unwrap_or_else(|| Stat::empty(hist, 0)))
            }
            GlobalKind::Stats { .. } => {
                let Some(ml) = st.c.layout.map(id).cloned() else { continue };
                let entries =
                    st.stat_entries(id).into_iter().map(|(key, s)| (decode_key(&st.c.layout, &ml, &key), s)).collect();
                Global::StatArray(entries)
            }
        };
        match st.format {
            OutputFormat::Text => text.extend(report::global_display(&g.name, &shown, st.numbers)),
            OutputFormat::Json => text.extend(crate::json::global(&g.name, &shown).bytes()),
        }
    }
    let _ = st.out.write_all(&text);
}

pub(crate) fn decode(bytes: &[u8], ty: Ty) -> report::Value {
    records::value(bytes, ty).unwrap_or(report::Value::Long(0))
}

pub(crate) fn decode_key(layout: &Layout, ml: &MapLayout, key: &[u8]) -> Vec<report::Value> {
    ml.keys
        .iter()
        .map(|k| {
            let _ = layout;
            let end = (k.offset + k.size) as usize;
            decode(key.get(k.offset as usize..end).unwrap_or_default(), k.ty)
        })
        .collect()
}
