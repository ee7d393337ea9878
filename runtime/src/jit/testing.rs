//! A [`Host`] in memory: the globals record, arrays and statistics as
//! plain collections, the output collected. For tests of user-placed code
//! (and anything else that wants to run handlers without a kernel).

use stp_compiler::ir::{GlobalId, GlobalKind, Module, Operand};
use stp_compiler::layout::{Layout, MapLayout, ValueLayout};

use crate::host::Host;
use crate::stats::Stat;

/// One array or statistic, its entries in the order they were added.
#[derive(Debug, Default)]
struct MemMap {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    stats: Vec<(Vec<u8>, Stat)>,
    layout: Option<MapLayout>,
    /// The size the declaration gives, for the overflow message.
    declared: Option<u64>,
}

#[derive(Debug, Default)]
pub struct MemHost {
    /// The globals record, as longs so that it is 8-byte aligned.
    globals: Vec<u64>,
    maps: Vec<MemMap>,
    /// Everything the script printed.
    pub out: Vec<u8>,
    /// `warn()` messages.
    pub warnings: Vec<String>,
    pub exited: bool,
    pub aborted: bool,
    pub target_pid: i64,
}

impl MemHost {
    /// An empty script state for `module`, its scalars set to their
    /// initial values.
    pub fn new(module: &Module, layout: &Layout) -> MemHost {
        let mut h = MemHost {
            globals: vec![0; (layout.globals_size as usize).div_ceil(8).max(1)],
            maps: module
                .globals
                .iter()
                .enumerate()
                .map(|(i, g)| MemMap {
                    layout: layout.map(GlobalId(i as u32)).cloned(),
                    declared: g.size,
                    ..MemMap::default()
                })
                .collect(),
            ..MemHost::default()
        };
        let str_size = layout.size_of(stp_compiler::ir::Ty::Str) as usize;
        let max = layout.limits.max_string_len as usize;
        for (i, g) in module.globals.iter().enumerate() {
            let (GlobalKind::Scalar(_), Some(init), Some(slot)) = (&g.kind, &g.init, layout.scalar(GlobalId(i as u32)))
            else {
                continue;
            };
            let bytes: Vec<u8> = match init {
                Operand::Long(n) => n.to_ne_bytes().to_vec(),
                Operand::Str(s) => {
                    let mut b = s.get(..s.len().min(max.saturating_sub(1))).unwrap_or_default().to_vec();
                    b.resize(str_size, 0);
                    b
                }
                Operand::Var(_) => continue,
            };
            let at = slot.offset as usize;
            if let Some(dst) = h.record_mut().get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(&bytes);
            }
        }
        h
    }

    fn record_mut(&mut self) -> &mut [u8] {
        let len = self.globals.len() * 8;
        // SAFETY: the vector's `len` longs are `len * 8` initialized bytes.
        unsafe { std::slice::from_raw_parts_mut(self.globals.as_mut_ptr().cast(), len) }
    }

    /// The output as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }

    fn map(&mut self, g: GlobalId) -> Option<&mut MemMap> {
        self.maps.get_mut(g.0 as usize)
    }
}

impl Host for MemHost {
    fn globals(&mut self) -> *mut u8 {
        self.globals.as_mut_ptr().cast()
    }

    fn map_get(&mut self, map: GlobalId, key: &[u8], value: &mut [u8]) -> bool {
        let Some(m) = self.map(map) else { return false };
        match m.entries.iter().find(|(k, _)| k == key) {
            Some((_, v)) => {
                let n = v.len().min(value.len());
                if let (Some(d), Some(s)) = (value.get_mut(..n), v.get(..n)) {
                    d.copy_from_slice(s);
                }
                true
            }
            None => false,
        }
    }

    fn map_set(&mut self, map: GlobalId, key: &[u8], value: &[u8]) -> Result<(), String> {
        let Some(m) = self.map(map) else { return Ok(()) };
        if let Some(e) = m.entries.iter_mut().find(|(k, _)| k == key) {
            e.1 = value.to_vec();
            return Ok(());
        }
        let (max, wrap) = m.layout.as_ref().map_or((usize::MAX, false), |l| (l.max_entries as usize, l.wrap));
        if m.entries.len() >= max {
            if !wrap {
                return Err(stp_compiler::bpf::codegen::array_overflow(m.declared));
            }
            m.entries.remove(0);
        }
        m.entries.push((key.to_vec(), value.to_vec()));
        Ok(())
    }

    fn map_delete(&mut self, map: GlobalId, key: Option<&[u8]>) {
        let Some(m) = self.map(map) else { return };
        match key {
            None => {
                m.entries.clear();
                m.stats.clear();
            }
            Some(key) => {
                m.entries.retain(|(k, _)| k != key);
                m.stats.retain(|(k, _)| k != key);
            }
        }
    }

    fn map_keys(&mut self, map: GlobalId) -> Vec<Vec<u8>> {
        let Some(m) = self.map(map) else { return Vec::new() };
        m.entries.iter().map(|(k, _)| k.clone()).chain(m.stats.iter().map(|(k, _)| k.clone())).collect()
    }

    fn stat_add(&mut self, stat: GlobalId, key: &[u8], value: i64) {
        let Some(m) = self.map(stat) else { return };
        let hist = match m.layout.as_ref().map(|l| l.value) {
            Some(ValueLayout::Stat(h)) => h,
            _ => stp_compiler::layout::HistLayout::None,
        };
        let one = Stat::of(value, hist);
        match m.stats.iter_mut().find(|(k, _)| k == key) {
            Some((_, s)) => s.merge(&one),
            None => m.stats.push((key.to_vec(), one)),
        }
    }

    fn stat_get(&mut self, stat: GlobalId, key: &[u8]) -> Option<Stat> {
        let m = self.map(stat)?;
        m.stats.iter().find(|(k, _)| k == key).map(|(_, s)| s.clone())
    }

    fn output(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn warn(&mut self, message: &str) {
        self.warnings.push(message.to_string());
    }

    fn exit(&mut self) {
        self.exited = true;
    }

    fn abort(&mut self) {
        self.aborted = true;
        self.exited = true;
    }

    fn target(&self) -> i64 {
        self.target_pid
    }
}
