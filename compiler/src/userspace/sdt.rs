//! USDT argument specifications: the text `sys/sdt.h` stores in a
//! `.note.stapsdt` entry for each argument of a mark (`-4@%edi`,
//! `8@-16(%rbp)`, `4@$5`), parsed into where a handler finds the value at
//! the mark: a constant, a register of the probed task's `struct pt_regs`
//! (x86-64), or memory addressed by registers and a displacement.
//!
//! `N@` gives the size in bytes, negative for a signed value; without it
//! the argument is a signed long. Symbol-relative operands
//! (`foo(%rip)`) are refused: resolving them needs the symbol's address.

use std::fmt;

/// One argument of a mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdtArg {
    /// 1, 2, 4 or 8.
    pub size: u32,
    pub signed: bool,
    pub loc: SdtLoc,
}

/// Where an argument's value is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdtLoc {
    /// `$N`: the value itself.
    Const(i64),
    /// `%reg`: the register's value.
    Reg(SdtReg),
    /// `disp(%base,%index,scale)`: `size` bytes at that address.
    Mem { base: Option<SdtReg>, index: Option<(SdtReg, u8)>, disp: i64 },
}

/// A register (or part of one) as saved in `struct pt_regs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SdtReg {
    /// The byte offset of the whole register in `struct pt_regs`.
    pub offset: i16,
    /// 8 for `%ah`, `%bh`, `%ch`, `%dh` (bits 8-15), else 0.
    pub shift: u8,
}

/// Why an argument cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdtError {
    pub arg: String,
    pub reason: &'static str,
}

impl fmt::Display for SdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read USDT argument '{}': {}", self.arg, self.reason)
    }
}

/// The x86-64 registers by every name of theirs (64, 32, 16 and low 8
/// bits), with their offsets in `struct pt_regs`.
const REGISTERS: [(&[&str], i16); 17] = [
    (&["rax", "eax", "ax", "al"], 80),
    (&["rbx", "ebx", "bx", "bl"], 40),
    (&["rcx", "ecx", "cx", "cl"], 88),
    (&["rdx", "edx", "dx", "dl"], 96),
    (&["rsi", "esi", "si", "sil"], 104),
    (&["rdi", "edi", "di", "dil"], 112),
    (&["rbp", "ebp", "bp", "bpl"], 32),
    (&["rsp", "esp", "sp", "spl"], 152),
    (&["r8", "r8d", "r8w", "r8b"], 72),
    (&["r9", "r9d", "r9w", "r9b"], 64),
    (&["r10", "r10d", "r10w", "r10b"], 56),
    (&["r11", "r11d", "r11w", "r11b"], 48),
    (&["r12", "r12d", "r12w", "r12b"], 24),
    (&["r13", "r13d", "r13w", "r13b"], 16),
    (&["r14", "r14d", "r14w", "r14b"], 8),
    (&["r15", "r15d", "r15w", "r15b"], 0),
    (&["rip", "eip", "ip"], 128),
];

fn register(name: &str) -> Option<SdtReg> {
    let high = [("ah", 80), ("bh", 40), ("ch", 88), ("dh", 96)];
    if let Some((_, offset)) = high.iter().find(|(n, _)| *n == name) {
        return Some(SdtReg { offset: *offset, shift: 8 });
    }
    REGISTERS.iter().find(|(names, _)| names.contains(&name)).map(|(_, offset)| SdtReg { offset: *offset, shift: 0 })
}

/// Splits a note's argument text into the arguments' specifications.
pub fn split(args: &str) -> Vec<&str> {
    args.split_whitespace().collect()
}

