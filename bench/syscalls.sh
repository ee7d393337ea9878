#!/usr/bin/env bash
# Per-event cost of tracing every system call: stp's
#   probe syscall.* { c[name]++ }
# (every alias of the syscall tapset, one dispatcher program on
# raw_syscalls:sys_enter tail-calling each call's program) against
# bpftrace's
#   tracepoint:raw_syscalls:sys_enter { @[args->id] = count(); }
# on a mixed workload (bench/mixed.c: eight different calls a round, on
# CPU 1). The figure is the kernel's own run_time_ns / run_cnt of the
# tool's programs across the workload (kernel.bpf_stats_enabled=1, read
# with bpftool; a tail-called program's time counts in its caller's), the
# two tools alternating run by run; the workload's ns per call is printed
# too. A third case, stp's
#   probe kernel.trace("raw_syscalls:sys_enter") { c[$id]++ }
# (bpftrace's program in stp: no dispatcher, no tapset), and a fourth,
#   probe kernel.trace("syscalls:sys_enter_*") { c["sys_enter"]++ }
# (the dispatcher and a string key, no alias bodies), show what the
# dispatcher and the tapset's alias bodies add. Prints a Markdown table of
# medians (min-max) and the ratios.
#
#   bench/syscalls.sh                 (RUNS=5 ROUNDS=250000)
#
# Settings: RUNS, ROUNDS (rounds of eight calls), STP (the stp binary;
# target/debug/stp when unset: the programs, not the tool, are measured),
# BPFTRACE.
set -euo pipefail
die() { echo "bench/syscalls.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root"
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-250000}
STP=${STP:-$PWD/target/debug/stp}
BPFTRACE=${BPFTRACE:-bpftrace}
[ -x "$STP" ] || die "no stp binary at $STP (cargo build)"
command -v "$BPFTRACE" >/dev/null || die "no bpftrace"
command -v bpftool >/dev/null || die "no bpftool"
work=$(mktemp -d /tmp/stp-sysbench.XXXXXX)
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -q -w kernel.bpf_stats_enabled="$stats_was" || true; rm -rf "$work"' EXIT
sysctl -q -w kernel.bpf_stats_enabled=1
cc -O2 -Wall -o "$work/mixed" bench/mixed.c || die "cannot build bench/mixed.c"
if [ -d "/lib/modules/$(uname -r)/build" ] && [ ! -e "/lib/modules/$(uname -r)/build/include/linux/kconfig.h" ]; then
	mkdir -p "$work/khdr/include/linux" && : >"$work/khdr/include/linux/kconfig.h"
	export BPFTRACE_KERNEL_SOURCE=$work/khdr BPFTRACE_KERNEL_BUILD=$work/khdr
fi
cat >"$work/job.sh" <<JOB
#!/bin/sh
bpftool prog show >"$work/\$1.before" 2>/dev/null
taskset -c 1 "$work/mixed" $ROUNDS 2>"$work/\$1.gen"
bpftool prog show >"$work/\$1.after" 2>/dev/null
JOB
# delta TAG: "PROGS NS EVENTS" over the programs that did not exist before
# the tool started (TAG.pre) and ran during the workload.
delta() {
	awk '
		/^[0-9]+:/ {
			id = $1; rt = 0; cnt = 0
			for (i = 2; i < NF; i++) {
				if ($i == "run_time_ns") rt = $(i + 1)
				if ($i == "run_cnt") cnt = $(i + 1)
			}
			if (FILENAME ~ /pre$/) { old[id] = 1; next }
			if (FILENAME ~ /before$/) { brt[id] = rt; bcnt[id] = cnt; next }
			if (id in old) next
			dc = cnt - bcnt[id]; dr = rt - brt[id]
			if (dc > 0) { n++; sr += dr; sc += dc }
		}
		END { printf "%d %.1f %d\n", n, sc ? sr / sc : 0, sc }
	' "$work/$1.pre" "$work/$1.before" "$work/$1.after"
}
stp_script='global c
probe syscall.* { c[name]++ }
probe end { }'
raw_script='global c
probe kernel.trace("raw_syscalls:sys_enter") { c[$id]++ }
probe end { }'
tp_script='global c
probe kernel.trace("syscalls:sys_enter_*") { c["sys_enter"]++ }
probe end { }'
bt_script='tracepoint:raw_syscalls:sys_enter { @[args->id] = count(); } END { clear(@); }'
"$work/mixed" $ROUNDS 2>"$work/none.gen"
base=$(sed 's/.*ns_per_call=\([0-9.]*\).*/\1/' "$work/none.gen")
for i in $(seq 0 "$RUNS"); do
	for tool in stp stptp stpraw bpftrace; do
		tag=$tool-$i
		bpftool prog show >"$work/$tag.pre" 2>/dev/null
		if [ $tool = stp ]; then
			taskset -c 0 "$STP" -c "/bin/sh $work/job.sh $tag" -e "$stp_script" >"$work/$tag.out" 2>&1
		elif [ $tool = stptp ]; then
			taskset -c 0 "$STP" -c "/bin/sh $work/job.sh $tag" -e "$tp_script" >"$work/$tag.out" 2>&1
		elif [ $tool = stpraw ]; then
			taskset -c 0 "$STP" -c "/bin/sh $work/job.sh $tag" -e "$raw_script" >"$work/$tag.out" 2>&1
		else
			taskset -c 0 "$BPFTRACE" -c "/bin/sh $work/job.sh $tag" -e "$bt_script" >"$work/$tag.out" 2>&1
		fi
		[ -s "$work/$tag.gen" ] || die "$tool: the workload did not run: $(head -5 "$work/$tag.out")"
		read -r progs ns events < <(delta "$tag")
		wl=$(sed 's/.*ns_per_call=\([0-9.]*\).*/\1/' "$work/$tag.gen")
		echo "  run $i $tool: $progs programs ran, $events events, $ns ns/event; workload $wl ns/call" >&2
		# Run 0 warms up.
		[ "$i" -gt 0 ] && printf '%s\t%s\t%s\n' "$tool" "$ns" "$wl" >>"$work/results"
	done
done
stat() { awk -F'\t' -v t="$1" -v c="$2" '$1 == t { print $c }' "$work/results" | sort -g |
	awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f (%.1f-%.1f)", m, a[1], a[NR] }'; }
med() { awk -F'\t' -v t="$1" '$1 == t { print $2 }' "$work/results" | sort -g |
	awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "| tool | ns/event (run_time_ns/run_cnt) | workload ns/call (untraced: $base) |"
echo "|---|---|---|"
echo "| stp \`probe syscall.* { c[name]++ }\` | $(stat stp 2) | $(stat stp 3) |"
echo "| stp \`kernel.trace(\"syscalls:sys_enter_*\") { c[\"sys_enter\"]++ }\` | $(stat stptp 2) | $(stat stptp 3) |"
echo "| stp \`kernel.trace(\"raw_syscalls:sys_enter\") { c[\$id]++ }\` | $(stat stpraw 2) | $(stat stpraw 3) |"
echo "| bpftrace \`raw_syscalls:sys_enter { @[args->id] = count(); }\` | $(stat bpftrace 2) | $(stat bpftrace 3) |"
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.2f×", a / b }'; }
echo "| ratio syscall.* / bpftrace (medians) | $(ratio stp bpftrace) | |"
echo "| ratio raw_syscalls in stp / bpftrace (medians) | $(ratio stpraw bpftrace) | |"
