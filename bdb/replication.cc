// Berkeley DB Replication Manager: configuration, start, events
// (bdb/replication.h).  Figures and the reasons for each value:
// doc/replication-plan.md sections 3, 4, 10.3 and 11.
#include "bdb/replication.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "bdb/handles.h"

namespace durus {

Status ParseReplicationAddress(const std::string& text, ReplicationAddress* out) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::InvalidArgument("'" + text + "': expected [IPV6]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return Status::InvalidArgument("'" + text + "': expected HOST:PORT");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) == 0 ||
      std::stoul(port) > 65535) {
    return Status::InvalidArgument("'" + text + "': the port must be 1-65535");
  }
  out->host = host;
  out->port = static_cast<uint32_t>(std::stoul(port));
  return Status::OK();
}

Status ParseReplicationAck(const std::string& name, ReplicationAck* out) {
  if (name == "quorum") {
    *out = ReplicationAck::kQuorum;
  } else if (name == "all") {
    *out = ReplicationAck::kAll;
  } else if (name == "one") {
    *out = ReplicationAck::kOne;
  } else if (name == "none") {
    *out = ReplicationAck::kNone;
  } else {
    return Status::InvalidArgument("unknown ack policy '" + name +
                                   "' (expected quorum, all, one or none)");
  }
  return Status::OK();
}

const char* ReplicationAckName(ReplicationAck ack) {
  switch (ack) {
    case ReplicationAck::kQuorum: return "quorum";
    case ReplicationAck::kAll: return "all";
    case ReplicationAck::kOne: return "one";
    case ReplicationAck::kNone: return "none";
  }
  return "?";
}

namespace bdb {

namespace {

thread_local bool t_perm_failed = false;

int AckPolicy(ReplicationAck ack) {
  switch (ack) {
    case ReplicationAck::kQuorum: return DB_REPMGR_ACKS_QUORUM;
    case ReplicationAck::kAll: return DB_REPMGR_ACKS_ALL;
    case ReplicationAck::kOne: return DB_REPMGR_ACKS_ONE;
    case ReplicationAck::kNone: return DB_REPMGR_ACKS_NONE;
  }
  return DB_REPMGR_ACKS_QUORUM;
}

}  // namespace

void SetNoDelayOnTcpSockets() {
  struct rlimit lim {};
  int max_fd = 1024;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 1 << 20));
  }
  for (int fd = 0; fd < max_fd; ++fd) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
    sockaddr_storage ss{};
    len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) continue;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) continue;
    int one = 1;
    // A descriptor reused between the check and the set is harmless: the
    // option only matters on TCP sockets, and fails on anything else.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

ReplicationState::ReplicationState(ReplicationOptions options, Durability durability)
    : options_(std::move(options)), durability_(durability) {}

void ReplicationState::ClearPermFailed() { t_perm_failed = false; }
bool ReplicationState::PermFailed() { return t_perm_failed; }

void ReplicationState::OnEvent(DbEnv* env, u_int32_t event, void* info) {
  auto* state = static_cast<ReplicationState*>(env->get_app_private());
  if (state != nullptr) state->Handle(event, info);
}

void ReplicationState::Handle(u_int32_t event, void* info) {
  switch (event) {
    case DB_EVENT_REP_PERM_FAILED:
      // In the committing thread, inside DbTxn::commit (plan section 4):
      // the commit reads it right after.  Keep DB_REP_CONF_BULK off, or
      // another thread may send (and fail) our record.
      t_perm_failed = true;
      perm_failed_total_.fetch_add(1, std::memory_order_relaxed);
      return;
    case DB_EVENT_REP_CONNECT_ESTD: SetNoDelayOnTcpSockets(); return;
    case DB_EVENT_REP_MASTER:
      master_eid_ = DB_EID_INVALID;  // ourselves: MasterSite answers our own address
      // The generation first: whoever sees the role master also sees that
      // a reload is due (BdbStorage::ReplicationBeforeWriteLocked).
      master_generation_.fetch_add(1);
      role_ = static_cast<int>(ReplicationRole::kMaster);
      break;
    case DB_EVENT_REP_CLIENT:
    case DB_EVENT_REP_DUPMASTER: role_ = static_cast<int>(ReplicationRole::kReplica); break;
    case DB_EVENT_REP_NEWMASTER:
      if (info != nullptr) master_eid_ = *static_cast<int*>(info);
      break;
    case DB_EVENT_REP_STARTUPDONE:
      // Not at CLIENT: a demoted master rolls back in the sync that ends
      // here, and handles reopened before the rollback would die in it.
      handles_epoch_.fetch_add(1);
      startup_done_ = true;
      break;
    case DB_EVENT_REP_INIT_DONE: handles_epoch_.fetch_add(1); return;
    default: return;
  }
  // Wakes Start(); the lock orders the store before a waiter's check.
  std::lock_guard<std::mutex> l(mu_);
  cv_.notify_all();
}

bool IsReplicationSite(const std::string& home) {
  struct stat st;
  return ::stat((home + "/__db.rep.system").c_str(), &st) == 0;
}

Status ReplicationSiteRefusal(const std::string& home) {
  return Status::InvalidArgument(
      home +
      " is a site of a replication group (it holds __db.rep.system): a write outside the group "
      "would fork the group's history; open it with `durus-bdb serve --repl-listen ...` "
      "(doc/replication.md); read-only tools (stat, verify, export, backup) work");
}

