//! The printf family's format strings: parsed once by the compiler (which
//! checks the argument types against them) and rendered by whichever side
//! prints, so that kernel records and user-side handlers print alike.
//!
//! The directives are SystemTap's (language reference, "Formatted
//! output"): `%[flags][width][.precision][length]specifier` with the
//! specifiers `d i o u x X p c s b m M %`, the flags `- + space # 0`, and
//! `*` for a width or precision taken from the arguments. Numbers are
//! 64-bit.

use crate::types::Type;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-`: left-justify.
    pub left: bool,
    /// `+`: a sign even for positive numbers.
    pub plus: bool,
    /// ` `: a space where no sign is written.
    pub space: bool,
    /// `#`: `0`, `0x` or `0X` before non-zero octal and hex numbers.
    pub alt: bool,
    /// `0`: pad numbers with zeroes.
    pub zero: bool,
}

/// A width or precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Fixed(u32),
    /// `*`: the next argument.
    Arg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv {
    /// `d`, `i`
    Signed,
    /// `u`
    Unsigned,
    /// `o`
    Octal,
    /// `x`
    Hex,
    /// `X`
    HexUpper,
    /// `p`: `0x` and 16 hex digits.
    Pointer,
    /// `c`
    Char,
    /// `s`
    Str,
    /// `b`: the number's bytes, native order.
    Binary,
    /// `m`: bytes of memory at an address, as they are.
    Memory,
    /// `M`: bytes of memory at an address, in hex.
    MemoryHex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub flags: Flags,
    pub width: Option<Count>,
    pub precision: Option<Count>,
    pub conv: Conv,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(Vec<u8>),
    Conv(Spec),
}

