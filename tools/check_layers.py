#!/usr/bin/env python3
"""Checks that the compiler's top-level modules form layers.

usage: tools/check_layers.py [SRC_DIR]   (default: compiler/src, from the repository root)
       tools/check_layers.py --edges [SRC_DIR]   (also print every edge found)
       tools/check_layers.py --self-test   (checks the checker on a made-up tree)

Each file under SRC_DIR belongs to the top-level module of its first path component
(`format.rs` to `format`, `bpf/codegen/mod.rs` to `bpf`); `lib.rs` declares the modules and is
not layered. A reference to another top-level module (`use crate::x::...`, `use crate::{x, y}`,
a path `crate::x::f(...)` in code or in a doc link, or a `super::` chain that climbs out of the
module) is an edge. An edge may only run down LAYERS below: from a module to one declared
earlier. Unit-test modules (`#[cfg(test)] mod tests { ... }` and files named `tests.rs`) are
not layered. Exit status 1, naming the file and the reference, on any edge that runs up or
sideways, and on a module the order does not declare.
"""

import os
import re
import sys

# The layer order, lowest first. A module may use only modules declared before it.
LAYERS = [
    "source",  # texts, file ids, spans
    "diag",  # diagnostics
    "glob",  # probe-point wildcards
    "types",  # the language's value types
    "btf",  # BTF as data: the types a writer builds, below its readers and writers
    "parse",  # pass 1: preprocessor, lexer, parser, AST
    "format",  # printf format strings (the AST's print kinds, value types)
    "syscall_table",  # the system calls' names and numbers, as data
    "tapset",  # the tapset library: files found and parsed
    "kernel",  # what we know of the running kernel: BTF, symbols, tracefs
    "userspace",  # what we know of user binaries: ELF symbols, libraries, SDT notes
    "syscall_fallback",  # syscall probes from tracepoint formats
    "elab",  # pass 2: elaboration
    "ir",  # pass 3: the IR and lowering
    "layout",  # where globals and records sit in maps
    "bpf",  # pass 3/4: eBPF code, BTF, ELF
    "artifact",  # what the runtime needs to run a compiled script, and its ELF section
    "objfile",  # the compiled module's file
    "driver",  # runs the passes in order
]

# Edges allowed to run up the order, each with the reason. None: every import runs down.
ALLOWED = set()

# What the runtime (runtime/src, tests aside) may use of the compiler: the
# artifact and the vocabulary it carries (the IR of user-placed handlers,
# the globals' layout, printf formats, spans and diagnostics), and the
# running machine's configuration (CONFIG_HZ). Never a pass: not parse,
# elab, bpf or driver.
RUNTIME_USES = {"artifact", "ir", "layout", "format", "source", "diag", "kernel"}
RUNTIME_REF = re.compile(r"\bstp_compiler::(\{|[A-Za-z_][A-Za-z_0-9]*)")

REF = re.compile(r"\b((?:crate|super)(?:::(?:super|self))*)::(\{|[A-Za-z_][A-Za-z_0-9]*)")


def strip_comments(text):
    """Drops `//` comments that are not doc comments, keeping line numbers."""
    out = []
    for line in text.split("\n"):
        m = re.search(r"(?<![:/])//(?![/!])", line)
        if m and line.count('"', 0, m.start()) % 2 == 0:
            line = line[: m.start()]
        out.append(line)
    return "\n".join(out)


def drop_test_modules(text):
    """Blanks `#[cfg(test)] mod NAME { ... }` bodies, keeping line numbers."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
        if not m:
            return text
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[m.start() : i]
        text = text[: m.start()] + re.sub(r"[^\n]", " ", body) + text[i:]


def group_heads(text, start):
    """The first path segments of a `{a, b::c, d::{e, f}}` group opening at `start`."""
    depth, i, heads, item = 0, start, [], ""
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c == "}":
            depth -= 1
            if depth == 0:
                heads.append(item)
                break
        if depth == 1 and c == ",":
            heads.append(item)
            item = ""
        elif depth >= 1:
            item += c
        i += 1
    return [h.strip().split("::")[0].strip() for h in heads if h.strip()]


def module_path(rel):
    """`bpf/codegen/mod.rs` to ['bpf', 'codegen']; `format.rs` to ['format']."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts


def references(src):
    """(file, line, reference, from module, to module) for each reference across modules."""
    for d, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(path, src)
            if rel in ("lib.rs", "main.rs"):
                continue
            here = module_path(rel)
            top = here[0]
            with open(path, errors="replace") as fh:
                text = drop_test_modules(strip_comments(fh.read()))
            for m in REF.finditer(text):
                prefix, head = m.group(1), m.group(2)
                # `super::` resolves inside the module unless it climbs to the crate root.
                if prefix.startswith("super") and prefix.count("super") < len(here):
                    continue
                heads = group_heads(text, m.start(2)) if head == "{" else [head]
                line = text.count("\n", 0, m.start()) + 1
                for h in heads:
                    if h in ("self", "super", "crate") or not re.match(r"[a-z_]", h):
                        continue
                    if h != top:
                        yield rel, line, m.group(0) + ("" if head != "{" else h + "...}"), top, h


