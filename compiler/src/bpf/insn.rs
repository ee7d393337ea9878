//! eBPF instructions: encoding to the kernel's 8-byte format and printing
//! in the syntax of the verifier log (and bpftool), which is what `-p3`
//! shows.

use std::fmt;

// Instruction classes.
pub const LD: u8 = 0x00;
pub const LDX: u8 = 0x01;
pub const ST: u8 = 0x02;
pub const STX: u8 = 0x03;
pub const ALU: u8 = 0x04;
pub const JMP: u8 = 0x05;
pub const JMP32: u8 = 0x06;
pub const ALU64: u8 = 0x07;

// Memory access modes.
pub const IMM: u8 = 0x00;
pub const MEM: u8 = 0x60;
pub const ATOMIC: u8 = 0xc0;

// Source operand.
pub const K: u8 = 0x00;
pub const X: u8 = 0x08;

/// A register, r0..r10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(pub u8);

impl Reg {
    /// The return value and helper result.
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    /// The read-only frame pointer.
    pub const FP: Reg = Reg(10);
}

/// Access sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    fn code(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }

    fn from_code(code: u8) -> Size {
        match code & 0x18 {
            0x00 => Size::W,
            0x08 => Size::H,
            0x10 => Size::B,
            _ => Size::DW,
        }
    }

    pub fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// The size of an access of `bytes` bytes.
    pub fn of_bytes(bytes: u32) -> Option<Size> {
        Some(match bytes {
            1 => Size::B,
            2 => Size::H,
            4 => Size::W,
            8 => Size::DW,
            _ => return None,
        })
    }

    fn c_type(self) -> &'static str {
        match self {
            Size::B => "u8",
            Size::H => "u16",
            Size::W => "u32",
            Size::DW => "u64",
        }
    }
}

/// Arithmetic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    Or,
    And,
    Lsh,
    Rsh,
    Neg,
    Mod,
    Xor,
    Mov,
    Arsh,
}

impl AluOp {
    const ALL: [AluOp; 13] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Neg,
        AluOp::Mod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];

    fn code(self) -> u8 {
        match self {
            AluOp::Add => 0x00,
            AluOp::Sub => 0x10,
            AluOp::Mul => 0x20,
            AluOp::Div => 0x30,
            AluOp::Or => 0x40,
            AluOp::And => 0x50,
            AluOp::Lsh => 0x60,
            AluOp::Rsh => 0x70,
            AluOp::Neg => 0x80,
            AluOp::Mod => 0x90,
            AluOp::Xor => 0xa0,
            AluOp::Mov => 0xb0,
            AluOp::Arsh => 0xc0,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            AluOp::Add => "+=",
            AluOp::Sub => "-=",
            AluOp::Mul => "*=",
            AluOp::Div => "/=",
            AluOp::Or => "|=",
            AluOp::And => "&=",
            AluOp::Lsh => "<<=",
            AluOp::Rsh => ">>=",
            AluOp::Neg => "= -",
            AluOp::Mod => "%=",
            AluOp::Xor => "^=",
            AluOp::Mov => "=",
            AluOp::Arsh => "s>>=",
        }
    }
}

/// `BPF_FETCH`: an atomic operation also returns the old value.
pub const FETCH: i32 = 0x01;

/// The operations of atomic read-modify-write instructions
/// (`BPF_ATOMIC`), in the immediate as the ALU operation's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    Add,
    Or,
    And,
    Xor,
}

impl AtomicOp {
    const ALL: [AtomicOp; 4] = [AtomicOp::Add, AtomicOp::Or, AtomicOp::And, AtomicOp::Xor];

    fn alu(self) -> AluOp {
        match self {
            AtomicOp::Add => AluOp::Add,
            AtomicOp::Or => AluOp::Or,
            AtomicOp::And => AluOp::And,
            AtomicOp::Xor => AluOp::Xor,
        }
    }

    /// The name in the verifier's `atomic64_fetch_add` and its family.
    fn name(self) -> &'static str {
        match self {
            AtomicOp::Add => "add",
            AtomicOp::Or => "or",
            AtomicOp::And => "and",
            AtomicOp::Xor => "xor",
        }
    }
}

