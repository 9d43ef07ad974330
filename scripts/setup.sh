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
    libwebsockets-evlib-uv  # lws' libuv plugin: the server's event loop
    libuv1-dev          # the libuv loop the server gives lws (http/server.c)
    libssl-dev          # TLS, the private CA and certificates
    zlib1g-dev          # tests/server deflates frames itself (permessage-deflate)
    openssl             # the openssl tool: inspecting the certificates
    libcmocka-dev       # the test framework
    libpq-dev           # the PostgreSQL store (sync-server/store/postgres/)
    postgresql          # initdb/pg_ctl/pg_dump: the tests' private cluster
                        # (tests/support/pgcluster.c) and `backup --store`
    binutils            # readelf and nm: tests check what libfieldsync links
    ca-certificates
    libc-bin            # iconv, used by the UTF-8 tests
    locales             # locale-gen: zh_CN.UTF-8, the CLI's pinyin name order
    gettext             # msgfmt builds the CLI's message catalogs (po/); xgettext,
                        # msgmerge, msgattrib: the completeness test (cli_po_complete)
    # Phones (issue 16): core + protocol cross-built for ARM and tested
    # under qemu-user (test.sh stage arm), and the JVM program that embeds
    # libfieldsync through JNA as an Android app would (tests/jvm).
    gcc-aarch64-linux-gnu       # 64-bit ARM cross compiler (arm64 phones)
    gcc-arm-linux-gnueabihf     # 32-bit ARM cross compiler (armv7 phones)
    qemu-user                   # runs the ARM test binaries (no binfmt needed)
    libsqlite3-dev:arm64 libjansson-dev:arm64 libcmocka-dev:arm64  # multiarch:
    libsqlite3-dev:armhf libjansson-dev:armhf libcmocka-dev:armhf  # the same libraries for ARM
    openjdk-17-jdk-headless     # javac/java for tests/jvm
    libjna-java                 # JNA: Java calls libfieldsync with no JNI code of ours
    faketime            # libfaketime: tests/faults moves the CLI's clock years
                        # off to check the TLS certificate-date error (rule 14)
    # Operations (issue 20): the TLS scanners that check the server's
    # profile (ctest server_tls runs sslscan; testssl.sh for a full audit,
    # docs/SERVER.md), and systemd-analyze for the package's unit.
    sslscan
    testssl.sh
    systemd             # systemd-analyze verify (ctest package_deb)
    curl                # package_deb asks the unpacked server's /healthz
    dpkg-dev            # dpkg-shlibdeps: the package's library dependencies
    valgrind            # callgrind: instructions per record (bench/callgrind.sh,
                        # bench_phone; <valgrind/callgrind.h>)
)

# The :arm64 and :armhf packages above need those architectures known to
# dpkg first (then fds_apt_install's apt-get update fetches their lists).
fds_multiarch() {
    local a known
    known=$(dpkg --print-foreign-architectures)
    for a in arm64 armhf; do
        if ! grep -qx "$a" <<<"$known"; then
            fds_say "setup: dpkg --add-architecture $a"
            fds_as_root dpkg --add-architecture "$a"
        fi
    done
}
fds_multiarch

web_args=()
for arg in "$@"; do
    case "$arg" in
        --no-browser) web_args+=(--no-browser) ;;
        -h|--help)    fds_usage "$0"; exit 0 ;;
        *)            fds_die "setup: unknown option '$arg' (see --help)" ;;
    esac
done

fds_apt_install setup "${FDS_PACKAGES[@]}"

# glibc's zh_CN.UTF-8: `customer list` and `export` sort Chinese names by
# pinyin with it (client-cli/collate.c) and tests/cli fails without it.
# Debian's `locales` has the definition but compiles only the locales that
# are uncommented in /etc/locale.gen, so uncomment (or add) that line and
# run locale-gen, only when `locale -a` lacks it.
# (`locale -a` is read into a variable first: with pipefail, grep -q
# closing the pipe early could fail the test by SIGPIPE.)
fds_has_zh_locale() {
    local all
    all=$(locale -a 2>/dev/null || true)
    grep -qix 'zh_CN\.utf-\{0,1\}8' <<<"$all"
}
fds_zh_locale() {
    local gen=/etc/locale.gen line='zh_CN.UTF-8 UTF-8'
    if fds_has_zh_locale; then
        fds_say "setup: locale zh_CN.UTF-8 already generated"
        return 0
    fi
    fds_say "setup: generating locale zh_CN.UTF-8"
    if [ -f "$gen" ] && grep -q "^# *$line\$" "$gen"; then
        fds_as_root sed -i "s/^# *\($line\)\$/\1/" "$gen"
    elif ! { [ -f "$gen" ] && grep -q "^$line\$" "$gen"; }; then
        printf '%s\n' "$line" | fds_as_root tee -a "$gen" >/dev/null
    fi
    fds_as_root locale-gen </dev/null
    fds_has_zh_locale ||
        fds_die "setup: locale-gen did not produce zh_CN.UTF-8 (see $gen)"
}
fds_zh_locale

if [ -f "$FDS_ROOT/scripts/setup-web.sh" ]; then
    bash "$FDS_ROOT/scripts/setup-web.sh" "${web_args[@]}"
fi
fds_say "setup: done"
