#include "server/http/exposition.h"

#include <cinttypes>
#include <cstdio>

#include "server/protocol.h"

namespace durus::server {
namespace {

class Writer {
 public:
  // One metric family: HELP and TYPE.
  void Family(const char* name, const char* type, const char* help) {
    out_ += "# HELP durus_bdb_";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE durus_bdb_";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // One sample; `labels` is "" or `a="b",c="d"`.
  void Value(const std::string& name, const std::string& labels, double v) {
    char num[64];
    snprintf(num, sizeof(num), "%.17g", v);
    Line(name, labels, num);
  }
  void Value(const std::string& name, const std::string& labels, uint64_t v) {
    char num[32];
    snprintf(num, sizeof(num), "%" PRIu64, v);
    Line(name, labels, num);
  }
  void Simple(const char* name, const char* type, const char* help, uint64_t v) {
    Family(name, type, help);
    Value(name, "", v);
  }
  void Histogram(const char* name, const char* help, const std::string& labels,
                 const LatencyHistogram::Snapshot& h) {
    Family(name, "histogram", help);
    const std::string sep = labels.empty() ? "" : ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= LatencyHistogram::kBounds; ++i) {
      cumulative += h.counts[i];
      char le[32];
      if (i == LatencyHistogram::kBounds) {
        snprintf(le, sizeof(le), "+Inf");
      } else {
        snprintf(le, sizeof(le), "%g", LatencyHistogram::kUpperBounds[i]);
      }
      Value(std::string(name) + "_bucket", labels + sep + "le=\"" + le + "\"", cumulative);
    }
    Value(std::string(name) + "_sum", labels, h.sum_seconds);
    Value(std::string(name) + "_count", labels, h.count);
  }
  std::string Take() { return std::move(out_); }

