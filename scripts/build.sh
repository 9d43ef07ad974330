#!/usr/bin/env bash
# scripts/build.sh — configure and build fieldsync.
#
# Usage: scripts/build.sh [--release] [--sanitize] [--core-only] [--fuzz]
#                         [--arm64] [--armhf]
#   (no option)   build/          the normal build (RelWithDebInfo)
#   --release     build-release/  optimised, what serve.sh runs
#   --sanitize    build-asan/     AddressSanitizer + UndefinedBehaviorSanitizer
#   --core-only   build-core/     core + protocol only: no libwebsockets/OpenSSL
#   --fuzz        build-fuzz/     clang, libFuzzer targets (implies core only)
#   --arm64       build-arm64/    core + protocol cross-built for 64-bit ARM
#   --armhf       build-armhf/    the same for 32-bit ARM (hard float); both
#                                 run their ctest under qemu-user
# Options combine: --sanitize --core-only builds build-asan-core/.
# Does not install packages: run scripts/setup.sh first on a new machine.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

features=()
for arg in "$@"; do
    case "$arg" in
        --release)   features+=(release) ;;
        --sanitize)  features+=(asan) ;;
        --core-only) features+=(core) ;;
        --fuzz)      features+=(fuzz) ;;
        --arm64)     features+=(arm64) ;;
        --armhf)     features+=(armhf) ;;
        -h|--help)   fds_usage "$0"; exit 0 ;;
        *)           fds_die "unknown option '$arg' (see --help)" ;;
    esac
done
# Sorted and unique, so the same options in any order share one folder.
mapfile -t features < <(printf '%s\n' "${features[@]}" | sort -u | sed '/^$/d')
fds_build "${features[@]}"
fds_say "built in $(fds_build_dir "${features[@]}")"
