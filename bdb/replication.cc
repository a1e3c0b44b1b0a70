// Berkeley DB Replication Manager: configuration, start, events
// (bdb/replication.h).  Figures and the reasons for each value:
// doc/replication-plan.md sections 3, 4, 10.3 and 11.
#include "bdb/replication.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "bdb/call_deadline.h"
#include "bdb/handles.h"
#include "bdb/retry.h"

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
      new_masters_.fetch_add(1);
      break;
    case DB_EVENT_REP_STARTUPDONE:
      // Not at CLIENT: a demoted master rolls back in the sync that ends
      // here, and handles reopened before the rollback would die in it.
      handles_epoch_.fetch_add(1);
      startup_done_ = true;
      break;
    case DB_EVENT_REP_INIT_DONE: handles_epoch_.fetch_add(1); return;
    // Operations (doc/replication.md, "Removing a site"): only a flag; the
    // server polls StopReason and exits.
    case DB_EVENT_REP_LOCAL_SITE_REMOVED: local_site_removed_ = true; return;
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

Status RemoveReplicationFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return Status::IOError("cannot read " + dir + ": " + strerror(errno));
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "__db.rep.", 9) == 0) names.push_back(e->d_name);
  }
  closedir(d);
  for (const std::string& n : names) {
    if (unlink((dir + "/" + n).c_str()) != 0) {
      return Status::IOError("cannot remove " + dir + "/" + n + ": " + strerror(errno));
    }
  }
  return Status::OK();
}

Status ReplicationSiteRefusal(const std::string& home) {
  return Status::InvalidArgument(
      home +
      " is a site of a replication group (it holds __db.rep.system): a write outside the group "
      "would fork the group's history; open it with `durus-bdb serve --repl-listen ...` "
      "(doc/replication.md); read-only tools (stat, verify, export, backup) work");
}

namespace {
// DURUS_BDB_REPL_VERBOSE=1: Berkeley DB's own account of elections and
// failed connections, on stderr (the server's log stream); =2 adds
// repmgr's other messages (heartbeats, an acknowledgement per commit).
// For diagnosing a group that does not elect; the tests' harness sets 1
// and shows the site logs on a failure.
void PrintReplicationMessage(const DbEnv*, const char* msg) {
  fprintf(stderr, "bdb-repl: %s\n", msg);
}
}  // namespace

