// HomeLock: one process at a time per home.
//
// Berkeley DB's environment is opened with DB_RECOVER (or joined after a
// clean close, bdb/env_shape.h), which is only safe when nobody else has
// it open, so the whole home is guarded by an
// exclusive flock(2) on HOME/durus-bdb.lock.  flock locks belong to the
// open file description, so a second open in the SAME process is refused
// too.  The holder writes "pid command" into the file so a refused opener
// can name it.  The lock dies with the process (SIGKILL included), so a
// crashed holder never blocks recovery.
#ifndef DURUS_BDB_BDB_HOME_LOCK_H_
#define DURUS_BDB_BDB_HOME_LOCK_H_

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace durus::bdb {

class HomeLock {
 public:
  HomeLock() = default;
  HomeLock(const HomeLock&) = delete;
  HomeLock& operator=(const HomeLock&) = delete;
  ~HomeLock() { Release(); }

  // Busy("... in use by pid N (cmd)") if another holder exists.
  Status Acquire(const std::string& home);
  // For a read-only open of a home this process may not write (a read-only
  // mount, another user's home): a shared flock through a read-only
  // descriptor, which keeps a writer out while we read (its exclusive
  // flock fails) and needs no write access.  Busy if a writer holds the
  // home; InvalidArgument if the last holder did not close it (the lock
  // file still names it), since only recovery, which writes, can make its
  // files consistent.  No lock file: nothing to guard (OK).
  Status AcquireSharedReadOnly(const std::string& home);
  // Releases the lock.  `clean`: the home was closed cleanly, so the
  // description is removed; otherwise (an open that failed) it stays, and
  // the next opener treats the home as not closed cleanly (recovery checks
  // the log first, bdb/log_check.h).
  void Release(bool clean = true);

 private:
  int fd_ = -1;
  bool shared_ = false;  // AcquireSharedReadOnly: the file is not ours to empty
};

// JoinLock: a flock on HOME/durus-bdb.join, so that a process joining a
// live environment (a hot backup) never meets an opener that recovers it,
// which recreates the regions: joiners hold it shared for their whole
// stay, a recovering opener holds it exclusively while recovery runs, and
// a closer removes no log file while a joiner holds it (bdb/backup.h has
// the whole protocol).  Released on destruction.
class JoinLock {
 public:
  JoinLock() = default;
  JoinLock(const JoinLock&) = delete;
  JoinLock& operator=(const JoinLock&) = delete;
  ~JoinLock() { Release(); }

  // Shared (a joiner) or exclusive (an opener), waiting up to
  // `timeout_ms` (Busy after that).  A shared acquire also appends a byte
  // to the file, so the holder can tell that a joiner came (bdb/env_shape.h).
  Status AcquireShared(const std::string& home, uint32_t timeout_ms);
  Status AcquireExclusive(const std::string& home, uint32_t timeout_ms);
  // Exclusive -> shared (after recovery), without a window for another
  // exclusive holder.
  Status Downgrade();
  void Release();
  bool held() const { return fd_ >= 0; }

 private:
  Status Acquire(const std::string& home, int op, uint32_t timeout_ms);
  int fd_ = -1;
};

// "pid command" of the current holder of `home`, or "" if none.
std::string DescribeHolder(const std::string& home);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_HOME_LOCK_H_
