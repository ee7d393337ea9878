//! BTF: types, function prototypes and the name index.
//!
//! Types are decoded by the `btf-rs` library, memory-mapped so that opening
//! the 5 MB vmlinux BTF does not decode its 100k+ types. Finding a type by
//! name is ours: one pass over the raw type records builds a name index the
//! first time a name is asked for (the library's own lookup scans every type
//! per query).

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use btf_rs::{Backend, Btf, BtfType, Type};

use super::KernelError;

const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_ENUM64: u32 = 19;

/// One BTF object: vmlinux's, or a module's split BTF on top of it.
pub(crate) struct BtfFile {
    pub btf: Btf,
    raw: Raw,
    /// For split BTF: the base's type count and string section length.
    base_types: u32,
    base_str_len: u32,
    index: OnceLock<Index>,
}

/// The raw bytes: mapped, or read where the file cannot be mapped.
enum Raw {
    Map(memmap2::Mmap),
    Read(Vec<u8>),
}

impl std::ops::Deref for Raw {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Raw::Map(m) => m,
            Raw::Read(v) => v,
        }
    }
}

fn read_raw(path: &Path) -> Result<Raw, KernelError> {
    let err = |e: std::io::Error| KernelError(format!("cannot read BTF {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(err)?;
    // SAFETY: BTF files (sysfs, a snapshot) are not modified while stp runs;
    // a file that cannot be mapped is read instead.
    match unsafe { memmap2::Mmap::map(&file) } {
        Ok(m) if !m.is_empty() => Ok(Raw::Map(m)),
        _ => std::fs::read(path).map(Raw::Read).map_err(err),
    }
}

/// Names to ids without allocating a string per name: FNV hashes of the
/// names in the raw string section, checked against the name on lookup.
#[derive(Default)]
pub(crate) struct NameTable {
    map: HashMap<u64, u32, std::hash::BuildHasherDefault<IdHasher>>,
    /// Ids whose different names share a hash with a name in `map`.
    clash: Vec<u32>,
    /// Every (name offset, id), in id order.
    pub entries: Vec<(u32, u32)>,
}

/// The identity hash: keys are FNV hashes already.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) fn fnv(s: &[u8]) -> u64 {
    s.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Name tables by C namespace.
#[derive(Default)]
pub(crate) struct Index {
    pub funcs: NameTable,
    pub structs: NameTable,
    pub unions: NameTable,
    pub enums: NameTable,
    /// Typedefs and base types.
    pub plain: NameTable,
}

impl Index {
    /// `struct x`, `union x`, `enum x` or a plain name.
    pub fn table_for<'a, 'n>(&'a self, name: &'n str) -> (&'a NameTable, &'n str) {
        if let Some(n) = name.strip_prefix("struct ") {
            (&self.structs, n.trim())
        } else if let Some(n) = name.strip_prefix("union ") {
            (&self.unions, n.trim())
        } else if let Some(n) = name.strip_prefix("enum ") {
            (&self.enums, n.trim())
        } else {
            (&self.plain, name)
        }
    }
}

struct Header {
    hdr_len: u32,
    type_off: u32,
    type_len: u32,
    str_off: u32,
    str_len: u32,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([*s.first()?, *s.get(1)?, *s.get(2)?, *s.get(3)?]))
}

fn header(raw: &[u8]) -> Result<Header, KernelError> {
    let bad = || KernelError("malformed BTF: bad header".into());
    if raw.get(0..2) != Some(&[0x9f, 0xeb]) {
        return Err(KernelError("not BTF (or not little-endian BTF): bad magic".into()));
    }
    Ok(Header {
        hdr_len: u32_at(raw, 4).ok_or_else(bad)?,
        type_off: u32_at(raw, 8).ok_or_else(bad)?,
        type_len: u32_at(raw, 12).ok_or_else(bad)?,
        str_off: u32_at(raw, 16).ok_or_else(bad)?,
        str_len: u32_at(raw, 20).ok_or_else(bad)?,
    })
}

/// The size of a type record's trailing data.
fn record_extra(kind: u32, vlen: u32) -> usize {
    let v = vlen as usize;
    match kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * v,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * v,
        _ => 0,
    }
}

/// Visits each type record: (id, kind, name offset).
fn scan(raw: &[u8], first_id: u32, mut f: impl FnMut(u32, u32, u32)) -> Result<u32, KernelError> {
    let h = header(raw)?;
    let start = (h.hdr_len as usize).saturating_add(h.type_off as usize);
    let end = start.saturating_add(h.type_len as usize);
    if end > raw.len() {
        return Err(KernelError("malformed BTF: type section past the end".into()));
    }
    let mut at = start;
    let mut id = first_id;
    while at < end {
        let (Some(name_off), Some(info)) = (u32_at(raw, at), u32_at(raw, at + 4)) else {
            return Err(KernelError("malformed BTF: truncated type".into()));
        };
        let kind = (info >> 24) & 0x1f;
        f(id, kind, name_off);
        at += 12 + record_extra(kind, info & 0xffff);
        id += 1;
    }
    Ok(id - first_id)
}

