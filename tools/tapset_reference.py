#!/usr/bin/env python3
"""Writes docs/tapset-reference.tsv: the functions of SystemTap's tapset
reference (the `function::NAME(3stap)` manual pages of systemtap-doc), one
line each: name, the manual's section (its family), and its signatures
(`name:ret(arg:type,...)`, several separated by ` | `).

Only names, sections and signatures are taken: they are the interface stp
follows. docs/tapset-functions.md is made from this list by
`UPDATE_TAPSET_DOC=1 cargo test --test tapset_functions`.

Usage: tools/tapset_reference.py [MANDIR] > docs/tapset-reference.tsv
"""

import gzip
import os
import re
import sys


def signatures(text):
    """The SYNOPSIS lines of a manual page, in order."""
    out = []
    section = None
    for line in text.splitlines():
        if line.startswith(".SH "):
            section = line[4:].strip().strip('"')
            continue
        if section != "SYNOPSIS" or line.startswith("."):
            continue
        sig = re.sub(r"^\s*\d+\)\s*", "", line).strip()
        sig = sig.replace("\\-", "-").replace("\\&", "")
        if sig:
            out.append(re.sub(r"\s+", "", sig))
    return out


def main():
    mandir = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/man/man3"
    rows = []
    for entry in sorted(os.listdir(mandir)):
        m = re.match(r"function::(.+)\.3stap(\.gz)?$", entry)
        if not m:
            continue
        path = os.path.join(mandir, entry)
        opener = gzip.open if entry.endswith(".gz") else open
        with opener(path, "rt", errors="replace") as f:
            text = f.read()
        manual = re.search(r'^\.\\"\s+Manual: (.*)$', text, re.M)
        family = manual.group(1).strip() if manual else ""
        sigs = signatures(text)
        if sigs:  # a few pages only point to their tapset
            rows.append((m.group(1), family, " | ".join(sigs)))
    print("# name\tfamily\tsignatures (from SystemTap's tapset reference, function::NAME(3stap))")
    for name, family, sigs in sorted(rows):
        print(f"{name}\t{family}\t{sigs}")


if __name__ == "__main__":
    main()
