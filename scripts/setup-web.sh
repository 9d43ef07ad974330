#!/usr/bin/env bash
# scripts/setup-web.sh — what the dashboard build and the browser tests need,
# on Debian 12: Node.js + npm (to install the chart library and the browser
# automation library from the npm registry), Debian's Chromium (the browser
# the tests drive; never a browser download), then `npm ci` in
# sync-server/web and tests/browser from their committed lock files.
#
# Idempotent and non-interactive: apt-get runs only for packages dpkg says
# are missing (and Node.js is left alone when a node/npm is already on PATH),
# and `npm ci` runs only when node_modules is missing or older than the lock
# file.  scripts/setup.sh calls this; it also works on its own.
#
# Usage: scripts/setup-web.sh [--no-browser]
#   --no-browser   skip Chromium and tests/browser (dashboard build only)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

want_browser=1
for a in "$@"; do
    case "$a" in
        --no-browser) want_browser=0 ;;
        -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) fds_die "setup-web: unknown option '$a'" ;;
    esac
done

packages=()
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi
if [ "$want_browser" -eq 1 ]; then
    packages+=(chromium fonts-noto-cjk)   # fonts: Chinese text in screenshots
fi

if [ ${#packages[@]} -gt 0 ]; then
    fds_apt_install setup-web "${packages[@]}"
fi

# npm ci DIR: install exactly the locked versions, only when needed.
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core never downloads one, but
# say so anyway; the tests use /usr/bin/chromium.
npm_ci() {
    local dir=$1
    if [ -d "$dir/node_modules" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
        fds_say "setup-web: ${dir#"$FDS_ROOT"/} is up to date"
        return 0
    fi
    fds_say "setup-web: npm ci in ${dir#"$FDS_ROOT"/}"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund </dev/null)
}

npm_ci "$FDS_ROOT/sync-server/web"
"$FDS_ROOT/sync-server/web/build.sh"
if [ "$want_browser" -eq 1 ]; then
    npm_ci "$FDS_ROOT/tests/browser"
fi
fds_say "setup-web: done"
