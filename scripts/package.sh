#!/usr/bin/env bash
# scripts/package.sh — build the Debian package of the server and the CLI:
# build-deb/fieldsync_VERSION_ARCH.deb (packaging/README.md says what is in
# it and what installing it does; docs/SERVER.md, "Install the package",
# is the production path).
#
# Usage: scripts/package.sh      (as root, or a user with sudo, on Debian 12)
# It installs the packages that are missing (scripts/setup.sh --no-browser,
# which also fetches the dashboard's Chart.js), builds Release for the
# /usr prefix without tests or benchmarks (build-deb/), and runs
# `cpack -G DEB`.  Install the result with
#   sudo apt install ./build-deb/fieldsync_*.deb
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for arg in "$@"; do
    case "$arg" in
        -h|--help) fds_usage "$0"; exit 0 ;;
        *)         fds_die "package: unknown option '$arg' (see --help)" ;;
    esac
done

bash "$FDS_ROOT/scripts/setup.sh" --no-browser
fds_build deb
dir=$(fds_build_dir deb)
[ -f "$dir/sync-server/web/dist/index.html" ] ||
    fds_die "the dashboard was not built (scripts/setup-web.sh fetches Chart.js)"
rm -f "$dir"/fieldsync_*.deb
(cd "$dir" && cpack -G DEB)
deb=$(ls "$dir"/fieldsync_*.deb)
fds_say "package: $deb"
fds_say "install: sudo apt install $deb   (then docs/SERVER.md, \"Install the package\")"
