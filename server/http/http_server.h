// HttpServer: `durus-bdb serve --http HOST:PORT`, monitoring over HTTP on
// cpp-httplib (Debian's libcpp-httplib-dev):
//   /metrics      the Prometheus text format (exposition.h)
//   /healthz      200 "ok" while serving; 503 and the reason when the
//                 server is stopping or the storage failed (a panicked
//                 Berkeley DB environment)
//   /api/series   JSON: the current figures and one sample per second for
//                 the last 10 minutes (monitor.h)
//   /             the status page (status_page.html, compiled in: no
//                 external assets), which polls /api/series every second
// Read-only: nothing here changes the server or the storage, and it
// never touches the Durus protocol's sockets.
//
// Ownership: borrows the server, the storage and the engine source; Stop()
// (or the destructor) must run before the storage is closed.
// Threading: Start/Stop from one thread.  Its own threads: the listener
// (cpp-httplib's accept loop), a pool of two request threads, and the
// sampler (one Monitor::Tick a second).  Stop() joins them all; a
// keep-alive or stalled client delays it by about a second at most.
#ifndef DURUS_BDB_SERVER_HTTP_HTTP_SERVER_H_
#define DURUS_BDB_SERVER_HTTP_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "engine/status.h"
#include "engine/storage.h"
#include "server/http/monitor.h"
#include "server/log.h"
#include "server/server.h"
#include "util/mutex.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace durus::server {

// "PORT" (loopback: 127.0.0.1), "HOST:PORT" or "[IPV6]:PORT"; port 0 lets
// the kernel choose.
Status ParseHttpAddress(const std::string& spec, std::string* host, int* port);

class HttpServer {
 public:
  HttpServer(const Server* server, Storage* storage, EngineFiguresFn engine, Logger* log);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; logs "http on HOST:PORT".
  Status Start(const std::string& host, int port);
  // Idempotent.
  void Stop() EXCLUDES(mu_);
  int port() const { return port_; }

 private:
  void SampleLoop() EXCLUDES(mu_);
  std::string SeriesJson();

  Monitor monitor_;
  Logger* const log_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::thread listen_thread_;
  std::thread sample_thread_;
  util::Mutex mu_;
  util::CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_HTTP_HTTP_SERVER_H_
