#!/usr/bin/env bash
# Measures stp against bpftrace in one run, the two tools alternating run by
# run, and prints a Markdown report of medians (and min-max) with the
# ratios stp/bpftrace:
#
#   startup     stp -e 'probe begin { println("hi") exit() }' against
#               bpftrace -e 'BEGIN { printf("hi\n"); exit(); }': wall time
#               and peak RSS.
#   compile     stp -p4 on every script of examples/ and on a generated
#               script of $LINES lines, against bpftrace --emit-elf (its dry
#               run) on the equivalents in bench/equivalents/.
#   overhead    bench/getppid.c calls getppid(2) $CALLS times on CPU 1 and
#               prints ns/call: without tracing, under an empty handler on
#               syscalls:sys_enter_getppid (the floor) and under the
#               workloads of bench/workloads/ (a global counter, a count
#               keyed by process name, a histogram). Also the programs'
#               own run_time_ns/run_cnt (kernel.bpf_stats_enabled) and each
#               tool's peak RSS while tracing.
#   output      a printf of pid and process name per event: at full speed
#               and paced at each rate of $RATES (per second, for half
#               a second each), the events delivered and lost.
#
# The overhead and output figures also run the programs a kernel engineer
# would write by hand for the same workloads (bench/c/*.bpf.c: libbpf
# style, per-CPU maps, the name in a fixed key, a ring-buffer record for
# the printf), built with clang and run by bench/c/loader.c (libbpf; it
# prints the printf records through stdio as the libbpf tools do): the
# "C" column, the limit stp's code generator is held to.
#
# Needs root, a C compiler and bpftool; installs bpftrace, clang and
# libbpf-dev when missing (apt-get). The tools run on CPU 0, the event source on CPU 1.
#
#   bench/run.sh                  (about 5 minutes on 2 cores)
#   RUNS=3 CALLS=500000 bench/run.sh
#
# Settings (environment): RUNS (runs of each tool per figure, 7), CALLS
# (getppid calls per overhead run, 2000000), TPUT_CALLS (events of a
# full-speed output run, 500000), RATES (paced output rates, each for
# half a second: "50000 250000 1000000"), LINES (lines of the generated script, 1000), STP (the
# stp binary; built with cargo build --release when unset), BPFTRACE
# (bpftrace), REPORT (where to write the report as well, none).
set -euo pipefail

die() { echo "bench/run.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it loads eBPF programs and reads their statistics)"
cd "$(dirname "$0")/.."
root=$PWD

RUNS=${RUNS:-7}
CALLS=${CALLS:-2000000}
TPUT_CALLS=${TPUT_CALLS:-500000}
RATES=${RATES:-50000 250000 1000000}
LINES=${LINES:-1000}
BPFTRACE=${BPFTRACE:-bpftrace}
REPORT=${REPORT:-}
for v in RUNS CALLS TPUT_CALLS LINES; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
for r in $RATES; do [[ $r =~ ^[1-9][0-9]+$ ]] || die "RATES must hold integers of 10 or more, not '$r'"; done
[ "$(nproc)" -ge 2 ] || die "needs two CPUs (the tool on CPU 0, the event source on CPU 1)"

if ! command -v "$BPFTRACE" >/dev/null; then
	echo "installing bpftrace..." >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null ||
		die "cannot install bpftrace"
fi
BPFTRACE=$(command -v "$BPFTRACE")
if ! command -v clang >/dev/null || [ ! -e /usr/include/bpf/libbpf.h ]; then
	echo "installing clang and libbpf-dev..." >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libbpf-dev >/dev/null ||
		die "cannot install clang and libbpf-dev"
fi
for t in cc bpftool taskset awk; do command -v $t >/dev/null || die "needs $t"; done
taskset=$(command -v taskset)

if [ -z "${STP:-}" ]; then
	command -v cargo >/dev/null || die "needs cargo to build stp (or set STP to an stp binary)"
	echo "building stp (cargo build --release)..." >&2
	cargo build --release -q || die "cargo build --release failed"
	STP=$root/target/release/stp
fi
[ -x "$STP" ] || die "no stp binary at $STP"

work=$(mktemp -d /tmp/stp-bench.XXXXXX)
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	sysctl -q -w kernel.bpf_stats_enabled="$stats_was" || true
	rm -rf "$work"
}
trap cleanup EXIT
# The hand-written programs and their loader.
mkdir -p "$work/c"
for c in empty counter keyed hist printf; do
	clang -O2 -g -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -c "bench/c/$c.bpf.c" -o "$work/c/$c.bpf.o" ||
		die "cannot build bench/c/$c.bpf.c"