impl BtfFile {
    /// Opens vmlinux BTF: memory-mapped where the file allows it, else
    /// through a private copy.
    pub fn open_base(path: &Path) -> Result<BtfFile, KernelError> {
        let raw = read_raw(path)?;
        let btf = match Btf::from_file_with_backend(path, Backend::Mmap) {
            Ok(b) => b,
            Err(_) => open_copy(&raw)?,
        };
        Ok(BtfFile { btf, raw, base_types: 0, base_str_len: 0, index: OnceLock::new() })
    }

    /// Opens a module's split BTF.
    pub fn open_split(path: &Path, base: &BtfFile) -> Result<BtfFile, KernelError> {
        let raw = read_raw(path)?;
        let btf = Btf::from_split_bytes(&raw, &base.btf)
            .map_err(|e| KernelError(format!("cannot parse BTF {}: {e}", path.display())))?;
        // Split ids and string offsets continue the base's.
        let base_types = base.btf.base().type_id_range().1;
        let base_str_len = header(&base.raw)?.str_len;
        Ok(BtfFile { btf, raw, base_types, base_str_len, index: OnceLock::new() })
    }

    fn name_at(&self, name_off: u32) -> Option<&str> {
        let h = header(&self.raw).ok()?;
        let off = name_off.checked_sub(self.base_str_len)?;
        if off >= h.str_len {
            return None;
        }
        let start = (h.hdr_len as usize) + (h.str_off as usize) + off as usize;
        let tail = self.raw.get(start..)?;
        let len = tail.iter().position(|&b| b == 0)?;
        std::str::from_utf8(tail.get(..len)?).ok()
    }

    /// The name index, built on first use.
    pub fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let mut index = Index::default();
            let _ = scan(&self.raw, self.base_types + 1, |id, kind, name_off| {
                if name_off == 0 {
                    return;
                }
                let table = match kind {
                    KIND_FUNC => &mut index.funcs,
                    KIND_STRUCT => &mut index.structs,
                    KIND_UNION => &mut index.unions,
                    KIND_ENUM | KIND_ENUM64 => &mut index.enums,
                    KIND_TYPEDEF | KIND_INT | KIND_FLOAT => &mut index.plain,
                    _ => return,
                };
                let Some(name) = self.name_at(name_off) else { return };
                table.entries.push((name_off, id));
                match table.map.entry(fnv(name.as_bytes())) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(id);
                    }
                    std::collections::hash_map::Entry::Occupied(o) => {
                        let first = *o.get();
                        if self.id_name(&table.entries, first) != Some(name) {
                            table.clash.push(id);
                        }
                    }
                }
            });
            index
        })
    }

    fn id_name(&self, entries: &[(u32, u32)], id: u32) -> Option<&str> {
        let i = entries.binary_search_by_key(&id, |e| e.1).ok()?;
        self.name_at(entries.get(i)?.0)
    }

    /// The first type named `name` in `table`.
    pub fn lookup(&self, table: &NameTable, name: &str) -> Option<u32> {
        let &id = table.map.get(&fnv(name.as_bytes()))?;
        if self.id_name(&table.entries, id) == Some(name) {
            return Some(id);
        }
        table.clash.iter().copied().find(|&c| self.id_name(&table.entries, c) == Some(name))
    }

    /// A function's FUNC id.
    pub fn func(&self, name: &str) -> Option<u32> {
        self.lookup(&self.index().funcs, name)
    }

    /// A type by C name (`struct file`, `u32`).
    pub fn type_named(&self, name: &str) -> Option<u32> {
        let (table, name) = self.index().table_for(name);
        self.lookup(table, name)
    }

    /// Every FUNC: (name, id).
    pub fn func_names(&self) -> impl Iterator<Item = (&str, u32)> {
        self.index().funcs.entries.iter().filter_map(|&(off, id)| Some((self.name_at(off)?, id)))
    }

    /// The size of the raw BTF in bytes.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn ty(&self, id: u32) -> Option<Type> {
        if id == 0 {
            return None;
        }
        self.btf.resolve_type_by_id(id).ok()
    }

    pub fn name_of(&self, t: &dyn BtfType) -> String {
        self.btf.resolve_name(t).unwrap_or_default()
    }
}

