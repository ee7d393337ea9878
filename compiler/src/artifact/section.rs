//! The artifact in its ELF section, and the kernel identity it is
//! checked against.
//!
//! In: an [`Artifact`] and the source map its spans point into (writing);
//! an object's bytes (reading). Out: the object with a `.stp.artifact`
//! section appended; the artifact read back. The section holds the
//! artifact as JSON: serde_json is already in the dependency tree, a
//! reader needs nothing but it, and `objcopy --dump-section` shows
//! something a person can read when an object misbehaves.
//!
//! Invariants: writing appends (the section's data, a new section name
//! table, a new section header table) and changes no byte the loader
//! reads, so section indices, relocations and BTF stay as pass 4 wrote
//! them. Reading refuses, with a message, an object that is not ELF, has
//! no section, or holds one this stp cannot read.

use serde::{Deserialize, Serialize};

use super::{Artifact, FORMAT, Source};
use crate::kernel::{Kernel, KernelSource};
use crate::source::{FileKind, SourceMap};

/// The section that holds the artifact.
pub const SECTION: &str = ".stp.artifact";

/// The kernel an object was built for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelIdentity {
    /// As `uname -r` prints it.
    pub release: String,
    /// A digest of the kernel's BTF (`/sys/kernel/btf/vmlinux`), when
    /// there was one: its size and CRC-32.
    pub btf: Option<String>,
}

/// Why an object cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("not an stp object (no {SECTION} section): {0}")]
    NotStp(String),
    #[error("the stp artifact in the object is damaged: {0}")]
    Damaged(String),
    #[error("the object was built by stp {version} (artifact format {format}); this stp reads format {FORMAT}")]
    Format { version: String, format: u32 },
    #[error(
        "the object was built for kernel {built_release} ({built_btf}), but this kernel is {release} ({btf}): \
         stp does not relocate objects to another kernel; compile the script again here"
    )]
    Kernel { built_release: String, built_btf: String, release: String, btf: String },
}

fn btf_digest(path: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(format!("BTF {} bytes, crc32 {:08x}", bytes.len(), crc32fast::hash(&bytes)))
}

impl KernelIdentity {
    /// The identity of the kernel compiled for.
    pub fn of(kernel: &Kernel) -> KernelIdentity {
        let btf = match &kernel.source {
            KernelSource::Live => btf_digest(std::path::Path::new("/sys/kernel/btf/vmlinux")),
            KernelSource::Snapshot(dir) => btf_digest(&dir.join("btf/vmlinux")),
            KernelSource::Fixed => None,
        };
        KernelIdentity { release: kernel.release.clone(), btf }
    }

    /// The running kernel's identity.
    pub fn live() -> KernelIdentity {
        KernelIdentity::of(&Kernel::live())
    }

    /// Refuses to run on `live` what was built for `self`.
    pub fn check(&self, live: &KernelIdentity) -> Result<(), ArtifactError> {
        let btf_differs = matches!((&self.btf, &live.btf), (Some(a), Some(b)) if a != b)
            || (self.btf.is_some() && live.btf.is_none());
        if self.release == live.release && !btf_differs {
            return Ok(());
        }
        let shown = |b: &Option<String>| b.clone().unwrap_or_else(|| "no BTF".to_string());
        Err(ArtifactError::Kernel {
            built_release: self.release.clone(),
            built_btf: shown(&self.btf),
            release: live.release.clone(),
            btf: shown(&live.btf),
        })
    }
}

