#!/usr/bin/env python3
"""Times `stp -p4` (against the kernel snapshot in tests/kernel) on
pathological scripts of doubling size, to check that compile time grows
linearly with the input and stays under a second at 100 KB.

    bench/bounds.py [STP] [SIZE...]

STP defaults to target/release/stp; sizes default to 12500 .. 200000
bytes. Prints one row per pattern: the seconds at each size, then the
ratio of the largest time to the one before it (2 means linear). Each run
is capped at 60 s (shown as >60).
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def repeat(pre, unit, post):
    return lambda size: pre + unit * max(1, size // len(unit)) + post


def nest(pre, open_, mid, close, post):
    return lambda size: pre + open_ * (size // (len(open_) + len(close))) + mid + close * (size // (len(open_) + len(close))) + post


def exponential(_size):
    s = "@define a0 %( x = 1 %)\n"
    for i in range(1, 41):
        s += "@define a%d %%( @a%d @a%d %%)\n" % (i, i - 1, i - 1)
    return s + "probe begin { @a40 }\n"


PATTERNS = {
    "backslash_chars": repeat("", "'\\ '", ""),
    "sum_unclosed": repeat("probe begin { x = ", "@sum(", ""),
    "sum_nested": nest("global x probe begin { y = ", "@sum(", "x", ")", " }"),
    "cond_unclosed": repeat("", "%( 1 == 1 %? ", ""),
    "cond_nested": nest("", "%( 1 == 1 %? ", "probe begin {}", " %)", ""),
    "pp_open": repeat("", "%(", ""),
    "bracket_unclosed": repeat("probe begin { x = a", "[", ""),
    "bracket_nested": nest("global a probe begin { y = a", "[", "1", "]", " }"),
    "paren_nested": nest("probe begin { y = ", "(", "1", ")", " }"),
    "call_nested": nest("function f(a) { return a } probe begin { y = ", "f(", "1", ")", " }"),
    "if_nested": nest("probe begin { ", "if (1) {", "x = 1", "}", " }"),
    "else_if_chain": repeat("global x probe begin { ", "if (x) x = 1 else ", "x = 2 }"),
    "negations": repeat("global x probe begin { x = ", "- ", "1 }"),
    "macro_nested": nest("@define m(a) %( @a %) probe begin { x = ", "@m(", "1", ")", " }"),
    "macro_exponential": exponential,
    "many_errors": repeat("", "probe begin { x = }\n", ""),
    "long_line": repeat("global x probe begin { x = 1 ", "+ 1 ", "+ }"),
    "paren_statements": repeat("global x probe begin { x = 1 ", "(x)++ ", 'printf("%d\\n", x) }'),
    "statements": repeat("global x probe begin { ", "x = x + 1;", 'printf("%d\\n", x) }'),
    "warnings": repeat("global x probe begin { x = 1 ", "y = 1;", 'printf("%d\\n", x) }'),
}


def main():
    stp = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/stp")
    sizes = [int(s) for s in sys.argv[2:]] or [12500, 25000, 50000, 100000, 200000]
    kernel = os.path.join(ROOT, "tests/kernel")
    print("%-18s %s  %s" % ("pattern", " ".join("%8d" % s for s in sizes), "last ratio  exit"))
    with tempfile.TemporaryDirectory() as d:
        for name, gen in PATTERNS.items():
            times, status = [], None
            for size in sizes:
                path = os.path.join(d, "s.stp")
                with open(path, "w") as f:
                    f.write(gen(size))
                start = time.monotonic()
                try:
                    r = subprocess.run([stp, "-p4", "--kernel", kernel, "-m", "bench", path], cwd=d,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
                    times.append(time.monotonic() - start)
                    status = r.returncode
                except subprocess.TimeoutExpired:
                    times.append(None)
                    status = "timeout"
            cells = " ".join("%8s" % ("%.3f" % t if t is not None else ">60") for t in times)
            ratio = "%.1f" % (times[-1] / times[-2]) if len(times) > 1 and None not in times[-2:] and times[-2] > 0 else "-"
            print("%-18s %s  %10s  %s" % (name, cells, ratio, status))


main()