def violations(src):
    """The references that run up the order or name an undeclared module, and every edge seen."""
    level = {m: i for i, m in enumerate(LAYERS)}
    bad, seen = [], set()
    for rel, line, ref, a, b in references(src):
        seen.add((a, b))
        for m in (a, b):
            if m not in level:
                bad.append(f"{src}/{rel}:{line}: module '{m}' is not in the layer order of tools/check_layers.py")
        if a in level and b in level and level[b] >= level[a] and (a, b) not in ALLOWED:
            bad.append(f"{src}/{rel}:{line}: {ref} runs up the layers ({a} may not use {b})")
    return bad, seen


def runtime_violations(src):
    """The runtime's references to compiler modules outside RUNTIME_USES."""
    bad = []
    for d, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            if not f.endswith(".rs") or f in ("tests.rs", "testing.rs") or f.endswith("_tests.rs"):
                continue
            path = os.path.join(d, f)
            with open(path, errors="replace") as fh:
                text = drop_test_modules(strip_comments(fh.read()))
            for m in RUNTIME_REF.finditer(text):
                heads = group_heads(text, m.start(1)) if m.group(1) == "{" else [m.group(1)]
                for h in heads:
                    if re.match(r"[a-z_]", h) and h not in RUNTIME_USES:
                        line = text.count("\n", 0, m.start()) + 1
                        bad.append(f"{path}:{line}: stp_compiler::{h} (the runtime uses the artifact, not the compiler's {h})")
    return bad


def self_test():
    """A made-up crate with one edge of each kind: the check must name exactly the bad ones."""
    import tempfile

    files = {
        "parse/mod.rs": "use crate::diag::Diagnostic;\n// crate::elab in a comment\n",
        "parse/lexer.rs": "use crate::{source::Span, elab::Type};\n",
        "diag/mod.rs": "fn f() { super::source::x(); self::render::z() }\n",
        "diag/render.rs": "fn f() { super::clip::z(); super::super::bpf::y() }\n",
        "glob.rs": "#[cfg(test)]\nmod tests {\n    use crate::driver;\n}\npub fn g() { crate::newmod::h() }\n",
        "ir/mod.rs": "/// [`crate::elab::Program`]\npub use crate::parse::ast;\n",
    }
    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
            with open(os.path.join(d, name), "w") as fh:
                fh.write(text)
        found = sorted((rel, a, b) for rel, _, _, a, b in references(d))
        bad, _ = violations(d)
        # Up the order (diag to bpf, parse to elab) and an undeclared module.
        flagged = sorted({b.split(":")[0].removeprefix(d + "/") for b in bad})
    want = [
        ("diag/mod.rs", "diag", "source"),
        ("diag/render.rs", "diag", "bpf"),
        ("glob.rs", "glob", "newmod"),
        ("ir/mod.rs", "ir", "elab"),
        ("ir/mod.rs", "ir", "parse"),
        ("parse/lexer.rs", "parse", "elab"),
        ("parse/lexer.rs", "parse", "source"),
        ("parse/mod.rs", "parse", "diag"),
    ]
    if found != want:
        print(f"check_layers self-test: found {found}, want {want}", file=sys.stderr)
        return 1
    want_bad = ["diag/render.rs", "glob.rs", "parse/lexer.rs"]
    if flagged != want_bad:
        print(f"check_layers self-test: flagged {bad}, want those of {want_bad}", file=sys.stderr)
        return 1
    runtime = {
        "run.rs": "use stp_compiler::artifact::Artifact;\nuse stp_compiler::{ir::Module, elab::Program};\n",
        "jit/mod.rs": "fn f() { stp_compiler::bpf::x() }\n#[cfg(test)]\nmod t {\n    use stp_compiler::driver;\n}\n",
        "jit/tests.rs": "use stp_compiler::driver;\n",
    }
    with tempfile.TemporaryDirectory() as d:
        for name, text in runtime.items():
            os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
            with open(os.path.join(d, name), "w") as fh:
                fh.write(text)
        got = sorted(b.removeprefix(d + "/").split(" ")[0] for b in runtime_violations(d))
    want_runtime = ["jit/mod.rs:1:", "run.rs:2:"]
    if got != want_runtime:
        print(f"check_layers self-test: runtime flagged {got}, want {want_runtime}", file=sys.stderr)
        return 1
    return 0


def main(argv):
    if "--self-test" in argv:
        return self_test()
    args = [a for a in argv if not a.startswith("--")]
    src = args[0] if args else "compiler/src"
    level = {m: i for i, m in enumerate(LAYERS)}
    bad, seen = violations(src)
    runtime = args[1] if len(args) > 1 else "runtime/src"
    bad += runtime_violations(runtime) if os.path.isdir(runtime) else []
    if "--edges" in argv:
        for a, b in sorted(seen, key=lambda e: (level.get(e[0], -1), level.get(e[1], -1))):
            mark = " (allowed for now)" if (a, b) in ALLOWED else ""
            print(f"{a} -> {b}{mark}")
    for a, b in sorted(e for e in ALLOWED if e not in seen):
        print(f"tools/check_layers.py: warning: the allowed edge {a} -> {b} is gone: take it off ALLOWED", file=sys.stderr)
    for b_ in dict.fromkeys(bad):
        print(b_, file=sys.stderr)
    if bad:
        return 1
    print(f"layers: {len(seen)} edges between {len(LAYERS)} modules, all down the order ({len(ALLOWED)} allowed up); the runtime uses {', '.join(sorted(RUNTIME_USES))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