done
cc -O2 -Wall -o "$work/c/loader" bench/c/loader.c -lbpf || die "cannot build bench/c/loader.c"
# The programs' run_time_ns and run_cnt. Every traced run pays for them,
# the floor included, so figures above the floor are not changed.
sysctl -q -w kernel.bpf_stats_enabled=1

cc -O2 -Wall -o "$work/getppid" bench/getppid.c || die "cannot build bench/getppid.c"
cc -O2 -Wall -o "$work/measure" bench/measure.c || die "cannot build bench/measure.c"

# bpftrace 0.17 takes a /lib/modules/*/build holding only include/generated
# for kernel headers and fails on tracepoint arguments for want of
# kconfig.h; an empty one lets it use BTF as it does without headers.
if [ -d "/lib/modules/$(uname -r)/build" ] && [ ! -e "/lib/modules/$(uname -r)/build/include/linux/kconfig.h" ]; then
	mkdir -p "$work/khdr/include/linux" && : >"$work/khdr/include/linux/kconfig.h"
	export BPFTRACE_KERNEL_SOURCE=$work/khdr BPFTRACE_KERNEL_BUILD=$work/khdr
fi

results=$work/results.tsv
: >"$results"
# record SECTION CASE TOOL METRIC VALUE
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }
field() { sed -n "s/.*\\b$1=\\([-0-9.]*\\).*/\\1/p" "$2" | tail -1; }

# run OUT CMD...: runs CMD on CPU 0 under measure; sets wall and rss.
run() {
	local out=$1; shift
	local line
	line=$("$work/measure" "$out" "$taskset" -c 0 "$@")
	wall=$(echo "$line" | sed 's/.*wall_s=\([0-9.]*\).*/\1/')
	rss=$(echo "$line" | sed 's/.*maxrss_kb=\([0-9]*\).*/\1/')
	status=$(echo "$line" | sed 's/.*status=\([0-9]*\).*/\1/')
}

# The event source as the tools' -c command: the programs' statistics
# before and after, then the calls on CPU 1, the result on stderr into TAG.gen.
cat >"$work/job.sh" <<EOF
#!/bin/sh
# job.sh TAG CALLS [RATE]
tag=\$1; shift
bpftool prog show >"$work/\$tag.before" 2>/dev/null
$taskset -c 1 "$work/getppid" "\$@" 2>"$work/\$tag.gen"
bpftool prog show >"$work/\$tag.after" 2>/dev/null
EOF
chmod +x "$work/job.sh"

# progdelta TAG CALLS: "HITS NS" where HITS is how many programs ran at
# least CALLS/2 times during the calls and NS their run time per event.
progdelta() {
	awk -v calls="$2" '
		/^[0-9]+:/ {
			id = $1; rt = 0; cnt = 0
			for (i = 2; i < NF; i++) {
				if ($i == "run_time_ns") rt = $(i + 1)
				if ($i == "run_cnt") cnt = $(i + 1)
			}
			if (FNR == NR) { brt[id] = rt; bcnt[id] = cnt; next }
			dc = cnt - bcnt[id]; dr = rt - brt[id]
			if (dc >= calls / 2) { hits++; sr += dr; sc += dc }
		}
		END { printf "%d %.1f\n", hits, sc ? sr / sc : 0 }
	' "$work/$1.before" "$work/$1.after"
}