/// Parses a format; the error says what is wrong, in stap's words.
pub fn parse(format: &[u8]) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while let Some(&c) = format.get(i) {
        i += 1;
        if c != b'%' {
            text.push(c);
            continue;
        }
        if format.get(i) == Some(&b'%') {
            text.push(b'%');
            i += 1;
            continue;
        }
        let mut flags = Flags::default();
        while let Some(&f) = format.get(i) {
            match f {
                b'-' => flags.left = true,
                b'+' => flags.plus = true,
                b' ' => flags.space = true,
                b'#' => flags.alt = true,
                b'0' => flags.zero = true,
                _ => break,
            }
            i += 1;
        }
        let count = |i: &mut usize| -> Option<Count> {
            if format.get(*i) == Some(&b'*') {
                *i += 1;
                return Some(Count::Arg);
            }
            let start = *i;
            while format.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            let digits = std::str::from_utf8(format.get(start..*i).unwrap_or_default()).unwrap_or("");
            (!digits.is_empty()).then(|| Count::Fixed(digits.parse().unwrap_or(u32::MAX)))
        };
        let width = count(&mut i);
        let precision = if format.get(i) == Some(&b'.') {
            i += 1;
            Some(count(&mut i).unwrap_or(Count::Fixed(0)))
        } else {
            None
        };
        while format.get(i).is_some_and(|c| b"hlLqjzt".contains(c)) {
            i += 1;
        }
        let Some(&c) = format.get(i) else {
            return Err("invalid or missing conversion specifier".to_string());
        };
        i += 1;
        let conv = match c {
            b'd' | b'i' => Conv::Signed,
            b'u' => Conv::Unsigned,
            b'o' => Conv::Octal,
            b'x' => Conv::Hex,
            b'X' => Conv::HexUpper,
            b'p' => Conv::Pointer,
            b'c' => Conv::Char,
            b's' => Conv::Str,
            b'b' => Conv::Binary,
            b'm' => Conv::Memory,
            b'M' => Conv::MemoryHex,
            _ => return Err(format!("invalid or missing conversion specifier '%{}'", c as char)),
        };
        if conv == Conv::Binary
            && let Some(n) = binary_bytes(width, precision)
            && ![1, 2, 4, 8].contains(&n)
        {
            return Err(format!("invalid binary width {n}: valid are %b, %1b, %2b, %4b and %8b"));
        }
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        out.push(Piece::Conv(Spec { flags, width, precision, conv }));
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// `%b`'s byte count where the format fixes it: the width, else the
/// precision, else 8.
fn binary_bytes(width: Option<Count>, precision: Option<Count>) -> Option<u32> {
    match (width, precision) {
        (Some(Count::Fixed(n)), _) | (None, Some(Count::Fixed(n))) => Some(n),
        (None, None) => Some(8),
        _ => None,
    }
}

/// The types of the arguments a format takes, in order (`*` takes a long).
pub fn arg_types(pieces: &[Piece]) -> Vec<Type> {
    let mut out = Vec::new();
    for p in pieces {
        let Piece::Conv(s) = p else { continue };
        for c in [s.width, s.precision].into_iter().flatten() {
            if c == Count::Arg {
                out.push(Type::Long);
            }
        }
        out.push(if s.conv == Conv::Str { Type::String } else { Type::Long });
    }
    out
}

/// A value to print. `%m` and `%M` take the memory their address pointed
/// to, read by whoever had access to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg<'a> {
    Long(i64),
    Bytes(&'a [u8]),
}

/// Renders `pieces` with `args` onto `out`. The compiler has checked the
/// types; a missing or mistyped argument renders as 0 or "" rather than
/// failing, so a runtime record can never crash the printer.
pub fn render(pieces: &[Piece], args: &[Arg<'_>], out: &mut Vec<u8>) {
    let mut args = args.iter();
    let long = |args: &mut std::slice::Iter<'_, Arg<'_>>| match args.next() {
        Some(Arg::Long(n)) => *n,
        _ => 0,
    };
    for p in pieces {
        let s = match p {
            Piece::Text(t) => {
                out.extend_from_slice(t);
                continue;
            }
            Piece::Conv(s) => s,
        };
        let mut flags = s.flags;
        // Widths and precisions are capped (at 1 MiB) like `*` ones, so a
        // format cannot ask for gigabytes of padding.
        let width = match s.width {
            None => None,
            Some(Count::Fixed(n)) => Some((n as usize).min(1 << 20)),
            Some(Count::Arg) => {
                let n = long(&mut args);
                if n < 0 {
                    flags.left = true;
                }
                Some(n.unsigned_abs().min(1 << 20) as usize)
            }
        };
        let precision = match s.precision {
            None => None,
            Some(Count::Fixed(n)) => Some((n as usize).min(1 << 20)),
            Some(Count::Arg) => usize::try_from(long(&mut args)).ok().map(|n| n.min(1 << 20)),
        };
        match s.conv {
            Conv::Str | Conv::Memory | Conv::MemoryHex => {
                let bytes = match args.next() {
                    Some(Arg::Bytes(b)) => *b,
                    _ => &[],
                };
                let body: Vec<u8> = match s.conv {
                    Conv::Str => {
                        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                        let b = bytes.get(..end).unwrap_or_default();
                        b.get(..precision.unwrap_or(b.len()).min(b.len())).unwrap_or_default().to_vec()
                    }
                    Conv::Memory => bytes.get(..precision.unwrap_or(1).min(bytes.len())).unwrap_or_default().to_vec(),
                    _ => bytes
                        .get(..precision.unwrap_or(1).min(bytes.len()))
                        .unwrap_or_default()
                        .iter()
                        .flat_map(|b| format!("{b:02x}").into_bytes())
                        .collect(),
                };
                pad(out, &body, width, flags.left, b' ');
            }
            Conv::Char => {
                let c = long(&mut args) as u8;
                pad(out, &[c], width, flags.left, b' ');
            }
            Conv::Binary => {
                let n = long(&mut args);
                let size = match binary_bytes(s.width, s.precision) {
                    Some(b) => b as usize,
                    None => width.or(precision).unwrap_or(8),
                };
                let size = [1, 2, 4, 8].into_iter().find(|&b| b >= size).unwrap_or(8);
                out.extend_from_slice(n.to_ne_bytes().get(..size).unwrap_or_default());
            }
            conv => number(out, long(&mut args), conv, flags, width, precision),
        }
    }
}

fn pad(out: &mut Vec<u8>, body: &[u8], width: Option<usize>, left: bool, fill: u8) {
    let n = width.unwrap_or(0).saturating_sub(body.len());
    if !left {
        out.extend(std::iter::repeat_n(fill, n));
    }
    out.extend_from_slice(body);
    if left {
        out.extend(std::iter::repeat_n(b' ', n));
    }
}

fn number(out: &mut Vec<u8>, n: i64, conv: Conv, flags: Flags, width: Option<usize>, precision: Option<usize>) {
    let (mut digits, sign, prefix): (String, &str, &str) = match conv {
        Conv::Signed => {
            let sign = if n < 0 {
                "-"
            } else if flags.plus {
                "+"
            } else if flags.space {
                " "
            } else {
                ""
            };
            (n.unsigned_abs().to_string(), sign, "")
        }
        Conv::Unsigned => ((n as u64).to_string(), "", ""),
        Conv::Octal => (format!("{:o}", n as u64), "", if flags.alt && n != 0 { "0" } else { "" }),
        Conv::Hex => (format!("{:x}", n as u64), "", if flags.alt && n != 0 { "0x" } else { "" }),
        Conv::HexUpper => (format!("{:X}", n as u64), "", if flags.alt && n != 0 { "0X" } else { "" }),
        // `0x` and at least 16 digits.
        _ => (format!("{:016x}", n as u64), "", "0x"),
    };
    match precision {
        // A precision of 0 writes nothing for 0.
        Some(0) if n == 0 && conv != Conv::Pointer => digits.clear(),
        Some(p) if p > digits.len() => digits = format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => {}
    }
    let len = sign.len() + prefix.len() + digits.len();
    let fill = width.unwrap_or(0).saturating_sub(len);
    if flags.left {
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(digits.as_bytes());
        out.extend(std::iter::repeat_n(b' ', fill));
    } else if flags.zero {
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend(std::iter::repeat_n(b'0', fill));
        out.extend_from_slice(digits.as_bytes());
    } else {
        out.extend(std::iter::repeat_n(b' ', fill));
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(digits.as_bytes());
    }
}

/// What the print family writes: `printf`/`sprintf` render `format`;
/// `print`/`sprint` write the values one after another (longs in decimal);
/// `printd` puts `delimiter` between them; the `ln` forms add a newline.
pub fn render_print(
    kind: crate::parse::ast::PrintKind,
    format: Option<&[Piece]>,
    delimiter: &[u8],
    args: &[Arg<'_>],
    out: &mut Vec<u8>,
) {
    use crate::parse::ast::PrintKind as K;
    if let (K::Printf | K::Sprintf, Some(pieces)) = (kind, format) {
        render(pieces, args, out);
        return;
    }
    let delimited = matches!(kind, K::Printd | K::Printdln | K::Sprintd | K::Sprintdln);
    for (i, a) in args.iter().enumerate() {
        if i > 0 && delimited {
            out.extend_from_slice(delimiter);
        }
        match a {
            Arg::Long(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Arg::Bytes(b) => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                out.extend_from_slice(b.get(..end).unwrap_or_default());
            }
        }
    }
    if matches!(kind, K::Println | K::Sprintln | K::Printdln | K::Sprintdln) {
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(format: &str, args: &[Arg<'_>]) -> String {
        let pieces = parse(format.as_bytes()).expect("a valid format");
        let mut out = Vec::new();
        render(&pieces, args, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    use Arg::{Bytes, Long};

    #[test]
    fn integers() {
        assert_eq!(
            fmt("%d|%i|%5d|%-5d|%05d|%+d|% d", &[Long(392), Long(-7), Long(42), Long(42), Long(-42), Long(3), Long(3)]),
            "392|-7|   42|42   |-0042|+3| 3"
        );
        assert_eq!(fmt("%o %x %X %u", &[Long(392), Long(2042), Long(2042), Long(7235)]), "610 7fa 7FA 7235");
        assert_eq!(fmt("%#o %#x %#X %#x", &[Long(8), Long(255), Long(255), Long(0)]), "010 0xff 0XFF 0");
        assert_eq!(fmt("%u %x", &[Long(-1), Long(-1)]), "18446744073709551615 ffffffffffffffff");
        assert_eq!(fmt("%.3d|%.0d|%8.3x", &[Long(7), Long(0), Long(10)]), "007||     00a");
        assert_eq!(fmt("%d", &[Long(i64::MIN)]), "-9223372036854775808");
    }

    #[test]
    fn pointers_chars_strings() {
        // The language reference's own example.
        assert_eq!(fmt("%p", &[Long(0xbc614e)]), "0x0000000000bc614e");
        assert_eq!(fmt("%c%c|%3c", &[Long(72), Long(105), Long(33)]), "Hi|  !");
        assert_eq!(
            fmt("%s|%8s|%-8s|%.3s", &[Bytes(b"sample"), Bytes(b"abc"), Bytes(b"abc"), Bytes(b"sample")]),
            "sample|     abc|abc     |sam"
        );
        assert_eq!(fmt("%s", &[Bytes(b"cut\0here")]), "cut");
    }

    #[test]
    fn star_width_and_precision() {
        assert_eq!(
            fmt("%*d|%-*d|%.*s", &[Long(6), Long(1), Long(3), Long(2), Long(2), Bytes(b"abc")]),
            "     1|2  |ab"
        );
        assert_eq!(fmt("%*d", &[Long(-4), Long(9)]), "9   ");
        assert_eq!(arg_types(&parse(b"%*.*s %d").expect("valid")), [Type::Long, Type::Long, Type::String, Type::Long]);
    }

    #[test]
    fn binary_and_memory() {
        // The language reference's examples.
        let out = {
            let mut o = Vec::new();
            render(&parse(b"%b%b").expect("valid"), &[Long(0xc0dedbad), Long(0x12345678)], &mut o);
            o
        };
        assert_eq!(out, [0xad, 0xdb, 0xde, 0xc0, 0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]);
        assert_eq!(
            fmt("%1b%1b%1blo %1b%1brld\n", &[Long(72), Long(101), Long(108), Long(87), Long(111)]),
            "Hello World\n"
        );
        assert_eq!(fmt("%3d: %1b%1b%1b", &[Long(97), Long(97), Long(97 - 32), Long(97 - 64)]), " 97: aA!");
        assert!(parse(b"%3b").is_err());
        // %m: as many bytes as the precision says (1 by default), NULs too.
        assert_eq!(
            fmt("%m|%.5m|%.4M", &[Bytes(b"My String"), Bytes(b"a\0bcdef"), Bytes(b"\x01\xab\xff\x10")]),
            "M|a\0bcd|01abff10"
        );
    }

    #[test]
    fn percent_and_errors() {
        assert_eq!(fmt("100%%", &[]), "100%");
        assert_eq!(parse(b"%y").unwrap_err(), "invalid or missing conversion specifier '%y'");
        assert_eq!(parse(b"abc %").unwrap_err(), "invalid or missing conversion specifier");
        // Length modifiers are accepted and change nothing.
        assert_eq!(fmt("%ld %llx", &[Long(5), Long(255)]), "5 ff");
    }
}
