//! Lexer, preprocessor and parser on arbitrary input: any error is fine, a
//! panic is a bug. Inputs that parse must also print (`-p1`) to text that
//! parses to the same tree.
//!
//! The first byte chooses options (guru mode, an old `--compatible`), the
//! rest is the script. Run with `cargo +nightly fuzz run parse`, seeded by
//! `fuzz/seed.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stp_compiler::driver::{Options, RoundTrip, ScriptInput, round_trip};
use stp_compiler::kernel::Kernel;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest).into_owned();
    let opts = Options {
        last_pass: 1,
        guru: flags & 1 != 0,
        compatible: if flags & 2 != 0 { "2.5".to_string() } else { "5.0".to_string() },
        args: vec!["arg1".to_string(), "2".to_string()],
        ..Options::default()
    };
    let kernel = Kernel::fixed("6.1.0", "x86_64", Default::default());
    if let RoundTrip::Unstable { printed, why } = round_trip(&opts, &kernel, ScriptInput { name: "<fuzz>".into(), text }) {
        panic!("the -p1 print does not round-trip: {why}\n--- printed\n{printed}");
    }
});
