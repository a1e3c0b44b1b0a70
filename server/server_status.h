// The server's live figures, published for `durus-bdb stat`
// (<home>/durus-bdb.server-status).
//
// Only one process may hold a home, so stat cannot ask the storage of a
// home a server is using; the storage publishes its own figures
// (bdb/status_file.h) and the server publishes these beside them: clients,
// commits, and the two kinds of conflict counted separately (conflicts
// answered at commit, 'I' answered to loads), so that what clients see as
// ConflictErrors can be read off a running server.
//
// Informational like the storage's file: written about once a second by
// the server's monitor thread to a temporary name then renamed (a reader
// never sees half a file), no fsync, removed at stop, ignored when the pid
// it names is gone.  Format: a header line "durus-bdb-server-status 1",
// then "name value" lines (the fields of ServerFigures, plus pid and
// written_ms); unknown names are ignored.
//
// Threading: stateless functions.
#ifndef DURUS_BDB_SERVER_SERVER_STATUS_H_
#define DURUS_BDB_SERVER_SERVER_STATUS_H_

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace durus::server {

constexpr const char kServerStatusFile[] = "durus-bdb.server-status";

struct ServerFigures {
  uint64_t clients = 0;  // connected now
  uint64_t commits = 0;  // acknowledged ('O')
  // Commits that ended in a conflict: abandoned by the client after
  // reading its invalidations (Durus's client raises WriteConflictError)
  // plus refused by the server with 'I'.
  uint64_t commit_conflicts = 0;
  uint64_t commits_refused = 0;  // of which answered 'I' by the server
  uint64_t load_conflicts = 0;   // oids answered 'I' to L and B
  uint64_t load_waits = 0;       // loads that waited for a commit in flight
  uint64_t grace_expired = 0;    // commit tokens released by --commit-grace
  uint64_t dropped = 0;          // clients dropped for misbehaving
  uint64_t request_bytes = 0;    // request bytes in flight (--max-request-memory)
};

// Atomically replaces `path` with `f`, stamped with this process's pid and
// the time.  Errors are returned (callers may ignore them).
Status WriteServerStatus(const std::string& path, const ServerFigures& f);
void RemoveServerStatus(const std::string& path);

// NotFound when there is no file or its writer is gone; InvalidArgument
// for a malformed one.  `age_seconds`: since it was written.
Status ReadServerStatus(const std::string& path, ServerFigures* f, int64_t* pid,
                        double* age_seconds);

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_SERVER_STATUS_H_
