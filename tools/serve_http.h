// `durus-bdb serve --http`: starts the monitoring endpoints
// (server/http/http_server.h) for a running server, with Berkeley DB's
// cache and log figures when the storage is a home (bdb/env_figures.h).
// Kept out of cmd_serve.cc so that the subcommand only calls it.
//
// Ownership: the returned HttpServer borrows `server` and `storage`;
// destroy it (it stops) before closing the storage.
#ifndef DURUS_BDB_TOOLS_SERVE_HTTP_H_
#define DURUS_BDB_TOOLS_SERVE_HTTP_H_

#include <memory>
#include <string>

#include "engine/status.h"
#include "engine/storage.h"
#include "server/http/http_server.h"
#include "server/log.h"
#include "server/server.h"

namespace durus::tools {

// For CLI11's check(): "" if `spec` is a valid --http address, else why.
std::string CheckHttpAddress(const std::string& spec);

// `spec` as given to --http ("PORT" or "HOST:PORT").
Status StartHttp(const std::string& spec, const server::Server* server, Storage* storage,
                 server::Logger* log, std::unique_ptr<server::HttpServer>* out);

}  // namespace durus::tools

#endif  // DURUS_BDB_TOOLS_SERVE_HTTP_H_