/// A file that cannot be mapped (vmlinux BTF in sysfs on older kernels) is
/// copied to a temporary file that is mapped and unlinked at once.
fn open_copy(raw: &[u8]) -> Result<Btf, KernelError> {
    let path = std::env::temp_dir().join(format!("stp-btf-{}", std::process::id()));
    std::fs::write(&path, raw).map_err(|e| KernelError(format!("cannot copy BTF to {}: {e}", path.display())))?;
    let btf = Btf::from_file_with_backend(&path, Backend::Mmap);
    let _ = std::fs::remove_file(&path);
    btf.map_err(|e| KernelError(format!("cannot parse BTF: {e}")))
}

// ---------------------------------------------------------------------
// Writing BTF: the pruned copies in kernel snapshots.
// ---------------------------------------------------------------------

/// Writes a standalone BTF object holding `roots` (type ids of `file`) and
/// what they refer to. Structs and unions more than `depth` pointer hops
/// from a root are written as forward declarations, which keeps a snapshot
/// of a few functions small.
pub(crate) fn write_pruned(file: &BtfFile, roots: &[u32], depth: u32) -> Vec<u8> {
    let mut w = Writer {
        file,
        map: HashMap::new(),
        order: Vec::new(),
        depths: HashMap::new(),
        out: crate::btf::Builder::new(),
    };
    for &r in roots {
        w.visit(r, depth, true);
    }
    w.finish()
}

struct Writer<'a> {
    file: &'a BtfFile,
    /// Old id (and whether it was kept whole) to new id.
    map: HashMap<(u32, bool), u32>,
    order: Vec<(u32, bool)>,
    /// The depth each kept type was last expanded at.
    depths: HashMap<(u32, bool), u32>,
    /// The records, written in id order.
    out: crate::btf::Builder,
}

