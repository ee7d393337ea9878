#!/usr/bin/env python3
"""Compares the argstr format of each row of stdlib/linux/syscalls.tsv with
SystemTap's: the printf format of stap's _SYSCALL_NAME_ARGSTR macro in its
tapset (/usr/share/systemtap/tapset/linux/sysc_*.stp, or the directory
given) against the format of the row's ARGSTR, or of its default argstr
(the arguments' formats joined with ", ", a decoded argument as %s). stap's
%p counts as 0x%x, as stap prints it; sprint(x) as %d, a bare string
variable as %s. A row "matches" when the two formats are the same string;
it is "raw where stap decodes" when it has fewer %s fields than stap's
(a number or pointer where stap shows a name, a quoted string or a
structure). The same format does not prove the same text: the values are
checked by tests/runtime/syscalls.rs.

    tools/compare_syscall_argstr.py [TAPSET_DIR] [--list]
"""
import glob
import os
import re
import sys

args = [a for a in sys.argv[1:] if a != "--list"]
tapset = args[0] if args else "/usr/share/systemtap/tapset/linux"
table = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stdlib", "linux", "syscalls.tsv")

stap = {}
for path in sorted(glob.glob(os.path.join(tapset, "sysc_*.stp"))):
    text = open(path).read()
    for m in re.finditer(r"@define _SYSCALL_(\w+)_ARGSTR\s*\n%\((.*?)%\)", text, re.S):
        name = m.group(1)
        if not name.startswith(("COMPAT", "SOCKETCALL")):
            stap[name.lower()] = " ".join(m.group(2).split())


def stap_format(argstr):
    e = re.sub(r"^argstr = ", "", argstr.strip().rstrip(";"))
    m = re.match(r'sprintf\("((?:[^"\\]|\\.)*)"', e)
    if m:
        return m.group(1).replace("%p", "0x%x")
    if e.startswith("sprint("):
        return "%d"
    if e == '""':
        return ""
    if re.match(r"^_?\w+(\(.*\))?$", e):
        return "%s"
    return None


KIND = {"d": "%d", "D": "%d", "u": "%u", "U": "%u", "o": "%#o", "x": "%#x", "p": "0x%x", "s": "%s"}


def our_format(fields):
    if len(fields) > 4 and fields[4]:
        m = re.search(r'sprintf\("((?:[^"\\]|\\.)*)"', fields[4])
        return m.group(1) if m else "%s"
    out = []
    for a in fields[3].split() if len(fields) > 3 else []:
        if a.startswith("+") or a.endswith("+"):
            continue
        p = a.split(":")
        out.append("%s" if len(p) >= 5 else KIND[p[2]])
    return ", ".join(out)


rows = compared = same = raw = 0
listing = []
for line in open(table):
    if line.startswith("#") or not line.strip():
        continue
    fields = line.rstrip("\n").split("\t")
    name = fields[0].split("=")[0]
    rows += 1
    theirs = stap_format(stap[name]) if name in stap else None
    if theirs is None:
        continue
    compared += 1
    ours = our_format(fields)
    if ours == theirs:
        same += 1
    else:
        raw += ours.count("%s") < theirs.count("%s")
        listing.append(f"{name:24} ours={ours!r:45} stap={theirs!r}")
print(f"{rows} rows; {compared} with a stap argstr to compare; {same} match stap's format; "
      f"{raw} raw where stap decodes")
if "--list" in sys.argv:
    print("\n".join(listing))
