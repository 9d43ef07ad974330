#!/usr/bin/env bash
# sync-server/web/build.sh — assemble the dashboard the server serves:
# the app's static files plus Chart.js from node_modules (installed by
# `npm ci` from the committed package-lock.json; scripts/setup-web.sh does
# both).  No bundler: the app is plain ES modules.
#
# Usage: build.sh [OUTDIR]     (default: sync-server/web/dist)
# The output is what `fieldsync-server serve` serves (docs/API.md, "Static
# files") and what `cmake --install` copies to share/fieldsync/web.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/dist}
chart=$here/node_modules/chart.js/dist/chart.umd.js

if [ ! -f "$chart" ]; then
    echo "web/build.sh: $chart is missing: run 'npm ci' in $here (or scripts/setup-web.sh)" >&2
    exit 1
fi

# Build into a fresh folder beside the target, then swap it in, so a server
# serving OUTDIR never sees a half-copied tree.
parent=$(dirname "$out")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.web-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

install -m 0644 "$here/index.html" "$here/app.js" "$here/style.css" "$here/favicon.svg" "$tmp/"
install -d "$tmp/js" "$tmp/vendor"
install -m 0644 "$here"/js/*.js "$tmp/js/"
install -m 0644 "$chart" "$tmp/vendor/chart.umd.js"
install -m 0644 "$here/node_modules/chart.js/LICENSE.md" "$tmp/vendor/chart.js.LICENSE.md"
chmod 0755 "$tmp"

rm -rf "$out.old"
if [ -e "$out" ]; then mv "$out" "$out.old"; fi
mv "$tmp" "$out"
rm -rf "$out.old"
trap - EXIT
echo "web/build.sh: dashboard in $out"
