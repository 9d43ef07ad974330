#!/usr/bin/env bash
# bench/browser_office.sh — the dashboard in headless Chromium on a
# company-sized store (bench/browser_office.mjs says what is measured).
#
#   bench/browser_office.sh [CUSTOMERS_PER_REP [FOLLOWUPS_PER_CUSTOMER]]
#                                                (defaults 1000 5: 10,000
#                                                 customers, 50,000 follow-ups)
# Needs a Release build (scripts/build.sh --release) and the browser test
# set-up (scripts/setup-web.sh: tests/browser/node_modules, web build).
# 127.0.0.1 only; every wait is bounded; the store is removed at the end.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-$here/build-release}
per=${1:-1000}
fu=${2:-5}
for f in "$build/bench/bench_office" "$build/sync-server/fieldsync-server" \
         "$build/client-cli/fieldsync" "$here/tests/browser/node_modules"; do
    [ -e "$f" ] || { echo "browser_office: $f is missing (Release build, scripts/setup-web.sh)" >&2; exit 2; }
done
web=$(mktemp -d /tmp/browser_office_web.XXXXXX)
out=$(mktemp /tmp/browser_office_out.XXXXXX)
kept=
cleanup() { rm -rf "$web" "$out"; [ -n "$kept" ] && rm -rf "$kept"; return 0; }
trap cleanup EXIT
"$here/sync-server/web/build.sh" "$web/dist" >/dev/null
# bench_office builds the store, measures the API, and keeps it (one HQ
# user besides its own is enough here).
BENCH_OFFICE_KEEP=1 "$build/bench/bench_office" "$per" "$fu" 2 | tee "$out"
kept=$(sed -n 's/^kept //p' "$out" | tail -1)
[ -n "$kept" ] && [ -d "$kept/data" ] || { echo "browser_office: bench_office kept no store" >&2; exit 1; }
FIELDSYNC_SERVER_BIN="$build/sync-server/fieldsync-server" \
FIELDSYNC_BIN="$build/client-cli/fieldsync" \
FIELDSYNC_WEB_DIR="$web/dist" \
BENCH_DATA="$kept/data" \
    timeout 600 node "$here/bench/browser_office.mjs"
