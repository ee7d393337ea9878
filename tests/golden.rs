//! Golden tests of `stp -p1`: each `tests/parse/*.stp` is run through the
//! `stp` binary and its exit status, standard output (the parse tree dump)
//! and standard error (the rendered diagnostics) are compared with the
//! snapshot in `tests/snapshots/`. A first line `#! stp OPTIONS [-- ARGS]`
//! gives the case's options and the script's arguments. Adding a case needs only a `.stp` file (and
//! `cargo insta review` to accept its snapshot).

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::process::Command;

use common::{root, run_in, stp};

fn run_case(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).expect("a readable case");
    let opts: Vec<String> = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("#! stp"))
        .map(|o| o.split_whitespace().map(|s| s.replace("$ROOT", &root().display().to_string())).collect())
        .unwrap_or_default();
    // Options, then `--` and the script's arguments.
    let (before, after) = match opts.iter().position(|o| o == "--") {
        Some(i) => (opts.get(..i).unwrap_or_default(), opts.get(i + 1..).unwrap_or_default()),
        None => (opts.as_slice(), &[][..]),
    };
    let rel = path.strip_prefix(root()).expect("a case under the repository");
    let out = run_in(
        Command::new(stp())
            .current_dir(root())
            .env_remove("SYSTEMTAP_TAPSET")
            .arg("-p1")
            .args(before)
            .arg(rel)
            .args(after),
        None,
    );
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().map_or("signal".to_string(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn parse_cases() {
    insta::glob!("parse/*.stp", |path| {
        insta::assert_snapshot!(run_case(path));
    });
}