/// Conditions of conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

impl Cond {
    const ALL: [Cond; 11] = [
        Cond::Eq,
        Cond::Gt,
        Cond::Ge,
        Cond::Set,
        Cond::Ne,
        Cond::Sgt,
        Cond::Sge,
        Cond::Lt,
        Cond::Le,
        Cond::Slt,
        Cond::Sle,
    ];

    fn code(self) -> u8 {
        match self {
            Cond::Eq => 0x10,
            Cond::Gt => 0x20,
            Cond::Ge => 0x30,
            Cond::Set => 0x40,
            Cond::Ne => 0x50,
            Cond::Sgt => 0x60,
            Cond::Sge => 0x70,
            Cond::Lt => 0xa0,
            Cond::Le => 0xb0,
            Cond::Slt => 0xc0,
            Cond::Sle => 0xd0,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Cond::Eq => "==",
            Cond::Gt => ">",
            Cond::Ge => ">=",
            Cond::Set => "&",
            Cond::Ne => "!=",
            Cond::Sgt => "s>",
            Cond::Sge => "s>=",
            Cond::Lt => "<",
            Cond::Le => "<=",
            Cond::Slt => "s<",
            Cond::Sle => "s<=",
        }
    }

    /// The condition that holds exactly when this one does not.
    pub fn negate(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Gt => Cond::Le,
            Cond::Le => Cond::Gt,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::Sgt => Cond::Sle,
            Cond::Sle => Cond::Sgt,
            Cond::Sge => Cond::Slt,
            Cond::Slt => Cond::Sge,
            // `&` has no single-instruction negation; callers branch around it.
            Cond::Set => Cond::Set,
        }
    }
}

/// `src` of a 64-bit immediate load: what the immediate means.
pub const PSEUDO_MAP_FD: u8 = 1;
pub const PSEUDO_MAP_VALUE: u8 = 2;
/// The address of a subprogram (a callback), `imm` its offset from the
/// load's second slot.
pub const PSEUDO_FUNC: u8 = 4;
/// `src` of a call: a BPF-to-BPF call, `imm` the relative target.
pub const PSEUDO_CALL: u8 = 1;