/// Calls `f` on every span in `v` (a span serialises as an object with
/// `file`, `start`, `end` and `expn`), as (file, start, end) it may
/// change.
fn each_span(v: &mut serde_json::Value, f: &mut dyn FnMut(u64, &mut u64, &mut u64)) {
    match v {
        serde_json::Value::Object(o) => {
            if o.len() == 4 && o.contains_key("expn") {
                let file = o.get("file").and_then(serde_json::Value::as_u64);
                let start = o.get("start").and_then(serde_json::Value::as_u64);
                let end = o.get("end").and_then(serde_json::Value::as_u64);
                if let (Some(file), Some(mut start), Some(mut end)) = (file, start, end) {
                    f(file, &mut start, &mut end);
                    o.insert("start".to_string(), start.into());
                    o.insert("end".to_string(), end.into());
                    return;
                }
            }
            for x in o.values_mut() {
                each_span(x, f);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                each_span(x, f);
            }
        }
        _ => {}
    }
}

/// The texts the spans in `v` point into. A script is carried whole; of
/// a tapset (the syscall tapset is a third of a megabyte), only the lines
/// some span touches, the others left empty, and the spans into it moved
/// to match: each line keeps its number and each span its text.
fn carried_sources(v: &mut serde_json::Value, sm: &SourceMap) -> Vec<Source> {
    let mut touched: std::collections::BTreeMap<u64, std::collections::BTreeSet<usize>> = Default::default();
    each_span(v, &mut |file, start, end| {
        let Some(f) = u32::try_from(file).ok().and_then(|id| sm.get(crate::source::FileId(id))) else { return };
        let first = f.line_index(*start as u32);
        let last = f.line_index((*end).saturating_sub(1).max(*start) as u32);
        touched.entry(file).or_default().extend(first..=last);
    });
    // For each tapset: where each line starts, before and after.
    let mut moved: std::collections::BTreeMap<u64, (Vec<u32>, Vec<u32>)> = Default::default();
    let mut sources = Vec::new();
    for (file, lines) in &touched {
        let Some(id) = u32::try_from(*file).ok() else { continue };
        let Some(f) = sm.get(crate::source::FileId(id)) else { continue };
        if f.kind == FileKind::User {
            sources.push(Source { id, name: f.name.clone(), text: f.text.clone() });
            continue;
        }
        let mut text = String::new();
        let mut new_starts = Vec::new();
        let count = f.line_starts().len();
        for line in 0..count {
            new_starts.push(text.len() as u32);
            if lines.contains(&line)
                && let Some(t) = f.line_range(line).and_then(|r| f.text.get(r))
            {
                text.push_str(t);
            }
            if line + 1 < count {
                text.push('\n');
            }
        }
        moved.insert(*file, (f.line_starts().to_vec(), new_starts));
        sources.push(Source { id, name: f.name.clone(), text });
    }
    each_span(v, &mut |file, start, end| {
        let Some((old, new)) = moved.get(&file) else { return };
        let at = |o: u64| -> u64 {
            let o = o as u32;
            let line = match old.binary_search(&o) {
                Ok(l) => l,
                Err(next) => next.saturating_sub(1),
            };
            let (was, now) = (old.get(line).copied().unwrap_or(0), new.get(line).copied().unwrap_or(0));
            u64::from(now + (o - was))
        };
        *start = at(*start);
        *end = at(*end);
    });
    sources
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2)?.try_into().ok().map(u16::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)?.try_into().ok().map(u64::from_le_bytes)
}

fn put(b: &mut [u8], at: usize, v: &[u8]) -> Option<()> {
    b.get_mut(at..at + v.len())?.copy_from_slice(v);
    Some(())
}

