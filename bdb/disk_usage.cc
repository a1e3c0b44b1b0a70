#include "bdb/disk_usage.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cstring>

#include "bdb/schema.h"

namespace durus {

namespace {

bool StartsWith(const char* name, const char* prefix) {
  return strncmp(name, prefix, strlen(prefix)) == 0;
}

bool EndsWith(const std::string& name, const char* suffix) {
  const size_t n = strlen(suffix);
  return name.size() >= n && name.compare(name.size() - n, n, suffix) == 0;
}

// Which kind a file of the home is, by its name (doc/on-disk-format.md).
DiskUse* KindOf(HomeDiskUsage* u, const std::string& name) {
  if (name == schema::kRecordsFile) return &u->records;
  if (name == schema::kRefcountsFile) return &u->counts;
  if (name == schema::kPendingFile) return &u->queue;
  // Berkeley DB names its log files log.0000000001 ... and its region
  // files __db.001 ...
  if (StartsWith(name.c_str(), "log.")) return &u->logs;
  if (StartsWith(name.c_str(), "__db.")) return &u->regions;
  if (EndsWith(name, ".db")) return &u->meta;
  return &u->other;
}

}  // namespace

std::vector<std::pair<const char*, DiskUse>> HomeDiskUsage::Kinds() const {
  return {{"records", records}, {"counts", counts},   {"queue", queue}, {"meta", meta},
          {"logs", logs},       {"regions", regions}, {"other", other}};
}

HomeDiskUsage MeasureHomeDisk(const std::string& home) {
  HomeDiskUsage u;
  DIR* d = opendir(home.c_str());
  if (d == nullptr) return u;
  while (struct dirent* e = readdir(d)) {
    struct stat st;
    const std::string name = e->d_name;
    if (stat((home + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    DiskUse f;
    f.bytes = static_cast<uint64_t>(st.st_blocks) * 512u;
    f.apparent = static_cast<uint64_t>(st.st_size);
    f.files = 1;
    KindOf(&u, name)->Add(f);
    u.total.Add(f);
  }
  closedir(d);
  return u;
}

}  // namespace durus