Status ReplicationState::Configure(DbEnv* env) {
  const ReplicationOptions& o = options_;
  env->set_app_private(this);
  if (const char* v = getenv("DURUS_BDB_REPL_VERBOSE"); v != nullptr && v[0] >= '1') {
    env->set_msgcall(&PrintReplicationMessage);
    env->set_verbose(DB_VERB_REP_ELECT, 1);
    env->set_verbose(DB_VERB_REPMGR_CONNFAIL, 1);
    if (v[0] >= '2') env->set_verbose(DB_VERB_REPMGR_MISC, 1);
  }
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
  // Calls made while Berkeley DB locks the API out (a sync with a new
  // master, a role change) fail at once with DB_REP_LOCKOUT instead of
  // sleeping in 5 s steps; we wait for the lockout ourselves, briefly
  // (bdb/retry.h, "Replication lockouts").
  if (ret == 0) ret = FailFastOnLockouts(env);
  // With two sites a lone survivor electing itself would be a split brain.
  if (ret == 0 && o.peers.size() == 1) ret = env->rep_set_config(DB_REPMGR_CONF_2SITE_STRICT, 1);
  // Replicas ask the master for its log's end over a message channel
  // (SampleLag); set before repmgr_start, as the docs advise.
  if (ret == 0) {
    DB_ENV* dbenv = env->get_DB_ENV();
    ret = dbenv->repmgr_msg_dispatch(dbenv, &ReplicationState::OnChannelMessage, 0);
  }
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
  //
  // Three message threads.  (One was tried, 2026-12-08, against the
  // membership race of doc/replication.md, "Membership lists applied out
  // of order": Berkeley DB 5.3.28 runs two all the same when elections
  // are on -- counted with gdb -- so the race stays and the site loses a
  // thread that answers votes while another applies the log.)
  constexpr int kMessageThreads = 3;
  int ret;
  while ((ret = env->repmgr_start(kMessageThreads, DB_REP_ELECTION)) == DB_REP_UNAVAIL &&
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
  // Berkeley DB's current idea of the master's EID first: a site's EIDs
  // may be renumbered when the membership changes (seen: after a third
  // site joined, a replica's stored NEWMASTER EID named that third site),
  // and rep_stat follows it.  The event's EID only when rep_stat fails.
  int eid = master_eid_.load();
  DB_REP_STAT* st = nullptr;
  if (env->rep_stat(&st, 0) == 0 && st != nullptr) {
    eid = static_cast<int>(st->st_master);
    free(st);
  }
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

// --- Operations: stat's figures, lag, removal ---

namespace {

// The lag question and its answer on the message channel.  The answer:
// "durus-lag1" then three little-endian u32: whether the answering site is
// master (1/0), its log's end (rep_stat st_next_lsn: file, offset) -- and
// a fourth, its log file size, to make the two LSNs one number.
constexpr char kLagQuestion[] = "durus-lag?";
constexpr char kLagAnswerTag[] = "durus-lag1";
constexpr size_t kTagSize = sizeof(kLagAnswerTag) - 1;
constexpr size_t kLagAnswerSize = kTagSize + 16;

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// rep_stat's st_next_lsn: on a master the next LSN it will write, on a
// replica the next it expects (everything before it is applied).
bool NextLsn(DbEnv* env, DB_LSN* out, uint32_t* status) {
  DB_REP_STAT* st = nullptr;
  if (env->rep_stat(&st, 0) != 0 || st == nullptr) return false;
  *out = st->st_next_lsn;
  *status = st->st_status;
  free(st);
  return true;
}

uint32_t LogFileSize(DbEnv* env) {
  uint32_t size = 0;
  if (env->get_lg_max(&size) != 0 || size == 0) size = 10u << 20;  // Berkeley DB's default
  return size;
}

}  // namespace

void LagSampler::Add(double now_s, uint64_t master_end, uint64_t applied_end) {
  if (master_end <= applied_end) {
    // Caught up: this sample is the new anchor.
    samples_.clear();
    samples_.push_back({now_s, master_end});
    bytes_ = 0;
    seconds_ = 0;
    return;
  }
  samples_.push_back({now_s, master_end});
  // Keep one sample at which the master was not ahead of what is applied
  // here now (the newest such), drop the ones before it.
  while (samples_.size() >= 2 && samples_[1].master_end <= applied_end) samples_.pop_front();
  while (samples_.size() > kMaxSamples) samples_.pop_front();
  bytes_ = master_end - applied_end;
  seconds_ = std::max(0.0, now_s - samples_.front().time);
}

// Through Berkeley DB's C API: the C++ wrapper's channel in the dispatch
// callback crashed the answering process (a call through a null pointer,
// libdb_cxx 5.3.28), so both the callback and the question use DB_CHANNEL.
void ReplicationState::OnChannelMessage(DB_ENV* dbenv, DB_CHANNEL* channel, DBT* request,
                                        u_int32_t nrequest, u_int32_t cb_flags) {
  if (!(cb_flags & DB_REPMGR_NEED_RESPONSE)) return;  // nothing we send one-way
  char answer[kLagAnswerSize] = {};
  memcpy(answer, kLagAnswerTag, kTagSize);
  DbEnv* env = DbEnv::get_DbEnv(dbenv);
  auto* state = env != nullptr ? static_cast<ReplicationState*>(env->get_app_private()) : nullptr;
  DB_LSN lsn{};
  uint32_t status = 0;
  const bool asked = nrequest == 1 && request[0].size == sizeof(kLagQuestion) - 1 &&
                     memcmp(request[0].data, kLagQuestion, sizeof(kLagQuestion) - 1) == 0;
  if (asked && state != nullptr && state->IsMaster() && NextLsn(env, &lsn, &status) &&
      status == DB_REP_MASTER) {
    PutU32(answer + kTagSize, 1);
    PutU32(answer + kTagSize + 4, lsn.file);
    PutU32(answer + kTagSize + 8, lsn.offset);
    PutU32(answer + kTagSize + 12, LogFileSize(env));
  }
  // Always answer: the asker waits for it until its timeout otherwise.
  DBT reply{};
  reply.data = answer;
  reply.size = sizeof answer;
  channel->send_msg(channel, &reply, 1, 0);
}

void ReplicationState::SampleLag(DbEnv* env) {
  const double now_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (IsMaster()) {
    util::MutexLock l(&lag_mu_);
    lag_known_ = true;
    lag_bytes_ = 0;
    lag_seconds_ = 0;
    lag_ = LagSampler();
    return;
  }
  bool known = false;
  uint64_t master_end = 0, applied_end = 0;
  DB_ENV* dbenv = env->get_DB_ENV();
  // A new master since the channel was made: a fresh channel (see the
  // header).  Never otherwise, whatever the question's result.
  const uint64_t masters = new_masters_.load();
  if (lag_channel_ != nullptr && masters != lag_channel_masters_) CloseLagChannel();
  if (lag_channel_ == nullptr && role() == ReplicationRole::kReplica && master_eid_.load() >= 0) {
    DB_CHANNEL* made = nullptr;
    int ret = 0;
    {
      // Making it connects and reads the master's handshake with no
      // timeout of its own (bdb/call_deadline.h).
      CallDeadline deadline(kLagQuestionTimeoutMs);
      ret = dbenv->repmgr_channel(dbenv, DB_EID_MASTER, &made, 0);
    }
    if (ret == 0) {
      lag_channel_ = made;
      lag_channel_masters_ = masters;
    }
  }
  if (DB_CHANNEL* channel = lag_channel_;
      channel != nullptr && role() == ReplicationRole::kReplica) {
    DBT question{};
    question.data = const_cast<char*>(kLagQuestion);
    question.size = sizeof(kLagQuestion) - 1;
    char buf[64];
    DBT answer{};
    answer.data = buf;
    answer.ulen = sizeof buf;
    answer.flags = DB_DBT_USERMEM;
    int ret =
        channel->send_request(channel, &question, 1, &answer, kLagQuestionTimeoutMs * 1000, 0);
    DB_LSN mine{};
    uint32_t status = 0;
    if (ret == 0 && answer.size == kLagAnswerSize && memcmp(buf, kLagAnswerTag, kTagSize) == 0 &&
        GetU32(buf + kTagSize) == 1 && NextLsn(env, &mine, &status) && status == DB_REP_CLIENT) {
      // The master's file size numbers both: a replica's log mirrors its.
      const uint32_t size = GetU32(buf + kTagSize + 12);
      master_end = LsnBytes(GetU32(buf + kTagSize + 4), GetU32(buf + kTagSize + 8), size);
      applied_end = LsnBytes(mine.file, mine.offset, size);
      known = true;
    }
  }
  util::MutexLock l(&lag_mu_);
  lag_known_ = known;
  if (known) {
    lag_.Add(now_s, master_end, applied_end);
    lag_bytes_ = lag_.bytes();
    lag_seconds_ = lag_.seconds();
  }
}

void ReplicationState::CloseLagChannel() {
  if (lag_channel_ != nullptr) lag_channel_->close(lag_channel_, 0);
  lag_channel_ = nullptr;
}

void ReplicationState::Figures(DbEnv* env, ReplicationFigures* out) {
  *out = ReplicationFigures();
  switch (role()) {
    case ReplicationRole::kMaster: out->role = "master"; break;
    case ReplicationRole::kReplica: out->role = "replica"; break;
    case ReplicationRole::kNone: out->role = "electing"; break;
  }
  if (local_site_removed()) out->role = "removed";
  out->local_site = options_.listen.ToString();
  out->master_site = MasterSite(env);
  out->in_sync = IsMaster() || startup_done();
  out->perm_failed = perm_failed_total();
  u_int count = 0;
  DB_REPMGR_SITE* list = nullptr;
  if (env->repmgr_site_list(&count, &list) == 0 && list != nullptr) {
    for (u_int i = 0; i < count; ++i) {
      ReplicationFigures::Peer peer;
      peer.site = std::string(list[i].host) + ":" + std::to_string(list[i].port);
      peer.connected = list[i].status == DB_REPMGR_CONNECTED;
      out->peers.push_back(peer);
    }
    free(list);
  }
  util::MutexLock l(&lag_mu_);
  out->lag_known = lag_known_;
  out->lag_bytes = lag_bytes_;
  out->lag_seconds = lag_seconds_;
}

std::string ReplicationState::StopReason() const {
  if (!local_site_removed()) return "";
  return "this site (" + options_.listen.ToString() +
         ") was removed from its replication group (DB_EVENT_REP_LOCAL_SITE_REMOVED): it "
         "stops serving; to add it again, start it again with --repl-peer (an emptied home "
         "is copied afresh)";
}

Status ReplicationState::RemoveSite(DbEnv* env, const ReplicationAddress& address) {
  if (address.host == options_.listen.host && address.port == options_.listen.port) {
    return Status::InvalidArgument(
        "cannot remove " + address.ToString() +
        " through itself: name a running site of the group other than the one to remove");
  }
  // Through the C API: libdb_cxx 5.3.28's DbSite::remove crashed the
  // process when the removal failed (it reads the handle remove() had
  // already freed).  The handle is gone after remove(), whatever it
  // returns.
  DB_ENV* dbenv = env->get_DB_ENV();
  DB_SITE* site = nullptr;
  int ret = dbenv->repmgr_site(dbenv, address.host.c_str(), address.port, &site, 0);
  if (ret != 0) return FromDb(ret, "looking up the replication site " + address.ToString());
  ret = site->remove(site);
  if (ret == DB_REP_UNAVAIL) {
    return Status::Busy("removing " + address.ToString() +
                        ": unavailable (DB_REP_UNAVAIL): it is the master (stop it first; "
                        "once another site is master, remove it from there), or no master is "
                        "reachable, or the group did not acknowledge the change in time");
  }
  if (ret != 0) {
    return FromDb(ret, "removing the replication site " + address.ToString() +
                           (LastDbError().empty() ? "" : ": " + LastDbError()));
  }
  return Status::OK();
}

}  // namespace bdb
}  // namespace durus