# traced TOOL CASE CALLS [RATE]: one run of the event source under TOOL
# running bench/workloads/CASE; retried (three times at most) when another
# program was seen on the tracepoint. Sets gen (the generator's line file)
# and out (the tool's output).
traced() {
	local tool=$1 case=$2 calls=$3 rate=${4:-} tag try expect=1 hits ns
	for try in 1 2 3 4; do
		tag=$tool-$case-$RANDOM
		out=$work/$tag.out
		gen=$work/$tag.gen
		case $tool in
		none) expect=0; run "$out" "$work/job.sh" "$tag" "$calls" $rate ;;
		stp)
			# -u keeps the empty handler, which stp would elide.
			local u=; [ "$case" = empty ] && u=-u
			run "$out" "$STP" $u -c "/bin/sh $work/job.sh $tag $calls $rate" "bench/workloads/$case.stp" ;;
		bpftrace) run "$out" "$BPFTRACE" -c "/bin/sh $work/job.sh $tag $calls $rate" "bench/workloads/$case.bt" ;;
		c) run "$out" "$work/c/loader" "$work/c/$case.bpf.o" -c "/bin/sh $work/job.sh $tag $calls $rate" ;;
		esac
		[ -s "$gen" ] || die "$tool on $case: the event source did not run; output:
$(head -20 "$out")"
		read -r hits ns < <(progdelta "$tag" "$calls")
		[ "$hits" -eq "$expect" ] && break
		echo "  ($tool $case: $hits programs ran on the tracepoint, $expect expected: another tracer is active; again)" >&2
		sleep 2
	done
	[ "$hits" -eq "$expect" ] || record note "$case" "$tool" contaminated 1
	prog_ns=$ns
}

median_of() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

start_all=$(date +%s)
echo "== startup ($RUNS runs each, after one warm-up)" >&2
for i in $(seq 0 "$RUNS"); do
	run "$work/s.out" "$STP" bench/workloads/startup.stp
	grep -qx hi "$work/s.out" || die "stp startup did not print hi: $(head -5 "$work/s.out")"
	[ "$i" -gt 0 ] && record startup hello stp wall "$wall" && record startup hello stp rss "$rss"
	run "$work/s.out" "$BPFTRACE" bench/workloads/startup.bt
	grep -qx hi "$work/s.out" || die "bpftrace startup did not print hi: $(head -5 "$work/s.out")"
	[ "$i" -gt 0 ] && record startup hello bpftrace wall "$wall" && record startup hello bpftrace rss "$rss"
done

