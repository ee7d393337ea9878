//! The instruction stream as nodes (a 64-bit immediate load is one node,
//! a branch knows its target node), what each node reads and writes, and
//! register liveness over the control flow graph.
//!
//! Registers are numbered as in eBPF (r0..r10); numbers from
//! [`FIRST_VIRTUAL`] up are the virtual registers that stand for stack
//! slots while the allocator runs. A set of registers is a bit set.

use crate::bpf::insn::{ALU, ALU64, ATOMIC, Insn, JMP, JMP32, LD, LDX, MEM, ST, STX, X};

/// A set of registers, physical and virtual.
pub type Regs = u128;

/// The frame pointer.
pub const FP: u8 = 10;
/// The first virtual register.
pub const FIRST_VIRTUAL: u8 = 16;
/// The registers a helper call clobbers.
pub const CALL_CLOBBERS: Regs = 0b11_1111;

/// The registers a helper reads: its arguments, as the kernel's
/// `bpf_func_proto`s declare them for the helpers stp calls, r1-r5 for
/// any other.
fn call_args(helper: i32) -> Regs {
    let n = match helper {
        // ktime_get_ns, get_smp_processor_id, get_current_pid_tgid,
        // get_current_uid_gid, get_current_task, jiffies64.
        5 | 8 | 14 | 15 | 35 | 118 => 0,
        // map_lookup_elem, map_delete_elem, get_current_comm,
        // ringbuf_submit, ringbuf_query.
        1 | 3 | 16 | 132 | 134 => 2,
        // probe_read_{user,kernel}{,_str}, ringbuf_reserve,
        // map_lookup_percpu_elem.
        112..=115 | 131 | 195 => 3,
        // map_update_elem, for_each_map_elem, loop.
        2 | 164 | 181 => 4,
        _ => 5,
    };
    ((1 << n) - 1) << 1
}

const MODE_MEMSX: u8 = 0x80;
const OP_MOV: u8 = 0xb0;
const OP_NEG: u8 = 0x80;
const OP_ADD: u8 = 0x00;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;
const OP_JA: u8 = 0x00;
/// `BPF_FETCH` and `BPF_CMPXCHG` of atomic instructions.
const FETCH: i32 = 0x01;
const CMPXCHG: i32 = 0xf0 | FETCH;

pub fn bit(r: u8) -> Regs {
    1u128.checked_shl(u32::from(r)).unwrap_or(0)
}

/// The registers of a set, lowest first.
pub fn members(set: Regs) -> impl Iterator<Item = u8> {
    let mut rest = set;
    std::iter::from_fn(move || {
        let r = u8::try_from(rest.trailing_zeros()).ok().filter(|r| *r < 128)?;
        rest &= rest.wrapping_sub(1);
        Some(r)
    })
}

/// One instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    pub insn: Insn,
    /// The second slot of a 64-bit immediate load.
    pub hi: Option<Insn>,
    /// A branch's target, as a node index.
    pub target: Option<usize>,
    /// The slot the instruction had in the generated program.
    pub orig: usize,
}

/// What a node does, as far as the passes care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Arithmetic, including moves and byte swaps.
    Alu,
    /// `dst = *(size *)(src + off)`.
    Load,
    /// `*(size *)(dst + off) = src` or `= imm`.
    Store,
    /// An atomic read-modify-write of memory.
    Atomic,
    /// `dst = imm64` (or a map's address).
    Wide,
    Goto,
    Branch,
    Call,
    Exit,
}

impl Node {
    fn class(&self) -> u8 {
        self.insn.code & 0x07
    }

    fn op(&self) -> u8 {
        self.insn.code & 0xf0
    }

    fn reg_src(&self) -> bool {
        self.insn.code & X != 0
    }

    /// What the node is; `None` for an instruction the passes do not know
    /// (then they leave the program alone).
    pub fn kind(&self) -> Option<Kind> {
        let mode = self.insn.code & 0xe0;
        Some(match self.class() {
            ALU | ALU64 => Kind::Alu,
            LDX if mode == MEM || mode == MODE_MEMSX => Kind::Load,
            ST if mode == MEM => Kind::Store,
            STX if mode == MEM => Kind::Store,
            STX if mode == ATOMIC => Kind::Atomic,
            LD if self.insn.is_wide() && self.hi.is_some() => Kind::Wide,
            JMP if self.op() == OP_JA => Kind::Goto,
            JMP if self.op() == OP_CALL && self.insn.src == 0 => Kind::Call,
            JMP if self.op() == OP_EXIT => Kind::Exit,
            JMP | JMP32 if self.insn.is_branch() && self.op() != OP_JA && self.op() < 0xe0 => Kind::Branch,
            _ => return None,
        })
    }

    /// `dst = src`, a whole 64-bit copy.
    pub fn as_move(&self) -> Option<(u8, u8)> {
        let i = &self.insn;
        (i.code == ALU64 | OP_MOV | X && i.off == 0 && i.imm == 0).then_some((i.dst, i.src))
    }

    /// `dst += imm`, 64-bit.
    pub fn as_add_imm(&self) -> Option<(u8, i32)> {
        let i = &self.insn;
        (i.code == ALU64 | OP_ADD && i.off == 0).then_some((i.dst, i.imm))
    }

