//! The Cranelift IR (CLIF) of the user-placed handlers as text, for
//! `stp -p3 --clif` and its golden tests.
//!
//! In: the functions' CLIF as Cranelift prints them, before its own
//! passes, and what their addresses are (the `Jit`'s string constants,
//! the helpers of [`super::rt`]). Out: the same text with every such
//! address shown by name (`iconst.i64 <rt::concat>`, `iconst.i64
//! <"text">`, and so in Cranelift's comments), so that it is the same from run to run; the code is
//! otherwise as compiled.

use std::collections::HashMap;

use cranelift_codegen::ir::immediates::Imm64;

use super::rt;

/// The helpers compiled code calls, by address.
fn helpers() -> Vec<(i64, &'static str)> {
    macro_rules! named {
        ($($f:ident),* $(,)?) => { vec![$((rt::$f as *const () as i64, stringify!($f))),*] };
    }
    named![
        builtin,
        call_enter,
        call_leave,
        catch,
        concat,
        hist_bucket,
        hist_print,
        iter_next,
        iter_start,
        map_delete,
        map_get,
        map_has,
        map_set,
        print,
        raise,
        raise_msg,
        regex_match,
        stat_add,
        stat_get,
        str_cmp,
        str_copy,
        str_store,
    ]
}

/// `text` with the addresses of helpers and of `constants` (address,
/// bytes) replaced by their names, where the code loads them and where
/// Cranelift's comments show the values used.
pub(super) fn name_addresses(text: &str, constants: &[(i64, Vec<u8>)]) -> String {
    let mut names: HashMap<String, String> =
        helpers().into_iter().map(|(addr, name)| (Imm64::new(addr).to_string(), format!("<rt::{name}>"))).collect();
    for (addr, bytes) in constants {
        let shown = stp_compiler::ir::print::quote(bytes);
        names.insert(Imm64::new(*addr).to_string(), format!("<{shown}>"));
    }
    // Each hexadecimal number, whole, looked up.
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("0x") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let len = from
            .char_indices()
            .skip(2)
            .find(|(_, ch)| !(ch.is_ascii_hexdigit() || *ch == '_'))
            .map_or(from.len(), |(i, _)| i);
        let (number, after) = from.split_at(len);
        out.push_str(names.get(number).map_or(number, String::as_str));
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use stp_compiler::layout::{Layout, Limits};

    use super::*;
    use crate::jit::Jit;

    /// A begin probe that concatenates a constant, written as IR text.
    const BEGIN: &str = r#"probe 0 begin

func #0 probe_0() /* user, handler of probe 0 */ {
  vars %0:string
b0:
  %0 = concat "abc", "def"
  print(%0)
  return
}
"#;

    fn clif() -> String {
        let parsed = stp_compiler::ir::parse::parse(BEGIN).expect("the text parses");
        let layout =
            Layout::new(&parsed.module, Limits::from_defines(&[]).expect("no defines")).expect("the module lays out");
        Jit::clif(&parsed.module, &layout, &["begin".to_string()]).expect("the module compiles")
    }

    #[test]
    fn addresses_are_shown_by_name_and_the_text_is_stable() {
        let text = clif();
        assert!(text.starts_with("; func #0 probe_0 (handler of probe 0)\nfunction "), "{text}");
        for name in ["<\"abc\">", "<\"def\">", "<rt::concat>", "<rt::print>"] {
            assert!(text.contains(&format!("iconst.i64 {name}")), "{name} missing:\n{text}");
        }
        // No address is left (this code has no other number Cranelift
        // writes in hexadecimal).
        assert!(!text.contains("0x"), "{text}");
        // Another compilation puts the constants elsewhere: same text.
        assert_eq!(clif(), text);
    }

    #[test]
    fn only_whole_numbers_are_named() {
        let constants = [(0x1234_5678, b"x".to_vec())];
        let text = "v1 = iconst.i64 0x1234_5678\nv2 = iconst.i64 0x1234_5678_9abc  ; v1 = 0x1234_5678\n";
        assert_eq!(
            name_addresses(text, &constants),
            "v1 = iconst.i64 <\"x\">\nv2 = iconst.i64 0x1234_5678_9abc  ; v1 = <\"x\">\n"
        );
    }
}
