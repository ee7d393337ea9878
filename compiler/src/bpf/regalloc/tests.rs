//! The pass on small programs, and on random ones in the generator's
//! style: each is run before and after by a small interpreter that
//! refuses to read a register or stack byte not written (as the verifier
//! does), and must give the same result, helper calls and memory.

use super::{Code, allocate};
use crate::bpf::insn::{AluOp, Cond, Insn, Reg, Size};
use crate::source::{FileId, Span};

const STACK_TOP: u64 = 0x10_0000_0000;
const CTX: u64 = 0x20_0000_0000;
const PROBE_READ: i32 = 113;
const PID_TGID: i32 = 14;
const LOOKUP: i32 = 1;

/// What a run shows: the result, each helper call with its arguments,
/// and the context memory at the end.
type Outcome = (u64, Vec<(i32, Vec<u64>)>, Vec<u8>);

struct Machine {
    regs: [Option<u64>; 11],
    stack: Vec<Option<u8>>,
    ctx: Vec<u8>,
    trace: Vec<(i32, Vec<u64>)>,
}

impl Machine {
    fn reg(&self, r: u8) -> Result<u64, String> {
        self.regs.get(usize::from(r)).copied().flatten().ok_or(format!("r{r} read before it is written"))
    }

    fn read(&self, addr: u64, n: u64) -> Result<u64, String> {
        let mut v = 0u64;
        for k in (0..n).rev() {
            let a = addr + k;
            let byte = if (STACK_TOP - 512..STACK_TOP).contains(&a) {
                self.stack[(a - (STACK_TOP - 512)) as usize].ok_or(format!("stack {a:#x} read before written"))?
            } else if (CTX..CTX + self.ctx.len() as u64).contains(&a) {
                self.ctx[(a - CTX) as usize]
            } else {
                return Err(format!("read of {a:#x}"));
            };
            v = (v << 8) | u64::from(byte);
        }
        Ok(v)
    }

    fn write(&mut self, addr: u64, n: u64, v: u64) -> Result<(), String> {
        for k in 0..n {
            let a = addr + k;
            let byte = (v >> (8 * k)) as u8;
            if (STACK_TOP - 512..STACK_TOP).contains(&a) {
                self.stack[(a - (STACK_TOP - 512)) as usize] = Some(byte);
            } else if (CTX..CTX + self.ctx.len() as u64).contains(&a) {
                self.ctx[(a - CTX) as usize] = byte;
            } else {
                return Err(format!("write of {a:#x}"));
            }
        }
        Ok(())
    }
}

fn alu(op: u8, a: u64, b: u64, wide: bool) -> u64 {
    let bits = if wide { 64 } else { 32 };
    let (a, b) = if wide { (a, b) } else { (a & 0xffff_ffff, b & 0xffff_ffff) };
    let r = match op {
        0x00 => a.wrapping_add(b),
        0x10 => a.wrapping_sub(b),
        0x20 => a.wrapping_mul(b),
        0x30 => a.checked_div(b).unwrap_or(0),
        0x40 => a | b,
        0x50 => a & b,
        0x60 => a << (b % bits),
        0x70 => a >> (b % bits),
        0x80 => a.wrapping_neg(),
        0x90 => a.checked_rem(b).unwrap_or(a),
        0xa0 => a ^ b,
        0xb0 => b,
        0xc0 if wide => ((a as i64) >> (b % 64)) as u64,
        0xc0 => ((a as u32 as i32) >> (b % 32)) as u32 as u64,
        _ => panic!("alu op {op:#x}"),
    };
    if wide { r } else { r & 0xffff_ffff }
}

fn cond(op: u8, a: u64, b: u64) -> bool {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        0x10 => a == b,
        0x20 => a > b,
        0x30 => a >= b,
        0x40 => a & b != 0,
        0x50 => a != b,
        0x60 => sa > sb,
        0x70 => sa >= sb,
        0xa0 => a < b,
        0xb0 => a <= b,
        0xc0 => sa < sb,
        0xd0 => sa <= sb,
        _ => panic!("jump op {op:#x}"),
    }
}

