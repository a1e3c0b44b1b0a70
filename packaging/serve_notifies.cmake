# Sets DURUS_BDB_SERVE_NOTIFIES (TRUE/FALSE): whether `durus-bdb serve`
# (tools/cmd_serve.cc) reports readiness to systemd through
# util/sd_notify.h.  The unit is Type=notify when it does (Type=exec
# before), and tests/packaging checks the notifications once they exist.
file(READ ${CMAKE_SOURCE_DIR}/tools/cmd_serve.cc _durus_cmd_serve)
string(FIND "${_durus_cmd_serve}" "sdnotify::Ready" _durus_ready_at)
if(_durus_ready_at EQUAL -1)
  set(DURUS_BDB_SERVE_NOTIFIES FALSE)
else()
  set(DURUS_BDB_SERVE_NOTIFIES TRUE)
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tools/cmd_serve.cc)
