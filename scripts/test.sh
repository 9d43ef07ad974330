#!/usr/bin/env bash
# scripts/test.sh — set up a machine and run every fieldsync test.
#
# Stages, in order; the first failure stops the run with a non-zero exit:
#   setup   scripts/setup.sh (installs only what is missing)
#   normal  build/      + ctest
#   asan    build-asan/ (ASan + UBSan) + ctest
#   core    build-core/ (core + protocol only: proves neither needs
#           libwebsockets or OpenSSL) + ctest
#   arm     build-arm64/ and build-armhf/: core + protocol cross-built for
#           64- and 32-bit ARM (cmake/toolchain-*.cmake), ctest under
#           qemu-user; prints the stripped libfieldsync.so size of each
#   fuzz    build-fuzz/ (clang, libFuzzer): the fuzz_* targets, then
#           fuzz/run.sh BUILD SECONDS
#   release build-release/ (-O3): built, not tested again; it is what
#           scripts/serve.sh runs, so CI proves the README's first command
#           builds (and serve.sh then starts without a rebuild)
#
# Environment:
#   FIELDSYNC_FUZZ_SECONDS  seconds per fuzz target (default 60; 0 skips fuzzing
#                           but still builds the fuzz targets)
#   FIELDSYNC_TEST_TIMEOUT  seconds one ctest test may take (default 300)
#   FIELDSYNC_STAGES        stages to run, e.g. "normal core" (default: all)
#   FIELDSYNC_ARM_SEEDS     seeds of the convergence property test under qemu
#                           (default 100; natively it runs 2000: emulation is
#                           about 10x slower, and the ARM builds are there for
#                           word size and alignment, which every seed shows)
# The last line is "N passed, N failed", summed over the ctest runs.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fuzz_seconds=${FIELDSYNC_FUZZ_SECONDS:-60}
test_timeout=${FIELDSYNC_TEST_TIMEOUT:-300}
stages=${FIELDSYNC_STAGES:-setup normal asan core arm fuzz release}
log_dir=$(mktemp -d)

# Sanitizer reports must fail the test that triggers them, with a stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

total_passed=0
total_failed=0
summary=()          # one line per stage that ran
current=""          # the stage running now, named in the summary if it fails
stage_note=""       # what the running stage found, for its summary line
t_start=$SECONDS

print_summary() {
    local rc=$? line
    [ -n "$current" ] && summary+=("$(printf '%-7s FAILED        %s' "$current" "$stage_note")")
    echo
    echo "==================== fieldsync test summary ===================="
    for line in "${summary[@]}"; do echo "  $line"; done
    echo "  total time: $(( SECONDS - t_start )) s"
    if [ "$rc" -eq 0 ]; then
        echo "  result: all stages passed"
    else
        echo "  result: FAILED in stage '${current:-?}' (exit $rc)"
    fi
    echo "${total_passed} passed, ${total_failed} failed"
    rm -rf "$log_dir"
}
trap print_summary EXIT

# stage NAME FUNCTION: run FUNCTION as stage NAME if selected, timing it.
stage() {
    local name=$1 fn=$2 t0=$SECONDS
    case " $stages " in *" $name "*) ;; *) return 0 ;; esac
    current=$name
    echo
    fds_say "stage $name"
    stage_note=""
    "$fn"
    summary+=("$(printf '%-7s ok  %4d s  %s' "$name" $(( SECONDS - t0 )) "$stage_note")")
    current=""
}

# run_ctest DIR: run ctest in DIR, print its output (including its summary
# line) and add its counts to the totals.
run_ctest() {
    local dir=$1 log counts passed failed all
    log="$log_dir/ctest-$(basename "$dir").log"
    fds_say "ctest in ${dir#"$FDS_ROOT"/}"
    set +e
    ctest --test-dir "$dir" --output-on-failure -j"$FDS_JOBS" \
          --no-tests=error --timeout "$test_timeout" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    # "100% tests passed, 0 tests failed out of 42"
    counts=$(sed -n 's/^[0-9]*% tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1 \2/p' "$log" | tail -n 1)
    if [ -n "$counts" ]; then
        read -r failed all <<<"$counts"
        passed=$(( all - failed ))
        total_passed=$(( total_passed + passed ))
        total_failed=$(( total_failed + failed ))
        stage_note="$passed passed, $failed failed"
    else
        stage_note="ctest printed no summary"
    fi
    return "$rc"
}

stage_setup()   { bash "$FDS_ROOT/scripts/setup.sh"; }
stage_normal()  { fds_build;           run_ctest "$(fds_build_dir)"; }
stage_asan()    { fds_build asan;      run_ctest "$(fds_build_dir asan)"; }
stage_core()    { fds_build core;      run_ctest "$(fds_build_dir core)"; }
stage_release() { fds_build release; stage_note="built"; }
stage_arm() {
    local a dir triplet bytes notes="" rc=0
    for a in arm64 armhf; do
        dir=$(fds_build_dir "$a")
        fds_build "$a"
        FDS_SEEDS=${FIELDSYNC_ARM_SEEDS:-100} run_ctest "$dir" || rc=$?
        case "$a" in arm64) triplet=aarch64-linux-gnu ;; *) triplet=arm-linux-gnueabihf ;; esac
        "$triplet-strip" -o "$dir/libfieldsync.stripped" "$dir/core/libfieldsync.so"
        bytes=$(stat -c %s "$dir/libfieldsync.stripped")
        fds_say "arm: $a stripped libfieldsync.so: $bytes bytes"
        notes="$notes${notes:+; }$a: $stage_note, lib $(( bytes / 1024 )) KiB"
        [ "$rc" -eq 0 ] || { stage_note=$notes; return "$rc"; }
    done
    stage_note="$notes (converge: ${FIELDSYNC_ARM_SEEDS:-100} seeds)"
}
# The fuzz stage builds only the fuzz targets (every target named fuzz_*):
# the rest of the tree is already built and tested with gcc above, and the
# project's warning-free rule is for gcc.
stage_fuzz() {
    local dir targets runner="$FDS_ROOT/fuzz/run.sh"
    dir=$(fds_build_dir fuzz)
    fds_configure fuzz
    mapfile -t targets < <(cmake --build "$dir" --target help |
                           sed -n 's/^\.\.\. \(fuzz_[A-Za-z0-9_]*\).*/\1/p')
    if [ ${#targets[@]} -eq 0 ]; then
        echo "fuzz: no fuzz_* targets are defined (fuzz/CMakeLists.txt): nothing to fuzz"
        stage_note="no fuzz targets"
        return 0
    fi
    fds_compile "$dir" "${targets[@]}"
    if [ ! -f "$runner" ]; then
        echo "fuzz: fuzz/run.sh does not exist yet: fuzz targets built, none run"
        stage_note="built; not run (no fuzz/run.sh)"
    elif [ "$fuzz_seconds" -eq 0 ]; then
        echo "fuzz: FIELDSYNC_FUZZ_SECONDS=0: fuzz targets built, none run"
        stage_note="built; not run (FIELDSYNC_FUZZ_SECONDS=0)"
    else
        bash "$runner" "$dir" "$fuzz_seconds"
        stage_note="${targets[*]}: $fuzz_seconds s each"
    fi
}

stage setup   stage_setup
stage normal  stage_normal
stage asan    stage_asan
stage core    stage_core
stage arm     stage_arm
stage fuzz    stage_fuzz
stage release stage_release
