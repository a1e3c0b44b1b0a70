#include "bdb/restore.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "bdb/backup.h"
#include "bdb/bdb_storage.h"
#include "bdb/environment.h"
#include "bdb/gc/gc.h"
#include "bdb/handles.h"
#include "bdb/log_archive.h"
#include "bdb/replication.h"

namespace durus {

namespace {

// Berkeley DB's messages during a recovery: the first (usually the cause,
// e.g. "Log sequence error") and the last.
thread_local std::string t_restore_db_error;
thread_local std::string t_restore_db_first;
void RememberRestoreError(const DbEnv*, const char*, const char* msg) {
  if (t_restore_db_first.empty()) t_restore_db_first = msg;
  t_restore_db_error = msg;
}
std::string RestoreDbDetail() {
  if (t_restore_db_error.empty()) return "";
  if (t_restore_db_first == t_restore_db_error) return " (" + t_restore_db_error + ")";
  return " (" + t_restore_db_first + "; ...; " + t_restore_db_error + ")";
}

struct BackupInfo {
  std::string home;
  std::string home_id;
  time_t started = 0;
  uint32_t first_log = 0;
  uint32_t last_log = 0;
};

Status ReadBackupInfo(const std::string& backup, BackupInfo* info) {
  const std::string base = backup + "/" + kRestoreBaseDir;
  const std::string path = base + "/" + kBackupInfoFile;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument(
        backup + " has no " + kRestoreBaseDir + "/" + kBackupInfoFile +
        " (a backup made by an older durus-bdb, or with --no-restore-base): it cannot be rolled "
        "forward, only used as the home it is");
  }
  std::ifstream in(path);
  std::string key;
  std::string value;
  bool have_first = false, have_last = false, have_started = false;
  while (in >> key >> value) {
    if (key == "home") info->home = value;
    if (key == "home_id") info->home_id = value;
    if (key == "started") have_started = true, info->started = std::stoll(value);
    if (key == "first_log") have_first = true, info->first_log = std::stoul(value);
    if (key == "last_log") have_last = true, info->last_log = std::stoul(value);
  }
  if (!have_first || !have_last || !have_started || info->home_id.empty()) {
    return Status::Corruption(path +
                              " is incomplete (needs home_id, started, first_log, "
                              "last_log)");
  }
  return Status::OK();
}

// The identity of the log sequence a directory holds: an archive's marker,
// or a home's own archive configuration (a live home given as a log
// directory).
Status LogDirIdentity(const std::string& dir, std::string* id, std::string* owner) {
  Status s = bdb::ReadArchiveMarker(dir, id, owner);
  if (!s.IsNotFound()) return s;
  bdb::LogArchiveConfig c;
  s = bdb::ReadLogArchiveConfig(dir, &c);
  if (s.ok()) {
    *id = c.home_id;
    *owner = dir;
    return Status::OK();
  }
  if (!s.IsNotFound()) return s;
  return Status::InvalidArgument("cannot tell whose log files " + dir + " holds: it has no " +
                                 bdb::kArchiveMarkerFile + " (a log archive) and no " +
                                 bdb::kArchiveConfigFile + " (an archiving home)");
}

// The length of `path` without its trailing zero bytes.
Status WrittenLength(const std::string& path, uint64_t* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read " + path);
  std::vector<char> buf(1 << 20);
  uint64_t offset = 0;
  *out = 0;
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    size_t n = static_cast<size_t>(in.gcount());
    for (size_t i = n; i > 0; --i) {
      if (buf[i - 1] != 0) {
        *out = offset + i;
        break;
      }
    }
    offset += n;
  }
  return Status::OK();
}

