# 32-bit ARM, hard float (armhf / ARMv7): older and low-end phones.  It is
# the build that finds 32-bit size_t and long, and alignment faults.
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armhf.cmake \
#         -DFIELDSYNC_CORE_ONLY=ON
# (scripts/build.sh --armhf does this.)
set(FDS_CROSS_TRIPLET arm-linux-gnueabihf)
set(FDS_CROSS_PROCESSOR armv7l)
set(FDS_QEMU_ARCH arm)
include(${CMAKE_CURRENT_LIST_DIR}/cross-debian.cmake)
