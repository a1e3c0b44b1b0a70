// The Prometheus text exposition format (version 0.0.4) of a Snapshot:
// `# HELP` and `# TYPE` lines, then `name{labels} value` lines, every name
// prefixed `durus_bdb_`.  doc/operations.md ("Monitoring") lists them.
//
// Threading: a pure function.
#ifndef DURUS_BDB_SERVER_HTTP_EXPOSITION_H_
#define DURUS_BDB_SERVER_HTTP_EXPOSITION_H_

#include <string>

#include "server/http/monitor.h"

namespace durus::server {

// Content-Type of the text format.
constexpr const char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

std::string RenderExposition(const Snapshot& s);

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_HTTP_EXPOSITION_H_
