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
use crate::source::SourceMap;

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

/// Every file id a span in `v` names (a span serialises as an object
/// with `file`, `start`, `end` and `expn`).
fn span_files(v: &serde_json::Value, out: &mut std::collections::BTreeSet<u64>) {
    match v {
        serde_json::Value::Object(o) => {
            if o.len() == 4
                && o.contains_key("start")
                && o.contains_key("end")
                && o.contains_key("expn")
                && let Some(f) = o.get("file").and_then(serde_json::Value::as_u64)
            {
                out.insert(f);
                return;
            }
            for x in o.values() {
                span_files(x, out);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                span_files(x, out);
            }
        }
        _ => {}
    }
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
        let value = serde_json::to_value(self).map_err(|e| format!("cannot write the stp artifact: {e}"))?;
        let mut files = std::collections::BTreeSet::new();
        span_files(&value, &mut files);
        let mut full = self.clone();
        full.object = Vec::new();
        full.sources = files
            .into_iter()
            .filter_map(|id| {
                let id = u32::try_from(id).ok()?;
                let f = sm.get(crate::source::FileId(id))?;
                Some(Source { id, name: f.name.clone(), text: f.text.clone() })
            })
            .collect();
        let data = serde_json::to_vec(&full).map_err(|e| format!("cannot write the stp artifact: {e}"))?;
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
