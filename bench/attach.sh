#!/usr/bin/env bash
# Measures how long stp and bpftrace take to attach many probes and to
# take them down again, and prints a Markdown table of medians (min-max).
#
#   syscalls   stp 'kernel.trace("syscalls:sys_enter_*") { c++ }' (one
#              dispatcher on raw_syscalls:sys_enter) and the same with
#              -D SYSCALL_DISPATCH_MIN=0 (a perf-event tracepoint per
#              syscall), against bpftrace 'tracepoint:syscalls:sys_enter_*'.
#   N xfs      N tracepoints of the xfs system (which fire rarely), for N in
#              $COUNTS: stp with a handler that reads nothing of its
#              context (raw tracepoints), stp with one that reads the
#              record's `dev` field (perf-event tracepoints), and bpftrace.
#
# Each tool runs with a -c command that prints the time it starts (the
# tools start their command once their probes are attached) and exits at
# once. "ready" is the time from starting the tool to that moment (the
# tool's start-up and compilation included), "down" from that moment to
# the tool's exit (detaching, end handlers, exit).
#
#   bench/attach.sh                   (several minutes: bpftrace's runs on
#                                      hundreds of tracepoints take ~1 min)
#   RUNS=1 BPF_RUNS=1 COUNTS="10 100" bench/attach.sh
#
# Settings (environment): RUNS (runs of each stp case, 3), BPF_RUNS (runs
# of each bpftrace case, 1), SLOW_RUNS (runs of stp's per-syscall
# tracepoints, 1), COUNTS (tracepoint counts, "10 100 360"), STP (the stp
# binary; cargo build --release when unset), BPFTRACE (bpftrace; installed
# with apt-get when missing; "none" to leave it out), REPORT (a file to
# write the table to as well).
set -euo pipefail

die() { echo "bench/attach.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
BPF_RUNS=${BPF_RUNS:-1}
SLOW_RUNS=${SLOW_RUNS:-1}
COUNTS=${COUNTS:-10 100 360}
BPFTRACE=${BPFTRACE:-bpftrace}
REPORT=${REPORT:-}
events=/sys/kernel/tracing/events

if [ "$BPFTRACE" != none ] && ! command -v "$BPFTRACE" >/dev/null; then
	echo "installing bpftrace..." >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null ||
		die "cannot install bpftrace"
fi
[ "$BPFTRACE" = none ] || BPFTRACE=$(command -v "$BPFTRACE")

if [ -z "${STP:-}" ]; then
	echo "building stp (cargo build --release)..." >&2
	cargo build --release -q || die "cargo build --release failed"
	STP=$PWD/target/release/stp
fi
[ -x "$STP" ] || die "no stp binary at $STP"

work=$(mktemp -d /tmp/stp-attach.XXXXXX)
trap 'rm -rf "$work"' EXIT

# bpftrace 0.17 and a /lib/modules/*/build without kconfig.h (see run.sh).
if [ -d "/lib/modules/$(uname -r)/build" ] && [ ! -e "/lib/modules/$(uname -r)/build/include/linux/kconfig.h" ]; then
	mkdir -p "$work/khdr/include/linux" && : >"$work/khdr/include/linux/kconfig.h"
	export BPFTRACE_KERNEL_SOURCE=$work/khdr BPFTRACE_KERNEL_BUILD=$work/khdr
fi

now() { date +%s%N; }

# measure NAME CMD...: one run of a tool whose -c command is `date +%s%N`;
# appends "ready down" (seconds) to $work/NAME.
measure() {
	local name=$1; shift
	local t0 t1 t2
	t0=$(now)
	"$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; die "$name failed"; }
	t2=$(now)
	t1=$(grep -m1 -E '^[0-9]{16,}$' "$work/out") || { cat "$work/out" "$work/err" >&2; die "$name: its command did not run"; }
	awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.3f %.3f\n", (b - a) / 1e9, (c - b) / 1e9 }' >>"$work/$name"
}

# stat NAME COLUMN: "median (min-max)" of a column of $work/NAME.
stat() {
	sort -n -k"$2" "$work/$1" | awk -v c="$2" '
		{ v[NR] = $c }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      if (NR == 1) printf "%.2f", m; else printf "%.2f (%.2f-%.2f)", m, v[1], v[NR] }'
}

