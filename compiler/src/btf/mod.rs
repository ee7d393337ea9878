//! BTF as stp writes it: a [`Builder`] that appends type records and
//! strings and hands back the `.BTF` section's bytes.
//!
//! In: types added one by one (ints, pointers, arrays, structs, function
//! prototypes, functions, variables, data sections). Out: the encoded
//! section. Type ids count from 1 in the order types are added; a string is
//! stored once. The writer knows nothing of how BTF is read: the kernel
//! model (`kernel::btf`, which prunes the kernel's BTF into snapshots) and
//! the eBPF back end (`bpf::btf`, map and program types of the objects)
//! both build on it.

use std::collections::HashMap;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;

/// Linkage of a FUNC or VAR.
pub const STATIC: u32 = 0;
pub const GLOBAL: u32 = 1;

/// BTF under construction: type ids count from 1 in the order types are
/// added.
#[derive(Default)]
pub struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    offsets: HashMap<String, u32>,
    count: u32,
}

impl Builder {
    pub fn new() -> Builder {
        Builder { strings: vec![0], ..Builder::default() }
    }

    /// A string's offset in the string section, adding it once.
    pub fn string(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&o) = self.offsets.get(s) {
            return o;
        }
        let o = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.offsets.insert(s.to_string(), o);
        o
    }

    /// One more word of the current type's trailing data.
    pub fn put(&mut self, v: u32) {
        self.types.extend_from_slice(&v.to_le_bytes());
    }

    fn record(&mut self, name: &str, kind: u32, vlen: usize, kflag: bool, size_or_type: u32) -> u32 {
        let name = self.string(name);
        self.raw(name, kind, vlen, kflag, size_or_type)
    }

    /// A type record of any kind, its name already in the string section;
    /// its trailing data follows with [`Builder::put`]. Returns its id.
    pub fn raw(&mut self, name_off: u32, kind: u32, vlen: usize, kflag: bool, size_or_type: u32) -> u32 {
        let info = (kind << 24) | (vlen as u32 & 0xffff) | (u32::from(kflag) << 31);
        self.put(name_off);
        self.put(info);
        self.put(size_or_type);
        self.count += 1;
        self.count
    }

    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        let id = self.record(name, KIND_INT, 0, false, size);
        self.put((u32::from(signed) << 24) | (size * 8));
        id
    }

    pub fn ptr(&mut self, target: u32) -> u32 {
        self.record("", KIND_PTR, 0, false, target)
    }

    pub fn array(&mut self, elem: u32, index: u32, len: u32) -> u32 {
        let id = self.record("", KIND_ARRAY, 0, false, 0);
        self.put(elem);
        self.put(index);
        self.put(len);
        id
    }

    /// Members: (name, type, offset in bits).
    pub fn structure(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let id = self.record(name, KIND_STRUCT, members.len(), false, size);
        for &(m, ty, bits) in members {
            let m = self.string(m);
            self.put(m);
            self.put(ty);
            self.put(bits);
        }
        id
    }

    pub fn func_proto(&mut self, ret: u32, params: &[(&str, u32)]) -> u32 {
        let id = self.record("", KIND_FUNC_PROTO, params.len(), false, ret);
        for &(p, ty) in params {
            let p = self.string(p);
            self.put(p);
            self.put(ty);
        }
        id
    }

    pub fn func(&mut self, name: &str, proto: u32, linkage: u32) -> u32 {
        self.record(name, KIND_FUNC, linkage as usize, false, proto)
    }

    pub fn var(&mut self, name: &str, ty: u32, linkage: u32) -> u32 {
        let id = self.record(name, KIND_VAR, 0, false, ty);
        self.put(linkage);
        id
    }

    /// Variables: (var type id, offset, size).
    pub fn datasec(&mut self, name: &str, size: u32, vars: &[(u32, u32, u32)]) -> u32 {
        let id = self.record(name, KIND_DATASEC, vars.len(), false, size);
        for &(v, off, sz) in vars {
            self.put(v);
            self.put(off);
            self.put(sz);
        }
        id
    }

    /// The `.BTF` section's bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.types.len() + self.strings.len());
        out.extend_from_slice(&[0x9f, 0xeb, 1, 0]);
        let type_len = self.types.len() as u32;
        for v in [24u32, 0, type_len, type_len, self.strings.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}
