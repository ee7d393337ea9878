//! The intrinsic functions' table (`compiler/src/elab/intrinsics.rs`)
//! against its two lowerings: each entry is called from a kernel-placed
//! handler (eBPF, a `kernel.function` probe) and, unless it reads a probe's context, from a
//! user-placed one (Cranelift), through `stp -p3`. Each translates, or is
//! refused as not translated yet or as not available in that placement,
//! never with an internal error; the snapshot is the table of what runs
//! where.

#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

mod common;

use std::process::Command;

use common::{crashed, root, run_in, stp};
use stp_compiler::elab::Type;
use stp_compiler::elab::intrinsics::{Intrinsic, Where, lookup, names};

/// How a placement takes a call.
fn verdict(script: &str) -> &'static str {
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg(stp()).arg("--kernel").arg(root().join("tests/kernel")).args(["-p3", "-g", "-e", script]);
    let out = run_in(&mut cmd, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!crashed(&out) && !err.contains("internal error"), "{script}\n{err}");
    if out.status.success() {
        "yes"
    } else if err.contains("does not translate") || err.contains("not supported") || err.contains("yet") {
        "not yet"
    } else if err.contains("is not available in") {
        "not here"
    } else {
        panic!("{script}: neither translated nor refused as not yet:\n{err}")
    }
}

/// A call with an argument of each parameter's type, its value used.
fn call(i: &Intrinsic) -> String {
    let args: Vec<&str> = i.params.iter().map(|(_, t)| if *t == Type::String { "\"x\"" } else { "1" }).collect();
    let call = format!("{}({})", i.name, args.join(", "));
    match i.ret {
        Type::Long => format!("printf(\"%d\\n\", {call})"),
        Type::String => format!("printf(\"%s\\n\", {call})"),
        _ => call,
    }
}

#[test]
fn every_intrinsic_is_lowered_or_refused_on_each_side() {
    let mut all: Vec<&Intrinsic> = names().filter_map(lookup).flatten().collect();
    all.sort_by_key(|i| (i.name, i.params.len()));
    let rows: Vec<String> = std::thread::scope(|s| {
        let chunks: Vec<Vec<&Intrinsic>> = all.chunks(all.len().div_ceil(4)).map(<[_]>::to_vec).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|i| {
                            let body = call(i);
                            let kernel = verdict(&format!("probe kernel.function(\"vfs_read\") {{ {body} }}"));
                            let user = match i.place {
                                Where::Kernel => "-",
                                _ => verdict(&format!("probe begin {{ {body} }}")),
                            };
                            format!("{}/{}\tkernel: {kernel}\tuser: {user}", i.name, i.params.len())
                        })
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a checker thread")).collect()
    });
    assert!(rows.len() > 100, "the table has its entries");
    insta::assert_snapshot!(rows.join("\n"));
}
