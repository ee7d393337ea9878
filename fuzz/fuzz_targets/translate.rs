//! Passes 1 to 4 on arbitrary input against the kernel snapshot checked
//! into `tests/kernel`: the eBPF object's bytes. Any diagnostic is fine; a
//! panic is a bug, and so is any internal error (IR that fails its
//! verifier, the eBPF back end meeting IR it should not see, an object
//! that cannot be written). Every object the script gets is kept in memory
//! only (`last_pass` 5 compiles without running); whether the kernel's
//! verifier takes it is checked by `fuzz/verify-sample.sh`, as root.
//!
//! The first byte chooses options (guru mode, `-u`), the rest is the
//! script. Run with `fuzz/run.sh translate`.

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

fn object_dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("stp-fuzz-translate-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest).into_owned();
    let opts = Options {
        scripts: vec![ScriptInput { name: "<fuzz>".into(), text }],
        // Pass 5 is not run by the driver: it stops with the object built.
        last_pass: 5,
        guru: flags & 1 != 0,
        unoptimized: flags & 2 != 0,
        args: vec!["arg1".to_string(), "2".to_string()],
        module: Some(object_dir().join("fuzz").display().to_string()),
        ..Options::default()
    };
    let mut sm = SourceMap::new();
    let outcome = run(&opts, kernel(), &mut sm);
    let internal: Vec<&str> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.severity == stp_compiler::diag::Severity::Internal)
        .map(|d| d.message.as_str())
        .collect();
    assert!(internal.is_empty(), "internal errors: {internal:?}");
    if outcome.failed_pass.is_none() {
        let compiled = outcome.compiled.as_ref().expect("a script that passes pass 4 has an object");
        assert!(compiled.object.starts_with(b"\x7fELF"), "pass 4 wrote no ELF object");
    }
});
