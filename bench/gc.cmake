# Garbage-collection benchmark (issue 5, "Performance"): bench/gc_bench.cc.
# Not a test: run it by hand (gc_bench --help).  Includes db_cxx.h for the
# raw Berkeley DB delete baseline, as core_bench does.
add_executable(gc_bench ${CMAKE_CURRENT_LIST_DIR}/gc_bench.cc)
target_include_directories(gc_bench PRIVATE ${BDB_INCLUDE_DIR})
target_link_libraries(gc_bench PRIVATE durus_bdb_storage durus_engine ${BDB_CXX_LIBRARY}
                      Threads::Threads)
