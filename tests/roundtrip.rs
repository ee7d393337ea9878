//! The `-p1` dump parses again to the same tree: a property checked over
//! every script we have (SystemTap's corpora, the examples, the tapset
//! library, the golden cases).

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::path::{Path, PathBuf};

use stp_compiler::driver::{Options, RoundTrip, ScriptInput, round_trip};
use stp_compiler::kernel::Kernel;

use common::{conformance_dir, root, stp_files};

/// The options a file asks for on its `#! stap` line that change parsing.
fn options_for(text: &str) -> Options {
    let first = text.lines().next().unwrap_or_default();
    let mut opts = Options { last_pass: 1, ..Options::default() };
    if first.starts_with("#!") && first.contains("stap") {
        for word in first.split_whitespace() {
            if word.starts_with('-') && !word.starts_with("--") && word.contains('g') {
                opts.guru = true;
            }
            if let Some(v) = word.strip_prefix("--compatible=") {
                opts.compatible = v.to_string();
            }
        }
    }
    opts
}

fn check(files: &[PathBuf], kernel: &Kernel) -> (usize, Vec<String>) {
    let mut stable = 0;
    let mut unstable = Vec::new();
    for path in files {
        let Ok(bytes) = std::fs::read(path) else { continue };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let opts = options_for(&text);
        let input = ScriptInput { name: path.display().to_string(), text };
        match round_trip(&opts, kernel, input) {
            RoundTrip::NotParsed => {}
            RoundTrip::Stable => stable += 1,
            RoundTrip::Unstable { printed, why } => {
                unstable.push(format!("{}:\n{why}\n--- printed\n{printed}", path.display()));
            }
        }
    }
    (stable, unstable)
}

fn all_stp(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            all_stp(&p, out);
        } else if p.extension().is_some_and(|e| e == "stp") {
            out.push(p);
        }
    }
}

fn kernel() -> Kernel {
    Kernel::fixed("6.1.0", "x86_64", Default::default())
}

#[test]
fn our_scripts_round_trip() {
    let mut files = Vec::new();
    for dir in ["examples", "stdlib", "tests/parse"] {
        all_stp(&root().join(dir), &mut files);
    }
    let (stable, unstable) = check(&files, &kernel());
    println!("{stable} of {} scripts round-trip", files.len());
    assert!(unstable.is_empty(), "{}", unstable.join("\n\n"));
    // The golden cases that are meant to parse, the examples and the library.
    assert!(stable >= 10, "only {stable} scripts parsed: the check is vacuous");
}

#[test]
fn library_scripts_all_parse_and_round_trip() {
    let mut files = Vec::new();
    all_stp(&root().join("stdlib"), &mut files);
    all_stp(&root().join("examples"), &mut files);
    let (stable, unstable) = check(&files, &kernel());
    assert!(unstable.is_empty(), "{}", unstable.join("\n\n"));
    assert!(!files.is_empty(), "stdlib/ and examples/ have scripts");
    assert_eq!(stable, files.len(), "every stdlib and example script parses");
}

#[test]
fn conformance_scripts_round_trip() {
    let Some(dir) = conformance_dir() else { return };
    let mut files = Vec::new();
    for sub in ["parse/ok", "parse/ko", "sem/ok", "sem/ko", "bpf"] {
        files.extend(stp_files(&dir.join(sub)));
    }
    let (stable, unstable) = check(&files, &kernel());
    println!("{stable} of {} corpus files parse and round-trip", files.len());
    assert!(unstable.is_empty(), "{}", unstable.join("\n\n"));
    assert!(stable >= 300, "only {stable} corpus files parsed: the check is vacuous");
}