/// Runs a program with r1 pointing at `ctx`.
fn run(insns: &[Insn], ctx: &[u8]) -> Result<Outcome, String> {
    let mut m = Machine { regs: [None; 11], stack: vec![None; 512], ctx: ctx.to_vec(), trace: Vec::new() };
    m.regs[1] = Some(CTX);
    m.regs[10] = Some(STACK_TOP);
    let mut pc = 0usize;
    for _ in 0..100_000 {
        let i = *insns.get(pc).ok_or(format!("pc {pc} out of the program"))?;
        let (class, op, x) = (i.code & 7, i.code & 0xf0, i.code & 8 != 0);
        let size = match i.code & 0x18 {
            0x00 => 4,
            0x08 => 2,
            0x10 => 1,
            _ => 8,
        };
        pc += 1;
        match class {
            0x04 | 0x07 => {
                let wide = class == 0x07;
                let b = if x {
                    m.reg(i.src)?
                } else if wide {
                    i.imm as i64 as u64
                } else {
                    i.imm as u32 as u64
                };
                let a = if op == 0xb0 { 0 } else { m.reg(i.dst)? };
                m.regs[usize::from(i.dst)] = Some(alu(op, a, b, wide));
            }
            0x01 => {
                let v = m.read(m.reg(i.src)?.wrapping_add(i.off as i64 as u64), size)?;
                m.regs[usize::from(i.dst)] = Some(v);
            }
            0x02 | 0x03 => {
                let addr = m.reg(i.dst)?.wrapping_add(i.off as i64 as u64);
                let v = if class == 0x02 { i.imm as i64 as u64 } else { m.reg(i.src)? };
                let v = if i.code & 0xe0 == 0xc0 { m.read(addr, size)?.wrapping_add(v) } else { v };
                m.write(addr, size, v)?;
            }
            0x00 => {
                let hi = insns.get(pc).ok_or("half a wide load")?.imm as u32;
                m.regs[usize::from(i.dst)] = Some((u64::from(hi) << 32) | u64::from(i.imm as u32));
                pc += 1;
            }
            0x05 => match op {
                0x00 => pc = (pc as i64 + i64::from(i.off)) as usize,
                0x80 => {
                    let n = match i.imm {
                        PID_TGID => 0,
                        LOOKUP => 2,
                        PROBE_READ => 3,
                        _ => 5,
                    };
                    let args = (1..=n).map(|r| m.reg(r)).collect::<Result<Vec<u64>, String>>()?;
                    let r0 = if i.imm == PROBE_READ {
                        let v = m.read(args[2], args[1])?;
                        m.write(args[0], args[1], v)?;
                        0
                    } else {
                        args.iter().fold(0x9e37_79b9_7f4a_7c15u64 ^ m.trace.len() as u64, |h, a| {
                            (h ^ a).wrapping_mul(0x100_0000_01b3).rotate_left(17)
                        })
                    };
                    m.trace.push((i.imm, args));
                    for r in 0..=5 {
                        m.regs[r] = None;
                    }
                    m.regs[0] = Some(r0);
                }
                0x90 => return Ok((m.reg(0)?, m.trace, m.ctx)),
                _ => {
                    let b = if x { m.reg(i.src)? } else { i.imm as i64 as u64 };
                    if cond(op, m.reg(i.dst)?, b) {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
            },
            _ => return Err(format!("class {class}")),
        }
    }
    Err("too many steps".into())
}

fn code(insns: Vec<Insn>) -> Code {
    Code { insns, ..Code::default() }
}

fn ctx() -> Vec<u8> {
    (0..64u8).map(|b| b.wrapping_mul(37).wrapping_add(5)).collect()
}

/// Allocates, checks the meaning is kept and the program no longer, and
/// returns the new instructions.
fn same(insns: Vec<Insn>) -> Vec<Insn> {
    let before = run(&insns, &ctx());
    assert!(before.is_ok(), "the test program itself fails: {before:?}");
    let after = allocate(code(insns.clone()), -40);
    let result = run(&after.insns, &ctx());
    assert_eq!(before, result, "before:\n{}\nafter:\n{}", show(&insns), show(&after.insns));
    assert!(after.insns.len() <= insns.len());
    after.insns
}

fn show(insns: &[Insn]) -> String {
    crate::bpf::insn::disassemble(insns, &|_| None, &|_| None)
}

fn ld(r: Reg, off: i16) -> Insn {
    Insn::load(Size::DW, r, Reg::FP, off)
}

fn st(off: i16, r: Reg) -> Insn {
    Insn::store(Size::DW, Reg::FP, off, r)
}

#[test]
fn store_then_load_becomes_a_register() {
    let out = same(vec![
        Insn::call(PID_TGID),
        st(-40, Reg::R0),
        ld(Reg::R1, -40),
        Insn::alu64_imm(AluOp::Add, Reg::R1, 1),
        st(-48, Reg::R1),
        ld(Reg::R0, -48),
        Insn::exit(),
    ]);
    assert_eq!(
        out,
        vec![Insn::call(PID_TGID), Insn::alu64_imm(AluOp::Add, Reg::R0, 1), Insn::exit()],
        "{}",
        show(&out)
    );
}

#[test]
fn values_live_across_calls_stay_out_of_the_clobbered_registers() {
    let out = same(vec![
        Insn::call(PID_TGID),
        st(-40, Reg::R0),
        Insn::call(PID_TGID),
        st(-48, Reg::R0),
        ld(Reg::R1, -40),
        ld(Reg::R2, -48),
        Insn::alu64_reg(AluOp::Xor, Reg::R1, Reg::R2),
        Insn::mov64_reg(Reg::R0, Reg::R1),
        Insn::exit(),
    ]);
    assert!(out.iter().all(|i| i.code & 0x07 != 0x01 && i.code & 0x07 != 0x03), "{}", show(&out));
}

#[test]
fn values_live_across_calls_everywhere_stay_in_their_slots() {
    // r6-r9 all in use: nothing is free across the calls.
    let mut p = vec![
        Insn::mov64_imm(Reg::R6, 1),
        Insn::mov64_imm(Reg::R7, 2),
        Insn::mov64_imm(Reg::R8, 3),
        Insn::mov64_imm(Reg::R9, 4),
        Insn::call(PID_TGID),
        st(-40, Reg::R0),
        Insn::call(PID_TGID),
        ld(Reg::R0, -40),
    ];
    for r in [Reg::R6, Reg::R7, Reg::R8, Reg::R9] {
        p.push(Insn::alu64_reg(AluOp::Add, Reg::R0, r));
    }
    p.push(Insn::exit());
    let out = same(p);
    assert!(out.contains(&st(-40, Reg::R0)), "{}", show(&out));
}

#[test]
fn an_address_taken_slot_stays_in_memory() {
    let out = same(vec![
        Insn::mov64_imm(Reg::R1, 7),
        st(-48, Reg::R1),
        st(-56, Reg::R1),
        Insn::mov64_reg(Reg::R1, Reg::FP),
        Insn::alu64_imm(AluOp::Add, Reg::R1, -48),
        Insn::mov64_imm(Reg::R2, 8),
        Insn::mov64_reg(Reg::R3, Reg::R1),
        Insn::call(PROBE_READ),
        ld(Reg::R0, -48),
        ld(Reg::R1, -56),
        Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R1),
        Insn::exit(),
    ]);
    // The copy of the address to r3 is not followed: nothing changes.
    assert_eq!(out.len(), 12, "{}", show(&out));
    let out = same(vec![
        Insn::mov64_reg(Reg::R6, Reg::R1),
        Insn::mov64_imm(Reg::R1, 7),
        st(-48, Reg::R1),
        st(-64, Reg::R1),
        Insn::mov64_reg(Reg::R1, Reg::FP),
        Insn::alu64_imm(AluOp::Add, Reg::R1, -48),
        Insn::mov64_imm(Reg::R2, 8),
        Insn::mov64_reg(Reg::R3, Reg::R6),
        Insn::call(PROBE_READ),
        ld(Reg::R0, -48),
        ld(Reg::R1, -64),
        Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R1),
        Insn::exit(),
    ]);
    // -48 (and all above it) is read by the helper's address; -64 is not.
    assert!(out.contains(&ld(Reg::R0, -48)), "{}", show(&out));
    assert!(!out.iter().any(|i| i.off == -64), "{}", show(&out));
}

