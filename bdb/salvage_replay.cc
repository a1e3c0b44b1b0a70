// Replaying a crashed home's log into a copy (bdb/salvage_replay.h).
#include "bdb/salvage_replay.h"

#include <db_cxx.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "bdb/handles.h"
#include "bdb/log_archive.h"
#include "bdb/log_check.h"
#include "bdb/schema.h"

namespace durus::bdb {
namespace fs = std::filesystem;

namespace {

// The first `bytes` of `src` into `dst` (all of it when bytes < 0).
bool CopyPrefix(const std::string& src, const std::string& dst, int64_t bytes, std::string* why) {
  std::ifstream in(src, std::ios::binary);
  std::ofstream out(dst, std::ios::binary | std::ios::trunc);
  if (!in || !out) {
    *why = "cannot copy " + src + " to " + dst + ": " + strerror(errno);
    return false;
  }
  std::vector<char> buf(1 << 20);
  int64_t left = bytes;
  while (bytes < 0 || left > 0) {
    size_t want = buf.size();
    if (bytes >= 0) want = static_cast<size_t>(std::min<int64_t>(left, want));
    in.read(buf.data(), static_cast<std::streamsize>(want));
    std::streamsize got = in.gcount();
    if (got <= 0) break;
    out.write(buf.data(), got);
    left -= got;
  }
  out.flush();
  if (in.bad() || !out) {
    *why = "copying " + src + " to " + dst + " failed: " + strerror(errno);
    return false;
  }
  return true;
}

// Copies the log up to its first damage into `dir`.  False (with *why)
// when nothing can be replayed.
bool CopyLog(const std::string& home, const std::string& dir, LogReplay* out, std::string* why) {
  std::vector<uint32_t> numbers;
  Status s = ListLogFiles(home, &numbers);
  if (!s.ok()) {
    *why = s.ToString();
    return false;
  }
  if (numbers.empty()) {
    *why = "the home has no log files";
    return false;
  }
  LogCheck check;
  s = CheckLog(home, false, &check);
  if (!s.ok()) {
    *why = s.ToString();
    return false;
  }
  if (check.damaged) {
    out->log_damaged = true;
    out->damage = check.file + " at offset " + std::to_string(check.offset);
    out->damaged_bytes = check.bytes_after;
  }
  for (uint32_t n : numbers) {
    const std::string name = LogFileName(n);
    int64_t bytes = -1;
    if (check.damaged && name == check.file) bytes = static_cast<int64_t>(check.offset);
    // A log file must at least hold its first (persist) record to be read.
    if (bytes == 0) break;
    if (!CopyPrefix(home + "/" + name, dir + "/" + name, bytes, why)) return false;
    ++out->log_files;
    if (bytes >= 0) break;  // nothing after the damage can be replayed
  }
  if (out->log_files == 0) {
    *why = "the log is damaged at its start (" + out->damage + ")";
    return false;
  }
  return true;
}

// Recovery in `dir`, then everything written back to its records.db.
bool Recover(const std::string& dir, uint32_t cache_mb, std::string* why) {
  DbEnv env(DB_CXX_NO_EXCEPTIONS);
  env.set_errcall(&DbErrorCallback);
  ClearLastDbError();
  uint64_t cache = uint64_t{std::max<uint32_t>(cache_mb, 1)} << 20;
  (void)env.set_cachesize(static_cast<u_int32_t>(cache >> 30),
                          static_cast<u_int32_t>(cache & ((1u << 30) - 1)), 1);
  const u_int32_t flags = DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_INIT_TXN |
                          DB_RECOVER | DB_PRIVATE;
  int ret = env.open(dir.c_str(), flags, 0600);
  // Recovery skips the log records of a file it cannot open, as it does
  // for an absent one: a records.db whose meta page is damaged would be
  // left as it was, silently.  It must open now, without a word.
  if (ret == 0) {
    const std::string said = LastDbError();
    Db db(&env, DB_CXX_NO_EXCEPTIONS);
    ret = db.open(nullptr, schema::kRecordsFile, nullptr, DB_UNKNOWN, DB_RDONLY, 0);
    (void)db.close(0);
    if (ret == 0 && said.find(schema::kRecordsFile) != std::string::npos) ret = EINVAL;
  }
  if (ret == 0) ret = env.txn_checkpoint(0, 0, DB_FORCE);
  if (ret == 0) ret = env.memp_sync(nullptr);
  std::string said = LastDbError();
  int close_ret = env.close(0);
  if (ret == 0) ret = close_ret;
  if (ret != 0) {
    *why = "Berkeley DB's recovery of the copy failed: " + std::string(DbEnv::strerror(ret));
    if (!said.empty()) *why += " (" + said + ")";
    return false;
  }
  return true;
}

}  // namespace

LogReplay::~LogReplay() {
  if (dir.empty()) return;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

void ReplayLogIntoCopy(const std::string& home, const std::string& temp_dir, uint32_t cache_mb,
                       LogReplay* out) {
  std::string base = temp_dir.empty() ? "." : temp_dir;
  std::string pattern = base + "/durus-bdb-replay-XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  if (mkdtemp(name.data()) == nullptr) {
    out->problem = "cannot make a directory in " + base + " for the copy: " + strerror(errno);
    return;
  }
  out->dir = name.data();
  std::string why;
  if (!CopyLog(home, out->dir, out, &why) ||
      !CopyPrefix(home + "/" + schema::kRecordsFile, out->dir + "/" + schema::kRecordsFile, -1,
                  &why) ||
      !Recover(out->dir, cache_mb, &why)) {
    out->problem = why;
    return;
  }
  out->replayed = true;
}

}  // namespace durus::bdb