/// One instruction slot. A 64-bit immediate load takes two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn encode(&self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [self.code, (self.dst & 0x0f) | (self.src << 4), off[0], off[1], imm[0], imm[1], imm[2], imm[3]]
    }

    pub fn decode(b: [u8; 8]) -> Insn {
        let [code, regs, o0, o1, i0, i1, i2, i3] = b;
        Insn {
            code,
            dst: regs & 0x0f,
            src: regs >> 4,
            off: i16::from_le_bytes([o0, o1]),
            imm: i32::from_le_bytes([i0, i1, i2, i3]),
        }
    }

    fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
        Insn { code, dst: dst.0, src: src.0, off, imm }
    }

    pub fn alu64_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::new(ALU64 | op.code() | K, dst, Reg(0), 0, imm)
    }

    pub fn alu64_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::new(ALU64 | op.code() | X, dst, src, 0, 0)
    }

    pub fn alu32_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
        Insn::new(ALU | op.code() | K, dst, Reg(0), 0, imm)
    }

    pub fn alu32_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
        Insn::new(ALU | op.code() | X, dst, src, 0, 0)
    }

    pub fn mov64_imm(dst: Reg, imm: i32) -> Insn {
        Insn::alu64_imm(AluOp::Mov, dst, imm)
    }

    pub fn mov64_reg(dst: Reg, src: Reg) -> Insn {
        Insn::alu64_reg(AluOp::Mov, dst, src)
    }

    /// `dst = imm` for any 64-bit value: two slots.
    pub fn ld_imm64(dst: Reg, imm: u64) -> [Insn; 2] {
        Insn::ld_imm64_src(dst, 0, imm)
    }

    /// `dst = map` (the map's fd, patched at load time): two slots.
    pub fn ld_map_fd(dst: Reg, fd: i32) -> [Insn; 2] {
        Insn::ld_imm64_src(dst, PSEUDO_MAP_FD, fd as u32 as u64)
    }

    /// `dst = &map value + offset` (array maps): two slots.
    pub fn ld_map_value(dst: Reg, fd: i32, offset: u32) -> [Insn; 2] {
        Insn::ld_imm64_src(dst, PSEUDO_MAP_VALUE, (u64::from(offset) << 32) | u64::from(fd as u32))
    }

    /// `dst = &.rodata + offset`, the object's read-only data (loaders
    /// put the map's fd in the first slot and the offset in the second).
    pub fn ld_rodata(dst: Reg, offset: u32) -> [Insn; 2] {
        Insn::ld_imm64_src(dst, PSEUDO_MAP_VALUE, u64::from(offset))
    }

    /// `dst = &subprogram`, `rel` slots after the load's second slot:
    /// two slots.
    pub fn ld_func(dst: Reg, rel: i32) -> [Insn; 2] {
        Insn::ld_imm64_src(dst, PSEUDO_FUNC, rel as u32 as u64)
    }

    fn ld_imm64_src(dst: Reg, src: u8, imm: u64) -> [Insn; 2] {
        [
            Insn { code: LD | IMM | Size::DW.code(), dst: dst.0, src, off: 0, imm: imm as u32 as i32 },
            Insn { code: 0, dst: 0, src: 0, off: 0, imm: (imm >> 32) as u32 as i32 },
        ]
    }

    /// `dst = *(size *)(src + off)`.
    /// `dst = be64(dst)`: the bytes of `dst` in big-endian order, so
    /// that comparing two such words compares their bytes in memory
    /// order.
    pub fn to_be64(dst: Reg) -> Insn {
        Insn::new(ALU | 0xd0 | X, dst, Reg::R0, 0, 64)
    }

    pub fn load(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(LDX | MEM | size.code(), dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = src`.
    pub fn store(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::new(STX | MEM | size.code(), dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn store_imm(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
        Insn::new(ST | MEM | size.code(), dst, Reg(0), off, imm)
    }

    /// `lock *(size *)(dst + off) += src` (W or DW).
    pub fn atomic_add(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::atomic(AtomicOp::Add, false, size, dst, off, src)
    }

    /// `lock *(size *)(dst + off) op= src` (W or DW); with `fetch`,
    /// `src` then receives the value the memory held before.
    pub fn atomic(op: AtomicOp, fetch: bool, size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        let fetch = if fetch { FETCH } else { 0 };
        Insn::new(STX | ATOMIC | size.code(), dst, src, off, i32::from(op.alu().code()) | fetch)
    }

    pub fn jump(off: i16) -> Insn {
        Insn::new(JMP, Reg(0), Reg(0), off, 0)
    }

    pub fn jump_imm(cond: Cond, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::new(JMP | cond.code() | K, dst, Reg(0), off, imm)
    }

    pub fn jump_reg(cond: Cond, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::new(JMP | cond.code() | X, dst, src, off, 0)
    }

    /// A helper call.
    pub fn call(helper: i32) -> Insn {
        Insn::new(JMP | 0x80, Reg(0), Reg(0), 0, helper)
    }

    /// A call of another BPF function, `rel` slots after the next one.
    pub fn call_local(rel: i32) -> Insn {
        Insn { code: JMP | 0x80, dst: 0, src: PSEUDO_CALL, off: 0, imm: rel }
    }

    pub fn exit() -> Insn {
        Insn::new(JMP | 0x90, Reg(0), Reg(0), 0, 0)
    }

    fn class(&self) -> u8 {
        self.code & 0x07
    }

    /// Whether this slot starts a two-slot 64-bit immediate load.
    pub fn is_wide(&self) -> bool {
        self.code == LD | IMM | Size::DW.code()
    }

    /// Whether this is a jump with a relative target (not a call or exit).
    pub fn is_branch(&self) -> bool {
        matches!(self.class(), JMP | JMP32) && !matches!(self.code & 0xf0, 0x80 | 0x90)
    }
}

/// A program's instructions printed one per line in the verifier's
/// syntax, numbered by slot: `3: (b7) r0 = 0`. A 64-bit load shows its
/// whole value on its first slot; a map load the map's name where
/// `map_name` knows the slot's (before loading, maps have no fd).
pub fn disassemble(
    insns: &[Insn],
    helper_name: &dyn Fn(i32) -> Option<&'static str>,
    map_name: &dyn Fn(usize) -> Option<String>,
) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(insn) = insns.get(i) {
        let text = if insn.is_wide() {
            let hi = insns.get(i + 1).map_or(0, |n| n.imm as u32);
            let value = (u64::from(hi) << 32) | u64::from(insn.imm as u32);
            match (insn.src, map_name(i)) {
                (PSEUDO_MAP_FD, Some(name)) => format!("r{} = map[{name}]", insn.dst),
                (PSEUDO_MAP_FD, None) => format!("r{} = map[fd:{}]", insn.dst, insn.imm),
                (PSEUDO_MAP_VALUE, Some(name)) => format!("r{} = &map[{name}] + {}", insn.dst, insn.imm),
                (PSEUDO_MAP_VALUE, None) => format!("r{} = map[fd:{}][0]+{}", insn.dst, insn.imm, hi),
                (PSEUDO_FUNC, _) => format!("r{} = func pc{:+}", insn.dst, insn.imm),
                _ => format!("r{} = {value:#x} ll", insn.dst),
            }
        } else {
            Pretty { insn, helper_name }.to_string()
        };
        out.push_str(&format!("{i}: ({:02x}) {text}\n", insn.code));
        i += if insn.is_wide() { 2 } else { 1 };
    }
    out
}

struct Pretty<'a> {
    insn: &'a Insn,
    helper_name: &'a dyn Fn(i32) -> Option<&'static str>,
}

impl fmt::Display for Pretty<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.insn;
        let (dst, src) = (i.dst, i.src);
        match i.class() {
            ALU | ALU64 => {
                let r = if i.class() == ALU64 { "r" } else { "w" };
                let Some(op) = AluOp::ALL.iter().find(|o| o.code() == i.code & 0xf0) else {
                    return if i.code & 0xf0 == 0xd0 {
                        let kind = if i.code & X != 0 { "be" } else { "le" };
                        write!(f, "r{dst} = {kind}{} r{dst}", i.imm)
                    } else {
                        write!(f, "invalid alu {:#04x}", i.code)
                    };
                };
                if *op == AluOp::Neg {
                    return write!(f, "{r}{dst} = -{r}{dst}");
                }
                if i.code & X != 0 {
                    write!(f, "{r}{dst} {} {r}{src}", op.symbol())
                } else {
                    write!(f, "{r}{dst} {} {}", op.symbol(), i.imm)
                }
            }
            LDX => write!(f, "r{dst} = *({} *)(r{src} {:+})", Size::from_code(i.code).c_type(), i.off),
            STX if i.code & 0xe0 == ATOMIC => {
                let size = Size::from_code(i.code);
                let Some(op) = AtomicOp::ALL.iter().find(|o| i32::from(o.alu().code()) == i.imm & !FETCH) else {
                    return write!(f, "invalid atomic {:#x}", i.imm);
                };
                if i.imm & FETCH == 0 {
                    write!(f, "lock *({} *)(r{dst} {:+}) {} r{src}", size.c_type(), i.off, op.alu().symbol())
                } else {
                    let bits = if size == Size::DW { "64" } else { "" };
                    write!(
                        f,
                        "r{src} = atomic{bits}_fetch_{}(({} *)(r{dst} {:+}), r{src})",
                        op.name(),
                        size.c_type(),
                        i.off
                    )
                }
            }
            STX => write!(f, "*({} *)(r{dst} {:+}) = r{src}", Size::from_code(i.code).c_type(), i.off),
            ST => write!(f, "*({} *)(r{dst} {:+}) = {}", Size::from_code(i.code).c_type(), i.off, i.imm),
            JMP | JMP32 => {
                let r = if i.class() == JMP { "r" } else { "w" };
                match i.code & 0xf0 {
                    0x00 => write!(f, "goto pc{:+}", i.off),
                    0x80 if src == PSEUDO_CALL => write!(f, "call pc{:+}", i.imm),
                    0x80 => match (self.helper_name)(i.imm) {
                        Some(name) => write!(f, "call {name}#{}", i.imm),
                        None => write!(f, "call {}", i.imm),
                    },
                    0x90 => write!(f, "exit"),
                    c => {
                        let Some(cond) = Cond::ALL.iter().find(|k| k.code() == c) else {
                            return write!(f, "invalid jump {:#04x}", i.code);
                        };
                        if i.code & X != 0 {
                            write!(f, "if {r}{dst} {} {r}{src} goto pc{:+}", cond.symbol(), i.off)
                        } else {
                            write!(f, "if {r}{dst} {} {:#x} goto pc{:+}", cond.symbol(), i.imm, i.off)
                        }
                    }
                }
            }
            _ => write!(f, "invalid {:#04x}", i.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(insns: &[Insn]) -> Vec<u8> {
        insns.iter().flat_map(Insn::encode).collect()
    }

    /// Encodings as `llvm-mc -triple bpfel -show-encoding` gives them for
    /// the same instructions in LLVM's BPF assembly syntax.
    #[test]
    fn encodings() {
        assert_eq!(bytes(&[Insn::mov64_imm(Reg::R0, 0)]), [0xb7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(&[Insn::exit()]), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(&[Insn::mov64_reg(Reg::R1, Reg::FP)]), [0xbf, 0xa1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(&[Insn::alu64_imm(AluOp::Add, Reg::R1, -8)]), [0x07, 0x01, 0, 0, 0xf8, 0xff, 0xff, 0xff]);
        assert_eq!(bytes(&[Insn::store(Size::DW, Reg::FP, -8, Reg::R1)]), [0x7b, 0x1a, 0xf8, 0xff, 0, 0, 0, 0]);
        assert_eq!(bytes(&[Insn::load(Size::W, Reg::R0, Reg::R1, 4)]), [0x61, 0x10, 4, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(&[Insn::call(1)]), [0x85, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(bytes(&[Insn::jump_imm(Cond::Eq, Reg::R0, 0, 1)]), [0x15, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(&[Insn::jump_reg(Cond::Sgt, Reg::R2, Reg::R3, -2)]), [0x6d, 0x32, 0xfe, 0xff, 0, 0, 0, 0]);
        assert_eq!(bytes(&[Insn::store_imm(Size::W, Reg::FP, -4, 7)]), [0x62, 0x0a, 0xfc, 0xff, 7, 0, 0, 0]);
        assert_eq!(bytes(&[Insn::atomic_add(Size::DW, Reg::R1, 0, Reg::R2)]), [0xdb, 0x21, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(&Insn::ld_map_fd(Reg::R1, 5)), [0x18, 0x11, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            bytes(&Insn::ld_imm64(Reg::R2, 0x1122_3344_5566_7788)),
            [0x18, 0x02, 0, 0, 0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11]
        );
    }

    /// The atomic forms as the kernel defines them (`include/uapi/linux/bpf.h`):
    /// code `BPF_STX | BPF_ATOMIC | BPF_DW` (0xdb) or `BPF_W` (0xc3), the
    /// operation in `imm` (`BPF_ADD` 0x00, `BPF_OR` 0x40, `BPF_AND` 0x50,
    /// `BPF_XOR` 0xa0), or'ed with `BPF_FETCH` (0x01) to return the old
    /// value in the source register.
    #[test]
    fn atomic_encodings() {
        let cases = [
            (AtomicOp::Add, false, 0x00),
            (AtomicOp::Or, false, 0x40),
            (AtomicOp::And, false, 0x50),
            (AtomicOp::Xor, false, 0xa0),
            (AtomicOp::Add, true, 0x01),
            (AtomicOp::Or, true, 0x41),
            (AtomicOp::And, true, 0x51),
            (AtomicOp::Xor, true, 0xa1),
        ];
        for (op, fetch, imm) in cases {
            assert_eq!(
                bytes(&[Insn::atomic(op, fetch, Size::DW, Reg::R1, -8, Reg::R2)]),
                [0xdb, 0x21, 0xf8, 0xff, imm, 0, 0, 0]
            );
            assert_eq!(
                bytes(&[Insn::atomic(op, fetch, Size::W, Reg::R3, 4, Reg::R4)]),
                [0xc3, 0x43, 4, 0, imm, 0, 0, 0]
            );
        }
    }

    /// Printed as the kernel's disassembler (`kernel/bpf/disasm.c`) does.
    #[test]
    fn atomics_print_like_the_verifier() {
        let p = [
            Insn::atomic(AtomicOp::Or, false, Size::DW, Reg::R7, 8, Reg::R1),
            Insn::atomic(AtomicOp::Xor, false, Size::W, Reg::R7, 8, Reg::R1),
            Insn::atomic(AtomicOp::Add, true, Size::DW, Reg::R0, 0, Reg::R1),
            Insn::atomic(AtomicOp::And, true, Size::W, Reg::R0, 4, Reg::R2),
        ];
        let text = disassemble(&p, &|_| None, &|_| None);
        assert_eq!(
            text,
            "0: (db) lock *(u64 *)(r7 +8) |= r1\n\
             1: (c3) lock *(u32 *)(r7 +8) ^= r1\n\
             2: (db) r1 = atomic64_fetch_add((u64 *)(r0 +0), r1)\n\
             3: (c3) r2 = atomic_fetch_and((u32 *)(r0 +4), r2)\n"
        );
    }

    #[test]
    fn decode_inverts_encode() {
        let all = [
            Insn::mov64_imm(Reg::R9, i32::MIN),
            Insn::alu32_reg(AluOp::Xor, Reg::R4, Reg::R5),
            Insn::store(Size::B, Reg::R6, i16::MAX, Reg::R7),
            Insn::jump(i16::MIN),
            Insn::call_local(-3),
        ];
        for i in all {
            assert_eq!(Insn::decode(i.encode()), i);
        }
    }

    #[test]
    fn prints_like_the_verifier() {
        let mut p = vec![Insn::mov64_reg(Reg::R1, Reg::FP), Insn::alu64_imm(AluOp::Add, Reg::R1, -8)];
        p.extend(Insn::ld_map_fd(Reg::R2, 4));
        p.extend([
            Insn::store(Size::DW, Reg::FP, -8, Reg::R1),
            Insn::load(Size::W, Reg::R0, Reg::R1, 4),
            Insn::alu32_imm(AluOp::Lsh, Reg::R0, 3),
            Insn::alu64_imm(AluOp::Neg, Reg::R3, 0),
            Insn::jump_imm(Cond::Ne, Reg::R0, 16, 2),
            Insn::atomic_add(Size::DW, Reg::R1, 8, Reg::R2),
            Insn::call(1),
            Insn::call(999),
            Insn::exit(),
        ]);
        let names = |h: i32| (h == 1).then_some("bpf_map_lookup_elem");
        let text = disassemble(&p, &names, &|slot| (slot == 2).then(|| "counts".to_string()));
        assert_eq!(
            text,
            "0: (bf) r1 = r10\n\
             1: (07) r1 += -8\n\
             2: (18) r2 = map[counts]\n\
             4: (7b) *(u64 *)(r10 -8) = r1\n\
             5: (61) r0 = *(u32 *)(r1 +4)\n\
             6: (64) w0 <<= 3\n\
             7: (87) r3 = -r3\n\
             8: (55) if r0 != 0x10 goto pc+2\n\
             9: (db) lock *(u64 *)(r1 +8) += r2\n\
             10: (85) call bpf_map_lookup_elem#1\n\
             11: (85) call 999\n\
             12: (95) exit\n"
        );
    }

    #[test]
    fn negated_conditions_are_complements() {
        for c in Cond::ALL {
            if c != Cond::Set {
                assert_eq!(c.negate().negate(), c);
                assert_ne!(c.negate(), c);
            }
        }
    }
}
