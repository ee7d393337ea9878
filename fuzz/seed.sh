#!/bin/sh
# Fills fuzz/corpus/parse with every script we have, each prefixed by the
# options byte the target reads first (0: no options, 1: guru mode).
# fuzz/run.sh runs it when corpus/parse does not exist yet.
set -e
here=$(cd "$(dirname "$0")" && pwd)
out="$here/corpus/parse"
mkdir -p "$out"
n=0
for f in "$here"/../examples/*.stp "$here"/../stdlib/*.stp "$here"/../stdlib/*/*.stp "$here"/../tests/parse/*.stp "$here"/../tests/elab/*.stp "$here"/../tests/slow/*.stp \
         "$here"/../../shared/conformance/*/*.stp "$here"/../../shared/conformance/*/*/*.stp \
         "$here"/../../../shared/conformance/*/*.stp "$here"/../../../shared/conformance/*/*/*.stp; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    { printf '\001'; cat "$f"; } > "$out/seed-$n"
done
echo "$n seeds in $out"
