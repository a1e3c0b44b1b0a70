// Checking a home's log before recovery, and repairing the two kinds of log
// damage that lose nothing acknowledged.  Internal to bdb/.
//
// Why: Berkeley DB's recovery treats the first log record it cannot read in
// the *last* log file as the end of the log, and zeroes everything after it.
// A torn last write (a crash mid-write) is exactly that, and cutting it off
// is right.  But 4 KB garbled in the middle of the last log file made
// recovery silently drop every later commit (150 of 300 in the test), and
// zero the evidence.  So before recovery runs after a crash we read the log
// ourselves and tell the two apart: damage followed by intact records is
// refused with an error naming the file and offset, before anything is
// overwritten; a torn tail is copied aside and left to recovery.
//
// The log format read here (Berkeley DB 5.3, no encryption, the byte order
// of this machine), record after record from offset 0 of each log.NNNNNNNNNN:
//
//   offset  size  field
//   0       4     prev: offset of the previous record (0 for the first)
//   4       4     len: 12 + the body's length
//   8       4     checksum: hash4(body) ^ prev ^ len, where hash4 is
//                 Berkeley DB's __ham_func4 (h = h * 33 + byte)
//   12      len-12 body (the first record of a file is the 16-byte
//                 persist record: magic 0x040988, version, log size, mode)
//
// A record whose header is all zero ends a file's data.
#ifndef DURUS_BDB_BDB_LOG_CHECK_H_
#define DURUS_BDB_BDB_LOG_CHECK_H_

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace durus::bdb {

struct LogCheck {
  uint64_t files = 0;    // log files read
  uint64_t records = 0;  // intact records before any damage
  // Damage: the first record that cannot be read.
  bool damaged = false;
  std::string file;          // its log file (name only)
  uint64_t offset = 0;       // where in it
  uint64_t bytes_after = 0;  // bytes from there to the end of the log data
  // Intact records found after the damage (in the same file after some
  // garbage, or in later files): recovery would drop them.
  uint64_t intact_after = 0;
  bool torn_tail() const { return damaged && intact_after == 0; }
};

// Reads every log file of `home` (or only the last one).  Errors only when
// a file cannot be read (IOError); damage is reported in *out.
Status CheckLog(const std::string& home, bool last_file_only, LogCheck* out);

// Copies the bytes of a torn tail (out->file from out->offset on) to
// HOME/damaged-log-<UTC time>/, so that recovery, which zeroes them, does
// not destroy the only copy.  Returns the directory in *saved_in.
Status SaveTornTail(const std::string& home, const LogCheck& check, std::string* saved_in);

// For a home closed cleanly (its database files hold every commit: the
// closing checkpoint wrote them) whose last log file is damaged: recovery
// would cut the log at the damage and leave pages stamped with LSNs past
// its new end, so that the first write fails ("Invalid argument").  Moves the log and region files
// to HOME/damaged-log-<UTC time>/, and resets the database files' LSNs (DbEnv::lsn_reset) so that a
// new log can start.  Nothing acknowledged is lost.
Status ResetDamagedLog(const std::string& home, std::string* saved_in);

// A line for the operator, on stderr and appended to
// HOME/durus-bdb.recovery.log (with the time): what open-time repair did.
void ReportRecoveryNotice(const std::string& home, const std::string& line);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_LOG_CHECK_H_