    /// The base register, offset and size of a memory access.
    pub fn access(&self) -> Option<(u8, i16, u32)> {
        let size = match self.insn.code & 0x18 {
            0x00 => 4,
            0x08 => 2,
            0x10 => 1,
            _ => 8,
        };
        match self.kind()? {
            Kind::Load => Some((self.insn.src, self.insn.off, size)),
            Kind::Store | Kind::Atomic => Some((self.insn.dst, self.insn.off, size)),
            _ => None,
        }
    }

    /// Whether a store's value comes from a register (rather than `imm`).
    pub fn stores_reg(&self) -> bool {
        self.class() == STX
    }

    /// Whether the node writes all of `dst` without reading it.
    pub fn defines_fresh(&self) -> bool {
        match self.kind() {
            Some(Kind::Alu) => self.op() == OP_MOV && !(self.reg_src() && self.insn.src == self.insn.dst),
            Some(Kind::Load) => self.insn.src != self.insn.dst,
            Some(Kind::Wide) => true,
            _ => false,
        }
    }

    /// The registers the node writes.
    pub fn defs(&self) -> Regs {
        let i = &self.insn;
        match self.kind() {
            Some(Kind::Alu | Kind::Load | Kind::Wide) => bit(i.dst),
            Some(Kind::Atomic) if i.imm == CMPXCHG => bit(0),
            Some(Kind::Atomic) if i.imm & FETCH != 0 => bit(i.src),
            Some(Kind::Call) => CALL_CLOBBERS,
            _ => 0,
        }
    }

    /// The registers the node reads.
    pub fn uses(&self) -> Regs {
        let i = &self.insn;
        let src = if self.reg_src() { bit(i.src) } else { 0 };
        match self.kind() {
            Some(Kind::Alu) if self.op() == OP_MOV => src,
            Some(Kind::Alu) if self.op() == OP_NEG => bit(i.dst),
            Some(Kind::Alu) => bit(i.dst) | src,
            Some(Kind::Load) => bit(i.src),
            Some(Kind::Store) if self.stores_reg() => bit(i.dst) | bit(i.src),
            Some(Kind::Store) => bit(i.dst),
            Some(Kind::Atomic) if i.imm == CMPXCHG => bit(i.dst) | bit(i.src) | bit(0),
            Some(Kind::Atomic) => bit(i.dst) | bit(i.src),
            Some(Kind::Branch) => bit(i.dst) | src,
            Some(Kind::Call) => call_args(i.imm),
            Some(Kind::Exit) => bit(0),
            Some(Kind::Wide | Kind::Goto) | None => 0,
        }
    }

    /// Renames register `from` to `to` wherever the node names it as a
    /// register (not in fields that hold something else).
    pub fn rename(&mut self, from: u8, to: u8) {
        let (dst, src) = match self.kind() {
            Some(Kind::Alu) => (true, self.reg_src()),
            Some(Kind::Load | Kind::Atomic) => (true, true),
            Some(Kind::Store) => (true, self.stores_reg()),
            Some(Kind::Wide) => (true, false),
            Some(Kind::Branch) => (true, self.reg_src()),
            _ => (false, false),
        };
        if dst && self.insn.dst == from {
            self.insn.dst = to;
        }
        if src && self.insn.src == from {
            self.insn.src = to;
        }
    }

    /// Whether the node does nothing but set the registers it defines.
    pub fn is_pure(&self) -> bool {
        match self.kind() {
            Some(Kind::Alu | Kind::Load) => true,
            Some(Kind::Wide) => self.insn.src == 0,
            _ => false,
        }
    }
}

/// The nodes a node may continue at.
pub fn succs(nodes: &[Node], i: usize) -> impl Iterator<Item = usize> {
    let node = nodes.get(i);
    let (fall, target) = match node.and_then(Node::kind) {
        Some(Kind::Exit) => (false, None),
        Some(Kind::Goto) => (false, node.and_then(|n| n.target)),
        Some(Kind::Branch) => (true, node.and_then(|n| n.target)),
        _ => (true, None),
    };
    let fall = (fall && i + 1 < nodes.len()).then_some(i + 1);
    fall.into_iter().chain(target)
}

/// For each node, whether some branch jumps to it.
pub fn targets(nodes: &[Node]) -> Vec<bool> {
    let mut t = vec![false; nodes.len()];
    for n in nodes {
        if let Some(to) = n.target.and_then(|to| t.get_mut(to)) {
            *to = true;
        }
    }
    t
}

/// The registers live after each node.
pub fn live_out(nodes: &[Node]) -> Vec<Regs> {
    let mut out = vec![0; nodes.len()];
    let mut live_in = vec![0; nodes.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..nodes.len()).rev() {
            let o = succs(nodes, i).fold(0, |acc, s| acc | live_in.get(s).copied().unwrap_or(0));
            let Some(node) = nodes.get(i) else { continue };
            let n = node.uses() | (o & !node.defs());
            if let (Some(oi), Some(ni)) = (out.get_mut(i), live_in.get_mut(i))
                && (*oi != o || *ni != n)
            {
                (*oi, *ni) = (o, n);
                changed = true;
            }
        }
    }
    out
}

/// The registers live before a node, given those live after it.
pub fn live_in(node: &Node, out: Regs) -> Regs {
    node.uses() | (out & !node.defs())
}
