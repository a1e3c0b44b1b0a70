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
#include "server/log.h"
#include "server/server.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "tools/serve_http.h"
#include "util/sd_notify.h"

namespace {

using durus::Status;
namespace srv = durus::server;

const char kDescription[] = "Serve a durus-bdb home to Durus clients (ClientStorage, protocol 1).";
const char kFooter[] =
    "Prints \"ready on ADDRESS\" on stderr once listening (whatever\n"
    "--log-level and --log-file; SIGHUP reopens the --log-file).  Stop it with\n"
    "`durus-bdb stop` (same address options), SIGINT or SIGTERM.  Protocol 1 has\n"
    "no authentication: see doc/security.md before listening beyond loopback.";

// "14d" -> 14 * 86400 with kAgeUnits; "50G" -> 50 << 30 with kSizeUnits.
struct Unit {
  char suffix;
  uint64_t factor;
};
constexpr Unit kAgeUnits[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {0, 0}};
constexpr Unit kSizeUnits[] = {
    {'K', 1ull << 10}, {'M', 1ull << 20}, {'G', 1ull << 30}, {'T', 1ull << 40}, {0, 0}};

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
// Atomic, not volatile sig_atomic_t: the handler may run on any thread
// (Berkeley DB's threads do not block the signal), and the main thread
// reads it (TSan reported the volatile, 2026-12-08).  A lock-free atomic
// is async-signal-safe.
std::atomic<int> g_signalled{0};
static_assert(std::atomic<int>::is_always_lock_free);

void OnSignal(int) {
  g_signalled.store(1);
  srv::Server* s = g_server.load();
  if (s != nullptr) s->SignalStop();  // async-signal-safe (an eventfd write)
}

int Serve(const std::vector<std::string>& args) {
  std::string home = "./durus-data";
  srv::ServerOptions options;
  durus::BdbOptions bdb;
  // Given on the command line only when counted (the rest: the home's).
  durus::Durability durability = durus::Durability::kSync;
  uint32_t cache_mb = 64, log_file_mb = 32;
  srv::LogLevel level = srv::LogLevel::kInfo;
  srv::LogFormat log_format = srv::LogFormat::kText;
  std::string log_file;
  bool memory = false;

  CLI::App app{"", "durus-bdb serve"};
  durus::tools::SetUp(&app, kDescription, kFooter);
  app.add_option("--home", home, "the home (default ./durus-data; created if missing)")
      ->type_name("DIR");
  durus::tools::AddAddressFlags(&app, &options.listen, durus::tools::AddressUse::kListen);
  durus::tools::AddParsed(&app, "--durability", &durability, &durus::ParseDurability,
                          "sync (default unless the home keeps another mode,\n"
                          "doc/options.md: a commit is acknowledged once on disk;\n"
                          "concurrent commits share fsyncs), write_nosync\n"
                          "(survives a process crash), nosync")
      ->type_name("MODE");
  app.add_option("--threads", options.threads, "worker threads serving requests (default 16)")
      ->check(durus::util::InRange(1, 4096));
  app.add_option("--max-commit-bytes", options.max_commit_bytes,
                 "largest commit accepted (default 268435456); a client\nsending more is dropped")
      ->check(durus::util::InRange(uint64_t{1024}, uint64_t{0xffffffff}));
  app.add_option("--commit-grace", options.commit_grace_s,
                 "how long a committer's client may take to send its\n"
                 "commit data while holding up other committers\n"
                 "(default 2; then a log line, and its commit goes\n"
                 "ahead only if nothing it read changed meanwhile)")
      ->type_name("S")
      ->check(durus::util::InRange(0.001, 1e12));
  app.add_option("--max-request-memory", options.max_request_memory,
                 "request bytes (commit data, bulk-load oid lists)\n"
                 "held at once over all clients (default 536870912);\n"
                 "past it a request waits, then its client is dropped")
      ->check(durus::util::InRange(uint64_t{1} << 20, uint64_t{INT64_MAX}));
  app.add_option("--max-unused-oids", options.max_unused_oids,
                 "oids a client may hold from N/M without storing them\n"
                 "(default 8388608); past it the client is dropped")
      ->check(durus::util::InRange(uint64_t{256}, uint64_t{INT64_MAX}));
  app.add_option("--idle-timeout", options.idle_timeout_s,
                 "a request must arrive and its reply be taken within S\n"
                 "seconds (+1 s per MiB) or the client is dropped\n"
                 "(default 10; 0: never).  Idle clients between\n"
                 "requests are kept.")
      ->type_name("S")
      ->check(durus::util::NonNegative());
  app.add_option("--cache-mb", cache_mb,
                 "Berkeley DB cache size, used exactly (default: sized to the home, at most the "
                 "home's cache_mb or 64: doc/options.md)")
      ->check(durus::util::InRange(1, 1 << 20));
  app.add_option(
         "--log-file-mb", log_file_mb,
         "size of each log file (default: the home's, or chosen for its size: doc/options.md)")
      ->check(durus::util::InRange(1, 1024));
  app.add_option("--batch", options.batch,
                 "tuning: ready connections a worker serves per wake-up\n(1-8, default 4)")
      ->check(durus::util::InRange(1, 8));
  app.add_option("--log-archive", bdb.log_archive,
                 "archive the home's log files into DIR instead of\n"
                 "removing them (for `durus-bdb restore`); kept in the\n"
                 "home for later opens; `off` stops archiving")
      ->type_name("DIR");
  app.add_option_function<std::string>(
         "--log-archive-max-age",
         [&](const std::string& v) {
           Status s = ParseAmount("log-archive-max-age", v, kAgeUnits, &bdb.log_archive_max_age_s);
           if (!s.ok()) throw CLI::ValidationError(s.message());
         },
         "prune archived logs older than AGE (e.g. 14d,\n12h; default: keep)")
      ->type_name("AGE");
  app.add_option_function<std::string>(
         "--log-archive-max-size",
         [&](const std::string& v) {
           Status s =
               ParseAmount("log-archive-max-size", v, kSizeUnits, &bdb.log_archive_max_bytes);
           if (!s.ok()) throw CLI::ValidationError(s.message());
         },
         "prune the oldest archived logs beyond SIZE\nin total (e.g. 50G, 800M; default: keep)")
      ->type_name("SIZE");
  durus::tools::AddParsed(&app, "--allow-from", &options.access.allow_from, &srv::ParseCidrList,
                          "TCP clients allowed to connect, e.g. 10.0.0.0/8,fd00::/8\n"
                          "(default: anyone who reaches the port; a warning is\n"
                          "logged when listening beyond loopback without it)")
      ->type_name("CIDRS");
  durus::tools::AddParsed(&app, "--allow-stop", &options.access.allow_stop, &srv::ParseStopPolicy,
                          "who may stop the server with Q: local (default: loopback\n"
                          "TCP, or a unix-socket peer with the server's uid), any\n"
                          "(Durus's behaviour), none (only signals stop it)")
      ->type_name("WHO");
  app.add_flag("--read-only", options.read_only,
               "serve loads, bulk loads and syncs only; a client asking\n"
               "for new oids, a commit or a pack is dropped (the home\n"
               "is opened read-only)");
  app.add_option("--max-clients", options.max_clients,
                 "most client connections at once (default: what the\n"
                 "descriptor limit allows, keeping 32 for the storage);\n"
                 "further connections are closed at once")
      ->check(durus::util::InRange(size_t{1}, size_t{1} << 24));
  durus::tools::AddParsed(&app, "--log-level", &level, &srv::ParseLogLevel,
                          "error, warn, info (default: a line per connection and\n"
                          "per commit), debug (a line per request)")
      ->type_name("L");
  app.add_option("--log-file", log_file,
                 "append the log to FILE instead of stderr (reopened on\n"
                 "SIGHUP, for logrotate)")
      ->type_name("FILE");
  durus::tools::AddParsed(&app, "--log-format", &log_format, &srv::ParseLogFormat,
                          "text (default) or json (an object per line: time,\nlevel, msg, fields)")
      ->type_name("F");
  app.add_flag("--memory", memory,
               "serve an in-memory storage instead (testing only;\nnothing is kept)");
  durus::tools::AddReplicationFlags(&app, &bdb.replication);
  std::string http;  // --http: monitoring (tools/serve_http.h)
  app.add_option("--http", http,
                 "serve monitoring over HTTP on [HOST:]PORT (HOST\n"
                 "default 127.0.0.1; port 0: any): /metrics\n"
                 "(Prometheus), /healthz, a status page at /")
      ->type_name("ADDR")
      ->check([](const std::string& v) { return durus::tools::CheckHttpAddress(v); });
  if (auto rc = durus::util::ParseArgs(&app, args)) return *rc;
  Status st;

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
  if (app.count("--durability")) bdb.durability = durability;
  if (app.count("--cache-mb")) bdb.cache_mb = cache_mb;
  if (app.count("--log-file-mb")) bdb.log_file_mb = log_file_mb;
  if (bdb.replication.enabled() && bdb.replication.advertise.empty()) {
    bdb.replication.advertise =
        bdb.replication.listen.host + ":" + std::to_string(options.listen.port);
  }
  if (bdb.replication.enabled() && (memory || options.read_only)) {
    return durus::tools::Fail("serve", "--repl-listen needs a home opened read-write");
  }

  srv::Logger log(level);
  log.set_format(log_format);
  log.set_announce_on_stderr(true);
  if (!log_file.empty()) {
    st = log.OpenFile(log_file);
    if (!st.ok()) return durus::tools::Fail("serve", st.ToString());
  }
  std::unique_ptr<durus::Storage> storage;
  // SIGHUP reopens the log file (no longer kills the server); once a second
  // a pack that finished is logged (the storage's thread has no logger).
  // Declared after the storage: stopped before it goes.
  std::unique_ptr<srv::PackWatcher> packs;
  std::atomic<srv::PackWatcher*> watching{nullptr};
  // Replication: the role and master, logged when they change (checked
  // once a second with the pack).
  std::atomic<durus::Storage*> replicated{nullptr};
  std::string repl_summary;
  // Set (once) when the site must stop: removed from its group.  The
  // server stops as on a signal and serve exits 1 with the reason.
  std::atomic<bool> repl_stopping{false};
  std::string repl_stop_reason;  // written before repl_stopping is set
  srv::LogThread log_thread(
      &log, [&watching, &replicated, &repl_summary, &repl_stopping, &repl_stop_reason, &log] {
        if (srv::PackWatcher* w = watching.load()) w->Poll();
        if (durus::Storage* r = replicated.load()) {
          std::string now = r->ReplicationSummary();
          if (!now.empty() && now != repl_summary) {
            repl_summary = now;
            log.Log(srv::LogLevel::kInfo, "replication: %s", now.c_str());
          }
          std::string stop = r->ReplicationStopReason();
          if (!stop.empty() && !repl_stopping.load()) {
            repl_stop_reason = stop;
            repl_stopping = true;
            log.Log(srv::LogLevel::kError, "replication: %s", stop.c_str());
            if (srv::Server* s = g_server.load()) s->SignalStop();
          }
        }
      });
  st = log_thread.Start();
  if (!st.ok()) return durus::tools::Fail("serve", st.ToString());
  if (memory) {
    storage = std::make_unique<durus::MemoryStorage>();
  } else {
    // systemd (Type=notify): shown by `systemctl status` while recovery runs.
    durus::util::sdnotify::Status("opening " + home + " (recovery)");
    st = durus::OpenBdbStorage(home, bdb, &storage);
    if (!st.ok()) return durus::tools::Fail("serve", "cannot open " + home + ": " + st.ToString());
    durus::StorageStats opened;
    if (storage->GetStats(&opened).ok() && opened.recovered) {
      log.LogWith(srv::LogLevel::kWarn,
                  srv::LogFields()
                      .Add("event", std::string("recovered"))
                      .Add("recovery_seconds", opened.recovery_seconds),
                  "%s was not closed cleanly (its last server crashed or was killed): recovery "
                  "took %.3f s",
                  home.c_str(), opened.recovery_seconds);
    }
  }

  packs = std::make_unique<srv::PackWatcher>(storage.get(), &log);
  watching = packs.get();
  if (bdb.replication.enabled()) replicated = storage.get();
  int rc = 0;
  {
    if (!memory) options.status_path = home + "/" + srv::kServerStatusFile;
    srv::Server server(storage.get(), options, &log);
    st = server.Start();
    if (!st.ok()) {
      storage->Close().IgnoreError();
      return durus::tools::Fail("serve", st.ToString());
    }
    std::unique_ptr<srv::HttpServer> http_server;  // stopped before the storage closes
    if (!http.empty() &&
        !(st = durus::tools::StartHttp(http, &server, storage.get(), &log, &http_server)).ok()) {
      server.Shutdown();
      server.Wait();
      storage->Close().IgnoreError();
      return durus::tools::Fail("serve", st.ToString());
    }
    g_server.store(&server);
    // A signal, or a removal from the group, before the server was reachable.
    if (g_signalled.load() != 0 || repl_stopping.load()) server.SignalStop();
    // systemd (Type=notify): clients can connect from now on.  Without
    // $NOTIFY_SOCKET nothing is sent; a failed send is logged, not fatal.
    if (!durus::util::sdnotify::Ready("serving " + (memory ? std::string("memory") : home) +
                                      " on " + server.address())) {
      log.Log(srv::LogLevel::kWarn, "sd_notify READY=1 to $NOTIFY_SOCKET failed");
    }
    server.Wait();
    http_server.reset();
    // Connections are closed; closing the storage (a checkpoint) follows.
    durus::util::sdnotify::Stopping();
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
  log_thread.Stop();
  if (repl_stopping.load()) return durus::tools::Fail("serve", repl_stop_reason);
  return rc;
}

const durus::tools::CommandRegistration kReg{
    "serve", "run the Durus storage server (protocol 1) on a home", &Serve};

}  // namespace
