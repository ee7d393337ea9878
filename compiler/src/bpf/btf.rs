//! The BTF of the objects stp writes: the types of map definitions
//! (libbpf's BTF-defined maps in `.maps`) and a function per program (which
//! `.BTF.ext`'s func_info names), and the strings of `.BTF.ext`. The
//! writer itself is [`crate::btf`].

use std::collections::HashMap;

pub use crate::btf::{Builder, GLOBAL, STATIC};

/// A map definition as libbpf declares it:
/// `struct { __uint(type, T); __uint(max_entries, N); __type(key, K); __type(value, V); }`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MapDef {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// `map_flags` (`BPF_F_MMAPABLE`, ...).
    pub flags: u32,
}

/// The size of a map definition in `.maps`: five pointers.
pub const MAP_DEF_SIZE: u32 = 40;

/// Adds the maps' types, their variables and the `.maps` section's
/// DATASEC; returns nothing the caller needs but the builder's state.
pub fn add_maps(b: &mut Builder, maps: &[MapDef]) {
    if maps.is_empty() {
        return;
    }
    let int = b.int("int", 4, true);
    let index = b.int("__ARRAY_SIZE_TYPE__", 4, false);
    let byte = b.int("unsigned char", 1, false);
    let mut sized: HashMap<u32, u32> = HashMap::from([(1, byte)]);
    // Keys and values of 2, 4 or 8 bytes are unsigned integers (array maps
    // insist on a 4-byte integer key); others are byte arrays.
    let mut data = |b: &mut Builder, size: u32| -> u32 {
        if let Some(&t) = sized.get(&size) {
            return t;
        }
        let t = match size {
            2 => b.int("unsigned short", 2, false),
            4 => b.int("unsigned int", 4, false),
            8 => b.int("unsigned long long", 8, false),
            _ => b.array(byte, index, size),
        };
        sized.insert(size, t);
        t
    };
    let mut vars = Vec::new();
    for (i, m) in maps.iter().enumerate() {
        // `__uint(x, N)` is `int (*x)[N]`; `__type(x, T)` is `T *x`, here
        // a byte array of the key's and value's sizes.
        let uint = |b: &mut Builder, n: u32| {
            let a = b.array(int, index, n);
            b.ptr(a)
        };
        let ty = uint(b, m.map_type);
        let entries = uint(b, m.max_entries);
        let mut members = vec![("type", ty, 0), ("max_entries", entries, 64)];
        // A ring buffer has neither key nor value.
        if m.key_size > 0 {
            let key_type = data(b, m.key_size);
            members.push(("key", b.ptr(key_type), 128));
        }
        if m.value_size > 0 {
            let value_type = data(b, m.value_size);
            members.push(("value", b.ptr(value_type), 192));
        }
        if m.flags != 0 {
            members.push(("map_flags", uint(b, m.flags), 256));
        }
        let def = b.structure("", MAP_DEF_SIZE, &members);
        let var = b.var(&m.name, def, GLOBAL);
        vars.push((var, i as u32 * MAP_DEF_SIZE, MAP_DEF_SIZE));
    }
    b.datasec(".maps", maps.len() as u32 * MAP_DEF_SIZE, &vars);
}

/// Adds a `FUNC` per program, named as its symbol, of type
/// `int (void *ctx)`; returns their type ids in order. The linkage is
/// static: the kernel checks a global function's arguments as sized
/// memory, which an untyped context is not.
pub fn add_programs(b: &mut Builder, names: &[&str]) -> Vec<u32> {
    if names.is_empty() {
        return Vec::new();
    }
    let int = b.int("int", 4, true);
    let ctx = b.ptr(0);
    let proto = b.func_proto(int, &[("ctx", ctx)]);
    names.iter().map(|n| b.func(n, proto, STATIC)).collect()
}

/// Adds a static `FUNC` for a callback subprogram, of type
/// `long (void *, void *, void *, void *)` (what `bpf_for_each_map_elem`
/// passes; `bpf_loop`'s callbacks take the first two); returns its type
/// id.
pub fn add_callback(b: &mut Builder, name: &str) -> u32 {
    let long = b.int("long", 8, true);
    let ptr = b.ptr(0);
    let proto = b.func_proto(long, &[("a", ptr), ("b", ptr), ("c", ptr), ("d", ptr)]);
    b.func(name, proto, STATIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What we write reads back with btf-rs, the library we read the
    /// kernel's BTF with.
    #[test]
    fn maps_read_back() {
        let mut b = Builder::new();
        add_maps(
            &mut b,
            &[MapDef { name: "globals".into(), map_type: 2, key_size: 4, value_size: 8, max_entries: 1, flags: 0 }],
        );
        let bytes = b.finish();
        let btf = btf_rs::Btf::from_bytes(&bytes).expect("valid BTF");
        let vars = btf.resolve_types_by_name("globals").expect("the map's variable");
        let Some(btf_rs::Type::Var(var)) = vars.first() else { panic!("a VAR") };
        let btf_rs::Type::Struct(def) = btf.resolve_chained_type(var).expect("its type") else { panic!("a struct") };
        let names: Vec<String> = def.members.iter().map(|m| btf.resolve_name(m).unwrap_or_default()).collect();
        assert_eq!(names, ["type", "max_entries", "key", "value"]);
        // type: int (*)[2]
        let btf_rs::Type::Ptr(p) = btf.resolve_chained_type(&def.members[0]).expect("ptr") else { panic!("a pointer") };
        let btf_rs::Type::Array(a) = btf.resolve_chained_type(&p).expect("array") else { panic!("an array") };
        assert_eq!(a.len(), 2);
        let sec = btf.resolve_types_by_name(".maps").expect("the section");
        assert!(matches!(sec.first(), Some(btf_rs::Type::Datasec(d)) if d.size() == 40));
    }

    #[test]
    fn programs_are_static_functions_of_their_context() {
        let mut b = Builder::new();
        let ids = add_programs(&mut b, &["probe_0_0", "probe_1_0"]);
        assert_eq!(ids, [4, 5]);
        let btf = btf_rs::Btf::from_bytes(&b.finish()).expect("valid BTF");
        for name in ["probe_0_0", "probe_1_0"] {
            let funcs = btf.resolve_types_by_name(name).expect("the program's function");
            let Some(btf_rs::Type::Func(func)) = funcs.first() else { panic!("a FUNC") };
            assert!(func.is_static());
            let btf_rs::Type::FuncProto(proto) = btf.resolve_chained_type(func).expect("its type") else {
                panic!("a FUNC_PROTO")
            };
            let [param] = proto.parameters.as_slice() else { panic!("one parameter") };
            assert_eq!(btf.resolve_name(param).expect("named"), "ctx");
            let btf_rs::Type::Ptr(ptr) = btf.resolve_chained_type(param).expect("a type") else { panic!("a pointer") };
            assert!(matches!(btf.resolve_chained_type(&ptr), Ok(btf_rs::Type::Void)), "to void");
            let btf_rs::Type::Int(ret) = btf.resolve_type_by_id(proto.return_type_id()).expect("a return type") else {
                panic!("int")
            };
            assert_eq!(btf.resolve_name(&ret).expect("named"), "int");
        }
    }
}
