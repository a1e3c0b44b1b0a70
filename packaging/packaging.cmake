# Install rules beyond the binary (tools/) and the Python package (python/),
# and the Debian package (`cpack -G DEB` in the build tree).  Included at the
# end of the top-level CMakeLists.txt.
#
#   cmake --install build            binary, Python package, systemd unit, docs
#                                    under CMAKE_INSTALL_PREFIX (/usr/local)
#   cd build && cpack -G DEB         durus-bdb_VERSION_ARCH.deb: /usr/bin/durus-bdb,
#                                    /usr/lib/python3/dist-packages/durus_bdb,
#                                    /usr/lib/systemd/system/durus-bdb@.service, docs
include(GNUInstallDirs)

set(DURUS_BDB_PKG_DIR ${CMAKE_CURRENT_LIST_DIR})
# share/doc/durus-bdb (the package's name), not GNUInstallDirs' durus_bdb.
set(DURUS_BDB_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/durus-bdb)
set(DURUS_BDB_DOC_FILES ${CMAKE_SOURCE_DIR}/README.md)
file(GLOB DURUS_BDB_DOC_PAGES ${CMAKE_SOURCE_DIR}/doc/*.md)


# The unit names the binary by its absolute path: one copy for this prefix
# (component service), one for the Debian package's /usr (deb-service).
function(durus_bdb_unit out_dir bindir docdir)
  set(DURUS_BDB_BINDIR ${bindir})
  set(DURUS_BDB_DOCDIR ${docdir})
  foreach(unit durus-bdb@.service durus-bdb-backup@.service)
    configure_file(${DURUS_BDB_PKG_DIR}/${unit}.in ${out_dir}/${unit} @ONLY)
  endforeach()
  configure_file(${DURUS_BDB_PKG_DIR}/durus-bdb-backup@.timer ${out_dir}/durus-bdb-backup@.timer COPYONLY)
endfunction()
durus_bdb_unit(${CMAKE_BINARY_DIR}/packaging
  ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_PREFIX}/${DURUS_BDB_DOCDIR})
durus_bdb_unit(${CMAKE_BINARY_DIR}/packaging/deb /usr/bin /usr/share/doc/durus-bdb)

# systemd reads /usr/local/lib/systemd/system and /usr/lib/systemd/system.
set(DURUS_BDB_UNITS durus-bdb@.service durus-bdb-backup@.service durus-bdb-backup@.timer)
list(TRANSFORM DURUS_BDB_UNITS PREPEND ${CMAKE_BINARY_DIR}/packaging/ OUTPUT_VARIABLE _units)
install(FILES ${_units} DESTINATION lib/systemd/system COMPONENT service)
list(TRANSFORM DURUS_BDB_UNITS PREPEND ${CMAKE_BINARY_DIR}/packaging/deb/ OUTPUT_VARIABLE _units)
install(FILES ${_units} DESTINATION lib/systemd/system COMPONENT deb-service EXCLUDE_FROM_ALL)
install(FILES ${DURUS_BDB_DOC_FILES} DESTINATION ${DURUS_BDB_DOCDIR} COMPONENT doc)
install(FILES ${DURUS_BDB_DOC_PAGES} DESTINATION ${DURUS_BDB_DOCDIR} COMPONENT doc)
install(FILES ${DURUS_BDB_PKG_DIR}/example.conf
        DESTINATION ${DURUS_BDB_DOCDIR}/examples RENAME durus-bdb.conf COMPONENT doc)

# --- the Debian package ------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME durus-bdb)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Berkeley DB storage engine and server for Durus, the Python object database")
set(CPACK_PACKAGE_CONTACT "durus-bdb maintainers <durus-bdb@localhost>" CACHE STRING
    "Maintainer field of the Debian package")
set(CPACK_PACKAGE_INSTALL_DIRECTORY /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# One package holding these components (ALL_COMPONENTS_IN_ONE; component
# mode, since a monolithic package would take every component); the
# `python` component (this prefix's site directory) is left out: the
# package has its own copy in Debian's /usr/lib/python3/dist-packages.
set(CPACK_COMPONENTS_ALL Unspecified deb-python deb-service doc)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The extension is built for one Python (cpython-3XY): that Python exactly.
set(_py "${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}")
math(EXPR _py_next "${Python3_VERSION_MINOR} + 1")
set(_deps "python3 (>= ${_py}), python3 (<< ${Python3_VERSION_MAJOR}.${_py_next}), adduser")
find_program(DPKG_SHLIBDEPS dpkg-shlibdeps)
if(DPKG_SHLIBDEPS)
  # libdb5.3++, zlib1g, libsqlite3-0, libstdc++6, libc6 ... from the binaries.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "${_deps}")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "${_deps}, libdb5.3++, zlib1g, libsqlite3-0, libstdc++6, libgcc-s1, libc6")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${DURUS_BDB_PKG_DIR}/postinst ${DURUS_BDB_PKG_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
