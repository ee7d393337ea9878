#!/usr/bin/env python3
"""Compares each row of stdlib/linux/syscalls.tsv with SystemTap's tapset
(/usr/share/systemtap/tapset/linux, or the directory given; x86_64/ there
adds the calls the generic files lack).

Three checks, each counted:
- format: the printf format of stap's _SYSCALL_NAME_ARGSTR macro against
  the format of the row's ARGSTR, or of its default argstr (the
  arguments' formats joined with ", ", a decoded argument as %s). stap's
  %p counts as 0x%x, as stap prints it; sprint(x) as %d (or %u when the
  row reads x as unsigned: the same text); a bare string variable as %s.
  Where the macro chooses between formats (open's O_CREAT), the first is
  compared with the row's first. A row is "raw where stap decodes" when it
  has fewer %s fields than stap's.
- arguments: each value argstr shows must be stap's variable of the same
  name, made by the same function (a decoder such as _dfd_str, or
  user_string_quoted, __get_argv, ...); numbers read as they are.
- return: retstr made by the function stap's return probes use (its
  return_str, or _adjtimex_return_str, ...) and the further variables they
  set (wait4's status_str).
- variables: the variables stap's entry probes set (its REGARGS macro and
  the bodies of its probes on the call; the `*_unquoted` strings
  included) that the row lacks; those set only for scripts written for
  stap's old versions (`%( systemtap_v <= "2.8" %? ...`) left out.
The same format does not prove the same text: the values are checked by
tests/runtime/syscalls.rs.

    tools/compare_syscall_argstr.py [TAPSET_DIR] [--list] [--table TSV]
"""
import glob
import os
import re
import sys

argv = sys.argv[1:]
listing_wanted = "--list" in argv
table = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stdlib", "linux", "syscalls.tsv")
if "--table" in argv:
    i = argv.index("--table")
    table = argv[i + 1]
    del argv[i:i + 2]
args = [a for a in argv if a != "--list"]
tapset = args[0] if args else "/usr/share/systemtap/tapset/linux"

# Functions that only read a number (as the row's kind does).
RAW = {"int_arg", "uint_arg", "long_arg", "ulong_arg", "longlong_arg", "ulonglong_arg", "pointer_arg",
       "u32_arg", "s32_arg", "u64_arg", "s64_arg", "__int32", "__uint32", "__long", "__ulong",
       "__pointer", "@__pointer", "@__compat_long", "@__compat_ulong", "@__pos_from_hilo", "@choose_defined"}
# stap's names for what a row computes with a function of its own.
SAME = {"user_buffer_quoted": "__syscall_buffer_quoted"}


