# Server benchmark: a protocol-1 load generator (bench/server_bench.sh runs
# it against durus-bdb serve and Durus's StorageServer).
add_executable(server_loadgen ${CMAKE_CURRENT_LIST_DIR}/server_loadgen.cc)
target_link_libraries(server_loadgen PRIVATE durus_engine Threads::Threads)