rows=()
# row LABEL PROBES NAME
row() { rows+=("| $1 | $2 | $(stat "$3" 1) | $(stat "$3" 2) |"); }

# bpftrace wants a path that names one binary (/bin and /usr/bin are one).
cmd="$(readlink -f "$(command -v date)") +%s%N"

# The syscalls.
n_sys=$(ls -d $events/syscalls/sys_enter_* | wc -l)
for _ in $(seq "$RUNS"); do
	measure stp_sys "$STP" -c "$cmd" -e 'global c; probe kernel.trace("syscalls:sys_enter_*") { c++ } probe end { }'
done
row "stp, one dispatcher" "syscalls:sys_enter_* ($n_sys)" stp_sys
for _ in $(seq "$SLOW_RUNS"); do
	measure stp_sys_each "$STP" -D SYSCALL_DISPATCH_MIN=0 -c "$cmd" \
		-e 'global c; probe kernel.trace("syscalls:sys_enter_*") { c++ } probe end { }'
done
row "stp, a tracepoint each" "syscalls:sys_enter_* ($n_sys)" stp_sys_each
if [ "$BPFTRACE" != none ]; then
	for _ in $(seq "$BPF_RUNS"); do
		measure bt_sys "$BPFTRACE" -c "$cmd" -e 'tracepoint:syscalls:sys_enter_* { @c = count(); } END { clear(@c); }'
	done
	row "bpftrace" "syscalls:sys_enter_* ($n_sys)" bt_sys
fi

# N xfs tracepoints that have a dev field.
for e in $events/xfs/*/; do
	e=${e%/}
	grep -q 'field:dev_t dev;' "$e/format" 2>/dev/null && echo "${e##*/}"
done >"$work/xfs"
for n in $COUNTS; do
	[ "$(wc -l <"$work/xfs")" -ge "$n" ] || die "fewer than $n xfs tracepoints"
	points=$(head -n "$n" "$work/xfs" | sed 's/.*/kernel.trace("xfs:&")/' | paste -sd, -)
	bt_points=$(head -n "$n" "$work/xfs" | sed 's/.*/tracepoint:xfs:&/' | paste -sd, -)
	for _ in $(seq "$RUNS"); do
		measure "stp_free_$n" "$STP" -c "$cmd" -e "global c; probe $points { c++ } probe end { }"
		measure "stp_dev_$n" "$STP" -c "$cmd" -e "global c; probe $points { c += \$dev } probe end { }"
	done
	row "stp, no context read (raw tracepoints)" "$n xfs" "stp_free_$n"
	row "stp, reads \$dev (perf tracepoints)" "$n xfs" "stp_dev_$n"
	if [ "$BPFTRACE" != none ]; then
		for _ in $(seq "$BPF_RUNS"); do
			measure "bt_$n" "$BPFTRACE" -c "$cmd" -e "$bt_points { @c = count(); } END { clear(@c); }"
		done
		row "bpftrace" "$n xfs" "bt_$n"
	fi
done

{
	echo "- $(uname -r), $(nproc) CPUs; $("$STP" --version 2>/dev/null | head -1)$([ "$BPFTRACE" = none ] || echo "; $("$BPFTRACE" --version)")"
	echo "- runs: stp $RUNS (per-syscall tracepoints $SLOW_RUNS), bpftrace $BPF_RUNS; median (min-max) in seconds"
	echo
	echo "| tool | probes | ready | down |"
	echo "|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
} | tee "${REPORT:-/dev/null}"
