//! The artifact: what pass 4 builds reads back from the object's
//! section, its spans still pointing at the script's text.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // Tests may fail loudly.

use std::collections::HashMap;

use object::{Object, ObjectSection};
use stp_compiler::artifact::*;
use stp_compiler::driver::{self, Options, ScriptInput};
use stp_compiler::ir::{InstKind, Module};
use stp_compiler::kernel::Kernel;
use stp_compiler::source::SourceMap;

/// The artifact of `script`, compiled for a fixed kernel, with the
/// source map its spans point into.
fn build(script: &str) -> (Artifact, SourceMap) {
    let kernel = Kernel::fixed("6.1.0-27-cloud-amd64", "x86_64", HashMap::new());
    let opts = Options {
        scripts: vec![ScriptInput { name: "t.stp".to_string(), text: script.to_string() }],
        ..Options::default()
    };
    let mut sm = SourceMap::new();
    let outcome = driver::run(&opts, &kernel, &mut sm);
    assert_eq!(outcome.failed_pass, None, "{:?}", outcome.diagnostics);
    let artifact = outcome.compiled.expect("pass 4 built the artifact");
    (*artifact, sm)
}

const SCRIPT: &str = "global x = 3, a\nprobe begin {\n  a[1] = x\n  printf(\"%d\\n\", 1 / (x - 3))\n}\n\
                      probe end { exit() }\n";

#[test]
fn the_artifact_reads_back_from_its_section() {
    let (artifact, sm) = build(SCRIPT);
    let object = artifact.to_object(&sm).unwrap();
    let back = Artifact::from_object(&object).unwrap();
    assert_eq!(back.object, object);
    assert_eq!(back.module.globals, artifact.module.globals);
    assert_eq!(back.module.handlers, artifact.module.handlers);
    assert_eq!(back.layout, artifact.layout);
    assert_eq!(back.records, artifact.records);
    assert_eq!(back.programs, artifact.programs);
    assert_eq!(back.user_handlers, artifact.user_handlers);
    assert_eq!(back.points, artifact.points);
    assert_eq!(back.kernel, KernelIdentity { release: "6.1.0-27-cloud-amd64".to_string(), btf: None });
    // begin and end, in the script's order, with their priorities.
    let whens: Vec<When> = back.user_handlers.iter().map(|h| h.when).collect();
    assert_eq!(whens, vec![When::Begin { priority: 0 }, When::End { priority: 0 }]);
    // `a` is written and never read: printed at exit.
    let names: Vec<&str> = back.unread.iter().filter_map(|g| back.module.global(*g)).map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["a"]);
}

/// Each instruction of `a` and of `b`, in the same order.
fn insts<'m>(a: &'m Module, b: &'m Module) -> Vec<(&'m stp_compiler::ir::Inst, &'m stp_compiler::ir::Inst)> {
    let all = |m: &'m Module| m.functions.iter().flat_map(|f| &f.blocks).flat_map(|b| &b.insts);
    assert_eq!(all(a).count(), all(b).count());
    all(a).zip(all(b)).collect()
}

#[test]
fn spans_keep_pointing_at_the_script_text() {
    let (artifact, sm) = build(SCRIPT);
    let back = Artifact::from_object(&artifact.to_object(&sm).unwrap()).unwrap();
    let rebuilt = back.source_map();
    // Every instruction shows the same text and line as before.
    let pairs = insts(&artifact.module, &back.module);
    assert!(!pairs.is_empty());
    for (was, now) in pairs {
        assert_eq!(was, now);
        assert_eq!(rebuilt.snippet(now.span), sm.snippet(was.span));
        assert_eq!(rebuilt.location(now.span), sm.location(was.span));
    }
    // The division the begin probe fails at is on line 4 of t.stp.
    let div = back
        .module
        .functions
        .iter()
        .flat_map(|f| &f.blocks)
        .flat_map(|b| &b.insts)
        .find(|i| matches!(i.kind, InstKind::Binary { op: stp_compiler::ir::BinOp::Div, .. }))
        .map(|i| i.span)
        .unwrap();
    assert!(rebuilt.location(div).starts_with("t.stp:4:"), "{}", rebuilt.location(div));
}

