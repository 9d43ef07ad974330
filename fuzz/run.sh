#!/bin/sh
# fuzz/run.sh BUILD_DIR SECONDS — run every built libFuzzer target for
# SECONDS each, seeded from tests/protocol/valid (fuzz_proto and
# fuzz_codec_diff: invalid too) and fuzz/corpus/<target>/.
# The working corpus and any crash artifacts go under BUILD_DIR/fuzz-work/,
# never into the source tree.  Exits non-zero if any target crashes,
# leaks or trips a sanitizer, or if no target was built.
set -u

usage() { echo "usage: $0 BUILD_DIR SECONDS" >&2; exit 2; }
[ $# -eq 2 ] || usage
build=$1
secs=$2
case $secs in ''|*[!0-9]*) usage ;; esac
[ -d "$build" ] || { echo "run.sh: no build dir $build" >&2; exit 2; }

src=$(cd "$(dirname "$0")/.." && pwd)
work=$(cd "$build" && pwd)/fuzz-work
status=0
ran=0

for target in fuzz_proto fuzz_codec_diff fuzz_blob fuzz_register fuzz_session fuzz_csv fuzz_input fuzz_recpack fuzz_grouplog fuzz_regpack fuzz_hist; do
    bin=$build/fuzz/$target
    if [ ! -x "$bin" ]; then
        echo "== $target: not built, skipped"
        continue
    fi
    corpus=$work/$target/corpus
    artifacts=$work/$target/artifacts
    mkdir -p "$corpus" "$artifacts"
    # Seeds: valid wire messages (every target starts from real traffic)
    # plus the target's own corpus.  Copies, so libFuzzer's additions stay
    # out of the repository.
    cp "$src"/tests/protocol/valid/*.json "$corpus"/ 2>/dev/null
    # The decoder also starts from every refusal case.
    if [ "$target" = fuzz_proto ] || [ "$target" = fuzz_codec_diff ]; then
        cp "$src"/tests/protocol/invalid/*.json "$corpus"/ 2>/dev/null
    fi
    if [ -d "$src/fuzz/corpus/$target" ]; then
        cp "$src/fuzz/corpus/$target"/* "$corpus"/ 2>/dev/null
    fi
    echo "== $target: ${secs}s, corpus $corpus ($(find "$corpus" -type f | wc -l) inputs)"
    dict=
    if [ -f "$src/fuzz/$target.dict" ]; then
        dict=-dict=$src/fuzz/$target.dict
    elif [ "$target" = fuzz_codec_diff ] || [ "$target" = fuzz_blob ]; then
        dict=-dict=$src/fuzz/fuzz_proto.dict    # the same wire vocabulary
    fi
    # shellcheck disable=SC2086 # $dict is empty or one word
    "$bin" $dict -max_len=65536 -max_total_time="$secs" -timeout=20 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$corpus" \
        >"$work/$target.log" 2>&1
    rc=$?
    ran=$((ran + 1))
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+.*DONE)' \
        "$work/$target.log" | sed 's/^/   /'
    if [ $rc -ne 0 ]; then
        echo "== $target: FAILED (exit $rc); log $work/$target.log"
        grep -E 'ERROR|SUMMARY|runtime error' "$work/$target.log" | head -5 |
            sed 's/^/   /'
        find "$artifacts" -type f | sed 's/^/   artifact: /'
        status=1
    else
        echo "== $target: ok"
    fi
done

if [ $ran -eq 0 ]; then
    echo "run.sh: no fuzz targets in $build/fuzz (configure with CC=clang -DFIELDSYNC_FUZZ=ON)" >&2
    exit 2
fi
exit $status
