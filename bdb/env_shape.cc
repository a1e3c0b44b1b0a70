#include "bdb/env_shape.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "bdb/log_archive.h"

namespace durus::bdb {

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

uint64_t RoundUp(uint64_t v, uint64_t unit) { return (v + unit - 1) / unit * unit; }

bool EndsWith(const std::string& s, const char* suffix) {
  size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::vector<std::string> RegularFiles(const std::string& home) {
  std::vector<std::string> names;
  if (DIR* d = opendir(home.c_str())) {
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      struct stat st;
      if (stat((home + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string BootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

}  // namespace

std::string EnvShape::Text() const {
  std::ostringstream o;
  o << "cache=" << cache_bytes << " log_file=" << log_file_bytes
    << " log_buffer=" << log_buffer_bytes << " lock_table=" << lock_table_size
    << " locks=" << max_locks << " lockers=" << max_lockers << " memory_max=" << memory_max
    << " txn=" << (nosync ? "nosync" : "write_nosync") << " auto_remove=" << auto_remove_logs;
  return o.str();
}

uint64_t HomeDataBytes(const std::string& home) {
  uint64_t total = 0;
  for (const std::string& n : RegularFiles(home)) {
    struct stat st;
    if (EndsWith(n, ".db") && stat((home + "/" + n).c_str(), &st) == 0) total += st.st_size;
  }
  return total;
}

EnvShape ShapeFor(const std::string& home, const BdbOptions& options) {
  EnvShape s;
  const uint64_t data = HomeDataBytes(home);
  // The cache: half the home (its inner pages and the hot half of its
  // leaves; a cache above the home's size buys nothing), at least 4 MiB,
  // at most cache_mb, rounded to 4 MiB so that a growing home changes shape
  // -- and pays a recovery at its next open -- rarely.  A new home (under
  // 1 MiB) is given 16 MiB: nothing is known of it yet, and a first session
  // that loads it should not crawl; its first clean close drops those
  // regions (CloseEnvironment), so at rest it is sized to what it holds.
  // An opener that sets cache_mb itself (an explicit option, not the
  // default, the environment's or the home's kept value: those are
  // maxima) gets exactly that: it knows what the session will do (a bulk
  // load into a new home, a benchmark).
  const uint64_t limit = std::max<uint64_t>(uint64_t{options.cache_mb} * kMiB, 1 * kMiB);
  const uint64_t want = data < kMiB ? 16 * kMiB : std::max(4 * kMiB, RoundUp(data / 2, 4 * kMiB));
  s.cache_bytes = options.cache_mb.set() ? limit : std::min(limit, want);
  // The log file: set, or by the home's size.  Recovery zero-fills the
  // current log file to its full size, so a small home should not pay
  // 32 MiB for it.
  uint64_t log_file = uint64_t{options.log_file_mb} * kMiB;
  if (log_file == 0) {
    log_file = data < 64 * kMiB     ? 2 * kMiB
               : data < 256 * kMiB  ? 4 * kMiB
               : data < 1024 * kMiB ? 16 * kMiB
                                    : 32 * kMiB;
  }
  s.log_file_bytes = static_cast<uint32_t>(std::min<uint64_t>(log_file, 1024 * kMiB));
  s.log_buffer_bytes = std::min<uint32_t>(4 * kMiB, s.log_file_bytes / 4);
  // Page locks.  A commit of N records of ~300 B locks about 0.08 N pages
  // with new sequential oids, 0.15 N with random ones (records, counts,
  // queue; measured); readers hold a few each.  The hash table's buckets
  // (39 MB of the main region when sized to 250,000 lock objects) need not
  // be one per possible object: chains of a few entries in the largest
  // commit cost less than the memory.  (In steps of 8,192, one per 64 MiB
  // of database files, for the same reason as the cache's.)
  const uint64_t full = uint64_t{options.max_commit_records} / 5 + 10000;
  const uint64_t locks = std::min<uint64_t>(full, 28000 + data / (64 * kMiB) * 8192);
  s.lock_table_size = 16384;
  s.max_locks = static_cast<uint32_t>(std::max<uint64_t>(locks, 1000));
  s.max_lockers = kMaxLockers;
  // The main region: the log buffer, transactions and lockers (Berkeley DB
  // asks for about 1.9 MiB beyond the buffer), then a lock and its lock
  // object at ~200 B (measured).
  s.memory_max = static_cast<uint32_t>(
      RoundUp(2 * kMiB + s.log_buffer_bytes + uint64_t{s.max_locks} * 224, kMiB));
  s.nosync = options.durability == Durability::kNoSync;
  s.auto_remove_logs = !WillArchiveLogs(home, options);
  return s;
}

Status AllocateRegionFiles(const std::string& home) {
  char real[PATH_MAX];
  if (realpath(home.c_str(), real) == nullptr) {
    return Status::IOError("cannot resolve " + home + ": " + strerror(errno));
  }
  const std::string prefix = std::string(real) + "/__db.";
  // "start-end perms offset dev inode path": the furthest byte of each
  // region file any mapping of this process reaches.
  std::map<std::string, uint64_t> extent;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    size_t at = line.find(prefix);
    if (at == std::string::npos) continue;
    std::istringstream in(line);
    std::string range, perms, offset;
    in >> range >> perms >> offset;
    size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    uint64_t start = strtoull(range.c_str(), nullptr, 16);
    uint64_t end = strtoull(range.c_str() + dash + 1, nullptr, 16);
    uint64_t off = strtoull(offset.c_str(), nullptr, 16);
    uint64_t& e = extent[line.substr(at)];
    e = std::max(e, off + (end - start));
  }
  for (const auto& [path, bytes] : extent) {
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Status::IOError("cannot open " + path + ": " + strerror(errno));
    int err = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
    close(fd);
    if (err != 0) {
      return Status::IOError("cannot allocate " + std::to_string(bytes) + " bytes for " + path +
                             ": " + strerror(err) +
                             " (the Berkeley DB region files are allocated to their maximum "
                             "at open, sized to the home and its cache_mb: free some space, or "
                             "open with a smaller cache)");
    }
  }
  return Status::OK();
}

std::string CleanMarkerText(const std::string& home, const EnvShape& shape) {
  const std::string boot = BootId();
  if (boot.empty()) return "";  // no boot id: never trust regions across boots
  std::ostringstream o;
  o << "durus-bdb clean close 1\n"
    << "bdb " << DbEnv::version(nullptr, nullptr, nullptr) << "\n"
    << "boot " << boot << "\n"
    << "shape " << shape.Text() << "\n";
  // Every Berkeley DB file: a database, region or log file replaced,
  // restored or touched while the home was closed must not meet regions
  // (the cache keeps pages of the files it had open) from before.
  for (const std::string& n : RegularFiles(home)) {
    if (n.compare(0, 10, "durus-bdb.") == 0) continue;  // ours: lock, options, marker, ...
    struct stat st;
    if (stat((home + "/" + n).c_str(), &st) != 0) continue;
    char mtime[48];
    snprintf(mtime, sizeof mtime, "%lld.%09ld", static_cast<long long>(st.st_mtim.tv_sec),
             static_cast<long>(st.st_mtim.tv_nsec));
    o << "file " << n << " " << st.st_ino << " " << st.st_size << " " << mtime << "\n";
  }
  o << "end\n";
  return o.str();
}

bool TakeCleanMarker(const std::string& home, const std::string& expected) {
  const std::string path = home + "/" + kCleanMarkerFile;
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  // Removed before the environment opens: whatever happens from here on
  // (a crash mid-open included), the next open recovers unless this
  // process closes cleanly again.
  if (unlink(path.c_str()) != 0) return false;
  return !expected.empty() && text == expected;
}

void WriteCleanMarker(const std::string& home, const EnvShape& shape) {
  const std::string text = CleanMarkerText(home, shape);
  if (text.empty()) return;
  // Written in place: a torn marker (a crash right here) does not match
  // (it lacks the "end" line).  No fsync: after an OS crash the boot id
  // differs anyway.
  const std::string path = home + "/" + kCleanMarkerFile;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t n = write(fd, text.data(), text.size());
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) unlink(path.c_str());
}

void RemoveCleanMarker(const std::string& home) { unlink((home + "/" + kCleanMarkerFile).c_str()); }

}  // namespace durus::bdb
