// The server's life and its connections: Start, Wait, stopping, accepting
// a client, serving a claimed connection, dropping one, and the periodic
// jobs.  The command handlers are in session_commands.cc and
// session_commit.cc; the parts in their own headers (server_impl.h).
#include "server/server.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "server/server_impl.h"

namespace durus::server {

// --- the public surface --------------------------------------------------

Server::Server(Storage* storage, ServerOptions options, Logger* logger)
    : impl_(std::make_unique<ServerImpl>(storage, std::move(options), logger)) {}
Server::~Server() = default;
Status Server::Start() { return impl_->Start(); }
void Server::Wait() { impl_->Wait(); }
void Server::Shutdown() { impl_->RequestStop("shutdown requested"); }
void Server::SignalStop() { impl_->SignalStop(); }
void Server::CloseListener() { impl_->CloseListener(); }
const std::string& Server::address() const { return impl_->listener().description(); }
int Server::port() const { return impl_->listener().port(); }
std::string Server::stop_reason() const { return impl_->stop_reason(); }
ServerFigures Server::figures() const { return impl_->figures(); }
const ServerMetrics& Server::metrics() const { return impl_->metrics(); }
bool Server::stopping() const { return impl_->stopping(); }

// --- life ------------------------------------------------------------------

namespace {
Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}
}  // namespace

ServerImpl::ServerImpl(Storage* storage, ServerOptions options, Logger* logger)
    : storage_(storage),
      options_(std::move(options)),
      log_(logger),
      acceptor_(logger),
      budget_(options_.max_request_memory),
      pool_(this, logger) {}

ServerImpl::~ServerImpl() {
  if (lease_thread_.joinable()) {
    RequestStop("shutdown requested");
    Wait();
  }
  listener_.Close();
}

Status ServerImpl::Start() {
  if (options_.threads < 1) return Status::InvalidArgument("--threads must be at least 1");
  // A site of a replication group (any role): the replica's publication
  // and its checks run (session_commands.cc); elsewhere they cost nothing.
  replicated_ = !storage_->ReplicationSummary().empty();
  DURUS_RETURN_IF_ERROR(listener_.Open(options_.listen));
  DURUS_RETURN_IF_ERROR(pool_.Open());
  WorkerPoolOptions po;
  po.threads = options_.threads;
  po.batch = options_.batch;
  po.max_active = options_.active_threads > 0
                      ? options_.active_threads
                      : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  po.stall = Seconds(std::max(0.001, options_.stall_s));
  // Often enough for the stall, and for the commit grace to within a fifth.
  po.tick = std::clamp(std::min(po.stall, Seconds(std::max(0.0, options_.commit_grace_s)) / 5),
                       Seconds(0.001), Seconds(0.1));
  pool_.StartThreads(po);
  lease_thread_ = std::thread([this] { LeaseLoop(); });
  std::string how;
  const size_t max_clients = ClientBudget(options_.max_clients, options_.fd_reserve, &how);
  DURUS_RETURN_IF_ERROR(
      acceptor_.Start(listener_.fd(), listener_.is_unix(), listener_.description(), pool_.stop_fd(),
                      &options_.access, max_clients,
                      [this](int fd, const PeerInfo& peer) { AddClient(fd, peer); }));
  const std::string exposure =
      ExposureWarning(options_.access, listener_.fd(), listener_.description());
  if (!exposure.empty()) log_->Log(LogLevel::kWarn, "%s", exposure.c_str());
  log_->Log(LogLevel::kInfo, "serving up to %zu clients (%s); quit (Q) honoured from %s",
            max_clients, how.c_str(),
            options_.access.allow_stop == StopPolicy::kLocal ? "this machine only"
            : options_.access.allow_stop == StopPolicy::kAny ? "any client"
                                                             : "no client");
  // Last: scripts and tests wait for this line, printed whatever the log
  // level or file (Logger::Announce).
  log_->Announce(LogFields()
                     .Add("event", std::string("ready"))
                     .Add("address", listener_.description())
                     .Add("version", std::string(ServerVersion()))
                     .Add("storage", storage_->Describe())
                     .Add("threads", static_cast<uint64_t>(options_.threads))
                     .Add("read_only", options_.read_only),
                 "ready on %s (durus-bdb %s, storage %s, %d threads%s)",
                 listener_.description().c_str(), ServerVersion(), storage_->Describe().c_str(),
                 options_.threads, options_.read_only ? ", read-only" : "");
  return Status::OK();
}

void ServerImpl::RequestStop(const std::string& reason) {
  {
    util::MutexLock l(&stop_mu_);
    if (stop_reason_.empty()) stop_reason_ = reason;
  }
  pool_.SignalStop();
}

std::string ServerImpl::stop_reason() const {
  util::MutexLock l(&stop_mu_);
  return stop_reason_.empty() ? "signal" : stop_reason_;
}

