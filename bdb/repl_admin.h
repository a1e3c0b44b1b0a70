// Removing a site from a running replication group (`durus-bdb
// repl-remove`).  Public: no Berkeley DB types.
//
// Berkeley DB's DB_SITE->remove needs a process in which repmgr_start has
// run (doc/replication-plan.md, gotcha 8), i.e. a running server of the
// group, and that server holds its home (no other process may open it).
// So the tool hands the request to the server through two small files in
// the server's home -- whoever may write the home may change its group:
//
//   durus-bdb.repl-request   "remove HOST:RPORT ID\n", written atomically
//                            by the tool; taken (read, then removed) by the
//                            server's background thread within ~1 s
//   durus-bdb.repl-reply     "ID ok\n" or "ID error MESSAGE\n", written
//                            atomically by the server
//
// ID is the tool's own (pid and time), so a reply left from an earlier
// request is never mistaken for this one.  Format: doc/on-disk-format.md.
#ifndef DURUS_BDB_BDB_REPL_ADMIN_H_
#define DURUS_BDB_BDB_REPL_ADMIN_H_

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace durus {

inline constexpr const char* kReplRequestFile = "durus-bdb.repl-request";
inline constexpr const char* kReplReplyFile = "durus-bdb.repl-reply";

// The tool's side: asks the server holding `home` (a running site of the
// group) to remove `site` (HOST:RPORT) and waits up to `timeout_ms` for its
// answer.  NotFound when no live server publishes figures for `home`,
// InvalidArgument when that server is not a replication site, Busy on a
// timeout, otherwise the server's result.
Status RequestSiteRemoval(const std::string& home, const std::string& site, uint32_t timeout_ms);

namespace bdb {

// The server's side.  A pending request, taken (the file is removed):
// true and its fields; false when there is none (or it is malformed: it
// is removed and answered with an error when it has an id).
bool TakeReplRequest(const std::string& home, std::string* verb, std::string* arg, std::string* id);
void WriteReplReply(const std::string& home, const std::string& id, const Status& result);

}  // namespace bdb
}  // namespace durus

#endif  // DURUS_BDB_BDB_REPL_ADMIN_H_