Status ReplicationState::Configure(DbEnv* env) {
  const ReplicationOptions& o = options_;
  env->set_app_private(this);
  int ret = env->set_event_notify(&ReplicationState::OnEvent);
  if (ret == 0) ret = env->rep_set_priority(o.priority);
  // Set once, before start, and never changed while running: after a
  // runtime change quorum commits stopped waiting for acks (gotcha 19).
  if (ret == 0) ret = env->repmgr_set_ack_policy(AckPolicy(o.ack));
  const struct {
    int which;
    uint32_t ms;
  } timeouts[] = {{DB_REP_ACK_TIMEOUT, o.ack_timeout_ms},
                  {DB_REP_ELECTION_TIMEOUT, o.election_timeout_ms},
                  {DB_REP_ELECTION_RETRY, o.election_timeout_ms},
                  {DB_REP_HEARTBEAT_SEND, o.heartbeat_send_ms},
                  {DB_REP_HEARTBEAT_MONITOR, o.heartbeat_monitor_ms},
                  {DB_REP_CONNECTION_RETRY, o.connection_retry_ms}};
  for (const auto& t : timeouts) {
    if (ret == 0) ret = env->rep_set_timeout(t.which, t.ms * 1000);
  }
  // Berkeley DB pauses every checkpoint on a master for 30 s by default
  // before logging its record (time for replicas to flush their caches):
  // our background thread checkpoints every second, and Close waited a
  // minute (seen: 55-62 s).  Replicas flush from their own checkpoints.
  if (ret == 0) ret = env->rep_set_timeout(DB_REP_CHECKPOINT_DELAY, 0);
  // A replica re-requests a missing log record after 10 ms (at most every
  // 100 ms) instead of 40 ms / 1.28 s: faster catch-up after a failover.
  if (ret == 0) ret = env->rep_set_request(10000, 100000);
  // Internal init (a full copy) for a fresh or too-far-behind site: the
  // default, said here because joining depends on it.
  if (ret == 0) ret = env->rep_set_config(DB_REP_CONF_AUTOINIT, 1);
  // With two sites a lone survivor electing itself would be a split brain.
  if (ret == 0 && o.peers.size() == 1) ret = env->rep_set_config(DB_REPMGR_CONF_2SITE_STRICT, 1);
  if (ret != 0) return FromDb(ret, "configuring replication");
  DbSite* site = nullptr;
  ret = env->repmgr_site(o.listen.host.c_str(), o.listen.port, &site, 0);
  if (ret == 0) {
    ret = site->set_config(DB_LOCAL_SITE, 1);
    if (ret == 0 && o.create_group) ret = site->set_config(DB_GROUP_CREATOR, 1);
    int cret = site->close();
    if (ret == 0) ret = cret;
  }
  if (ret != 0) return FromDb(ret, "setting the local replication site " + o.listen.ToString());
  for (const ReplicationAddress& peer : o.peers) {
    ret = env->repmgr_site(peer.host.c_str(), peer.port, &site, 0);
    if (ret == 0) {
      ret = site->set_config(DB_BOOTSTRAP_HELPER, 1);
      int cret = site->close();
      if (ret == 0) ret = cret;
    }
    if (ret != 0) return FromDb(ret, "adding the replication peer " + peer.ToString());
  }
  // A replica applies the master's transactions with its env's flag: it
  // fsyncs each one before acknowledging unless DB_TXN_NOSYNC (gotcha 11;
  // DB_TXN_WRITE_NOSYNC does not prevent it).  `sync` homes keep the
  // fsync (the acknowledging replica has the commit on disk); the others
  // acknowledge from memory.  The master's commits pass their own flags
  // (BdbStorage::CommitFlags), so this does not weaken them.
  if (durability_ != Durability::kSync) {
    ret = env->set_flags(DB_TXN_WRITE_NOSYNC, 0);
    if (ret == 0) ret = env->set_flags(DB_TXN_NOSYNC, 1);
    if (ret != 0) return FromDb(ret, "configuring replication");
  }
  return Status::OK();
}

Status ReplicationState::Start(DbEnv* env) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.startup_wait_ms);
  // A site not yet in the group's membership database joins through a
  // helper; when none can take it right now (two sites joining at once)
  // repmgr_start says DB_REP_UNAVAIL: try again (gotcha 2).
  int ret;
  while ((ret = env->repmgr_start(3, DB_REP_ELECTION)) == DB_REP_UNAVAIL &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (ret != 0 && ret != DB_REP_IGNORE) {
    std::string helpers;
    for (const ReplicationAddress& p : options_.peers) {
      helpers += (helpers.empty() ? "" : ", ") + p.ToString();
    }
    return FromDb(ret, "starting replication on " + options_.listen.ToString() +
                           (helpers.empty() ? std::string(" (no --repl-peer given)")
                                            : " (helpers: " + helpers + ")") +
                           (LastDbError().empty() ? "" : ": " + LastDbError()));
  }
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_until(l, deadline, [this] { return IsMaster() || startup_done(); });
  return Status::OK();
}

std::string ReplicationState::MasterSite(DbEnv* env) const {
  if (IsMaster()) return options_.listen.ToString();
  int eid = master_eid_.load();
  if (eid < 0) return "";
  DbSite* site = nullptr;
  if (env->repmgr_site_by_eid(eid, &site) != 0) return "";
  const char* host = nullptr;
  u_int port = 0;
  std::string out;
  if (site->get_address(&host, &port) == 0 && host != nullptr) {
    out = std::string(host) + ":" + std::to_string(port);
  }
  site->close();
  return out;
}

}  // namespace bdb
}  // namespace durus