impl Writer<'_> {
    fn string(&mut self, s: &str) -> u32 {
        self.out.string(s)
    }

    /// Assigns new ids depth-first: first every type reachable, then the
    /// records in id order (BTF allows forward references). `forced`: the
    /// type is embedded by value, so a struct must be complete whatever the
    /// depth.
    fn visit(&mut self, id: u32, depth: u32, forced: bool) -> u32 {
        if id == 0 {
            return 0;
        }
        let Some(t) = self.file.ty(id) else { return 0 };
        let leaf = matches!(t, Type::Int(_) | Type::Float(_) | Type::Enum(_) | Type::Enum64(_) | Type::Fwd(_));
        let whole = leaf || forced || depth > 0;
        // A type met again closer to a root is expanded again, deeper; its
        // record stays the one it has.
        let n = match self.map.get(&(id, whole)) {
            Some(&n) if self.depths.get(&(id, whole)).is_some_and(|&d| d >= depth) => return n,
            Some(&n) => n,
            None => {
                let n = self.order.len() as u32 + 1;
                self.map.insert((id, whole), n);
                self.order.push((id, whole));
                n
            }
        };
        self.depths.insert((id, whole), depth);
        // Children after the id is taken, so cycles through pointers end.
        match &t {
            Type::Ptr(_) => {
                if let Some(c) = t.as_btf_type().and_then(|b| b.get_type_id()) {
                    self.visit(c, depth.saturating_sub(1), false);
                }
            }
            Type::Struct(s) | Type::Union(s) if whole => {
                for m in &s.members {
                    if let Some(c) = m.get_type_id() {
                        self.visit(c, depth, true);
                    }
                }
            }
            Type::FuncProto(p) => {
                self.visit(p.return_type_id(), depth, true);
                for a in &p.parameters {
                    if let Some(c) = a.get_type_id() {
                        self.visit(c, depth, true);
                    }
                }
            }
            Type::Array(a) => {
                if let Some(c) = a.get_type_id() {
                    self.visit(c, depth, whole);
                }
            }
            Type::Typedef(_) | Type::Const(_) | Type::Volatile(_) | Type::Restrict(_) | Type::TypeTag(_) => {
                if let Some(c) = t.as_btf_type().and_then(|b| b.get_type_id()) {
                    self.visit(c, depth, forced);
                }
            }
            Type::Func(_) => {
                if let Some(c) = t.as_btf_type().and_then(|b| b.get_type_id()) {
                    self.visit(c, depth, true);
                }
            }
            _ => {}
        }
        n
    }

    fn new_id(&self, old: u32) -> u32 {
        if old == 0 {
            return 0;
        }
        self.map.get(&(old, true)).or_else(|| self.map.get(&(old, false))).copied().unwrap_or(0)
    }

    /// The id a reference to `old` gets: whole if it was kept whole.
    fn rec(&mut self, name: u32, kind: u32, vlen: usize, kflag: bool, size_or_type: u32) {
        self.out.raw(name, kind, vlen, kflag, size_or_type);
    }

    fn put(&mut self, v: u32) {
        self.out.put(v);
    }

    fn finish(mut self) -> Vec<u8> {
        let order = std::mem::take(&mut self.order);
        for (old, whole) in order {
            let Some(t) = self.file.ty(old) else {
                // Unreachable: visit() only keeps resolvable ids. An INT
                // placeholder keeps the numbering.
                self.rec(0, KIND_INT, 0, false, 4);
                self.put(32);
                continue;
            };
            let name = t.as_btf_type().map(|b| self.file.name_of(b)).unwrap_or_default();
            let n = self.string(&name);
            let target = t.as_btf_type().and_then(|b| b.get_type_id()).map(|c| self.new_id(c)).unwrap_or(0);
            match &t {
                Type::Int(i) => {
                    self.rec(n, KIND_INT, 0, false, i.size() as u32);
                    let enc = u32::from(i.is_signed()) | (u32::from(i.is_char()) << 1) | (u32::from(i.is_bool()) << 2);
                    self.put((enc << 24) | (i.size() as u32 * 8));
                }
                Type::Ptr(_) => self.rec(0, 2, 0, false, target),
                Type::Array(a) => {
                    self.rec(0, KIND_ARRAY, 0, false, 0);
                    let int = self.index_type();
                    self.put(target);
                    self.put(int);
                    self.put(a.len() as u32);
                }
                Type::Struct(s) | Type::Union(s) => {
                    let kind = if matches!(t, Type::Struct(_)) { KIND_STRUCT } else { KIND_UNION };
                    if !whole {
                        self.rec(n, 7, 0, kind == KIND_UNION, 0);
                        continue;
                    }
                    let bitfields = s.members.iter().any(|m| m.bitfield_size().is_some_and(|b| b != 0));
                    self.rec(n, kind, s.members.len(), bitfields, s.size() as u32);
                    for m in &s.members {
                        let mn = self.file.name_of(m);
                        let mn = self.string(&mn);
                        let mt = m.get_type_id().map(|c| self.new_id(c)).unwrap_or(0);
                        let off = match (bitfields, m.bitfield_size().filter(|&b| b != 0)) {
                            (true, Some(b)) => (b << 24) | m.bit_offset(),
                            _ => m.bit_offset(),
                        };
                        self.put(mn);
                        self.put(mt);
                        self.put(off);
                    }
                }
                Type::Enum(e) => {
                    self.rec(n, KIND_ENUM, e.members.len(), e.is_signed(), e.size() as u32);
                    for m in &e.members {
                        let mn = self.file.name_of(m);
                        let mn = self.string(&mn);
                        self.put(mn);
                        self.put(m.val());
                    }
                }
                Type::Enum64(e) => {
                    self.rec(n, KIND_ENUM64, e.members.len(), e.is_signed(), e.size() as u32);
                    for m in &e.members {
                        let mn = self.file.name_of(m);
                        let mn = self.string(&mn);
                        self.put(mn);
                        self.put(m.val() as u32);
                        self.put((m.val() >> 32) as u32);
                    }
                }
                Type::Fwd(f) => self.rec(n, 7, 0, f.is_union(), 0),
                Type::Typedef(_) => self.rec(n, KIND_TYPEDEF, 0, false, target),
                Type::Volatile(_) => self.rec(0, 9, 0, false, target),
                Type::Const(_) => self.rec(0, 10, 0, false, target),
                Type::Restrict(_) => self.rec(0, 11, 0, false, target),
                Type::TypeTag(_) => self.rec(n, 18, 0, false, target),
                Type::Func(f) => {
                    let linkage = if f.is_static() {
                        0
                    } else if f.is_global() {
                        1
                    } else {
                        2
                    };
                    self.rec(n, KIND_FUNC, linkage, false, target);
                }
                Type::FuncProto(p) => {
                    let ret = self.new_id(p.return_type_id());
                    self.rec(0, KIND_FUNC_PROTO, p.parameters.len(), false, ret);
                    for a in &p.parameters {
                        let an = self.file.name_of(a);
                        let an = self.string(&an);
                        let at = if a.is_variadic() { 0 } else { a.get_type_id().map(|c| self.new_id(c)).unwrap_or(0) };
                        self.put(an);
                        self.put(at);
                    }
                }
                Type::Float(f) => self.rec(n, KIND_FLOAT, 0, false, f.size() as u32),
                // Not reachable from the roots visit() follows.
                _ => {
                    self.rec(0, KIND_INT, 0, false, 4);
                    self.put(32);
                }
            }
        }
        self.out.finish()
    }

    /// Array index types are not looked at by stp; any kept id will do, and
    /// 0 (void) is what the kernel accepts when there is none.
    fn index_type(&self) -> u32 {
        0
    }
}
