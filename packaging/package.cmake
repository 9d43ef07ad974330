# The Debian package (issue 20): `cpack -G DEB` in a build directory makes
# fieldsync_VERSION_ARCH.deb with the server, the CLI, the dashboard, the
# CLI's templates, the systemd unit and /etc/fieldsync/fieldsync.conf.
# packaging/README.md says why CPack and what the package does on install;
# scripts/package.sh is the production build (Release, prefix /usr).
#
# Included by the top CMakeLists when the server is built.  Everything
# installed goes in, except the `dev` component (libfieldsync's shared
# library, headers and pkg-config file, for phone and desktop apps that
# embed the replica, not for a server).

install(FILES ${CMAKE_SOURCE_DIR}/packaging/fieldsync-server.service
        DESTINATION /lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/fieldsync.conf
        DESTINATION /etc/fieldsync)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/SERVER.md
              ${CMAKE_SOURCE_DIR}/docs/API.md ${CMAKE_SOURCE_DIR}/docs/SECURITY.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME fieldsync)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR fieldsync)
set(CPACK_PACKAGE_CONTACT "fieldsync maintainers <fieldsync@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "offline-first customer follow-up sheet: sync server and command line")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "fieldsync keeps a field sales team's customer follow-up sheets on their
devices, offline, and syncs them with one central server.  This package
holds fieldsync-server (device sync over a TLS WebSocket, the central
office's dashboard and JSON API, health and Prometheus metrics) as a
hardened systemd service, and the fieldsync command line for reps.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Library dependencies from the binaries themselves (dpkg-shlibdeps), plus
# what the maintainer scripts call.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# libwebsockets-evlib-uv: lws loads its libuv plugin with dlopen, which
# dpkg-shlibdeps cannot see (serve --event-loop uv, for many devices).
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libwebsockets-evlib-uv")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/deb/postinst
    ${CMAKE_SOURCE_DIR}/packaging/deb/prerm
    ${CMAKE_SOURCE_DIR}/packaging/deb/postrm
    ${CMAKE_SOURCE_DIR}/packaging/deb/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# One package, every component but dev.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified)
include(CPack)
