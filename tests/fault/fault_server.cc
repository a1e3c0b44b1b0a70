// durus_fault_server: the real protocol-1 server (server/server.h) on a real
// Berkeley DB home, with bdb/fault_injection.h's hooks installed, for
// tests/fault/test_server_faults.py.  Identical to `durus-bdb serve` except
// that its I/O can be made to fail:
//
//   durus_fault_server HOME DURABILITY FAULT_SPEC
//
// listens on 127.0.0.1 (a free port; the log's "ready on HOST:PORT" line
// names it).  SIGUSR1 arms FAULT_SPEC (bdb/fault_injection.h syntax, e.g.
// "write:ENOSPC:log."), SIGUSR2 disarms it, SIGTERM/SIGINT stop the server
// cleanly (exit 0 if the storage closed cleanly, 1 if closing reported an
// error, as after a Berkeley DB panic).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>

#include "bdb/bdb_storage.h"
#include "bdb/fault_injection.h"
#include "server/log.h"
#include "server/server.h"

namespace {

std::atomic<durus::server::Server*> g_server{nullptr};
durus::fault::FaultSpec g_spec;

void OnStop(int) {
  durus::server::Server* s = g_server.load();
  if (s != nullptr) s->SignalStop();
}
void OnArm(int) { durus::fault::ArmFault(g_spec); }
void OnDisarm(int) { durus::fault::DisarmFault(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: durus_fault_server HOME DURABILITY FAULT_SPEC\n");
    return 2;
  }
  durus::Status st = durus::fault::ParseFaultSpec(argv[3], &g_spec);
  durus::BdbOptions bdb;
  durus::Durability durability = durus::Durability::kSync;
  if (st.ok()) st = durus::ParseDurability(argv[2], &durability);
  bdb.durability = durability;
  if (st.ok()) st = durus::fault::InstallFaultHooks();
  if (!st.ok()) {
    fprintf(stderr, "%s\n", st.ToString().c_str());
    return 2;
  }
  bdb.checkpoint_interval_ms = 50;
  bdb.log_file_mb = 1;
  namespace srv = durus::server;
  srv::Logger log(srv::LogLevel::kInfo);
  std::unique_ptr<durus::Storage> storage;
  st = durus::OpenBdbStorage(argv[1], bdb, &storage);
  if (!st.ok()) {
    fprintf(stderr, "cannot open %s: %s\n", argv[1], st.ToString().c_str());
    return 1;
  }
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = OnStop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = OnArm;
  sigaction(SIGUSR1, &sa, nullptr);
  sa.sa_handler = OnDisarm;
  sigaction(SIGUSR2, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  int rc = 0;
  {
    srv::ServerOptions options;
    options.listen.host = "127.0.0.1";
    options.listen.port = 0;
    options.threads = 8;
    srv::Server server(storage.get(), options, &log);
    st = server.Start();
    if (!st.ok()) {
      fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    g_server.store(&server);
    server.Wait();
    g_server.store(nullptr);
    durus::fault::DisarmFault();
    st = storage->Close();
    durus::fault::FaultCounters c = durus::fault::GetFaultCounters();
    log.Log(srv::LogLevel::kInfo, "faults injected: %llu; storage close: %s",
            static_cast<unsigned long long>(c.injected), st.ok() ? "ok" : st.ToString().c_str());
    if (!st.ok()) rc = 1;
  }
  return rc;
}