ServerFigures ServerImpl::figures() const {
  ServerFigures f;
  f.clients = table_.members();
  f.commits = commits_.load();
  f.commit_conflicts = commit_conflicts_.load();
  f.commits_refused = commits_refused_.load();
  f.load_conflicts = load_conflicts_.load();
  f.load_waits = table_.waits();
  f.grace_expired = grace_expired_.load();
  f.dropped = dropped_.load();
  f.request_bytes = budget_.in_use();
  return f;
}

void ServerImpl::Wait() {
  pool_.Join();
  acceptor_.Join();  // adds no client after this
  // Parked loads are not served any more: their connections are closed
  // below with the others.
  leases_.Stop();
  if (lease_thread_.joinable()) lease_thread_.join();
  sequencer_.Clear();
  const size_t open = pool_.CloseAll();  // closes the sockets
  if (!options_.status_path.empty()) RemoveServerStatus(options_.status_path);
  log_->LogWith(LogLevel::kInfo,
                LogFields()
                    .Add("event", std::string("stopped"))
                    .Add("reason", stop_reason())
                    .Add("commits", commits_.load())
                    .Add("clients_dropped", dropped_.load()),
                "stopped (%s): closed %zu client connections; %" PRIu64 " commits, %" PRIu64
                " commit conflicts (%" PRIu64 " refused by the server), %" PRIu64
                " loads answered I (%" PRIu64 " waited for a commit in flight, %" PRIu64
                " for a hot object's writer), %" PRIu64 " clients dropped",
                stop_reason().c_str(), open, commits_.load(), commit_conflicts_.load(),
                commits_refused_.load(), load_conflicts_.load(), table_.waits(), leases_.parked(),
                dropped_.load());
}

// --- connections -----------------------------------------------------------

void ServerImpl::AddClient(int fd, const PeerInfo& peer) {
  const bool may_stop = MayStop(options_.access, peer, static_cast<int64_t>(::geteuid()));
  // Before joining the table (Client's constructor): a gap found after
  // this read concerns the new client too, harmlessly.
  const uint64_t repl_gaps = storage_->ReplicatedGaps();
  // Joins the invalidation table: connecting counts as a sync.
  auto owned = std::make_unique<Client>(next_client_id_.fetch_add(1), peer.name, may_stop, fd,
                                        pool_.stop_fd(), &table_);
  Client* c = owned.get();
  c->repl_gaps = repl_gaps;
  c->io.CountBytes(&metrics_.bytes_in, &metrics_.bytes_out);
  DURUS_LOG(*log_, kInfo, "client %" PRIu64 " connected from %s", c->id, c->peer.c_str());
  // Claimed by us until registered in epoll, so that a failure can drop it.
  c->state.store(WorkerPool::kBusy, std::memory_order_relaxed);
  if (!pool_.Add(std::move(owned))) {
    Drop(c, LogLevel::kError, std::string("epoll_ctl: ") + strerror(errno));
    return;
  }
  // Bytes that came before the registration raised an event at ADD; if a
  // worker got it meanwhile and marked the connection pending, pass the
  // connection on (not served here: accepting must not block).
  pool_.ReleaseAndKick(c, /*kick=*/false);
}

void ServerImpl::Serve(Connection* conn) {
  Client* c = static_cast<Client*>(conn);
  bool fill = true;  // an event came: bytes (or EOF) may be waiting
  while (!pool_.stopping()) {
    if (c->io.buffered() == 0 && (fill || !c->io.drained())) {
      fill = false;
      IoResult r = c->io.FillNow();
      if (r == IoResult::kClosed) {
        Drop(c, LogLevel::kInfo, "disconnected");
        return;
      }
      if (r == IoResult::kError) {
        Drop(c, LogLevel::kWarn, std::string("socket error: ") + strerror(c->io.error()));
        return;
      }
    }
    if (c->phase == CommitPhase::kList) {
      // Granted with its list not fully sent: finish sending it.
      pool_.BeginRequest();
      const bool kept = ContinueListSend(c);
      pool_.EndRequest();
      if (!kept) return;  // dropped
      continue;
    }
    if (c->io.buffered() > 0) {
      // Parked: the lease thread hands the connection back (nothing of
      // the request was consumed).
      if (c->phase == CommitPhase::kNone && MaybeParkLoad(c)) return;
      Outcome outcome;
      pool_.BeginRequest();
      if (c->phase == CommitPhase::kData) {
        outcome = ContinueCommit(c) ? Outcome::kKept : Outcome::kDropped;
      } else {
        uint8_t cmd = c->io.TakeByte();
        ++c->requests;
        metrics_.CountRequest(cmd);
        outcome = Dispatch(c, cmd);
      }
      pool_.EndRequest();
      // Dropped, or queued for the commit token (then `c` is the commit
      // line's: not to be touched, nor released).
      if (outcome != Outcome::kKept) return;
      // The reply buffer is reused across requests; one large reply (a
      // big record) must not stay allocated for the connection's life.
      if (c->reply.capacity() > (1u << 20)) std::string().swap(c->reply);
      continue;
    }
    switch (pool_.Release(c)) {
      case WorkerPool::Released::kReleased: return;  // another worker may own `c` from here on
      case WorkerPool::Released::kError:
        Drop(c, LogLevel::kError, std::string("epoll_ctl: ") + strerror(errno));
        return;
      case WorkerPool::Released::kPending:
        fill = true;  // an event arrived while we were serving: look again
        break;
    }
  }
  // Stopping: leave the connection to Wait(), which closes it.
}