def split_top(s):
    """The comma-separated parts of s, outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in s:
        depth += ch in "([" and 1 or ch in ")]" and -1 or 0
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def function(expr):
    e = expr.strip()
    while e.startswith("("):
        e = e[1:].strip()
    # stap's choice between a compat task's decoder and the native one.
    m = re.match(r"^@__compat_task\s*\?.*?\)\s*:\s*(.*)$", e, re.S)
    if m:
        e = m.group(1)
    m = re.match(r"^(@?\w+)\s*\(", e)
    return m.group(1) if m else None


def assignments(text):
    """{variable: expression} of the assignments in text (an expression
    goes on over lines until its parentheses close)."""
    out = {}
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^\s*(\w+)\s*=\s*([^=].*)$", line)
        if not m:
            continue
        expr = m.group(2)
        for more in lines[i + 1:]:
            if expr.count("(") <= expr.count(")"):
                break
            expr += " " + more.strip()
        out.setdefault(m.group(1), " ".join(expr.split()))
    return out


stap = {}
for path in sorted(glob.glob(os.path.join(tapset, "sysc_*.stp"))) + \
        sorted(glob.glob(os.path.join(tapset, "x86_64", "sysc_*.stp"))):
    # What stap sets for scripts written for its old versions
    # (%( systemtap_v <= "2.8" %? ... %: ... %)) is left out.
    text = re.sub(r'%\(\s*systemtap_v\s*<=?\s*"[\d.]+"\s*%\?(.*?)(?:%:(.*?))?%\)',
                  lambda m: m.group(2) or "", open(path).read(), flags=re.S)
    for m in re.finditer(r"@define _SYSCALL_(\w+)_ARGSTR\s*\n%\((.*?)%\)", text, re.S):
        name = m.group(1)
        if name.startswith(("COMPAT", "SOCKETCALL")) or name.lower() in stap:
            continue
        low = name.lower()
        defs = {}
        regargs = re.search(r"@define _SYSCALL_%s_REGARGS\s*\n%%\((.*?)%%\)" % name, text, re.S)
        if regargs:
            defs.update(assignments(regargs.group(1)))
        for body in re.finditer(r"probe \w*syscall\.%s\s*=[^{]*\{(.*?)\n\}" % low, text, re.S):
            for v, e in assignments(body.group(1)).items():
                defs.setdefault(v, e)
        defs.pop("name", None)
        defs.pop("argstr", None)
        rdefs = {}
        for body in re.finditer(r"probe (?:dw|nd1)_syscall\.%s\.return\s*=[^{]*\{(.*?)\n\}" % low, text, re.S):
            for v, e in assignments(body.group(1)).items():
                rdefs.setdefault(v, e)
        rdefs.pop("name", None)
        rdefs.pop("retval", None)
        stap[low] = (" ".join(m.group(2).split()), defs, rdefs)


# Calls whose file sets argstr in the probe itself, without the macro
# (stap's older style): the dw_syscall probe's assignment stands for it.
for path in sorted(glob.glob(os.path.join(tapset, "sysc_*.stp"))):
    text = re.sub(r'%\(\s*systemtap_v\s*<=?\s*"[\d.]+"\s*%\?(.*?)(?:%:(.*?))?%\)',
                  lambda m: m.group(2) or "", open(path).read(), flags=re.S)
    for m in re.finditer(r"probe dw_syscall\.(\w+)\s*=[^{]*\{(.*?)\n\}", text, re.S):
        low = m.group(1)
        defs = assignments(m.group(2))
        if low in stap or low.startswith("compat") or "argstr" not in defs:
            continue
        argstr = "argstr = " + defs.pop("argstr")
        defs.pop("name", None)
        rdefs = {}
        for body in re.finditer(r"probe (?:dw|nd1)_syscall\.%s\.return\s*=[^{]*\{(.*?)\n\}" % low, text, re.S):
            for v, e in assignments(body.group(1)).items():
                rdefs.setdefault(v, e)
        rdefs.pop("name", None)
        rdefs.pop("retval", None)
        stap[low] = (argstr, defs, rdefs)


def sprintf_parts(expr):
    """(format, [argument expressions]) of the first sprintf in expr."""
    m = re.search(r'sprintf\("((?:[^"\\]|\\.)*)"\s*((?:,.*)?)\)', expr)
    if not m:
        return None
    rest = m.group(2).lstrip(",")
    # The arguments end where the sprintf's parentheses close.
    depth, end = 0, len(rest)
    for i, ch in enumerate(rest):
        depth += ch == "(" and 1 or ch == ")" and -1 or 0
        if depth < 0:
            end = i
            break
    return m.group(1), split_top(rest[:end])


def stap_shown(argstr):
    """stap's format and the variables it shows, or None."""
    e = re.sub(r"^(if \(.*?\) )?argstr = ", "", argstr.strip()).rstrip(";")
    parts = sprintf_parts(e)
    if parts:
        return parts[0].replace("%p", "0x%x"), parts[1]
    if e.startswith("sprint("):
        return "%d", [e[len("sprint("):-1]]
    if e == '""':
        return "", []
    if re.match(r"^_?\w+(\(.*\))?$", e):
        return "%s", [e]
    return None


KIND = {"d": "%d", "D": "%d", "u": "%u", "U": "%u", "o": "%#o", "x": "%#x", "p": "0x%x", "s": "%s"}