#[test]
fn jumps_around_deleted_code_and_wide_loads_are_renumbered() {
    let mut p = vec![Insn::call(PID_TGID), st(-40, Reg::R0), ld(Reg::R1, -40)];
    p.push(Insn::jump_imm(Cond::Sgt, Reg::R1, 100, 5));
    p.extend(Insn::ld_imm64(Reg::R2, 0x1_0000_0000));
    p.extend([st(-48, Reg::R2), ld(Reg::R1, -48), Insn::jump(3)]);
    p.extend([Insn::mov64_imm(Reg::R2, 3), st(-48, Reg::R2), ld(Reg::R1, -48)]);
    p.extend([ld(Reg::R0, -48), ld(Reg::R1, -40), Insn::alu64_reg(AluOp::Add, Reg::R0, Reg::R1), Insn::exit()]);
    same(p);
}

#[test]
fn a_slot_read_before_written_stays_on_the_stack() {
    // -40 is written on one path only; reading it on the other is the
    // generator's business (a zeroed slot in the real code).
    let p = vec![
        Insn::mov64_imm(Reg::R1, 0),
        st(-48, Reg::R1),
        Insn::call(PID_TGID),
        Insn::jump_imm(Cond::Eq, Reg::R0, 1, 1),
        st(-40, Reg::R0),
        ld(Reg::R0, -48),
        Insn::exit(),
    ];
    same(p.clone());
    let out = allocate(code(p), -40).insns;
    let mut p2 = vec![st(-40, Reg::R1)];
    p2.extend(out);
    assert!(p2.iter().any(|i| i.off == -40));
}

