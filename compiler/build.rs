//! Generates the parser from `src/parse/grammar.lalrpop`, and the table of
//! the tapset library in `../stdlib` that is embedded in the binary, with
//! the syscall tapset generated from `../stdlib/linux/syscalls.tsv`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

#[path = "src/syscall_table.rs"]
#[allow(dead_code)]
mod syscall_table;

#[path = "src/tapset/scan.rs"]
#[allow(dead_code)]
mod scan;

/// One `(defines, uses)` row of the embedded library's index, as Rust.
fn index_row(text: &str) -> String {
    let scan::Scan { defines, uses } = scan::scan(text);
    format!("    (&{defines:?}, &{uses:?}),\n")
}

fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, base, out);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("stp" | "stpm")) {
            let rel = path.strip_prefix(base).expect("collected under base").to_string_lossy().into_owned();
            out.push((rel, path));
        }
    }
}

fn main() {
    lalrpop::Configuration::new()
        .use_cargo_dir_conventions()
        .emit_rerun_directives(true)
        .process()
        .expect("the grammar must generate");

    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let stdlib = manifest.join("../stdlib").canonicalize().expect("stdlib/ exists beside compiler/");
    println!("cargo:rerun-if-changed={}", stdlib.display());
    println!("cargo:rerun-if-changed=src/tapset/scan.rs");
    let mut files = Vec::new();
    collect(&stdlib, &stdlib, &mut files);
    let mut code = String::from(
        "/// The embedded tapset library: (path under stdlib/, text).\npub static FILES: &[(&str, &str)] = &[\n",
    );
    let mut index = String::from(
        "/// What each file of [`FILES`] defines and mentions (see `scan`).\n\
         pub static INDEX: &[(&[&str], &[&str])] = &[\n",
    );
    for (rel, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(code, "    ({rel:?}, include_str!({:?})),", path.display().to_string()).expect("write to string");
        let text = std::fs::read_to_string(path).expect("stdlib files are readable");
        index.push_str(&index_row(&text));
    }
    // The syscall tapset, generated from its table.
    let table_path = stdlib.join("linux/syscalls.tsv");
    println!("cargo:rerun-if-changed={}", table_path.display());
    let table = std::fs::read_to_string(&table_path).expect("stdlib/linux/syscalls.tsv is readable");
    let calls =
        syscall_table::parse(&table).expect("stdlib/linux/syscalls.tsv parses (its unit test names the bad line)");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let generated = out_dir.join("syscalls.stp");
    let syscalls = syscall_table::tapset(&calls);
    index.push_str(&index_row(&syscalls));
    std::fs::write(&generated, syscalls).expect("OUT_DIR is writable");
    writeln!(code, "    (\"linux/syscalls.stp\", include_str!({:?})),", generated.display().to_string())
        .expect("write to string");
    code.push_str("];\n");
    code.push_str(&index);
    code.push_str("];\n");
    let out = out_dir.join("stdlib.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
