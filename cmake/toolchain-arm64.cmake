# 64-bit ARM (arm64 / aarch64), what current phones run.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake \
#         -DFIELDSYNC_CORE_ONLY=ON
# (scripts/build.sh --arm64 does this.)
set(FDS_CROSS_TRIPLET aarch64-linux-gnu)
set(FDS_CROSS_PROCESSOR aarch64)
set(FDS_QEMU_ARCH aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/cross-debian.cmake)