#[test]
fn a_program_with_an_instruction_the_pass_does_not_know_is_left_alone() {
    let p = vec![
        Insn::call(PID_TGID),
        st(-40, Reg::R0),
        ld(Reg::R0, -40),
        Insn { code: 0x20, dst: 0, src: 0, off: 0, imm: 0 },
        Insn::exit(),
    ];
    assert_eq!(allocate(code(p.clone()), -40).insns, p);
}

#[test]
fn loops_keep_their_counter() {
    // for (i = 0; i < 5; i++) s += i * ctx[i]
    let p = vec![
        Insn::mov64_reg(Reg::R6, Reg::R1),
        Insn::store_imm(Size::DW, Reg::FP, -32, 0),
        Insn::store_imm(Size::DW, Reg::FP, -40, 0),
        Insn::store_imm(Size::DW, Reg::FP, -48, 0),
        ld(Reg::R1, -40),
        Insn::jump_imm(Cond::Sge, Reg::R1, 5, 12),
        Insn::load(Size::DW, Reg::R2, Reg::R6, 8),
        Insn::alu64_reg(AluOp::Mul, Reg::R2, Reg::R1),
        ld(Reg::R1, -48),
        Insn::alu64_reg(AluOp::Add, Reg::R1, Reg::R2),
        st(-48, Reg::R1),
        ld(Reg::R1, -40),
        Insn::alu64_imm(AluOp::Add, Reg::R1, 1),
        st(-40, Reg::R1),
        ld(Reg::R1, -32),
        Insn::alu64_imm(AluOp::Add, Reg::R1, 1),
        st(-32, Reg::R1),
        Insn::jump(-14),
        ld(Reg::R0, -48),
        Insn::exit(),
    ];
    let out = same(p);
    assert!(out.contains(&Insn::store_imm(Size::DW, Reg::FP, -32, 0)), "{}", show(&out));
    assert!(!out.iter().any(|i| i.off == -40 || i.off == -48), "{}", show(&out));
}

#[test]
fn map_loads_and_line_starts_follow_the_code() {
    let span = |n| Span::new(FileId(0), n, n + 1);
    let mut p = vec![Insn::mov64_imm(Reg::R1, 1), st(-40, Reg::R1), ld(Reg::R2, -40)];
    p.extend(Insn::ld_map_fd(Reg::R1, 0));
    p.extend([Insn::call(LOOKUP), Insn::exit()]);
    let c = Code { insns: p, map_loads: vec![(3, "m".into())], lines: vec![(0, span(0)), (2, span(1)), (3, span(2))] };
    let out = allocate(c, -40);
    assert_eq!(out.insns.len(), 5, "{}", show(&out.insns));
    assert_eq!(out.map_loads, vec![(1, "m".to_string())]);
    // The first line's code is gone: the second's starts at 0.
    assert_eq!(out.lines, vec![(0, span(0)), (0, span(1)), (1, span(2))]);
}

/// A random number generator, xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const OPS: [AluOp; 8] = [AluOp::Add, AluOp::Sub, AluOp::Mul, AluOp::Xor, AluOp::Or, AluOp::And, AluOp::Div, AluOp::Lsh];

