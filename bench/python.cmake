# Python benchmark (issue 3): a script, run on demand, never by ctest:
#   cmake --build <build> --target python_storage_bench
if(TARGET _durus_bdb)
  add_custom_target(python_storage_bench
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/python_storage_bench.py
            --build ${CMAKE_BINARY_DIR} --durus ${DURUS_SOURCE_DIR}
    DEPENDS _durus_bdb
    USES_TERMINAL
    COMMENT "durus_bdb vs Durus FileStorage/SqliteStorage (storage API and Connection)")
endif()
