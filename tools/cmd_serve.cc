// durus-bdb serve: run the Durus protocol-1 storage server on a home
// (server/server.h).  Stops on a client's Q (`durus-bdb stop`), SIGINT or
// SIGTERM: the commit in progress finishes, connections close, the storage
// is closed (checkpointed), then the listening socket goes away.
#include <malloc.h>
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <iostream>
#include <memory>

#include "bdb/bdb_storage.h"
#include "engine/memory_storage.h"
#include "server/flags.h"
#include "server/log.h"
#include "server/server.h"
#include "tools/command.h"

namespace {

using durus::Status;
namespace srv = durus::server;

const char kUsage[] =
    "usage: durus-bdb serve [OPTIONS]\n"
    "\n"
    "Serve a durus-bdb home to Durus clients (ClientStorage, protocol 1).\n"
    "\n"
    "  --home DIR          the home (default ./durus-data; created if missing)\n"
    "%s"
    "  --durability MODE   sync (default: a commit is acknowledged once on disk;\n"
    "                      concurrent commits share fsyncs), write_nosync\n"
    "                      (survives a process crash), nosync\n"
    "  --threads N         worker threads serving requests (default 16)\n"
    "  --max-commit-bytes N  largest commit accepted (default 268435456); a client\n"
    "                      sending more is dropped\n"
    "  --commit-grace S    how long a committer's client may take to send its\n"
    "                      commit data while holding up other committers\n"
    "                      (default 2; then a log line, and its commit goes\n"
    "                      ahead only if nothing it read changed meanwhile)\n"
    "  --max-request-memory N  request bytes (commit data, bulk-load oid lists)\n"
    "                      held at once over all clients (default 536870912);\n"
    "                      past it a request waits, then its client is dropped\n"
    "  --max-unused-oids N oids a client may hold from N/M without storing them\n"
    "                      (default 8388608); past it the client is dropped\n"
    "  --idle-timeout S    a request must arrive and its reply be taken within S\n"
    "                      seconds (+1 s per MiB) or the client is dropped\n"
    "                      (default 10; 0: never).  Idle clients between\n"
    "                      requests are kept.\n"
    "  --cache-mb N        Berkeley DB cache size (default 64)\n"
    "  --log-file-mb N     size of each Berkeley DB log file (default 32)\n"
    "  --batch N           tuning: ready connections a worker serves per wake-up\n"
    "                      (1-8, default 4)\n"
    "  --log-archive DIR   archive the home's log files into DIR instead of\n"
    "                      removing them (for `durus-bdb restore`); kept in the\n"
    "                      home for later opens; `off` stops archiving\n"
    "  --log-archive-max-age AGE   prune archived logs older than AGE (e.g. 14d,\n"
    "                      12h; default: keep)\n"
    "  --log-archive-max-size SIZE prune the oldest archived logs beyond SIZE\n"
    "                      in total (e.g. 50G, 800M; default: keep)\n"
    "  --allow-from CIDRS  TCP clients allowed to connect, e.g. 10.0.0.0/8,fd00::/8\n"
    "                      (default: anyone who reaches the port; a warning is\n"
    "                      logged when listening beyond loopback without it)\n"
    "  --allow-stop WHO    who may stop the server with Q: local (default: loopback\n"
    "                      TCP, or a unix-socket peer with the server's uid), any\n"
    "                      (Durus's behaviour), none (only signals stop it)\n"
    "  --read-only         serve loads, bulk loads and syncs only; a client asking\n"
    "                      for new oids, a commit or a pack is dropped (the home\n"
    "                      is opened read-only)\n"
    "  --max-clients N     most client connections at once (default: what the\n"
    "                      descriptor limit allows, keeping 32 for the storage);\n"
    "                      further connections are closed at once\n"
    "  --log-level L       error, warn, info (default: a line per connection and\n"
    "                      per commit), debug (a line per request)\n"
    "  --memory            serve an in-memory storage instead (testing only;\n"
    "                      nothing is kept)\n"
    "\n"
    "Prints \"ready on ADDRESS\" on stderr once listening.  Stop it with\n"
    "`durus-bdb stop` (same address options), SIGINT or SIGTERM.  Protocol 1 has\n"
    "no authentication: see doc/security.md before listening beyond loopback.\n";

// "14d" -> 14 * 86400 with kAgeUnits; "50G" -> 50 << 30 with kSizeUnits.
struct Unit {
  char suffix;
  uint64_t factor;
};
constexpr Unit kAgeUnits[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {0, 0}};
constexpr Unit kSizeUnits[] = {{'K', 1ull << 10}, {'M', 1ull << 20}, {'G', 1ull << 30},
                               {'T', 1ull << 40}, {0, 0}};

Status ParseAmount(const std::string& flag, const std::string& text, const Unit* units,
                   uint64_t* out) {
  size_t digits = text.find_first_not_of("0123456789");
  uint64_t factor = 0;
  if (digits != 0 && digits != std::string::npos && digits + 1 == text.size()) {
    for (const Unit* u = units; u->suffix != 0; ++u) {
      if (u->suffix == text[digits]) factor = u->factor;
    }
  }
  if (factor == 0 || digits > 12) {
    std::string examples = units == kAgeUnits ? "14d, 12h, 90m" : "50G, 800M";
    return Status::InvalidArgument("--" + flag + " " + text + ": expected a number and a unit (" +
                                   examples + ")");
  }
  *out = std::stoull(text.substr(0, digits)) * factor;
  return Status::OK();
}

std::atomic<srv::Server*> g_server{nullptr};
volatile sig_atomic_t g_signalled = 0;

void OnSignal(int) {
  g_signalled = 1;
  srv::Server* s = g_server.load();
  if (s != nullptr) s->SignalStop();  // async-signal-safe (an eventfd write)
}

int Serve(const std::vector<std::string>& args) {
  std::string home = "./durus-data";
  srv::ServerOptions options;
  durus::BdbOptions bdb;
  srv::LogLevel level = srv::LogLevel::kInfo;
  bool memory = false;

  srv::FlagReader flags(args);
  std::string name;
  Status st;
  while (flags.Next(&name, &st)) {
    int64_t n = 0;
    std::string v;
    if (!st.ok()) {
    } else if (name == "help" || name == "h") {
      printf(kUsage, srv::kAddressFlagsHelp);
      return 0;
    } else if (srv::ParseAddressFlag(name, &flags, &options.listen, &st)) {
    } else if (name == "home") {
      st = flags.Value(&home);
    } else if (name == "durability") {
      st = flags.Value(&v);
      if (st.ok()) st = durus::ParseDurability(v, &bdb.durability);
    } else if (name == "threads") {
      st = flags.IntValue(1, 4096, &n);
      options.threads = static_cast<int>(n);
    } else if (name == "max-commit-bytes") {
      st = flags.IntValue(1024, 0xffffffffLL, &n);
      options.max_commit_bytes = static_cast<uint64_t>(n);
    } else if (name == "commit-grace") {
      st = flags.DoubleValue(0.001, &options.commit_grace_s);
    } else if (name == "max-request-memory") {
      st = flags.IntValue(1 << 20, INT64_MAX, &n);
      options.max_request_memory = static_cast<uint64_t>(n);
    } else if (name == "max-unused-oids") {
      st = flags.IntValue(256, INT64_MAX, &n);
      options.max_unused_oids = static_cast<uint64_t>(n);
    } else if (name == "idle-timeout") {
      st = flags.DoubleValue(0, &options.idle_timeout_s);
    } else if (name == "batch") {
      st = flags.IntValue(1, 8, &n);
      options.batch = static_cast<int>(n);
    } else if (name == "cache-mb") {
      st = flags.IntValue(1, 1 << 20, &n);
      bdb.cache_mb = static_cast<uint32_t>(n);
    } else if (name == "log-archive") {
      st = flags.Value(&bdb.log_archive);
    } else if (name == "log-archive-max-age" || name == "log-archive-max-size") {
      st = flags.Value(&v);
      if (st.ok()) {
        st = ParseAmount(name, v, name == "log-archive-max-age" ? kAgeUnits : kSizeUnits,
                         name == "log-archive-max-age" ? &bdb.log_archive_max_age_s
                                                       : &bdb.log_archive_max_bytes);
      }
    } else if (name == "log-file-mb") {
      st = flags.IntValue(1, 1024, &n);
      bdb.log_file_mb = static_cast<uint32_t>(n);
    } else if (name == "log-level") {
      st = flags.Value(&v);
      if (st.ok()) st = srv::ParseLogLevel(v, &level);
    } else if (name == "allow-from") {
      st = flags.Value(&v);
      if (st.ok()) st = srv::ParseCidrList(v, &options.access.allow_from);
    } else if (name == "allow-stop") {
      st = flags.Value(&v);
      if (st.ok()) st = srv::ParseStopPolicy(v, &options.access.allow_stop);
    } else if (name == "read-only") {
      options.read_only = true;
    } else if (name == "max-clients") {
      st = flags.IntValue(1, 1 << 24, &n);
      options.max_clients = static_cast<size_t>(n);
    } else if (name == "memory") {
      memory = true;
    } else {
      st = Status::InvalidArgument("unknown option --" + name + " (see --help)");
    }
    if (!st.ok()) return durus::tools::Fail("serve", st.message(), 2);
  }

  // From here on SIGINT/SIGTERM only set a flag (or stop the running
  // server): a signal while the storage opens stops the server as soon as
  // it has started, after a clean open.
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Large buffers (commit data, replies) straight from mmap, so that
  // freeing them returns the memory at once; glibc's default threshold
  // grows with every large free and then keeps such buffers in the heap.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // Clients cost a descriptor each: use what the hard limit allows.
  srv::RaiseDescriptorLimit();
  bdb.readonly = options.read_only;

  srv::Logger log(level);
  std::unique_ptr<durus::Storage> storage;
  if (memory) {
    storage = std::make_unique<durus::MemoryStorage>();
  } else {
    st = durus::OpenBdbStorage(home, bdb, &storage);
    if (!st.ok()) return durus::tools::Fail("serve", "cannot open " + home + ": " + st.ToString());
  }

  int rc = 0;
  {
    if (!memory) options.status_path = home + "/" + srv::kServerStatusFile;
    srv::Server server(storage.get(), options, &log);
    st = server.Start();
    if (!st.ok()) {
      storage->Close().IgnoreError();
      return durus::tools::Fail("serve", st.ToString());
    }
    g_server.store(&server);
    if (g_signalled) server.SignalStop();  // a signal before the handler could reach it
    server.Wait();
    g_server.store(nullptr);
    st = storage->Close();
    if (st.ok()) {
      log.Log(srv::LogLevel::kInfo, "storage closed: %s", storage->Describe().c_str());
    } else {
      log.Log(srv::LogLevel::kError, "closing the storage failed: %s", st.ToString().c_str());
      rc = 1;
    }
    // ~Server closes the listening socket last: `durus-bdb stop` waits for
    // that, so the home is free once stop returns.
  }
  return rc;
}

const durus::tools::CommandRegistration kReg{
    "serve", "run the Durus storage server (protocol 1) on a home", &Serve};

}  // namespace
