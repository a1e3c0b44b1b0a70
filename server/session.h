// Client: one client connection's session state.  (Internal to server/.)
//
// A Client is a Connection of the WorkerPool (which owns it and decides
// which worker serves it) plus what Durus's protocol keeps per client: its
// membership of the InvalidationTable (invalid and unused oids), where it
// is in a commit, and its hot-object state (LeaseTable).  The handlers of
// the protocol's commands are ServerImpl's Handle* (server_impl.h), one per
// command byte (session_commands.cc, session_commit.cc).
//
// Threading: every field below is touched only by the worker that has
// claimed the connection (WorkerPool::TryClaim), or while it is kQueued in
// the commit line by the token's granter, which holds that claim then;
// the claim's acquire/release orders one owner's writes before the next.
// The sets shared with other clients' workers live in the table, under
// its locks.
#ifndef DURUS_BDB_SERVER_SESSION_H_
#define DURUS_BDB_SERVER_SESSION_H_

#include <cstdint>
#include <string>

#include "server/invalidation_table.h"
#include "server/worker_pool.h"

namespace durus::server {

// Where a connection is in a commit (session_commit.cc).
enum class CommitPhase : uint8_t {
  kNone,    // between requests, or serving one
  kQueued,  // waiting for the commit token, claimed but unserved
  kList,    // holds the token; its invalidation list not fully sent
  kData,    // holds the token (or had it); waiting for the client's data
};

// What a request left the connection as.
enum class Outcome { kKept, kDropped, kSuspended /* in the commit line */ };

struct Client : Connection {
  Client(uint64_t id_, std::string peer_, bool may_stop_, int fd, int stop_fd,
         InvalidationTable* table)
      : Connection(id_, fd, stop_fd),
        peer(std::move(peer_)),
        may_stop(may_stop_),
        connected_at(Clock::now()),
        table_(table),
        member(table->Join()) {}
  ~Client() override { table_->Leave(member); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string peer;
  const bool may_stop;  // Q honoured (ServerOptions::access.allow_stop)
  std::string reply;    // reply buffer, reused across requests
  uint64_t requests = 0;
  uint64_t commits = 0;
  const Clock::time_point connected_at;

  // The commit in progress.
  CommitPhase phase = CommitPhase::kNone;
  Clock::time_point commit_t0;  // 'C' received
  size_t list_sent = 0;         // bytes of the invalidation list (reply) sent
  size_t n_invalid = 0;
  // Hot objects (LeaseTable): until when this client counts as one that
  // lost a commit (its loads of oids leased to others are parked), and a
  // pass for the load just released from parking (not parked again).  A
  // parked load that reached lease_max_wait_s ends the client's contender
  // time: its next attempt races the writer as without leases (so a
  // writer that never pauses cannot starve it: once it wins, the writer is
  // the one that lost), and its next conflict makes it a contender again.
  Clock::time_point contender_until{};
  bool lease_pass = false;
  // Replication: Storage::ReplicatedGaps() read before this client joined
  // the table; once the storage's count is past it, the client may hold
  // versions whose invalidations were trimmed away: it is dropped.
  uint64_t repl_gaps = 0;
  // Replication: replicated_published_ when this client's commit list was
  // drained (PrepareCommitList).
  uint64_t repl_published_at_list = 0;

 private:
  InvalidationTable* const table_;

 public:
  // Its invalid and unused oids (in the table, under the table's locks).
  InvalidationTable::Member* const member;
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_SESSION_H_
