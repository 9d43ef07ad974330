# shellcheck shell=bash
# scripts/lib.sh — shared by every script in scripts/ (sourced, not run).
#
# Gives: FDS_ROOT (the checkout), fds_say/fds_die (messages on stderr),
# fds_as_root (run a command as root: directly, or through sudo -n),
# fds_build_dir (the build folder for a set of options) and fds_build
# (configure + build one folder).  Every script works from any cwd.

set -euo pipefail

FDS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FDS_JOBS=${FIELDSYNC_JOBS:-2}   # the project's machines have 2 cores
export DEBIAN_FRONTEND=noninteractive

fds_say() { printf '==> %s\n' "$*"; }
fds_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Print the comment block at the top of script $1 (its usage), less the
# shebang and shellcheck directives.
fds_usage() {
    sed -n '2,/^[^#]/{/^#/!d;/shellcheck/d;s/^# \{0,1\}//;p}' "$1"
}

# Run "$@" as root.  Root runs it directly; anyone else needs sudo that does
# not prompt (CI and the scripts never have a terminal to answer on).
fds_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@" || fds_die "needs root: run as root or with sudo (sudo -n $1 failed)"
    else
        fds_die "needs root to run '$1' and sudo is not installed: run this script as root"
    fi
}

# fds_apt_install WHO PACKAGE...: install those of the Debian packages that
# dpkg says are not installed; apt-get (update + install) runs only when
# one is missing, so a ready machine needs no network.  WHO names the
# caller in the messages.
fds_apt_install() {
    local who=$1 p status missing=()
    shift
    for p in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$status" = installed ] || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        fds_say "$who: all $# packages already installed"
        return 0
    fi
    fds_say "$who: installing ${missing[*]}"
    fds_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    fds_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}" </dev/null
}

# A build is named by the features it has, any of: release, asan, core,
# fuzz, deb (Release for /usr, no tests: scripts/package.sh), arm64, armhf (the last two cross-build core + protocol for ARM with
# cmake/toolchain-*.cmake; their tests run under qemu-user).  fds_build_dir FEATURE... gives its folder: build/ for none, else
# build-<features joined by ->/, e.g. build-asan/, build-core/.
fds_build_dir() {
    local IFS=-
    if [ $# -eq 0 ]; then echo "$FDS_ROOT/build"; else echo "$FDS_ROOT/build-$*"; fi
}

# fds_configure FEATURE...: configure the folder for those features.  The
# cmake options for each feature live here only, so build.sh, serve.sh and
# test.sh always build a kind the same way.
fds_configure() {
    local dir f cc="" opts=()
    dir=$(fds_build_dir "$@")
    for f in "$@"; do
        case "$f" in
            release) opts+=(-DCMAKE_BUILD_TYPE=Release) ;;
            deb)     opts+=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
                            -DFIELDSYNC_TESTS=OFF -DFIELDSYNC_BENCH=OFF) ;;
            asan)    opts+=(-DFIELDSYNC_SANITIZE=ON) ;;
            core)    opts+=(-DFIELDSYNC_CORE_ONLY=ON) ;;
            fuzz)    opts+=(-DFIELDSYNC_FUZZ=ON -DFIELDSYNC_CORE_ONLY=ON); cc=clang ;;
            arm64|armhf)
                     opts+=(-DCMAKE_TOOLCHAIN_FILE="$FDS_ROOT/cmake/toolchain-$f.cmake"
                            -DFIELDSYNC_CORE_ONLY=ON -DFIELDSYNC_BENCH=OFF) ;;
            *)       fds_die "unknown build feature '$f'" ;;
        esac
    done
    fds_say "configure ${dir#"$FDS_ROOT"/}${opts[*]:+ ${opts[*]}}"
    if [ -n "$cc" ]; then
        CC=$cc cmake -S "$FDS_ROOT" -B "$dir" "${opts[@]}"
    else
        cmake -S "$FDS_ROOT" -B "$dir" "${opts[@]}"
    fi
}

# fds_compile DIR [TARGET...]: build the given targets (default: all).
fds_compile() {
    local dir=$1 targets=()
    shift
    for t in "$@"; do targets+=(--target "$t"); done
    fds_say "build ${dir#"$FDS_ROOT"/}${*:+ ($*)} (-j$FDS_JOBS)"
    cmake --build "$dir" -j"$FDS_JOBS" "${targets[@]}"
}

# fds_build FEATURE...: configure and build everything in that folder.
fds_build() {
    fds_configure "$@"
    fds_compile "$(fds_build_dir "$@")"
}
