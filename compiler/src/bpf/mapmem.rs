//! The kernel memory a script's maps take, computed before they are
//! created: a hash map preallocates every entry when it is created, so
//! `global a[100000000]` would make the kernel allocate tens of GiB at
//! once (and its OOM killer fire). Each map's worst case is
//!
//! - hash maps: entries × (`HTAB_ELEM` + key + value, each rounded up to
//!   8 bytes);
//! - per-CPU hash maps: entries × (`HTAB_ELEM` + key + a pointer), plus
//!   entries × value × the possible CPUs;
//! - arrays: entries × value (× the possible CPUs when per-CPU);
//! - the ring buffer: its size.
//!
//! Hash maps past [`PREALLOC_LIMIT`] are created with `BPF_F_NO_PREALLOC`
//! (LRU maps cannot be): their memory comes as entries are added.
//!
//! The sum over the script's maps may not pass `MAXMAPMEMORY` bytes
//! (`-D MAXMAPMEMORY=BYTES`, 1 GiB by default); past it, the largest map
//! is refused at its global's declaration.

use super::btf::MapDef;
use crate::diag::Diagnostic;
use crate::source::Span;

pub use super::abi::F_NO_PREALLOC;

/// Hash maps larger than this (on one CPU) are not preallocated.
pub const PREALLOC_LIMIT: u64 = 16 << 20;

/// The kernel's `struct htab_elem` before the key, rounded up.
const HTAB_ELEM: u64 = 48;

use super::abi::{
    MAP_ARRAY as ARRAY, MAP_HASH as HASH, MAP_LRU_HASH as LRU_HASH, MAP_LRU_PERCPU_HASH as LRU_PERCPU_HASH,
    MAP_PERCPU_ARRAY as PERCPU_ARRAY, MAP_PERCPU_HASH as PERCPU_HASH, MAP_RINGBUF as RINGBUF,
};

fn round8(n: u32) -> u64 {
    u64::from(n).div_ceil(8) * 8
}

/// Bytes of kernel memory `def` takes at most, with `cpus` possible CPUs.
pub fn bytes(def: &MapDef, cpus: u64) -> u64 {
    let n = u64::from(def.max_entries);
    let (key, value) = (round8(def.key_size), round8(def.value_size));
    match def.map_type {
        HASH | LRU_HASH => n.saturating_mul(HTAB_ELEM + key + value),
        PERCPU_HASH | LRU_PERCPU_HASH => {
            n.saturating_mul(HTAB_ELEM + key + 8).saturating_add(n.saturating_mul(value).saturating_mul(cpus))
        }
        ARRAY => n.saturating_mul(value),
        PERCPU_ARRAY => n.saturating_mul(value).saturating_mul(cpus),
        RINGBUF => n,
        _ => n.saturating_mul(key + value),
    }
}

/// The running machine's possible CPUs, which per-CPU maps take a value
/// for; 1 where unknown. For the runtime, which creates the maps on this
/// machine; the compiler takes them from the kernel model
/// ([`crate::kernel::Kernel::possible_cpus`]).
pub fn possible_cpus() -> u64 {
    crate::kernel::PossibleCpus::live().map_or(1, |c| c.count())
}

/// `N bytes` in the largest binary unit it fills.
pub fn human(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size {
            let tenths = n.saturating_mul(10) / size;
            return format!("{}.{} {unit}", tenths / 10, tenths % 10);
        }
    }
    format!("{n} bytes")
}

/// Refuses maps past `limit` bytes in all: the largest map, at the
/// declaration of its global (`span_of` gives it by map name, with the
/// script's name for the global).
pub(crate) fn check(
    maps: &[MapDef],
    cpus: u64,
    limit: u64,
    span_of: impl Fn(&str) -> Option<(String, Span)>,
) -> Result<(), Diagnostic> {
    let sizes: Vec<u64> = maps.iter().map(|m| bytes(m, cpus)).collect();
    let total = sizes.iter().fold(0u64, |a, b| a.saturating_add(*b));
    if total <= limit {
        return Ok(());
    }
    let largest = sizes.iter().zip(maps).max_by_key(|(s, _)| **s);
    let Some((size, def)) = largest else { return Ok(()) };
    let (name, span) = match span_of(&def.name) {
        Some((name, span)) => (name, Some(span)),
        None => (def.name.clone(), None),
    };
    let what = format!(
        "array '{name}' needs {} of kernel memory ({} entries of {} + {} bytes{}), and the script's maps {} in all, \
         past the limit of {}",
        human(*size),
        def.max_entries,
        def.key_size,
        def.value_size,
        if matches!(def.map_type, PERCPU_HASH | LRU_PERCPU_HASH) {
            format!(", on each of {cpus} CPUs")
        } else {
            String::new()
        },
        human(total),
        human(limit)
    );
    let d = match span {
        Some(span) => Diagnostic::semantic_error(what, span),
        None => Diagnostic::error(format!("semantic error: {what}")),
    };
    Err(d.with_help(
        "declare it with fewer entries (global a[N]), lower -D MAXMAPENTRIES, or raise -D MAXMAPMEMORY=BYTES",
    ))
}