 private:
  void Line(const std::string& name, const std::string& labels, const char* num) {
    out_ += "durus_bdb_";
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += num;
    out_ += '\n';
  }
  std::string out_;
};

struct CommandName {
  char byte;
  const char* name;
};
// Protocol 1's commands (server/protocol.h).
constexpr CommandName kCommands[] = {{kCmdVersion, "version"},    {kCmdNewOid, "new_oid"},
                                     {kCmdNewOids, "new_oids"},   {kCmdLoad, "load"},
                                     {kCmdBulkLoad, "bulk_load"}, {kCmdCommit, "commit"},
                                     {kCmdSync, "sync"},          {kCmdPack, "pack"},
                                     {kCmdQuit, "quit"},          {kCmdHangUp, "hang_up"}};

}  // namespace

std::string RenderExposition(const Snapshot& s) {
  Writer w;
  const ServerFigures& f = s.server;
  w.Simple("up", "gauge", "1 while serving, 0 once a stop was requested.", s.stopping ? 0 : 1);
  w.Simple("clients_connected", "gauge", "Client connections open now.", f.clients);

  w.Family("requests_total", "counter", "Requests received, by protocol-1 command.");
  uint64_t other = 0;
  for (size_t b = 0; b < s.requests.size(); ++b) {
    bool known = false;
    for (const CommandName& c : kCommands) known = known || static_cast<uint8_t>(c.byte) == b;
    if (!known) other += s.requests[b];
  }
  for (const CommandName& c : kCommands) {
    w.Value("requests_total", std::string("command=\"") + c.byte + "\",name=\"" + c.name + "\"",
            s.requests[static_cast<uint8_t>(c.byte)]);
  }
  w.Value("requests_total", "command=\"?\",name=\"unknown\"", other);

  w.Simple("commits_total", "counter", "Commits acknowledged ('O').", f.commits);
  w.Simple("objects_loaded_total", "counter",
           "Objects read for clients: one per L request, one per oid of a B request.",
           s.objects_loaded);
  w.Histogram("load_duration_seconds", "Storage time of each L (load) request.", "",
              s.load_latency);
  const std::string durability =
      "durability=\"" + (s.storage.durability.empty() ? "unknown" : s.storage.durability) + "\"";
  w.Histogram("commit_duration_seconds",
              "Storage time of each commit (Storage::Commit, including the log flush its "
              "durability mode implies: the fsync in sync mode), by durability mode.",
              durability, s.commit_latency);

  w.Family("conflicts_total", "counter",
           "Conflicts by kind: commit_abandoned (the client saw an invalidation and gave up its "
           "commit), commit_refused (the server answered 'I' to a commit), load (oids answered "
           "'I' to L and B).");
  w.Value("conflicts_total", "kind=\"commit_abandoned\"",
          f.commit_conflicts >= f.commits_refused ? f.commit_conflicts - f.commits_refused : 0);
  w.Value("conflicts_total", "kind=\"commit_refused\"", f.commits_refused);
  w.Value("conflicts_total", "kind=\"load\"", f.load_conflicts);
  w.Simple("load_waits_total", "counter", "Loads that waited for a commit in flight.",
           f.load_waits);
  w.Simple("commit_grace_expired_total", "counter",
           "Commit tokens released because a client was slow to send its commit (--commit-grace).",
           f.grace_expired);
  w.Simple("clients_dropped_total", "counter", "Clients dropped for misbehaving.", f.dropped);
  w.Simple("request_memory_bytes", "gauge",
           "Request bytes held now (commit data, bulk-load lists; --max-request-memory).",
           f.request_bytes);
  w.Simple("received_bytes_total", "counter", "Bytes received from clients.", s.bytes_in);
  w.Simple("sent_bytes_total", "counter", "Bytes sent to clients.", s.bytes_out);

  if (s.storage_status.ok()) {
    const StorageStats& st = s.storage;
    w.Simple("objects", "gauge", "Records stored.", st.object_count);
    w.Simple("record_bytes", "gauge", "Sum of the stored records' sizes.", st.record_bytes);
    w.Simple("collector_backlog", "gauge",
             "Oids on the pending-garbage queue, waiting for the collector.", st.pending_garbage);
    w.Simple("collector_freed_total", "counter", "Objects deleted by the collector since open.",
             st.collected_total);
    w.Simple("trace_running", "gauge", "1 while a cycle trace (pack) runs.",
             st.trace_running ? 1 : 0);
    w.Simple("trace_marked", "gauge", "The running trace: reachable objects marked so far.",
             st.trace_traced);
    w.Simple("trace_swept", "gauge", "The running trace: unreachable objects deleted so far.",
             st.trace_swept);
    w.Simple("disk_bytes", "gauge", "Bytes the home uses on disk (databases and logs).",
             st.disk_bytes);
  }
  if (s.has_engine && s.engine_status.ok()) {
    const EngineFigures& e = s.engine;
    w.Simple("cache_hits_total", "counter", "Berkeley DB cache: pages found in the cache.",
             e.cache_hits);
    w.Simple("cache_misses_total", "counter", "Berkeley DB cache: pages read into the cache.",
             e.cache_misses);
    const uint64_t lookups = e.cache_hits + e.cache_misses;
    w.Family("cache_hit_ratio", "gauge",
             "Berkeley DB cache hits / (hits + misses) since open (1 before any lookup).");
    w.Value("cache_hit_ratio", "",
            lookups == 0 ? 1.0 : static_cast<double>(e.cache_hits) / static_cast<double>(lookups));
    w.Simple("cache_size_bytes", "gauge", "Berkeley DB cache size (--cache-mb).", e.cache_bytes);
    w.Simple("log_written_bytes_total", "counter", "Bytes written to the Berkeley DB log.",
             e.log_written_bytes);
    w.Simple("log_flushes_total", "counter", "Berkeley DB log fsyncs.", e.log_flushes);
    w.Simple("log_disk_bytes", "gauge", "Bytes of the log files in the home.", e.log_disk_bytes);
  }
  w.Simple("storage_healthy", "gauge",
           "1 if the storage (and its engine) answered the last query, 0 if it failed "
           "(e.g. a panicked Berkeley DB environment).",
           s.storage_status.ok() && (!s.has_engine || s.engine_status.ok()) ? 1 : 0);
  return w.Take();
}

}  // namespace durus::server
