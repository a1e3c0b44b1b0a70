// The info request R (durus-bdb's own command byte; doc/server.md "The
// info request R"): a client asks a server what it is in a replication
// group -- master, replica or neither, where the master is -- and, with a
// journal position, which oids changed since (what a client that followed
// the master through a failover must invalidate; doc/replication-plan.md 8).
//
//   request: 'R' + int4 len + JSON {"since": seq or null, "since_time": µs}
//   reply:   int4 len + JSON {"role", "master", "master_site", "site",
//            "generation", "journal_seq", "journal_time", "in_flight":
//            [oid, ...], and, when "since" was given, "changed_since":
//            [oid, ...] or "all"}
//
// JSON (nlohmann, header-only, Debian's nlohmann-json3-dev): the request
// may grow fields without a new command byte, and the Python side reads it
// with the standard library.  Pure functions: tested without sockets.
#ifndef DURUS_BDB_SERVER_INFO_REQUEST_H_
#define DURUS_BDB_SERVER_INFO_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "engine/storage.h"

namespace durus::server {

// A request's JSON is small; a longer one is refused unread.
inline constexpr uint32_t kMaxInfoRequestBytes = 4096;

// Parses the request's JSON: *since is set when it names a position.
// InvalidArgument for anything but an object whose "since" is null, absent
// or an unsigned integer (and "since_time", when present, one too).
Status ParseInfoRequest(std::string_view json, std::optional<JournalPosition>* since);

// The reply's JSON (without its length prefix).  `asked_since`: whether
// the request named a position ("changed_since" is present only then).
// `in_flight`: the oids of the commits this server had published but not
// finished when it began reading the journal (such a commit may take a
// seq after journal_seq).  Empty addresses are null.
std::string EncodeInfoReply(const ReplicationInfo& info, bool asked_since,
                            const std::vector<Oid>& in_flight);

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_INFO_REQUEST_H_
