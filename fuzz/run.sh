#!/bin/sh
# Runs one cargo-fuzz target with the limits we hold stp to: any input
# takes at most 2 seconds (-timeout=2) and 1 GiB (-rss_limit_mb=1024).
#
#   fuzz/run.sh TARGET [SECONDS] [MORE LIBFUZZER FLAGS...]
#
# TARGET is parse, elaborate or translate. The corpus is corpus/TARGET,
# seeded by seed.sh on first use; crashes, timeouts and out-of-memory
# inputs land in artifacts/TARGET/, and fuzzing goes on past them (one
# forked worker, -ignore_timeouts etc.) until SECONDS (default 600) are up. A slow or crashing input, once fixed,
# goes into tests/parse/slow/ (small files) so that `cargo test` replays it.
set -e
here=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: fuzz/run.sh parse|elaborate|translate [SECONDS] [FLAGS...]}
shift
seconds=${1:-600}
[ $# -gt 0 ] && shift
cd "$here"
[ -d corpus/parse ] || ./seed.sh
mkdir -p "corpus/$target" "artifacts/$target"
if [ -z "$(ls -A "corpus/$target")" ]; then
    cp corpus/parse/* "corpus/$target/"
fi
exec cargo +nightly fuzz run "$target" "corpus/$target" -- \
    -timeout=2 -rss_limit_mb=1024 -max_total_time="$seconds" \
    -fork=1 -ignore_timeouts=1 -ignore_crashes=1 -ignore_ooms=1 \
    -artifact_prefix="artifacts/$target/" "$@"
