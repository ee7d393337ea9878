//! Helpers of the probe point unit tests: a point parsed by the real
//! parser, resolved against a fixed or snapshot kernel model.

use std::collections::HashMap;
use std::path::Path;

use super::{PointContext, ResolvedPoint, resolve};
use crate::diag::Diagnostic;
use crate::kernel::Kernel;
use crate::parse::ast::ProbePoint;
use crate::parse::{MacroLibrary, PpEnv, parse_file};
use crate::source::{FileKind, SourceMap};

pub(super) fn kernel_with(config: &[(&str, &str)]) -> Kernel {
    let config: HashMap<String, String> = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Kernel::fixed("6.1.0-27-cloud-amd64", "x86_64", config)
}

/// Parses `probe POINT {}` with the real parser and returns the point.
pub(super) fn point(text: &str) -> ProbePoint {
    let script = format!("probe {text} {{}}\n");
    let mut sm = SourceMap::new();
    let file = sm.add("<test>", script.clone(), FileKind::User);
    let kconfig = |_: &str| None;
    let env = PpEnv {
        args: &[],
        kernel_release: "6.1.0-27-cloud-amd64",
        arch: "x86_64",
        runtime: "bpf",
        systemtap_v: "5.0",
        privilege: "stapdev",
        guru_mode: true,
        kconfig: &kconfig,
        glue_across_comments: true,
    };
    let (parsed, diags) = parse_file(&mut sm, file, &env, &MacroLibrary::default(), Default::default());
    assert!(diags.iter().all(|d| !d.is_error()), "{script}: {diags:?}");
    parsed.probes.into_iter().next().and_then(|p| p.points.into_iter().next()).expect("a probe point")
}

pub(super) fn resolve_with(text: &str, kernel: &Kernel, guru: bool) -> Result<Vec<ResolvedPoint>, Diagnostic> {
    let ctx = PointContext { kernel, guru, target_pid: None, command: None };
    resolve(&point(text), &ctx)
}

pub(super) fn ok(text: &str) -> Vec<ResolvedPoint> {
    resolve_with(text, &kernel_with(&[]), false).expect(text)
}

pub(super) fn only(text: &str) -> ResolvedPoint {
    let list = ok(text);
    assert_eq!(list.len(), 1, "{text}: {list:?}");
    list.into_iter().next().expect("one result")
}

pub(super) fn err(text: &str) -> Diagnostic {
    match resolve_with(text, &kernel_with(&[]), false) {
        Ok(list) => {
            assert!(list.is_empty() && list.len() == 1, "{text} resolved to {list:?}, expected an error");
            Diagnostic::error("unreachable")
        }
        Err(d) => d,
    }
}

pub(super) fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether a system file a test reads is there; in CI it must be.
pub(super) fn present(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    assert!(!in_ci(), "CI machines have {path}");
    eprintln!("skipped: {path} is not installed");
    false
}