// Chooses, for every log number from the base's first on, the copy to
// replay, and checks that there is no gap.
Status ChooseLogs(const std::string& base, const BackupInfo& info,
                  const std::vector<std::string>& dirs, std::map<uint32_t, std::string>* chosen) {
  std::vector<std::string> sources{base};
  for (const std::string& d : dirs) {
    std::string id, owner;
    DURUS_RETURN_IF_ERROR(LogDirIdentity(d, &id, &owner));
    if (info.home_id == "none") {
      return Status::InvalidArgument(
          "the backup was taken while " + info.home +
          " did not archive its logs, so its log files cannot be matched to " + d +
          "; restore without --logs (the backup's own state), or use a backup taken since "
          "archiving was turned on");
    }
    if (id != info.home_id) {
      return Status::InvalidArgument(d + " holds the logs of another home (" + owner + ", id " +
                                     id + "); the backup is of " + info.home + " (id " +
                                     info.home_id + ")");
    }
    sources.push_back(d);
  }
  std::map<uint32_t, std::vector<std::string>> copies;
  for (const std::string& src : sources) {
    std::vector<uint32_t> numbers;
    DURUS_RETURN_IF_ERROR(bdb::ListLogFiles(src, &numbers));
    for (uint32_t n : numbers) {
      if (n >= info.first_log) copies[n].push_back(src + "/" + bdb::LogFileName(n));
    }
  }
  if (copies.empty() || copies.begin()->first != info.first_log) {
    return Status::NotFound("log file " + bdb::LogFileName(info.first_log) + " is missing from " +
                            base);
  }
  std::string where = base;
  for (const std::string& d : dirs) where += ", " + d;
  uint32_t expect = info.first_log;
  for (auto& [n, paths] : copies) {
    if (n != expect) {
      return Status::NotFound("log file " + bdb::LogFileName(expect) + " is missing (not in " +
                              where + "); the logs go on from " + bdb::LogFileName(n) +
                              ", so a restore cannot replay past " + bdb::LogFileName(expect - 1) +
                              ": find the file, or move the later ones away to restore up to "
                              "there");
    }
    ++expect;
    // Log files have their full size from the start (the tail is zeros), so
    // the size says nothing: a log directory's copy is the newer one (the
    // base's last file holds only what was written before the backup
    // ended), and the base's copy must agree with it up to its last
    // written byte.
    const std::string& base_copy = paths.front();
    const bool in_base = base_copy.rfind(base + "/", 0) == 0;
    std::string chosen_copy = paths.back();
    if (in_base && paths.size() > 1) {
      uint64_t written = 0;
      DURUS_RETURN_IF_ERROR(WrittenLength(base_copy, &written));
      bool same = false;
      DURUS_RETURN_IF_ERROR(bdb::SamePrefix(base_copy, chosen_copy, written, &same));
      if (!same) {
        return Status::InvalidArgument(chosen_copy + " does not continue " + base_copy +
                                       ": they are not the same home's log (a restored or "
                                       "backed-up home archiving into the same directory?)");
      }
    }
    if (n == info.last_log && n < copies.rbegin()->first && in_base && paths.size() == 1) {
      return Status::NotFound("log file " + bdb::LogFileName(n) + " is missing (not in " + where +
                              "): the backup holds only its beginning, and the logs "
                              "go on after it");
    }
    (*chosen)[n] = chosen_copy;
  }
  return Status::OK();
}

Status CopyBase(const std::string& base, const std::string& dest) {
  DIR* d = opendir(base.c_str());
  if (d == nullptr) return Status::IOError("cannot read " + base + ": " + strerror(errno));
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    uint32_t num;
    struct stat st;
    if (n == kBackupInfoFile || bdb::ParseLogFileName(n, &num)) continue;
    if (stat((base + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(n);
  }
  closedir(d);
  for (const std::string& n : names) {
    DURUS_RETURN_IF_ERROR(bdb::CopyFileDurably(base + "/" + n, dest + "/" + n));
  }
  return Status::OK();
}

// The time of the last commit record in `env`'s log (0: none).
Status LastCommitTime(DbEnv* env, time_t* out) {
  *out = 0;
  DbLogc* cursor = nullptr;
  int ret = env->log_cursor(&cursor, 0);
  if (ret != 0) return bdb::FromDb(ret, "opening a log cursor");
  DbLsn lsn;
  Dbt data;
  // __txn_regop (Berkeley DB 5.3 txn_auto.h): rectype u32 = 10, txnid u32,
  // prev_lsn (8 bytes), opcode u32 (1 = commit), timestamp i32; host order.
  constexpr uint32_t kTxnRegop = 10, kCommit = 1;
  for (ret = cursor->get(&lsn, &data, DB_LAST); ret == 0; ret = cursor->get(&lsn, &data, DB_PREV)) {
    if (data.get_size() < 24) continue;
    const char* p = static_cast<const char*>(data.get_data());
    uint32_t type, opcode;
    int32_t stamp;
    memcpy(&type, p, 4);
    memcpy(&opcode, p + 16, 4);
    memcpy(&stamp, p + 20, 4);
    if (type == kTxnRegop && opcode == kCommit) {
      *out = stamp;
      break;
    }
  }
  cursor->close(0);
  return ret == 0 || ret == DB_NOTFOUND ? Status::OK() : bdb::FromDb(ret, "reading the log");
}

Status Recover(const std::string& dest, const RestoreOptions& options, RestoreReport* report) {
  bdb::EnvPtr env(new DbEnv(DB_CXX_NO_EXCEPTIONS));
  env->set_errcall(&RememberRestoreError);
  t_restore_db_error.clear();
  t_restore_db_first.clear();
  int ret = env->set_cachesize(0, 256u << 20, 1);
  if (ret == 0) ret = env->set_lk_max_locks(50000);
  if (ret == 0) ret = env->set_lk_max_objects(50000);
  if (ret == 0) ret = env->log_set_config(DB_LOG_AUTO_REMOVE, 0);
  time_t stamp = options.to_time;
  if (ret == 0 && options.has_time) ret = env->set_tx_timestamp(&stamp);
  uint32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
                   DB_PRIVATE | DB_RECOVER_FATAL;
  if (ret == 0) ret = env->open(dest.c_str(), flags, 0644);
  if (ret != 0) {
    return bdb::FromDb(ret, "replaying the logs in " + dest + RestoreDbDetail());
  }
  DURUS_RETURN_IF_ERROR(LastCommitTime(env.get(), &report->last_commit));
  ret = env->txn_checkpoint(0, 0, DB_FORCE);
  if (ret == 0) ret = env->log_archive(nullptr, DB_ARCH_REMOVE);
  if (ret != 0) return bdb::FromDb(ret, "checkpointing " + dest);
  return Status::OK();
}

bool DirIsEmptyOrMissing(const std::string& p) {
  DIR* d = opendir(p.c_str());
  if (d == nullptr) return errno == ENOENT;
  bool empty = true;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
  }
  closedir(d);
  return empty;
}

}  // namespace

