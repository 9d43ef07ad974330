#!/bin/sh
# bench/wire_codec.sh BUILD_DIR [BASE_REV] — the codec's instructions per
# record (callgrind), plain before (BASE_REV's protocol/src, default the
# commit before change groups), plain now, and grouped now, on the pages
# bench_wire writes (peer-shaped records: a customer of nine fields,
# follow-ups of six; push and pull pages of 500 changes).  Needs gcc,
# valgrind and git; builds into a temporary directory it removes.
set -eu
build=${1:?usage: wire_codec.sh BUILD_DIR [BASE_REV]}
base=${2:-f25df66}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/pages" "$tmp/old/src" "$tmp/old/include"
BENCH_WIRE_DUMP=$tmp/pages "$build/bench/bench_wire" 200 5 1
for f in $(git -C "$src" ls-tree --name-only "$base" protocol/src/); do
    case $f in *.c|*.h) git -C "$src" show "$base:$f" > "$tmp/old/src/${f##*/}" ;; esac
done
git -C "$src" show "$base:protocol/include/fieldsync_proto.h" > "$tmp/old/include/fieldsync_proto.h"
cc="gcc -O2 -g -DNDEBUG"
$cc -I"$tmp/old/include" -I"$tmp/old/src" "$tmp"/old/src/*.c \
    "$src/bench/bench_wire_codec.c" -ljansson -o "$tmp/before"
$cc -I"$src/protocol/include" -I"$src/protocol/src" "$src"/protocol/src/*.c \
    "$src/bench/bench_wire_codec.c" -ljansson -o "$tmp/now"
$cc -DWIRE_GROUPED -I"$src/protocol/include" -I"$src/protocol/src" \
    "$src"/protocol/src/*.c "$src/bench/bench_wire_codec.c" -ljansson \
    -o "$tmp/grouped"
# Instructions of every call of fn (the untimed first decode included:
# ROUNDS + 1 decodes and ROUNDS encodes per page).
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" \
        --toggle-collect="$1" "$2" 5 $3 >/dev/null 2>&1
    awk '/^(summary|totals):/ { print $2; exit }' "$tmp/cg"
}
printf '%-15s %-14s %8s %10s %10s\n' pages form bytes/rec dec_Ir/rec enc_Ir/rec
for p in push_customer pull_customer push_followup pull_followup; do
    for form in before now grouped; do
        case $form in grouped) files="$tmp/pages/$p-*.grouped.json"; enc=fdsp_encode_opt ;;
                      *) files="$tmp/pages/$p-*.plain.json"; enc=fdsp_encode ;; esac
        line=$("$tmp/$form" 1 $files)
        recs=$(echo "$line" | awk '{print $2}')
        bpr=$(echo "$line" | awk '{print $4}')
        d=$(ir fdsp_decode "$tmp/$form" "$files")
        e=$(ir $enc "$tmp/$form" "$files")
        printf '%-15s %-14s %8s %10d %10d\n' "$p" "$form" "$bpr" \
            $((d / (6 * recs))) $((e / (5 * recs)))
    done
done
