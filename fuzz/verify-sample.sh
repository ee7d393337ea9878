#!/bin/sh
# As root: has the kernel's verifier check the eBPF that stp emits for a
# sample of fuzzing inputs. Every program stp emits for a script it
# accepts must load; a refusal is a bug in stp's code generation.
#
#   fuzz/verify-sample.sh [COUNT] [CORPUS DIR] [STP]
#
# COUNT inputs (default 200) are drawn at random from the corpus (default
# corpus/translate), each compiled with `stp -p4 --verify` against the
# running kernel (the first byte of an input chooses guru mode, as in the
# fuzz targets). Scripts stp refuses are counted, not failures. Each
# refusal is printed with its script; the exit status is 1 if any.
set -u
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-200}
corpus=$(realpath "${2:-$here/corpus/translate}")
stp=$(realpath "${3:-$here/../target/debug/stp}")
[ "$(id -u)" = 0 ] || { echo "verify-sample.sh: needs root to load programs" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
accepted=0 refused=0 verified=0 sampled=0 slowest=0 slowest_input=
for input in $(ls "$corpus" | shuf -n "$count"); do
    f="$corpus/$input"
    sampled=$((sampled + 1))
    flags=$(head -c 1 "$f" | od -An -tu1 | tr -d ' ')
    tail -c +2 "$f" > "$work/script.stp"
    set -- -p4 --verify -m obj
    [ $((flags & 1)) -ne 0 ] && set -- "$@" -g
    [ $((flags & 2)) -ne 0 ] && set -- "$@" -u
    start=$(date +%s%N)
    (cd "$work" && timeout 20 "$stp" "$@" script.stp > /dev/null 2> err)
    rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ "$ms" -gt "$slowest" ]; then slowest=$ms slowest_input=$input; fi
    if grep -q "verifier refused" "$work/err"; then
        verified=$((verified + 1))
        refused=$((refused + 1))
        echo "=== REFUSED: $f"
        cat "$work/script.stp"
        echo "--- stp says"
        head -20 "$work/err"
    elif [ $rc -eq 0 ]; then
        verified=$((verified + 1))
        accepted=$((accepted + 1))
    fi
done
echo "sampled $sampled inputs: $verified compiled to objects, $accepted loaded, $refused refused by the verifier"
echo "slowest (compile and load): $slowest ms ($slowest_input)"
[ "$refused" -eq 0 ]