Deadline ServerImpl::RequestDeadline(uint64_t payload_bytes) const {
  if (options_.idle_timeout_s <= 0) return Deadline::max();
  return Clock::now() +
         Seconds(options_.idle_timeout_s + static_cast<double>(payload_bytes) / (1 << 20));
}

bool ServerImpl::IoFailed(Client* c, IoResult r, const std::string& what) {
  std::string why = std::string(IoResultName(r)) + " " + what;
  if (r == IoResult::kError) why += std::string(": ") + strerror(c->io.error());
  Drop(c, r == IoResult::kStopped ? LogLevel::kInfo : LogLevel::kWarn, why);
  return false;
}

bool ServerImpl::Read(Client* c, std::string* out, size_t n, Deadline deadline, const char* what) {
  out->clear();
  IoResult r = c->io.ReadUntil(out, n, deadline);
  return r == IoResult::kOk || IoFailed(c, r, std::string("while reading ") + what);
}

bool ServerImpl::Write(Client* c, const std::string& data, Deadline deadline, const char* what) {
  IoResult r = c->io.WriteAll(data, deadline);
  if (r == IoResult::kOk) return true;
  std::string why = std::string(IoResultName(r)) + " while sending " + what;
  if (r == IoResult::kError) why += std::string(": ") + strerror(c->io.error());
  Drop(c, LogLevel::kWarn, why);
  return false;
}

void ServerImpl::Drop(Client* c, LogLevel level, const std::string& why) {
  if (level != LogLevel::kInfo) dropped_.fetch_add(1);
  DURUS_LOG(*log_, kDebug, "client %" PRIu64 ": %" PRIu64 " requests, %" PRIu64 " commits, %.1f s",
            c->id, c->requests, c->commits,
            std::chrono::duration<double>(Clock::now() - c->connected_at).count());
  if (log_->Enabled(level)) {
    log_->Log(level, "client %" PRIu64 " (%s) %s%s", c->id, c->peer.c_str(),
              level == LogLevel::kInfo ? "" : "dropped: ", why.c_str());
  }
  if (sequencer_.Forget(c)) ReleaseToken(c);  // nothing of its commit was published
  leases_.Forget(c->id);
  // Leaves the invalidation table and closes the socket.
  pool_.Remove(c, [] {});
  acceptor_.Released();
}

// --- the periodic jobs (the pool's monitor thread) ------------------------

void ServerImpl::OnTick(Clock::time_point now) {
  PublishStatus(now);
  ExpireCommitGrace(now);
  DropLateCommitters(now);
  FollowReplicated();
}

void ServerImpl::PublishStatus(Clock::time_point now) {
  // Live figures for `durus-bdb stat` (informational: errors ignored).
  if (options_.status_path.empty() || now - status_published_at_ < std::chrono::seconds(1)) return;
  status_published_at_ = now;
  WriteServerStatus(options_.status_path, figures()).IgnoreError();
}

void ServerImpl::ExpireCommitGrace(Clock::time_point now) {
  // A committer's client slow to answer its invalidation list.
  Client* slow = sequencer_.GraceExpired(now, Seconds(std::max(0.0, options_.commit_grace_s)));
  if (slow != nullptr) ReleaseToken(slow, /*grace_expired=*/true);
}

void ServerImpl::DropLateCommitters(Clock::time_point now) {
  // A committer's client that did not answer within the deadline.
  for (uint64_t id : sequencer_.Late(now)) {
    Client* c = static_cast<Client*>(pool_.TryClaim(id, /*mark_pending=*/false));
    if (c == nullptr) continue;  // being served: its worker keeps the deadline
    if (sequencer_.StillLate(c, now)) {
      Drop(c, LogLevel::kWarn, "timed out while reading the commit length (nothing stored)");
    } else if (c->state.exchange(WorkerPool::kIdle, std::memory_order_acq_rel) ==
               WorkerPool::kPending) {
      pool_.QueueReady(id);
    }
  }
}

}  // namespace durus::server
