// Replication options of a home opened as a site of a Berkeley DB
// Replication Manager group (issue 13; doc/replication.md,
// doc/replication-plan.md).  Public (no Berkeley DB types): BdbOptions
// carries them, `durus-bdb serve --repl-*` fills them.  The machinery is
// bdb/replication.h (internal).
#ifndef DURUS_BDB_BDB_REPLICATION_OPTIONS_H_
#define DURUS_BDB_BDB_REPLICATION_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"

namespace durus {

// A replication (repmgr) address, HOST:PORT.
struct ReplicationAddress {
  std::string host;
  uint32_t port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
};

// "HOST:PORT" (an IPv6 host in brackets: "[::1]:7000").
Status ParseReplicationAddress(const std::string& text, ReplicationAddress* out);

// How many sites must acknowledge a commit before the master answers it
// (Berkeley DB's repmgr ack policy; the same on every site of a group).
enum class ReplicationAck { kQuorum, kAll, kOne, kNone };

// "quorum", "all", "one", "none".
Status ParseReplicationAck(const std::string& name, ReplicationAck* out);
const char* ReplicationAckName(ReplicationAck ack);

struct ReplicationOptions {
  // This site's replication address; port 0 = not replicated.
  ReplicationAddress listen;
  // Other sites to contact when joining (DB_BOOTSTRAP_HELPER).
  std::vector<ReplicationAddress> peers;
  // Election priority; 0 = never master.
  uint32_t priority = 100;
  ReplicationAck ack = ReplicationAck::kQuorum;
  // The group's very first site, on its first start (DB_GROUP_CREATOR;
  // ignored once the group's membership database exists).
  bool create_group = false;
  // The Durus address clients should use when this site is master
  // (written into meta.db, replicated, so replicas can name it).
  std::string advertise;
  // Timeouts (ms), doc/replication-plan.md 10.3.
  uint32_t ack_timeout_ms = 1000;
  uint32_t election_timeout_ms = 300;
  uint32_t heartbeat_send_ms = 100;
  uint32_t heartbeat_monitor_ms = 2000;
  uint32_t connection_retry_ms = 300;
  // How long the open waits for a replica to sync with the master
  // (DB_EVENT_REP_STARTUPDONE), and for a joining site to be let in.
  uint32_t startup_wait_ms = 30000;
  // The commit journal's retention on the master (bdb/journal.h): an
  // entry is trimmed once it is outside the newest journal_keep_entries
  // and older than journal_keep_s seconds.  A replica's server cut off
  // from the master for longer loses entries and drops its clients; a
  // following client's position must stay inside it.
  uint64_t journal_keep_entries = 100000;
  uint32_t journal_keep_s = 600;

  bool enabled() const { return listen.port != 0; }
};

// What a site is now, for logs and status (Storage::ReplicationSummary).
enum class ReplicationRole { kNone, kMaster, kReplica };

}  // namespace durus

#endif  // DURUS_BDB_BDB_REPLICATION_OPTIONS_H_
