#!/usr/bin/env bash
# scripts/setup.sh — install every package fieldsync needs to build and test,
# on Debian 12.  Idempotent and non-interactive: it asks dpkg which packages
# are missing and runs apt-get (update + install) only for those, so a
# second run on a ready machine touches nothing and needs no network.
#
# Then, when it exists, scripts/setup-web.sh: what the dashboard build and
# the browser tests need (Node.js packages, Chromium), kept in its own
# script by the dashboard's owner.
#
# Usage: scripts/setup.sh [--no-browser]   (as root, or as a user with sudo)
#   --no-browser   passed on to setup-web.sh: no Chromium or browser-test
#                  packages (what a server needs; serve.sh uses it)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# One package a line, with why it is needed.
FDS_PACKAGES=(
    build-essential     # gcc, make, libc headers
    cmake
    pkg-config          # every library is found through pkg-config
    clang               # the fuzz build: libFuzzer needs clang (14 on Debian 12)
    libclang-rt-14-dev  # clang's runtime: -fsanitize=fuzzer, ASan/UBSan with clang
    libsqlite3-dev      # the replica and the server's embedded store
    sqlite3             # the sqlite3 shell: looking into replica and store files
    libjansson-dev      # the wire codec and record JSON
    libwebsockets-dev   # the server and the device's sync transport
    libssl-dev          # TLS, the private CA and certificates
    zlib1g-dev          # tests/server deflates frames itself (permessage-deflate)
    openssl             # the openssl tool: inspecting the certificates
    libcmocka-dev       # the test framework
    libpq-dev           # the PostgreSQL store (planned; installed so it can build)
    binutils            # readelf and nm: tests check what libfieldsync links
    ca-certificates
    libc-bin            # iconv, used by the UTF-8 tests
)

web_args=()
for arg in "$@"; do
    case "$arg" in
        --no-browser) web_args+=(--no-browser) ;;
        -h|--help)    fds_usage "$0"; exit 0 ;;
        *)            fds_die "setup: unknown option '$arg' (see --help)" ;;
    esac
done

fds_apt_install setup "${FDS_PACKAGES[@]}"

if [ -f "$FDS_ROOT/scripts/setup-web.sh" ]; then
    bash "$FDS_ROOT/scripts/setup-web.sh" "${web_args[@]}"
fi
fds_say "setup: done"
