// What a home takes on disk, by kind of file (issue 14): the records, the
// reference counts, the pending-garbage queue, the other tables (meta, a
// trace's marks), Berkeley DB's log files and region files, and our own
// small files.  Measured from the files themselves, so it is right for a
// home nobody holds, for one a server holds (`durus-bdb stat` on a live
// home) and before and after `durus-bdb gc --compact`.
//
// Two figures per kind: `bytes` is the space the file system allocated
// (st_blocks * 512: what `du` shows and what a full disk runs out of; a
// sparse file counts only its written blocks) and `apparent` the files'
// lengths (st_size: what `ls -l` shows).  `disk_bytes` of StorageStats is
// the allocated total.
//
// A public header of bdb/ (listed in bdb_storage.h); no Berkeley DB header.
// Threading: reads the directory only; safe from any thread.  A file
// removed while it is measured counts nothing.
#ifndef DURUS_BDB_BDB_DISK_USAGE_H_
#define DURUS_BDB_BDB_DISK_USAGE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace durus {

struct DiskUse {
  uint64_t bytes = 0;     // allocated: st_blocks * 512
  uint64_t apparent = 0;  // st_size
  uint64_t files = 0;

  void Add(const DiskUse& o) {
    bytes += o.bytes;
    apparent += o.apparent;
    files += o.files;
  }
};

struct HomeDiskUsage {
  DiskUse records;  // records.db
  DiskUse counts;   // refcounts.db
  DiskUse queue;    // pending.db: the collector's backlog
  DiskUse meta;     // meta.db, a trace's marks.db, any other *.db
  DiskUse logs;     // log.NNNNNNNNNN: Berkeley DB's write-ahead log
  DiskUse regions;  // __db.NNN: the cache, locks, log buffer (rebuilt on open)
  DiskUse other;    // durus-bdb.* (lock, options, status, archive) and the rest
  DiskUse total;    // the sum of the kinds above

  // The kinds in the order above with their names as `stat --json` spells
  // them ("records", "counts", "queue", "meta", "logs", "regions",
  // "other"); `total` not included.
  std::vector<std::pair<const char*, DiskUse>> Kinds() const;
};

// The regular files directly in `home`, by kind.  A missing or unreadable
// directory gives all zeros.
HomeDiskUsage MeasureHomeDisk(const std::string& home);

}  // namespace durus

#endif  // DURUS_BDB_BDB_DISK_USAGE_H_
