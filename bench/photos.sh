#!/usr/bin/env bash
# bench/photos.sh — bytes and time to sync N follow-ups with one photo each
# (issue 15), through a link that cuts every connection after CUT bytes, so
# the photos only get through by resuming.  Real server over TLS, the real
# CLI, tests/faults/fault_proxy in between (its --verbose lines give the
# bytes each connection carried, both directions, TLS included).
#
#   bench/photos.sh [BUILD_DIR] [N] [KIB] [CUT_BYTES]
#       BUILD_DIR  default build      N    default 100 follow-ups
#       KIB        default 300 KiB    CUT  default 12000000 bytes/connection
#
# Prints one line per phase and a summary; docs/BENCHMARKS.md has a run.
set -euo pipefail
build=${1:-build}
n=${2:-100}
kib=${3:-300}
cut=${4:-12000000}
srv=$build/sync-server/fieldsync-server
cli=$build/client-cli/fieldsync
proxy=$build/tests/faults/fault_proxy
for b in "$srv" "$cli" "$proxy"; do
    [ -x "$b" ] || { echo "photos.sh: $b is missing (cmake --build $build)" >&2; exit 1; }
done
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$srv" init --data "$tmp/d" --json >/dev/null
tok=$("$srv" user add rep1 --role rep --data "$tmp/d" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$srv" serve --data "$tmp/d" --listen "127.0.0.1:$port" 2>"$tmp/serve.log" &
pids+=($!)
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
"$proxy" --to "$port" --mode cut --cut "$cut" --max-secs 3600 --verbose \
    >"$tmp/proxy.port" 2>"$tmp/proxy.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/proxy.port" ] && break; sleep 0.1; done
pport=$(head -1 "$tmp/proxy.port")
url="wss://127.0.0.1:$pport"

"$cli" --db "$tmp/a.db" init --server "$url" --token "$tok" --ca "$tmp/d/ca.pem" >/dev/null
for i in $(seq "$n"); do
    head -c $((kib * 1024)) /dev/urandom >"$tmp/p$i.jpg"
    c=$("$cli" --db "$tmp/a.db" customer add --name "客户$i" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    "$cli" --db "$tmp/a.db" followup add "$c" --method visit --content "拜访 $i" \
        --photo "$tmp/p$i.jpg" >/dev/null
done

# Sum of the bytes of the proxy's connections closed since line $1.
wire() { tail -n +"$(($1 + 1))" "$tmp/proxy.log" | sed -n 's/.*close after \([0-9]*\) bytes.*/\1/p' | awk '{s += $1} END {print s + 0}'; }
now() { date +%s.%N; }

# phase DB WHAT DIR: sync until DIR (a blob folder) holds n photos.
count() { find "$1" -mindepth 2 -maxdepth 2 -path '*/[0-9a-f][0-9a-f]/*' -type f 2>/dev/null | wc -l; }
phase() {
    local db=$1 what=$2 dir=$3 runs=0 cuts=0
    local line0 t0 t1
    line0=$(wc -l <"$tmp/proxy.log")
    t0=$(now)
    while [ "$(count "$dir")" -lt "$n" ] && [ "$runs" -lt 50 ]; do
        runs=$((runs + 1))
        "$cli" --db "$db" sync --json >/dev/null 2>&1 || cuts=$((cuts + 1))
    done
    local got
    got=$(count "$dir")
    t1=$(now)
    sleep 0.3   # the proxy logs the last close
    local bytes
    bytes=$(wire "$line0")
    python3 - "$what" "$n" "$kib" "$runs" "$cuts" "$bytes" "$t0" "$t1" "$got" <<'PY'
import sys
what, n, kib, runs, cuts, b, t0, t1, got = sys.argv[1:]
n, kib, runs, cuts, b, got = int(n), int(kib), int(runs), int(cuts), int(b), int(got)
payload = n * kib * 1024
secs = float(t1) - float(t0)
print(f"{what}: {got}/{n} photos of {kib} KiB in {secs:.1f} s over {runs} sync runs "
      f"({cuts} cut), {b} bytes on the wire for {payload} bytes of photos "
      f"({b / payload:.3f}x), {payload / secs / 1048576:.2f} MiB/s")
PY
}
phase "$tmp/a.db" upload "$tmp/d/blobs"
"$cli" --db "$tmp/b.db" init --server "$url" --token "$tok" --ca "$tmp/d/ca.pem" >/dev/null
phase "$tmp/b.db" download "$tmp/b.db.blobs"
bad=0
for f in "$tmp"/p*.jpg; do
    sha=$(sha256sum "$f" | cut -c1-64)
    cmp -s "$f" "$tmp/b.db.blobs/${sha:0:2}/$sha" || bad=$((bad + 1))
done
echo "check: $((n - bad))/$n photos byte-identical on the second device"
grep -c 'rate_limited' "$tmp/serve.log" | sed 's/^/server rate_limited notices: /'