/// A random program in the generator's style over `vars` slots.
fn random_program(rng: &mut Rng) -> Vec<Insn> {
    let vars = 2 + rng.below(7) as i16;
    let slot = |rng: &mut Rng| -40 - 8 * rng.below(vars as u64) as i16;
    let mut p = vec![Insn::mov64_reg(Reg::R6, Reg::R1)];
    for v in 0..vars {
        p.push(Insn::store_imm(Size::DW, Reg::FP, -40 - 8 * v, rng.below(9) as i32 - 2));
    }
    let mut statements: Vec<Vec<Insn>> = Vec::new();
    for _ in 0..rng.below(14) + 2 {
        let (a, b, c) = (slot(rng), slot(rng), slot(rng));
        let s = match rng.below(11) {
            0..=2 => {
                let op = OPS[rng.below(OPS.len() as u64) as usize];
                let second =
                    if rng.below(3) == 0 { Insn::mov64_imm(Reg::R2, rng.below(5) as i32) } else { ld(Reg::R2, b) };
                vec![ld(Reg::R1, a), second, Insn::alu64_reg(op, Reg::R1, Reg::R2), st(c, Reg::R1)]
            }
            3 => vec![Insn::call(PID_TGID), Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32), st(c, Reg::R0)],
            4 => vec![ld(Reg::R1, a), ld(Reg::R2, b), Insn::call(LOOKUP), st(c, Reg::R0)],
            5 => vec![Insn::load(Size::W, Reg::R1, Reg::R6, 8 * rng.below(4) as i16), st(c, Reg::R1)],
            6 => vec![ld(Reg::R1, a), Insn::store(Size::DW, Reg::R6, 8 * rng.below(8) as i16, Reg::R1)],
            7 => vec![
                ld(Reg::R1, a),
                ld(Reg::R2, b),
                Insn::mov64_imm(Reg::R0, 1),
                Insn::jump_reg(Cond::Slt, Reg::R1, Reg::R2, 1),
                Insn::mov64_imm(Reg::R0, 0),
                st(c, Reg::R0),
            ],
            8 => {
                let mut w = Insn::ld_imm64(Reg::R1, rng.next()).to_vec();
                w.push(st(c, Reg::R1));
                w
            }
            9 => vec![
                Insn::store_imm(Size::DW, Reg::FP, -16, 0),
                Insn::mov64_reg(Reg::R1, Reg::FP),
                Insn::alu64_imm(AluOp::Add, Reg::R1, if rng.below(4) == 0 { i32::from(c) } else { -16 }),
                Insn::mov64_imm(Reg::R2, 8),
                Insn::mov64_reg(Reg::R3, Reg::R6),
                Insn::call(PROBE_READ),
                ld(Reg::R1, -16),
                st(a, Reg::R1),
            ],
            _ => vec![ld(Reg::R1, a), Insn::alu64_imm(AluOp::Add, Reg::R1, 1), st(a, Reg::R1)],
        };
        statements.push(s);
    }
    // Some statements are skipped by a branch or a jump over the next few,
    // some end the program early; one stretch may be a counted loop.
    let n = statements.len();
    let mut out: Vec<Vec<Insn>> = Vec::new();
    for (k, s) in statements.into_iter().enumerate() {
        match rng.below(8) {
            0 | 1 if k + 1 < n => out.push(vec![ld(Reg::R1, slot(rng)), Insn::jump_imm(Cond::Sgt, Reg::R1, 1, 0)]),
            2 if k + 1 < n => out.push(vec![Insn::jump(0)]),
            3 => out.push(vec![ld(Reg::R0, slot(rng)), Insn::exit()]),
            _ => {}
        }
        out.push(s);
    }
    // Offsets: each jump skips the one or two statements after it.
    let mut flat = p;
    for (k, s) in out.iter().enumerate() {
        let skip = 1 + (k % 2);
        let len: usize = out.iter().skip(k + 1).take(skip).map(Vec::len).sum();
        for insn in s {
            let mut insn = *insn;
            if insn.is_branch() && insn.off == 0 {
                insn.off = len as i16;
            }
            flat.push(insn);
        }
    }
    // A loop around the body, three times round, counting in slot -32.
    if rng.below(3) == 0 {
        let mut looped = vec![flat[0], Insn::store_imm(Size::DW, Reg::FP, -32, 0)];
        looped.extend(flat.iter().skip(1));
        let back = looped.len() - 2 - vars as usize;
        looped.extend([
            ld(Reg::R1, -32),
            Insn::alu64_imm(AluOp::Add, Reg::R1, 1),
            st(-32, Reg::R1),
            Insn::jump_imm(Cond::Slt, Reg::R1, 3, -(back as i16) - 4),
        ]);
        flat = looped;
    }
    flat.extend([ld(Reg::R0, slot(rng)), Insn::exit()]);
    flat
}

#[test]
fn random_programs_keep_their_meaning() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut before, mut after, mut programs) = (0, 0, 0);
    for _ in 0..3000 {
        let p = random_program(&mut rng);
        if run(&p, &ctx()).is_err() {
            continue;
        }
        programs += 1;
        before += p.len();
        after += same(p).len();
    }
    assert!(programs > 2500, "{programs} programs ran");
    assert!(after * 10 < before * 8, "{before} -> {after}");
}

/// A register set's members, lowest first, at both ends of its range.
#[test]
fn members_lists_a_set_lowest_first() {
    use super::flow::{bit, members};
    let set = bit(127) | bit(0) | bit(5) | bit(64);
    assert_eq!(members(set).collect::<Vec<u8>>(), [0, 5, 64, 127]);
    assert_eq!(members(0).count(), 0);
    assert_eq!(members(u128::MAX).count(), 128);
}