echo "== compile ($RUNS runs each, after one warm-up)" >&2
awk -v kind=stp -v lines="$LINES" -f bench/generate.awk >"$work/generated.stp"
awk -v kind=bt -v lines="$LINES" -f bench/generate.awk >"$work/generated.bt"
compile_cases=""
# The examples that have a bpftrace equivalent.
for f in examples/*.stp; do
	c=$(basename "$f" .stp)
	[ -e "bench/equivalents/$c.bt" ] && compile_cases+=" $c"
done
compile_cases+=" generated"
for i in $(seq 0 "$RUNS"); do
	for c in $compile_cases; do
		if [ "$c" = generated ]; then s=$work/generated.stp b=$work/generated.bt; else s=examples/$c.stp b=bench/equivalents/$c.bt; fi
		run "$work/c.out" "$STP" -p4 "$s"
		if [ "$status" -eq 0 ]; then
			rm -f "$(tail -1 "$work/c.out")"
			[ "$i" -gt 0 ] && record compile "$c" stp wall "$wall"
		else
			[ "$i" -gt 0 ] && record compile "$c" stp failed "$(grep -m1 error "$work/c.out" | tr '\t' ' ')"
		fi
		run "$work/c.out" "$BPFTRACE" --emit-elf "$work/bt.o" "$b"
		if [ "$status" -eq 0 ]; then
			[ "$i" -gt 0 ] && record compile "$c" bpftrace wall "$wall"
		else
			[ "$i" -gt 0 ] && record compile "$c" bpftrace failed "$(grep -m1 -i error "$work/c.out" | tr '\t' ' ')"
		fi
	done
done

echo "== per-event overhead ($RUNS runs each, $CALLS calls a run, after one warm-up)" >&2
for i in $(seq 0 "$RUNS"); do
	traced none none "$CALLS"
	[ "$i" -gt 0 ] && record overhead none none ns "$(field ns_per_call "$gen")"
	for c in empty counter keyed hist; do
		for tool in stp bpftrace c; do
			traced $tool $c "$CALLS"
			[ "$i" -gt 0 ] || continue
			record overhead $c $tool ns "$(field ns_per_call "$gen")"
			record overhead $c $tool prog_ns "$prog_ns"
			record overhead $c $tool rss "$rss"
		done
	done
done

echo "== output ($RUNS runs each: $TPUT_CALLS events at full speed; paced at $RATES per second)" >&2
lost_of() {
	case $1 in
	stp) sed -n 's/.*There were \([0-9]*\) transport failures.*/\1/p' "$2" | awk '{ s += $1 } END { print s + 0 }' ;;
	bpftrace) sed -n 's/.*Lost \([0-9]*\) events.*/\1/p' "$2" | awk '{ s += $1 } END { print s + 0 }' ;;
	c) sed -n 's/^lost \([0-9]*\)$/\1/p' "$2" | awk '{ s += $1 } END { print s + 0 }' ;;
	esac
}
for i in $(seq 0 "$RUNS"); do
	for rate in full $RATES; do
		if [ $rate = full ]; then n=$TPUT_CALLS r=""; else n=$((rate / 2)) r=$rate; fi
		for tool in stp bpftrace c; do
			traced $tool printf "$n" $r
			[ "$i" -gt 0 ] || continue
			pid=$(field pid "$gen")
			delivered=$(grep -c "^$pid getppid\$" "$out" || true)
			elapsed=$(field elapsed_ns "$gen")
			record output "$rate" $tool generated_per_s "$(awk -v n="$n" -v e="$elapsed" 'BEGIN { printf "%.0f", n * 1e9 / e }')"
			record output "$rate" $tool delivered_per_s "$(awk -v n="$delivered" -v e="$elapsed" 'BEGIN { printf "%.0f", n * 1e9 / e }')"
			record output "$rate" $tool delivered "$delivered"
			record output "$rate" $tool lost "$(lost_of $tool "$out")"
			record output "$rate" $tool rss "$rss"
			record output "$rate" $tool prog_ns "$prog_ns"
		done
	done
done
elapsed_all=$(($(date +%s) - start_all))