def row_facts(fields):
    """The row's format, shown values, variables {name: (function, kind)}."""
    defs = {}
    shown = []
    for a in fields[3].split() if len(fields) > 3 else []:
        if a.startswith("+"):
            v, e = a[1:].split("=", 1)
            defs[v] = (function(e), None)
            continue
        p = a.rstrip("+").split(":")
        defs[p[0]] = ("user_string_quoted" if p[2] == "s" else None, p[2])
        if len(p) >= 5:
            defs[p[4]] = (p[3], None)
        if not a.endswith("+"):
            shown.append((p[4] if len(p) >= 5 else p[0], "%s" if len(p) >= 5 else KIND[p[2]]))
    if len(fields) > 4 and fields[4]:
        parts = sprintf_parts(fields[4])
        fmt, values = parts if parts else ("%s", [fields[4]])
    else:
        fmt, values = ", ".join(f for _, f in shown), [v for v, _ in shown]
    return fmt, values, defs


rows = compared = same = raw = args_same = ret_differ = 0
missing_vars = 0
listing = []
for line in open(table):
    if line.startswith("#") or not line.strip():
        continue
    fields = line.rstrip("\n").split("\t")
    name = fields[0].split("=")[0]
    rows += 1
    if name not in stap:
        continue
    theirs = stap_shown(stap[name][0])
    sdefs = stap[name][1]
    # The return side: retstr's function (return_str unless the row names
    # one) and the further variables.
    rfn = fields[2].split(":")[1] if ":" in fields[2] else None
    rvars = {t[1:].split("=", 1)[0] for t in (fields[5].split() if len(fields) > 5 else [])}
    rdefs = stap[name][2]
    rbad = [v for v in rdefs if v != "retstr" and not v.startswith("_") and v not in rvars]
    if function(rdefs.get("retstr", "")) != rfn:
        rbad.append(f"retstr={rdefs.get('retstr')}")
    if rbad:
        ret_differ += 1
        listing.append(f"{name:24} return lacks {' '.join(rbad)}")
    ours, values, defs = row_facts(fields)
    lacking = sorted(v for v in sdefs if v not in defs and not v.startswith("_"))
    if lacking:
        missing_vars += 1
        listing.append(f"{name:24} lacks {' '.join(lacking)}")
    if theirs is None:
        continue
    compared += 1
    fmt, svalues = theirs
    if ours == fmt:
        same += 1
    elif fmt == "%d" and ours == "%u" and defs.get(svalues[0], (None, ""))[1] in ("u", "U"):
        same += 1
    else:
        raw += ours.count("%s") < fmt.count("%s")
        listing.append(f"{name:24} format ours={ours!r} stap={fmt!r}")
    bad = []
    for s, o in zip(svalues, values):
        sf = function(s) or function(sdefs.get(s, ""))
        made = SAME.get(function(s) or "", function(s))
        # stap's older files read the number in argstr itself.
        reads = s.startswith("$") or made in RAW
        if s != o and not reads and not (made and made in (function(o), (defs.get(o) or (None, None))[0])):
            bad.append(f"{o} for {s}")
            continue
        of = function(o) or (defs.get(o) or (None, None))[0]
        sf = SAME.get(sf or "", sf)
        if sf in RAW:
            sf = None
        if (sf or of) and sf != of and not (sf is None and of == "user_string_quoted" and "user_string_quoted" in sdefs.get(s, "")):
            if not (sf and sf.replace("_compat", "") == of):
                bad.append(f"{o}: {of} for {sf}")
    if bad:
        listing.append(f"{name:24} values {'; '.join(bad)}")
    else:
        args_same += 1
print(f"{rows} rows; {compared} with a stap argstr to compare; {same} match stap's format; "
      f"{raw} raw where stap decodes; {args_same} show stap's variables made by stap's functions; "
      f"{missing_vars} lack variables stap's entry probes set; "
      f"{ret_differ} differ on return (retstr's function, variables)")
if listing_wanted:
    print("\n".join(listing))
