#include "bdb/status_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "bdb/bdb_storage.h"
#include "bdb/schema.h"

namespace durus::bdb {

namespace {
constexpr const char* kHeader = "durus-bdb-status 1";
}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status WriteStatusFile(const std::string& home, const StorageStats& st) {
  std::ostringstream out;
  out << kHeader << "\n"
      << "pid " << getpid() << "\n"
      << "written_ms " << NowMs() << "\n"
      << "durability " << (st.durability.empty() ? "-" : st.durability) << "\n"
      << "objects " << st.object_count << "\n"
      << "record_bytes " << st.record_bytes << "\n"
      << "pending_garbage " << st.pending_garbage << "\n"
      << "next_oid " << st.next_oid << "\n"
      << "collected_total " << st.collected_total << "\n"
      << "trace_running " << (st.trace_running ? 1 : 0) << "\n"
      << "trace_phase " << (st.trace_phase.empty() ? "-" : st.trace_phase) << "\n"
      << "trace_traced " << st.trace_traced << "\n"
      << "trace_swept " << st.trace_swept << "\n"
      << "format_version " << st.format_version << "\n";
  // A site of a replication group (absent otherwise): doc/on-disk-format.md.
  const ReplicationFigures& r = st.replication;
  if (!r.role.empty()) {
    auto text_or_dash = [](const std::string& v) { return v.empty() ? std::string("-") : v; };
    out << "repl_role " << r.role << "\n"
        << "repl_local_site " << text_or_dash(r.local_site) << "\n"
        << "repl_master_site " << text_or_dash(r.master_site) << "\n"
        << "repl_master_durus " << text_or_dash(r.master_durus) << "\n"
        << "repl_in_sync " << (r.in_sync ? 1 : 0) << "\n";
    for (const ReplicationFigures::Peer& p : r.peers) {
      out << "repl_peer " << p.site << " " << (p.connected ? "connected" : "disconnected") << "\n";
    }
    out << "repl_lag_known " << (r.lag_known ? 1 : 0) << "\n"
        << "repl_lag_bytes " << r.lag_bytes << "\n"
        << "repl_lag_ms " << static_cast<uint64_t>(r.lag_seconds * 1000 + 0.5) << "\n"
        << "repl_perm_failed " << r.perm_failed << "\n";
  }
  const std::string text = out.str();
  const std::string path = home + "/" + schema::kStatusFile;
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + tmp + ": " + strerror(errno));
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int err = errno;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    unlink(tmp.c_str());
    return Status::IOError("cannot write " + path + ": " + strerror(err));
  }
  return Status::OK();
}

void RemoveStatusFile(const std::string& home) {
  std::string path = home + "/" + schema::kStatusFile;
  unlink(path.c_str());
  unlink((path + ".tmp").c_str());
}

Status ParseStatusText(const std::string& text, StorageStats* st, int64_t* pid,
                       int64_t* written_ms) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kHeader) {
    return Status::InvalidArgument("not a durus-bdb status file");
  }
  *st = StorageStats();
  *pid = 0;
  *written_ms = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, value;
    if (!(fields >> name >> value)) continue;
    if (name == "durability") {
      st->durability = value == "-" ? "" : value;
      continue;
    }
    if (name == "trace_phase") {
      st->trace_phase = value == "-" ? "" : value;
      continue;
    }
    // Replication (text fields; the numeric ones below).
    ReplicationFigures& r = st->replication;
    if (name == "repl_role" || name == "repl_local_site" || name == "repl_master_site" ||
        name == "repl_master_durus") {
      std::string* field = name == "repl_role"          ? &r.role
                           : name == "repl_local_site"  ? &r.local_site
                           : name == "repl_master_site" ? &r.master_site
                                                        : &r.master_durus;
      *field = value == "-" ? "" : value;
      continue;
    }
    if (name == "repl_peer") {
      std::string state;
      fields >> state;
      r.peers.push_back({value, state == "connected"});
      continue;
    }
    char* end = nullptr;
    errno = 0;
    unsigned long long v = strtoull(value.c_str(), &end, 10);
    if (errno != 0 || end == value.c_str() || *end != '\0') {
      return Status::InvalidArgument("malformed status line: " + line);
    }
    if (name == "pid")
      *pid = static_cast<int64_t>(v);
    else if (name == "written_ms")
      *written_ms = static_cast<int64_t>(v);
    else if (name == "objects")
      st->object_count = v;
    else if (name == "record_bytes")
      st->record_bytes = v;
    else if (name == "pending_garbage")
      st->pending_garbage = v;
    else if (name == "next_oid")
      st->next_oid = v;
    else if (name == "collected_total")
      st->collected_total = v;
    else if (name == "trace_running")
      st->trace_running = v != 0;
    else if (name == "trace_traced")
      st->trace_traced = v;
    else if (name == "trace_swept")
      st->trace_swept = v;
    else if (name == "format_version")
      st->format_version = static_cast<uint32_t>(v);
    else if (name == "repl_in_sync")
      r.in_sync = v != 0;
    else if (name == "repl_lag_known")
      r.lag_known = v != 0;
    else if (name == "repl_lag_bytes")
      r.lag_bytes = v;
    else if (name == "repl_lag_ms")
      r.lag_seconds = v / 1000.0;
    else if (name == "repl_perm_failed")
      r.perm_failed = v;
    // Unknown names: a newer writer; ignored.
  }
  if (*pid <= 0) return Status::InvalidArgument("status file names no pid");
  return Status::OK();
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (struct dirent* e = readdir(d)) {
    struct stat st;
    std::string p = dir + "/" + e->d_name;
    if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += st.st_blocks * 512ull;
  }
  closedir(d);
  return total;
}

}  // namespace durus::bdb

namespace durus {

Status ReadLiveStats(const std::string& home, LiveStats* out) {
  const std::string path = home + "/" + schema::kStatusFile;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("no live figures in " + home);
    return Status::IOError("cannot open " + path + ": " + strerror(errno));
  }
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 16)) text.append(buf, n);
  close(fd);
  int64_t written_ms = 0;
  DURUS_RETURN_IF_ERROR(bdb::ParseStatusText(text, &out->stats, &out->pid, &written_ms));
  // A crashed holder leaves the file behind: only a live writer counts.
  if (kill(static_cast<pid_t>(out->pid), 0) != 0 && errno == ESRCH) {
    return Status::NotFound("the live figures in " + home + " are from process " +
                            std::to_string(out->pid) + ", which is gone");
  }
  out->age_seconds = std::max<int64_t>(bdb::NowMs() - written_ms, 0) / 1000.0;
  out->stats.disk_bytes = bdb::DirectoryBytes(home);
  return Status::OK();
}

}  // namespace durus
