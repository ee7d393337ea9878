#!/bin/sh
# Start-up and compile time with the embedded tapset library as it is at
# this commit, so that its growth shows in the figures:
#
#   startup   stp -e 'probe begin { exit() }'   (all five passes; goal 10 ms)
#   p2-200    stp -p2 bench/p2-200.stp          (200 lines of syscall aliases
#             and tapset functions; goal 30 ms)
#   syscalls  stp -p4 of `probe syscall.* { n++ }` (every syscall alias
#             expanded and compiled to eBPF; goal 100 ms)
#
# with the library's size (files, probe aliases, functions). Each figure is
# the median wall time of RUNS runs (21) of a release build, timed from
# outside the process (python3). Prints a Markdown table.
#
#   bench/library.sh             the table
#   bench/library.sh --gate      also exits 1 when the start-up median
#                                passes GATE_MS (20): CI runs this
#
# Needs root (pass 5 loads a program; pass 2 reads tracefs). Settings: RUNS,
# GATE_MS, STP (the stp binary; built with cargo build --release when unset).
set -eu
cd "$(dirname "$0")/.."
die() { echo "bench/library.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root"
gate=false
[ "${1:-}" = "--gate" ] && gate=true
RUNS=${RUNS:-21}
GATE_MS=${GATE_MS:-20}
if [ -z "${STP:-}" ]; then
    cargo build --release -q --bin stp
    STP=$PWD/target/release/stp
fi
[ -x "$STP" ] || die "no stp binary at $STP"

# median_ms CMD...: the median wall time of RUNS runs, in ms (one warm-up).
median_ms() {
    python3 - "$RUNS" "$@" <<'PY'
import statistics, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
times = []
for i in range(runs + 1):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr.decode(errors='replace')}")
    if i > 0:
        times.append(dt * 1000)
print(f"{statistics.median(times):.1f} ({min(times):.1f}-{max(times):.1f})")
PY
}

files=$(find stdlib -name '*.stp' | wc -l)
aliases=$("$STP" --dump-probe-aliases | wc -l)
functions=$("$STP" --dump-functions | wc -l)
startup=$(median_ms "$STP" -e 'probe begin { exit() }')
p2=$(median_ms "$STP" -p2 bench/p2-200.stp)
syscalls=$(median_ms "$STP" -p4 -e 'global n probe syscall.* { n++ }')

echo "Library: $files tapset files, $aliases probe aliases, $functions functions (--dump-*)."
echo
echo "| figure | ms, median (min-max) of $RUNS | goal |"
echo "|---|---|---|"
echo "| start-up, \`stp -e 'probe begin { exit() }'\` | $startup | 10 |"
echo "| \`stp -p2\` of a 200-line script | $p2 | 30 |"
echo "| \`stp -p4\` of \`probe syscall.* { n++ }\` | $syscalls | 100 |"

if $gate; then
    median=${startup%% *}
    if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$median" "$GATE_MS"; then
        echo "gate: start-up $median ms <= $GATE_MS ms"
    else
        die "gate: start-up $median ms passes $GATE_MS ms"
    fi
fi
