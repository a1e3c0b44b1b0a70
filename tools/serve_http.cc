#include "tools/serve_http.h"

#include "bdb/bdb_storage.h"
#include "bdb/env_figures.h"

namespace durus::tools {

std::string CheckHttpAddress(const std::string& spec) {
  std::string host;
  int port = 0;
  Status s = server::ParseHttpAddress(spec, &host, &port);
  return s.ok() ? std::string() : s.message();
}

Status StartHttp(const std::string& spec, const server::Server* server, Storage* storage,
                 server::Logger* log, std::unique_ptr<server::HttpServer>* out) {
  std::string host;
  int port = 0;
  DURUS_RETURN_IF_ERROR(server::ParseHttpAddress(spec, &host, &port));
  server::EngineFiguresFn engine;
  if (auto* home = dynamic_cast<BdbHandle*>(storage)) {
    engine = [home](server::EngineFigures* f) {
      BdbEnvFigures b;
      DURUS_RETURN_IF_ERROR(GetBdbEnvFigures(home, &b));
      f->cache_hits = b.cache_hits;
      f->cache_misses = b.cache_misses;
      f->cache_bytes = b.cache_bytes;
      f->log_written_bytes = b.log_written_bytes;
      f->log_flushes = b.log_flushes;
      f->log_disk_bytes = b.log_disk_bytes;
      return Status::OK();
    };
  }
  auto http = std::make_unique<server::HttpServer>(server, storage, std::move(engine), log);
  DURUS_RETURN_IF_ERROR(http->Start(host, port));
  *out = std::move(http);
  return Status::OK();
}

}  // namespace durus::tools
