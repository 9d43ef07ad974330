# cross-debian.cmake — shared by the toolchain files beside it: build for
# FDS_CROSS_TRIPLET with Debian's cross gcc against the multiarch -dev
# packages of that architecture (dpkg --add-architecture; scripts/setup.sh
# installs them), and run what is built under qemu-user.
#
# Debian's cross gcc searches its own libc's headers first, then
# /usr/include/TRIPLET and /usr/include, where the multiarch -dev packages
# put their headers; the libraries are in /usr/lib/TRIPLET, which the .pc
# files below name.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${FDS_CROSS_PROCESSOR})
set(CMAKE_C_COMPILER ${FDS_CROSS_TRIPLET}-gcc)
set(CMAKE_AR ${FDS_CROSS_TRIPLET}-ar CACHE FILEPATH "")
set(CMAKE_NM ${FDS_CROSS_TRIPLET}-nm CACHE FILEPATH "")
set(CMAKE_STRIP ${FDS_CROSS_TRIPLET}-strip CACHE FILEPATH "")

# pkg-config reads only the target's .pc files (the host's would hand out
# x86-64 libraries).
set(ENV{PKG_CONFIG_LIBDIR}
    "/usr/lib/${FDS_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

set(CMAKE_FIND_ROOT_PATH /usr/${FDS_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)

# ctest runs every test binary through qemu-user: binfmt_misc is not
# needed (a container rarely has it).  -L gives qemu the target's loader.
find_program(FDS_QEMU qemu-${FDS_QEMU_ARCH} REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${FDS_QEMU} -L /usr/${FDS_CROSS_TRIPLET})
