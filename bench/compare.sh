#!/usr/bin/env bash
# bench/compare.sh — bench_sync on two commits in one run (issue 11).
#
# Usage: bench/compare.sh [options] OLD_COMMIT [NEW_COMMIT] [-- bench_sync options]
#        bench/compare.sh [options] --only COMMIT [-- bench_sync options]
#   NEW_COMMIT     default: HEAD
#   --rounds N     run the pair N times, alternating which goes first
#                  (default 1: old, then new)
#   --dir DIR      keep the checkouts and builds in DIR and reuse them on
#                  the next run (default: a temp folder, removed at the end)
#   bench_sync options: default none, the full peer-shaped set (60,000
#                  records, a few minutes a side); --scale 0.05 for a check.
#
# Each commit is checked out with `git worktree add --detach` into its own
# folder and built in Release (-O3) there (targets bench_sync and
# fieldsync-server only).  Both are built with THIS checkout's
# bench/bench_sync.c, so the same driver, shape and baselines measure each
# commit's own libfieldsync, transport and server.  Prints each run and
# the ratios new / old of the figures that moved.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=1 dir="" only="" commits=() bench_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --dir)    dir=$2; shift 2 ;;
        --only)   only=$2; shift 2 ;;
        --)       shift; bench_args=("$@"); break ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*)       echo "compare.sh: unknown option $1" >&2; exit 2 ;;
        *)        commits+=("$1"); shift ;;
    esac
done
if [ -n "$only" ]; then
    commits=("$only")
else
    [ ${#commits[@]} -ge 1 ] && [ ${#commits[@]} -le 2 ] ||
        { echo "usage: bench/compare.sh OLD_COMMIT [NEW_COMMIT] [-- bench_sync options]" >&2; exit 2; }
    [ ${#commits[@]} -eq 2 ] || commits+=(HEAD)
fi

cleanup=0
if [ -z "$dir" ]; then
    dir=$(mktemp -d /tmp/fieldsync-compare-XXXXXX)
    cleanup=1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# Check out and build one commit; prints its build folder.
build_one() {
    local sha tree
    sha=$(git -C "$root" rev-parse --verify "$1^{commit}")
    tree="$dir/${sha:0:12}"
    if [ ! -d "$tree" ]; then
        git -C "$root" worktree add --detach "$tree" "$sha" >&2
    fi
    cp "$root/bench/bench_sync.c" "$tree/bench/bench_sync.c"
    echo "compare.sh: building ${sha:0:12} ($1) in $tree/build-release" >&2
    cmake -S "$tree" -B "$tree/build-release" -DCMAKE_BUILD_TYPE=Release \
        >"$tree/cmake.log" 2>&1 || { cat "$tree/cmake.log" >&2; exit 1; }
    cmake --build "$tree/build-release" -j2 --target bench_sync fieldsync-server \
        >"$tree/build.log" 2>&1 || { tail -30 "$tree/build.log" >&2; exit 1; }
    echo "$tree/build-release"
}

finish() {
    if [ "$cleanup" -eq 1 ]; then
        for t in "$dir"/*/; do
            [ -d "$t" ] && git -C "$root" worktree remove --force "$t" 2>/dev/null || true
        done
        rm -rf "$dir"
    fi
}
trap finish EXIT

builds=() names=()
for c in "${commits[@]}"; do
    builds+=("$(build_one "$c")")
    names+=("$(git -C "$root" rev-parse --short=12 "$c^{commit}") ($c)")
done

run_one() {   # index, round
    local b=${builds[$1]} out="$dir/run-$1-$2.txt"
    echo "== ${names[$1]}, round $2: bench_sync ${bench_args[*]:-}"
    FIELDSYNC_SERVER="$b/sync-server/fieldsync-server" \
        "$b/bench/bench_sync" "${bench_args[@]}" | tee "$out"
}

echo "compare.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
    if [ ${#builds[@]} -eq 1 ]; then
        run_one 0 "$r"
    elif [ $((r % 2)) -eq 1 ]; then
        run_one 0 "$r"; run_one 1 "$r"
    else
        run_one 1 "$r"; run_one 0 "$r"
    fi
done
[ ${#builds[@]} -eq 2 ] || exit 0

# The figures of a run file: key value per line.
figures() {
    awk '
    /^  push \(/        { for (i = 1; i <= NF; i++) if ($(i+1) == "records/s") { print "push_records_per_s", $i; break } }
    /^  pull \(/        { for (i = 1; i <= NF; i++) if ($(i+1) == "records/s") { print "pull_records_per_s", $i; break } ; pull = 1 }
    /server .*CPU-us\/record/ {
        for (i = 1; i <= NF; i++) {
            if ($i == "server") print (pull ? "pull" : "push") "_server_cpu_us_per_record", $(i+1)
            if ($i == "device" || $i == "devices") print (pull ? "pull" : "push") "_device_cpu_us_per_record", $(i+1)
            if ($i == "wire") print (pull ? "pull" : "push") "_wire_bytes_per_record", $(i+1)
        }
    }
    /^  server store:/   { print "server_store_mib", $3 }
    /^  replica \(all/   { print "replica_mib", $4 }
    /^  bare SQLite \(a\)/ { for (i = 1; i <= NF; i++) if ($(i+1) == "records/s") print "bare_a_records_per_s", $i }
    /^  bare SQLite \(b\)/ { for (i = 1; i <= NF; i++) if ($(i+1) == "MiB") print "bare_b_mib", $i }
    ' "$1"
}
echo
echo "== ratios new / old (round 1): ${names[1]} / ${names[0]}"
join <(figures "$dir/run-0-1.txt" | sort) <(figures "$dir/run-1-1.txt" | sort) |
    awk '{ printf "  %-34s %12s %12s   %6.2fx\n", $1, $2, $3, ($2 > 0 ? $3 / $2 : 0) }'