/// Each map with the script's name of the global it holds (`None` for
/// the runtime's own maps: `globals`, `events`, ...).
pub fn owners(maps: &[MapDef], module: &crate::ir::Module) -> Vec<(MapDef, Option<String>)> {
    maps.iter()
        .map(|def| {
            let owner = (0..module.globals.len() as u32)
                .map(crate::ir::GlobalId)
                .find(|g| super::codegen::map_name(module, *g) == def.name)
                .and_then(|g| module.global(g))
                .map(|g| g.name.clone());
            (def.clone(), owner)
        })
        .collect()
}

/// Why the kernel would not create a map: the script's global (or the
/// runtime's map), its size and the error.
pub fn create_failure(kernel_name: &str, owners: &[(MapDef, Option<String>)], error: &std::io::Error) -> String {
    let Some((def, owner)) = owners.iter().find(|(d, _)| d.name == kernel_name) else {
        return format!("cannot create the map '{kernel_name}': {error}");
    };
    let size = human(bytes(def, possible_cpus()));
    match owner {
        Some(name) => format!(
            "cannot create the map of global '{name}' ({} entries of {} + {} bytes, {size}): {error}",
            def.max_entries, def.key_size, def.value_size
        ),
        None => format!("cannot create the map '{kernel_name}' ({size}): {error}"),
    }
}

/// The name a global's map gets in the kernel: `g_NAME`, or where that
/// does not fit in the kernel's 15 characters (`BPF_OBJ_NAME_LEN` less
/// the NUL), `gID_` and as much of the name as fits (unique: the short
/// form never has a digit after its `g`).
pub fn kernel_name(id: u32, name: &str) -> String {
    let short = format!("g_{name}");
    if short.len() <= 15 {
        return short;
    }
    let mut out = format!("g{id}_");
    for c in name.chars() {
        if out.len() + c.len_utf8() > 15 {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(map_type: u32, entries: u32, key: u32, value: u32) -> MapDef {
        MapDef { name: "g_a".into(), map_type, key_size: key, value_size: value, max_entries: entries, flags: 0 }
    }

    #[test]
    fn sizes_follow_the_map_types() {
        assert_eq!(bytes(&def(HASH, 100, 8, 8), 4), 100 * (48 + 16));
        assert_eq!(bytes(&def(PERCPU_HASH, 10, 8, 20), 4), 10 * (48 + 16) + 10 * 24 * 4);
        assert_eq!(bytes(&def(RINGBUF, 1 << 20, 0, 0), 4), 1 << 20);
        assert_eq!(bytes(&def(HASH, u32::MAX, 4096, 4096), 1024), u64::from(u32::MAX) * (48 + 8192));
    }

    #[test]
    fn past_the_limit_the_largest_map_is_refused() {
        let maps = [def(HASH, 100_000_000, 8, 8), def(ARRAY, 1, 4, 64)];
        let e = check(&maps, 2, 1 << 30, |_| None).err().map(|d| d.message).unwrap_or_default();
        assert!(e.contains("array 'g_a' needs 5.9 GiB of kernel memory (100000000 entries of 8 + 8 bytes)"), "{e}");
        assert!(check(&maps, 2, 8 << 30, |_| None).is_ok());
    }

    #[test]
    fn long_names_are_shortened_and_stay_apart() {
        assert_eq!(kernel_name(3, "count"), "g_count");
        assert_eq!(kernel_name(3, "abcdefghijklm"), "g_abcdefghijklm");
        let long = "x".repeat(511);
        assert_eq!(kernel_name(12, &long), "g12_xxxxxxxxxxx");
        assert_ne!(kernel_name(1, &long), kernel_name(2, &long));
        assert!(kernel_name(12, &long).len() <= 15);
    }

    #[test]
    fn possible_cpus_are_counted_from_ranges() {
        assert!(possible_cpus() >= 1);
    }
}
