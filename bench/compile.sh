#!/bin/sh
# Times pass 2 on the running kernel: stp -p2 of a kernel.function("vfs_*")
# probe (warm: the per-boot function cache filled; cold: --disable-cache),
# listing every kernel function, and listing tracepoints with their
# arguments, against bpftrace listing the same. Needs root (kallsyms
# addresses, tracefs), farm-bench and bpftrace (installed if missing).
# Where available_filter_functions is not readable (as on hosts without
# kprobes), bpftrace lists no kprobes: its figure is then start-up only.
set -eu
cd "$(dirname "$0")/.."
command -v bpftrace >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace; }
cargo build --release -q
stp=./target/release/stp
script='probe kernel.function("vfs_*") { printf("%s %d\n", probefunc(), $$parms != "") }'
runs=${RUNS:-21}

echo "== stp -p2 kernel.function(\"vfs_*\"), warm cache, vs bpftrace -l 'kprobe:vfs_*'"
farm-bench -n "$runs" --vs "bpftrace -l kprobe:vfs_*" -- "$stp" -p2 -e "$script"
echo "== stp -p2 kernel.function(\"vfs_*\") --disable-cache (cold), vs bpftrace -l 'kprobe:vfs_*'"
farm-bench -n "$runs" --vs "bpftrace -l kprobe:vfs_*" -- "$stp" --disable-cache -p2 -e "$script"
echo "== stp -l 'kernel.function(\"*\")' vs bpftrace -l 'kprobe:*'"
farm-bench -n "$runs" --vs "bpftrace -l kprobe:*" -- "$stp" -l 'kernel.function("*")'
echo "== stp -L 'kernel.trace(\"sched:*\")' vs bpftrace -lv 'tracepoint:sched:*'"
farm-bench -n "$runs" --vs "bpftrace -lv tracepoint:sched:*" -- "$stp" -L 'kernel.trace("sched:*")'