# ---- the report ----
# med SECTION CASE TOOL METRIC [min|max]
stat() {
	awk -F'\t' -v s="$1" -v c="$2" -v t="$3" -v m="$4" '$1 == s && $2 == c && $3 == t && $4 == m { print $5 }' "$results" |
		case ${5:-med} in
		med) median_of ;;
		min) sort -g | head -1 ;;
		max) sort -g | tail -1 ;;
		esac
}
count() { awk -F'\t' -v s="$1" -v c="$2" -v t="$3" -v m="$4" '$1 == s && $2 == c && $3 == t && $4 == m' "$results" | wc -l; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
sub_() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.1f", a - b }'; }
fmt() { awk -v v="$1" -v d="${2:-3}" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.*f", d, v }'; }
range() { echo "$(fmt "$(stat "$@" min)" "$D")–$(fmt "$(stat "$@" max)" "$D")"; }

report() {
	echo "# stp against bpftrace"
	echo
	echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
	echo "- stp: $("$STP" --version 2>&1 | head -1) ($(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')); bpftrace: $("$BPFTRACE" --version 2>&1 | head -1)"
	echo "- settings: RUNS=$RUNS CALLS=$CALLS TPUT_CALLS=$TPUT_CALLS RATES=\"$RATES\" LINES=$LINES; $elapsed_all s in all"
	echo "- figures are medians of $RUNS runs of each tool (the two alternating, after one warm-up), min–max in brackets"
	echo
	echo "## Startup"
	echo
	echo "| | stp | bpftrace | stp/bpftrace |"
	echo "|---|---|---|---|"
	D=3
	local a b
	a=$(stat startup hello stp wall) b=$(stat startup hello bpftrace wall)
	echo "| wall time (s) | $(fmt "$a") ($(range startup hello stp wall)) | $(fmt "$b") ($(range startup hello bpftrace wall)) | $(ratio "$a" "$b") |"
	D=0
	a=$(stat startup hello stp rss) b=$(stat startup hello bpftrace rss)
	echo "| peak RSS (KiB) | $(fmt "$a" 0) ($(range startup hello stp rss)) | $(fmt "$b" 0) ($(range startup hello bpftrace rss)) | $(ratio "$a" "$b") |"
	echo
	echo "## Compile (stp -p4 against bpftrace --emit-elf), wall time in seconds"
	echo
	echo "| script | stp | bpftrace | stp/bpftrace |"
	echo "|---|---|---|---|"
	D=3
	for c in $compile_cases; do
		local sa sb
		if [ "$(count compile "$c" stp wall)" -gt 0 ]; then
			a=$(stat compile "$c" stp wall); sa="$(fmt "$a") ($(range compile "$c" stp wall))"
		else
			a=-; sa="fails: $(awk -F'\t' -v c="$c" '$1 == "compile" && $2 == c && $3 == "stp" { print $5; exit }' "$results" | cut -c1-100)"
		fi
		if [ "$(count compile "$c" bpftrace wall)" -gt 0 ]; then
			b=$(stat compile "$c" bpftrace wall); sb="$(fmt "$b") ($(range compile "$c" bpftrace wall))"
		else
			b=-; sb="fails: $(awk -F'\t' -v c="$c" '$1 == "compile" && $2 == c && $3 == "bpftrace" { print $5; exit }' "$results" | cut -c1-100)"
		fi
		local name=$c
		[ "$c" = generated ] && name="generated, $LINES lines"
		echo "| $name | $sa | $sb | $(ratio "$a" "$b") |"
	done
	echo
	echo "## Per-event overhead ($CALLS getppid calls a run)"
	echo
	local base fs fb
	base=$(stat overhead none none ns)
	D=1
	echo "Without tracing: $(fmt "$base" 1) ns/call ($(range overhead none none ns))."
	echo "The floor is each tool's empty handler; \"above floor\" subtracts it from"
	echo "the same tool's workload. \"in program\" is the program's own run time per"
	echo "event (run_time_ns / run_cnt)."
	echo
	echo "| workload | stp ns/call | bpftrace ns/call | stp above floor | bpftrace above floor | ratio above floor | stp in program | bpftrace in program | ratio in program |"
	echo "|---|---|---|---|---|---|---|---|---|"
	fs=$(stat overhead empty stp ns) fb=$(stat overhead empty bpftrace ns)
	for c in empty counter keyed hist; do
		local xs xb ps pb
		xs=$(stat overhead $c stp ns) xb=$(stat overhead $c bpftrace ns)
		ps=$(stat overhead $c stp prog_ns) pb=$(stat overhead $c bpftrace prog_ns)
		local as ab
		as=$(sub_ "$xs" "$fs") ab=$(sub_ "$xb" "$fb")
		echo "| $c | $(fmt "$xs" 1) ($(range overhead $c stp ns)) | $(fmt "$xb" 1) ($(range overhead $c bpftrace ns)) | $as | $ab | $([ "$c" = empty ] && echo - || ratio "$as" "$ab") | $(fmt "$ps" 1) | $(fmt "$pb" 1) | $(ratio "$ps" "$pb") |"
	done
	echo
	echo "## Per-event cost against hand-written C (bench/c/)"
	echo
	echo "The same workloads as a kernel engineer would write them in C (clang -O2),"
	echo "run in the same runs. \"in program\" is run_time_ns / run_cnt; \"above"
	echo "floor\" subtracts each one's empty handler from its ns/call."
	echo
	echo "| workload | C ns/call | stp in program | C in program | stp / C in program | stp above floor | C above floor | stp / C above floor |"
	echo "|---|---|---|---|---|---|---|---|"
	local fc
	fc=$(stat overhead empty c ns)
	for c in empty counter keyed hist; do
		local xc ps pc as ac
		xc=$(stat overhead $c c ns) ps=$(stat overhead $c stp prog_ns) pc=$(stat overhead $c c prog_ns)
		as=$(sub_ "$(stat overhead $c stp ns)" "$fs") ac=$(sub_ "$xc" "$fc")
		echo "| $c | $(fmt "$xc" 1) ($(range overhead $c c ns)) | $(fmt "$ps" 1) | $(fmt "$pc" 1) | $(ratio "$ps" "$pc") | $([ "$c" = empty ] && echo - || echo "$as") | $([ "$c" = empty ] && echo - || echo "$ac") | $([ "$c" = empty ] && echo - || ratio "$as" "$ac") |"
	done
	echo
	echo "## Output: printf(\"%d %s\\n\", pid, name) per event"
	echo
	echo "| rate | tool | generated/s | delivered/s | delivered | lost | in program (ns) | peak RSS (KiB) |"
	echo "|---|---|---|---|---|---|---|---|"
	for rate in full $RATES; do
		for tool in stp bpftrace c; do
			D=0
			echo "| $rate | $tool | $(fmt "$(stat output $rate $tool generated_per_s)" 0) | $(fmt "$(stat output $rate $tool delivered_per_s)" 0) ($(range output $rate $tool delivered_per_s)) | $(fmt "$(stat output $rate $tool delivered)" 0) | $(fmt "$(stat output $rate $tool lost)" 0) ($(range output $rate $tool lost)) | $(fmt "$(stat output $rate $tool prog_ns)" 1) | $(fmt "$(stat output $rate $tool rss)" 0) |"
		done
		a=$(stat output $rate stp delivered_per_s) b=$(stat output $rate bpftrace delivered_per_s)
		echo "| $rate | stp/bpftrace | | $(ratio "$a" "$b") | | | | |"
		b=$(stat output $rate c delivered_per_s)
		echo "| $rate | stp/C | | $(ratio "$a" "$b") | | | | |"
	done
	echo
	echo "## Memory: peak RSS while tracing (KiB)"
	echo
	echo "| workload | stp | bpftrace | stp/bpftrace |"
	echo "|---|---|---|---|"
	D=0
	for c in empty counter keyed hist; do
		a=$(stat overhead $c stp rss) b=$(stat overhead $c bpftrace rss)
		echo "| $c | $(fmt "$a" 0) ($(range overhead $c stp rss)) | $(fmt "$b" 0) ($(range overhead $c bpftrace rss)) | $(ratio "$a" "$b") |"
	done
	a=$(stat output full stp rss) b=$(stat output full bpftrace rss)
	echo "| printf, full speed | $(fmt "$a" 0) ($(range output full stp rss)) | $(fmt "$b" 0) ($(range output full bpftrace rss)) | $(ratio "$a" "$b") |"
	local bad
	bad=$(awk -F'\t' '$1 == "note" && $4 == "contaminated" { print $3 " " $2 }' "$results" | sort | uniq -c | awk '{ printf "%s%s %s (%d)", sep, $2, $3, $1; sep = ", " }')
	if [ -n "$bad" ]; then
		echo
		echo "Runs during which another program also ran on the tracepoint: $bad."
	fi
}

if [ -n "$REPORT" ]; then
	report | tee "$REPORT"
else
	report
fi
