# Migration benchmark (issue 6, "Performance"): bench/migrate_bench.cc.
# Not a test.  Run: <build>/bench/migrate_bench [--objects N] [--big N] [--dir DIR]
# It includes db_cxx.h for the raw Berkeley DB bulk-load peer.
if(TARGET durus_migrate)
  add_executable(migrate_bench ${CMAKE_CURRENT_LIST_DIR}/migrate_bench.cc)
  target_include_directories(migrate_bench PRIVATE ${BDB_INCLUDE_DIR})
  target_link_libraries(migrate_bench PRIVATE durus_migrate durus_bdb_storage durus_engine
                        ${BDB_CXX_LIBRARY} Threads::Threads)
endif()
