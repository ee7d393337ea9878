//! Passes 1 to 3 on arbitrary input against the kernel snapshot checked
//! into `tests/kernel`: any diagnostic is fine, a panic is a bug, and so
//! is any internal error (IR that fails its verifier, the eBPF back end
//! meeting IR it should not see).
//!
//! The first byte chooses options (guru mode, `-u`), the rest is the
//! script. Run with `cargo +nightly fuzz run elaborate corpus/parse`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stp_compiler::driver::{Options, ScriptInput, run};
use stp_compiler::kernel::Kernel;
use stp_compiler::source::SourceMap;

fn kernel() -> &'static Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    KERNEL.get_or_init(|| Kernel::snapshot(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kernel")))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest).into_owned();
    let opts = Options {
        scripts: vec![ScriptInput { name: "<fuzz>".into(), text }],
        last_pass: 3,
        guru: flags & 1 != 0,
        unoptimized: flags & 2 != 0,
        args: vec!["arg1".to_string(), "2".to_string()],
        ..Options::default()
    };
    let mut sm = SourceMap::new();
    let outcome = run(&opts, kernel(), &mut sm);
    // Any internal error is a bug: IR its verifier rejects, or the eBPF
    // back end meeting what lowering should not have produced.
    let internal: Vec<&str> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.severity == stp_compiler::diag::Severity::Internal)
        .map(|d| d.message.as_str())
        .collect();
    assert!(internal.is_empty(), "internal errors: {internal:?}");
});
