#!/usr/bin/env bash
# bench/callgrind.sh — end-to-end instructions per record (issue 11): the
# pushing devices + the server + the pulling device, counted by callgrind
# over one bench_sync run.
#
# Usage: bench/callgrind.sh [BUILD_DIR] [bench_sync options...]
#   BUILD_DIR   a build with bench_sync and fieldsync-server
#               (default build-prof: RelWithDebInfo, so callgrind_annotate
#               can name the functions; a Release build counts the same code)
#   options     passed to bench_sync; default --scale 0.02 (1,200 records;
#               under valgrind each instruction costs ~50x, so keep it small)
#
# bench_sync dumps each pushing device's counts as "device-push" and the
# pulling device's as "device-pull" (client requests, no-ops outside
# valgrind); the server's are its `serve` process from the start of the
# push to its exit (bench_sync zeroes them with callgrind_control -z, so
# the start-up is left out; its shutdown is in).  Each device's figure
# includes its TLS handshake and replica open: a larger --scale makes
# their share smaller.  The `init` and `user add` runs are not traced.  The dumps stay in the
# printed folder for callgrind_annotate.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build-prof}
[ $# -gt 0 ] && shift
case "$build" in /*) ;; *) build="$root/$build" ;; esac
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--scale 0.02)
bench="$build/bench/bench_sync"
server="$build/sync-server/fieldsync-server"
for f in "$bench" "$server"; do
    [ -x "$f" ] || { echo "callgrind.sh: no $f (cmake --build $build --target bench_sync fieldsync-server)" >&2; exit 1; }
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind missing (scripts/setup.sh)" >&2; exit 1; }

out=$(mktemp -d /tmp/fieldsync-callgrind-XXXXXX)
echo "callgrind: $bench ${args[*]} (dumps in $out)"
FIELDSYNC_BENCH_CALLGRIND=1 FIELDSYNC_SERVER="$server" valgrind --tool=callgrind --trace-children=yes \
    --trace-children-skip-by-arg='init,user' \
    --trace-children-skip='/bin/sh,*callgrind_control,*vgdb' \
    --callgrind-out-file="$out/cg.%p" "$bench" "${args[@]}" --no-bare \
    2>"$out/valgrind.log" | tee "$out/bench.txt"

records=$(sed -n 's/.* = \([0-9]*\) records$/\1/p' "$out/bench.txt" | head -1)
[ -n "$records" ] || { echo "callgrind.sh: bench_sync printed no record count" >&2; exit 1; }

# Each dump file: "cmd:" (the command line), "desc: Trigger: ..." and
# "summary:" or "totals:" (instructions).
total() { sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$1" | head -1; }
push=0 pull=0 srv=0
for f in "$out"/cg.*; do
    n=$(total "$f"); [ -n "$n" ] || continue
    if grep -q 'Client Request: device-push' "$f"; then
        push=$((push + n))
    elif grep -q 'Client Request: device-pull' "$f"; then
        pull=$((pull + n))
    elif grep -q '^cmd:.* serve ' "$f"; then
        srv=$((srv + n))
    fi
done
all=$((push + srv + pull))
printf '%-34s %16s %12s\n' "" instructions "per record"
printf '%-34s %16d %12d\n' "devices, push (all of them)" "$push" $((push / records))
printf '%-34s %16d %12d\n' "server (push + pull)" "$srv" $((srv / records))
printf '%-34s %16d %12d\n' "device, pull" "$pull" $((pull / records))
printf '%-34s %16d %12d\n' "end to end" "$all" $((all / records))
echo "records: $records; annotate: callgrind_annotate --inclusive=yes $out/cg.PID[.N]"
