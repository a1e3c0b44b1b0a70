// The live-figures file of a home (<home>/durus-bdb.status).
//
// Only one process may hold a home, so `durus-bdb stat` cannot open a home
// that a server (or any application) is using.  Instead, the holder's
// background thread rewrites this small text file about once a second, and
// stat reads it: the collector's backlog and progress and a running trace's
// progress, as seen by the process doing the work.
//
// The file is informational: it is written without fsync (write to a
// temporary name, then rename, so a reader never sees half a file), removed
// at close, and ignored when the pid it names is no longer alive.  Nothing
// in recovery reads it.  Format: doc/on-disk-format.md.
//
// Threading: the functions are stateless; WriteStatusFile is called from the
// storage's background thread only.  No Berkeley DB types.
#ifndef DURUS_BDB_BDB_STATUS_FILE_H_
#define DURUS_BDB_BDB_STATUS_FILE_H_

#include <cstdint>
#include <string>

#include "engine/status.h"
#include "engine/storage.h"

namespace durus::bdb {

// Atomically replaces <home>/durus-bdb.status with `stats`, stamped with
// this process's pid and the current time.  Errors (a full disk) are
// returned; callers may ignore them, the file is informational.
Status WriteStatusFile(const std::string& home, const StorageStats& stats);

// Milliseconds since the Unix epoch (the file's time stamp).
int64_t NowMs();

// Removes the file if it exists (at close).
void RemoveStatusFile(const std::string& home);

// Bytes the regular files of `dir` occupy on disk (st_blocks).
uint64_t DirectoryBytes(const std::string& dir);

// Parses the file's text.  InvalidArgument when it is not a status file.
Status ParseStatusText(const std::string& text, StorageStats* stats, int64_t* pid,
                       int64_t* written_ms);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_STATUS_FILE_H_