/// Parses one argument's specification.
pub fn parse(spec: &str) -> Result<SdtArg, SdtError> {
    let err = |reason| SdtError { arg: spec.to_string(), reason };
    let (size, signed, operand) = match spec.split_once('@') {
        Some((n, rest)) if n.parse::<i32>().is_ok() => {
            let n: i32 = n.parse().map_err(|_| err("bad size"))?;
            let size = n.unsigned_abs();
            if !matches!(size, 1 | 2 | 4 | 8) {
                return Err(err("its size is not 1, 2, 4 or 8 bytes"));
            }
            (size, n < 0, rest)
        }
        _ => (8, true, spec),
    };
    let loc = if let Some(value) = operand.strip_prefix('$') {
        SdtLoc::Const(number(value).ok_or_else(|| err("the constant is not a number"))?)
    } else if let Some(name) = operand.strip_prefix('%') {
        SdtLoc::Reg(register(name).ok_or_else(|| err("unknown register"))?)
    } else if let Some(open) = operand.find('(') {
        let disp_text = operand.get(..open).unwrap_or_default();
        let inner =
            operand.get(open + 1..).and_then(|s| s.strip_suffix(')')).ok_or_else(|| err("unbalanced parentheses"))?;
        let disp = if disp_text.is_empty() {
            0
        } else {
            number(disp_text).ok_or_else(|| err("symbol-relative operands are not supported"))?
        };
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        let reg = |s: &str| -> Result<Option<SdtReg>, SdtError> {
            if s.is_empty() {
                return Ok(None);
            }
            let name = s.strip_prefix('%').ok_or_else(|| err("expected a register"))?;
            let r = register(name).ok_or_else(|| err("unknown register"))?;
            if r.shift != 0 || r.offset == 128 {
                return Err(err("this addressing mode is not supported"));
            }
            Ok(Some(r))
        };
        let (base, index) = match parts.as_slice() {
            [b] => (reg(b)?, None),
            [b, i] => (reg(b)?, reg(i)?.map(|r| (r, 1))),
            [b, i, s] => {
                let scale: u8 =
                    s.parse().ok().filter(|s| matches!(s, 1 | 2 | 4 | 8)).ok_or_else(|| err("bad scale"))?;
                (reg(b)?, reg(i)?.map(|r| (r, scale)))
            }
            _ => return Err(err("bad memory operand")),
        };
        if base.is_none() && index.is_none() {
            return Err(err("bad memory operand"));
        }
        SdtLoc::Mem { base, index, disp }
    } else if let Some(addr) = number(operand) {
        // A bare number is an absolute address.
        SdtLoc::Mem { base: None, index: None, disp: addr }
    } else {
        return Err(err("symbol-relative operands are not supported"));
    };
    Ok(SdtArg { size, signed, loc })
}

/// A decimal or `0x` hexadecimal number, maybe negative.
fn number(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()? as i64,
        None => digits.parse::<u64>().ok()? as i64,
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(offset: i16) -> SdtReg {
        SdtReg { offset, shift: 0 }
    }

    #[test]
    fn registers_constants_and_memory() {
        assert_eq!(parse("-4@%edi"), Ok(SdtArg { size: 4, signed: true, loc: SdtLoc::Reg(reg(112)) }));
        assert_eq!(parse("8@%rax"), Ok(SdtArg { size: 8, signed: false, loc: SdtLoc::Reg(reg(80)) }));
        assert_eq!(
            parse("1@%ah"),
            Ok(SdtArg { size: 1, signed: false, loc: SdtLoc::Reg(SdtReg { offset: 80, shift: 8 }) })
        );
        assert_eq!(parse("-2@%r9w"), Ok(SdtArg { size: 2, signed: true, loc: SdtLoc::Reg(reg(64)) }));
        assert_eq!(parse("4@$5"), Ok(SdtArg { size: 4, signed: false, loc: SdtLoc::Const(5) }));
        assert_eq!(parse("-4@$-3"), Ok(SdtArg { size: 4, signed: true, loc: SdtLoc::Const(-3) }));
        assert_eq!(
            parse("8@-16(%rbp)"),
            Ok(SdtArg { size: 8, signed: false, loc: SdtLoc::Mem { base: Some(reg(32)), index: None, disp: -16 } })
        );
        assert_eq!(
            parse("-4@(%rsp)"),
            Ok(SdtArg { size: 4, signed: true, loc: SdtLoc::Mem { base: Some(reg(152)), index: None, disp: 0 } })
        );
        assert_eq!(
            parse("4@8(%rax,%rdx,4)"),
            Ok(SdtArg {
                size: 4,
                signed: false,
                loc: SdtLoc::Mem { base: Some(reg(80)), index: Some((reg(96), 4)), disp: 8 }
            })
        );
        assert_eq!(parse("%rdi"), Ok(SdtArg { size: 8, signed: true, loc: SdtLoc::Reg(reg(112)) }));
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        assert_eq!(parse("8@counter(%rip)").map_err(|e| e.reason), Err("symbol-relative operands are not supported"));
        assert_eq!(parse("3@%eax").map_err(|e| e.reason), Err("its size is not 1, 2, 4 or 8 bytes"));
        assert_eq!(parse("4@%xmm0").map_err(|e| e.reason), Err("unknown register"));
        assert_eq!(parse("4@8(%rax").map_err(|e| e.reason), Err("unbalanced parentheses"));
        assert_eq!(
            parse("4@%xmm0").map_err(|e| e.to_string()),
            Err("cannot read USDT argument '4@%xmm0': unknown register".to_string())
        );
    }

    #[test]
    fn a_note_splits_on_spaces() {
        assert_eq!(split("-4@%edx -4@%eax"), vec!["-4@%edx", "-4@%eax"]);
        assert!(split("").is_empty());
    }
}