#[test]
fn of_a_tapset_only_the_lines_spans_touch_are_carried() {
    let (artifact, sm) = build("probe begin { printf(\"%d\\n\", indent_depth(1)) }\n");
    let back = Artifact::from_object(&artifact.to_object(&sm).unwrap()).unwrap();
    let rebuilt = back.source_map();
    let tapset = back.sources.iter().find(|s| s.name.ends_with("indent.stp")).expect("indent.stp is carried");
    let (id, full) = sm.files().find(|(_, f)| f.name == tapset.name).map(|(id, f)| (id, f.text.clone())).unwrap();
    assert_eq!(tapset.id, id.0);
    assert_eq!(tapset.text.lines().count(), full.lines().count(), "every line keeps its number");
    assert!(tapset.text.len() < full.len() / 2, "{} of {} bytes", tapset.text.len(), full.len());
    let mut into_tapset = 0;
    for (was, now) in insts(&artifact.module, &back.module) {
        assert_eq!(was.kind, now.kind);
        assert_eq!(rebuilt.snippet(now.span), sm.snippet(was.span));
        assert_eq!(rebuilt.location(now.span), sm.location(was.span));
        into_tapset += usize::from(was.span.file == id);
    }
    assert!(into_tapset > 0, "indent_depth's code points into indent.stp");
}

#[test]
fn appending_the_section_keeps_every_other_section() {
    let (artifact, sm) = build(SCRIPT);
    let object = artifact.to_object(&sm).unwrap();
    // The original bytes come first, unchanged but for the header's
    // section table fields.
    let before = object::File::parse(&*artifact.object).unwrap();
    let after = object::File::parse(&*object).unwrap();
    let sections = |f: &object::File<'_>| -> Vec<(String, Vec<u8>)> {
        f.sections().map(|s| (s.name().unwrap().to_string(), s.data().unwrap().to_vec())).collect()
    };
    let expected = sections(&before);
    let got = sections(&after);
    assert_eq!(got.len(), expected.len() + 1);
    assert_eq!(got.last().map(|(n, _)| n.as_str()), Some(SECTION));
    for ((name, data), (was_name, was)) in got.iter().zip(&expected) {
        assert_eq!(name, was_name);
        if name == ".shstrtab" {
            // The section names, then the new one.
            assert!(data.starts_with(was), "the section names keep their places");
            assert_eq!(&data[was.len()..], format!("{SECTION}\0").as_bytes());
        } else {
            assert!(data == was, "section {name} changed");
        }
    }
}

#[test]
fn objects_without_an_artifact_or_with_a_damaged_one_are_refused() {
    assert!(matches!(Artifact::from_object(b"not an object"), Err(ArtifactError::NotStp(_))));
    let (artifact, sm) = build(SCRIPT);
    assert!(matches!(Artifact::from_object(&artifact.object), Err(ArtifactError::NotStp(_))));
    let mut object = artifact.to_object(&sm).unwrap();
    let at = object.windows(10).position(|w| w == b"\"format\":1").unwrap();
    object[at] = b'!';
    assert!(matches!(Artifact::from_object(&object), Err(ArtifactError::Damaged(_))));
    let mut newer = artifact.to_object(&sm).unwrap();
    newer[at + 9] = b'9';
    let err = Artifact::from_object(&newer).unwrap_err();
    assert!(matches!(err, ArtifactError::Format { format: 9, .. }), "{err}");
}

#[test]
fn another_release_or_another_btf_is_another_kernel() {
    let built = KernelIdentity { release: "6.18.0".to_string(), btf: Some("BTF 10 bytes, crc32 0000abcd".to_string()) };
    assert!(built.check(&built.clone()).is_ok());
    let release = KernelIdentity { release: "6.18.1".to_string(), ..built.clone() };
    let err = built.check(&release).unwrap_err().to_string();
    assert!(err.contains("built for kernel 6.18.0") && err.contains("this kernel is 6.18.1"), "{err}");
    let btf = KernelIdentity { btf: Some("BTF 10 bytes, crc32 0000abce".to_string()), ..built.clone() };
    assert!(built.check(&btf).is_err());
    let none = KernelIdentity { btf: None, ..built.clone() };
    assert!(built.check(&none).is_err());
    // An object built without BTF (a fixed kernel) is checked by release.
    assert!(none.check(&built).is_ok());
}