Status RestoreBackup(const std::string& backup, const std::string& dest,
                     const RestoreOptions& options, RestoreReport* report) {
  *report = RestoreReport();
  const auto t0 = std::chrono::steady_clock::now();
  BackupInfo info;
  DURUS_RETURN_IF_ERROR(ReadBackupInfo(backup, &info));
  report->home = info.home;
  report->backup_started = info.started;
  if (options.has_time && options.to_time < info.started) {
    return Status::InvalidArgument(
        "cannot restore to " + FormatTime(options.to_time) + ": the backup " + backup +
        " was taken later (" + FormatTime(info.started) +
        ") and already holds what was committed after that time; use an older backup");
  }
  if (!DirIsEmptyOrMissing(dest)) {
    return Status::InvalidArgument("restore destination " + dest + " exists and is not empty");
  }
  const std::string base = backup + "/" + kRestoreBaseDir;
  std::map<uint32_t, std::string> logs;
  DURUS_RETURN_IF_ERROR(ChooseLogs(base, info, options.log_dirs, &logs));
  DURUS_RETURN_IF_ERROR(bdb::MakeDirs(dest));
  DURUS_RETURN_IF_ERROR(CopyBase(base, dest));
  for (auto& [n, path] : logs) {
    DURUS_RETURN_IF_ERROR(bdb::CopyFileDurably(path, dest + "/" + bdb::LogFileName(n)));
  }
  report->first_log = logs.begin()->first;
  report->last_log = logs.rbegin()->first;
  DURUS_RETURN_IF_ERROR(Recover(dest, options, report));
  // A backup of a replication site: replaying its log recreates Berkeley
  // DB's replication database when the log holds its creation; the
  // restored home is a plain one, as the backup (bdb/backup.cc).
  DURUS_RETURN_IF_ERROR(bdb::RemoveReplicationFiles(dest));

  std::unique_ptr<BdbHandle> home;
  DURUS_RETURN_IF_ERROR(OpenCopiedHome(dest, &home));
  StorageStats stats;
  Status s = home->GetStats(&stats);
  report->objects = stats.object_count;
  report->record_bytes = stats.record_bytes;
  if (s.ok() && options.verify) {
    VerifyOptions vo;
    gc::VerifyReport vr;
    s = VerifyStorage(home.get(), vo, &vr);
    report->verified = s.ok();
    report->problems = vr.total_problems();
  }
  Status c = home->Close();
  DURUS_RETURN_IF_ERROR(s);
  DURUS_RETURN_IF_ERROR(c);
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Status::OK();
}

std::string FormatTime(time_t t) {
  char buf[64];
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

Status ParseRestoreTime(const std::string& text, time_t* out) {
  std::string t = text;
  if (!t.empty() && t[0] == '@') t = t.substr(1);
  if (!t.empty() && t.find_first_not_of("0123456789") == std::string::npos) {
    *out = static_cast<time_t>(std::stoll(t));
    return Status::OK();
  }
  struct tm tm = {};
  const char* rest = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) rest = strptime(t.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (rest == nullptr) {
    return Status::InvalidArgument("cannot read the time '" + text +
                                   "' (expected e.g. 2024-05-01T12:30:00, 2024-05-01 12:30:00, "
                                   "2024-05-01T10:30:00Z or a Unix timestamp)");
  }
  std::string zone = rest;
  if (zone.empty()) {
    tm.tm_isdst = -1;
    *out = mktime(&tm);
    return Status::OK();
  }
  long offset = 0;
  int hh = 0, mm = 0;
  char sign = 0;
  if (zone == "Z" || zone == "z") {
    offset = 0;
  } else if ((sscanf(zone.c_str(), "%c%2d:%2d", &sign, &hh, &mm) == 3 ||
              sscanf(zone.c_str(), "%c%2d%2d", &sign, &hh, &mm) == 3) &&
             (sign == '+' || sign == '-') && zone.size() <= 6) {
    offset = (sign == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
  } else {
    return Status::InvalidArgument("cannot read the time zone '" + zone + "' of '" + text +
                                   "' (expected Z, +HH:MM or nothing for local time)");
  }
  *out = timegm(&tm) - offset;
  return Status::OK();
}

}  // namespace durus