/// `object` with a section `name` holding `data` appended (ELF64,
/// little-endian, as pass 4 writes).
fn append_section(object: &[u8], name: &str, data: &[u8]) -> Option<Vec<u8>> {
    const SHDR: usize = 64;
    if object.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = usize::try_from(u64_at(object, 0x28)?).ok()?;
    let shnum = usize::from(u16_at(object, 0x3c)?);
    let shstrndx = usize::from(u16_at(object, 0x3e)?);
    if shnum == 0 || shnum >= 0xff00 || usize::from(u16_at(object, 0x3a)?) != SHDR {
        return None;
    }
    let headers = object.get(shoff..shoff + shnum * SHDR)?;
    let strtab_hdr = headers.get(shstrndx * SHDR..(shstrndx + 1) * SHDR)?;
    let str_off = usize::try_from(u64_at(strtab_hdr, 24)?).ok()?;
    let str_size = usize::try_from(u64_at(strtab_hdr, 32)?).ok()?;
    let mut names = object.get(str_off..str_off + str_size)?.to_vec();
    let name_at = u32::try_from(names.len()).ok()?;
    names.extend_from_slice(name.as_bytes());
    names.push(0);

    let mut out = object.to_vec();
    let data_at = out.len().div_ceil(8) * 8;
    out.resize(data_at, 0);
    out.extend_from_slice(data);
    let names_at = out.len();
    out.extend_from_slice(&names);
    let headers_at = out.len().div_ceil(8) * 8;
    out.resize(headers_at, 0);
    let mut table = headers.to_vec();
    let strtab = shstrndx * SHDR;
    put(&mut table, strtab + 24, &(names_at as u64).to_le_bytes())?;
    put(&mut table, strtab + 32, &(names.len() as u64).to_le_bytes())?;
    let mut header = [0u8; SHDR];
    put(&mut header, 0, &name_at.to_le_bytes())?;
    // SHT_PROGBITS, no flags: nothing a loader maps.
    put(&mut header, 4, &1u32.to_le_bytes())?;
    put(&mut header, 24, &(data_at as u64).to_le_bytes())?;
    put(&mut header, 32, &(data.len() as u64).to_le_bytes())?;
    put(&mut header, 48, &1u64.to_le_bytes())?;
    table.extend_from_slice(&header);
    out.extend_from_slice(&table);
    put(&mut out, 0x28, &(headers_at as u64).to_le_bytes())?;
    put(&mut out, 0x3c, &u16::try_from(shnum + 1).ok()?.to_le_bytes())?;
    Some(out)
}

impl Artifact {
    /// The object with the artifact (and the texts of `sm` its spans
    /// point into) in its own section.
    pub fn to_object(&self, sm: &SourceMap) -> Result<Vec<u8>, String> {
        let fail = |e: serde_json::Error| format!("cannot write the stp artifact: {e}");
        let mut value = serde_json::to_value(self).map_err(fail)?;
        let sources = carried_sources(&mut value, sm);
        if let Some(o) = value.as_object_mut() {
            o.insert("sources".to_string(), serde_json::to_value(sources).map_err(fail)?);
        }
        let data = serde_json::to_vec(&value).map_err(fail)?;
        append_section(&self.object, SECTION, &data).ok_or_else(|| {
            "cannot add the stp artifact section: the object is not 64-bit little-endian ELF".to_string()
        })
    }

    /// The artifact an object carries, with the object.
    pub fn from_object(object: &[u8]) -> Result<Artifact, ArtifactError> {
        use object::{Object, ObjectSection};
        let file = object::File::parse(object).map_err(|e| ArtifactError::NotStp(e.to_string()))?;
        let section = file
            .section_by_name(SECTION)
            .ok_or_else(|| ArtifactError::NotStp("an ELF object without it".to_string()))?;
        let data = section.data().map_err(|e| ArtifactError::Damaged(e.to_string()))?;
        // The format first, so that another version's artifact is named
        // as such rather than as damaged.
        #[derive(Deserialize)]
        struct Head {
            format: u32,
            stp_version: String,
        }
        let head: Head = serde_json::from_slice(data).map_err(|e| ArtifactError::Damaged(e.to_string()))?;
        if head.format != FORMAT {
            return Err(ArtifactError::Format { version: head.stp_version, format: head.format });
        }
        let mut a: Artifact = serde_json::from_slice(data).map_err(|e| ArtifactError::Damaged(e.to_string()))?;
        a.object = object.to_vec();
        Ok(a)
    }
}
