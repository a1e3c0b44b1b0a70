# Core storage benchmark (issue 2, "Performance"): bench/core_bench.cc.
# Not a test: run it by hand, see bench/README.md.  It is the one place
# outside bdb/ that includes db_cxx.h, for the raw Berkeley DB baseline.
add_executable(core_bench ${CMAKE_CURRENT_LIST_DIR}/core_bench.cc)
target_include_directories(core_bench PRIVATE ${BDB_INCLUDE_DIR})
target_link_libraries(core_bench PRIVATE durus_bdb_storage durus_engine ZLIB::ZLIB
                      ${BDB_CXX_LIBRARY} Threads::Threads)

# The price of single Berkeley DB operations in the storage's environment
# (explains core_bench's ratios; bench/README.md "Where the time goes").
add_executable(core_ops_bench ${CMAKE_CURRENT_LIST_DIR}/core_ops_bench.cc)
target_include_directories(core_ops_bench PRIVATE ${BDB_INCLUDE_DIR})
target_link_libraries(core_ops_bench PRIVATE durus_bdb_storage durus_engine ${BDB_CXX_LIBRARY})
