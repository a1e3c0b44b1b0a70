// The storage's background thread: checkpoints (after which Berkeley DB
// removes log files no longer needed, DB_LOG_AUTO_REMOVE, or, with log
// archiving, we archive and remove them: bdb/log_archive.h), the periodic log
// flush that bounds nosync's loss window, and the paced garbage collector:
// collector steps on the pending-garbage queue and steps of a cycle trace
// when one runs (StartPack).
//
// Pacing (bdb/gc/pacer.h): with gc_per_second > 0 a token bucket of that many
// records per second; with 0, no rate limit but at most half of the time
// spent holding the writer lock, so commits interleave between steps.  Each
// step is one small transaction of at most gc_batch records.  When there
// is nothing to collect the thread sleeps gc_interval_ms between looks.
//
// On a replication group's master it also trims the commit journal
// (bdb/journal.h) once a second: batches of kTrimBatch entries, each its
// own transaction under the writer lock, so commits interleave.
#include <chrono>

#include "bdb/backup.h"
#include "bdb/gc/pacer.h"
#include "bdb/home_lock.h"
#include "bdb/journal.h"
#include "bdb/status_file.h"
#include "bdb/storage_impl.h"

namespace durus::bdb {

void BdbStorage::StartBackground() {
  // A trace interrupted by a crash or a close continues; its barrier must be
  // active before the first commit, which cannot come before Open returns.
  // (Read-only: loaded only so that stats show it.)
  Status s;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    s = trace_.ResumeLocked();
  }
  if (!s.ok()) {
    // Unreadable trace state: without it no trace runs and the next
    // StartPack starts afresh (Start clears the table); nothing is lost but
    // the progress of the interrupted trace.
    s.IgnoreError();
  }
  if (options_.readonly) return;
  PublishStatus();
  bg_stop_ = false;
  bg_thread_ = std::thread([this] { BackgroundLoop(); });
}

void BdbStorage::StopBackground() {
  {
    std::lock_guard<std::mutex> l(bg_mu_);
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  if (bg_thread_.joinable()) {
    bg_thread_.join();
    RemoveStatusFile(home_);
  }
  // The lag sampler's channel (the background thread's) goes before the
  // environment.
  if (repl_ != nullptr) repl_->CloseLagChannel();
  // Close marks.db before Close() closes the environment.  closed_ is set,
  // so once no operation holds close_mu_ none can start; write_mu_ keeps a
  // commit's barrier off the handle.
  std::unique_lock<std::shared_mutex> closing(close_mu_);
  std::lock_guard<std::mutex> l(write_mu_);
  trace_.CloseHandleLocked();
  journal_.reset();  // replication's commit journal
}

void BdbStorage::PublishStatus() {
  StorageStats st;
  // Informational only: a failure (closing, a full disk) is not an error of
  // the storage; the next tick tries again.
  if (GetStats(&st).ok()) WriteStatusFile(home_, st).IgnoreError();
}

namespace {
// Journal trim: entries per transaction (a few hundred KB of log at most),
// transactions per round (100,000 entries a second: beyond any commit rate
// measured here, so the journal cannot outgrow its retention for good).
constexpr size_t kTrimBatch = 1000;
constexpr int kTrimRounds = 100;
}  // namespace

Status BdbStorage::TrimJournalRound(uint64_t* trimmed) {
  *trimmed = 0;
  JournalRetention keep;
  keep.keep_entries = options_.replication.journal_keep_entries;
  keep.keep_us = uint64_t{options_.replication.journal_keep_s} * 1000 * 1000;
  for (int round = 0; round < kTrimRounds; ++round) {
    size_t n = 0;
    {
      std::shared_lock<std::shared_mutex> open(close_mu_);
      DURUS_RETURN_IF_ERROR(CheckOpen());
      std::lock_guard<std::mutex> l(write_mu_);
      // Only the master writes; a demotion since the last look stops here.
      DURUS_RETURN_IF_ERROR(ReplicationBeforeWriteLocked());
      if (journal_ == nullptr) return Status::OK();
      // Not durable by itself, as a collector step: the next durable
      // commit or checkpoint writes it (a lost trim only trims again).
      DURUS_RETURN_IF_ERROR(TrimJournal(env_.get(), journal_.get(), journal_seq_, keep,
                                        JournalNowUs(), kTrimBatch, DB_TXN_NOSYNC, &n));
    }
    *trimmed += n;
    if (n < kTrimBatch) break;
  }
  if (*trimmed > 0) commits_since_checkpoint_.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

void BdbStorage::BackgroundLoop() {
  using Clock = std::chrono::steady_clock;
  auto ms = [](uint32_t v) { return std::chrono::milliseconds(v); };
  const uint32_t idle_tick = std::max<uint32_t>(options_.gc_interval_ms, 1);
  uint32_t tick = std::max<uint32_t>(options_.checkpoint_interval_ms, 10);
  if (options_.flush_interval_ms > 0) tick = std::min<uint32_t>(tick, options_.flush_interval_ms);
  if (options_.gc_background) tick = std::min(tick, idle_tick);
  auto next_checkpoint = Clock::now() + ms(options_.checkpoint_interval_ms);
  bool checkpoint_owed = false;
  auto next_flush = Clock::now() + ms(options_.flush_interval_ms);
  // Live figures for `durus-bdb stat` (another process cannot open the home).
  constexpr auto kStatusPeriod = std::chrono::seconds(1);
  auto next_status = Clock::now() + kStatusPeriod;
  constexpr auto kTrimPeriod = std::chrono::seconds(1);
  auto next_trim = Clock::now() + kTrimPeriod;
  gc::Pacer pacer(options_.gc_per_second, std::max<uint32_t>(options_.gc_batch, 1));
  Clock::duration wait = ms(tick);
  bool last_was_queue = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(bg_mu_);
      if (wait > Clock::duration::zero()) {
        bg_cv_.wait_for(l, wait, [this] { return bg_stop_; });
      }
      if (bg_stop_) return;
    }
    wait = ms(tick);
    {
      std::shared_lock<std::shared_mutex> open(close_mu_);
      if (closed_) return;
      auto now = Clock::now();
      if (options_.flush_interval_ms > 0 && now >= next_flush) {
        env_->log_flush(nullptr);
        next_flush = now + ms(options_.flush_interval_ms);
      }
      if (now >= next_checkpoint) {
        // Checkpoint (DB_LOG_AUTO_REMOVE then drops the log files it no
        // longer needs).  Log written while a checkpoint runs is only
        // released by the next one, so after activity stops one more
        // forced checkpoint runs: an idle home keeps no stale logs.
        // A replica's log grows by replication, which counts no commits:
        // it checkpoints each period, when the log moved (no DB_FORCE).
        bool active = commits_since_checkpoint_.exchange(0) > 0 || !MayWrite();
        if (active || checkpoint_owed) {
          env_->txn_checkpoint(0, 0, MayWrite() ? DB_FORCE : 0);
          checkpoint_owed = active;
          // An archiving home (auto-removal off) archives, then removes,
          // here -- unless a hot backup is joined (bdb/backup.h): it needs
          // every log file until it leaves.
          JoinLock join;
          if (!archive_.dir.empty() && join.AcquireExclusive(home_, 0).ok()) {
            ReleaseLogsOrWarn(env_.get(), home_, archive_);
          }
        }
        next_checkpoint = Clock::now() + ms(options_.checkpoint_interval_ms);
      }
    }
    if (Clock::now() >= next_status) {
      // Replication: the lag figure and removal requests (at most
      // ReplicationState::kLagQuestionTimeoutMs).
      ReplicationOpsTick();
      PublishStatus();
      next_status = Clock::now() + kStatusPeriod;
    }
    // Replication: a new master reloads its counters and names itself
    // (bdb/storage_repl.cc) before its first write; the collector and the
    // trace run on the master only (their state replicates, so a promoted
    // replica continues them).
    if (repl_ != nullptr) {
      // Handles a rollback or an internal init made dead: reopened here
      // too, so an idle site does not wait for its next read.
      RefreshHandles().IgnoreError();
      std::shared_lock<std::shared_mutex> open(close_mu_);
      if (closed_) return;
      std::lock_guard<std::mutex> l(write_mu_);
      if (!repl_->IsMaster() || !ReplicationBeforeWriteLocked().ok()) continue;
      ReplicationHeartbeatLocked();  // the fence against stale reads
    }
    if (repl_ != nullptr && Clock::now() >= next_trim) {
      uint64_t trimmed = 0;
      // A failure (closing, a deadlock, a demotion) tries again next period.
      TrimJournalRound(&trimmed).IgnoreError();
      next_trim = Clock::now() + kTrimPeriod;
    }
    if (!options_.gc_background) continue;

    bool queue_work, trace_work;
    {
      std::lock_guard<std::mutex> l(write_mu_);
      queue_work = pending_count_ > 0;
      trace_work = trace_.ActiveLocked();
    }
    if (!queue_work && !trace_work) continue;  // look again in a tick
    auto now = Clock::now();
    uint32_t allowance = pacer.Allowance(now);
    if (allowance == 0) {
      wait = std::min<Clock::duration>(pacer.Wait(now), ms(tick));
      continue;
    }
    // One step: of the queue (prompt collection of dropped objects) or of
    // the trace, alternating when both have work so neither starves.
    bool queue_step = queue_work && (!trace_work || !last_was_queue);
    last_was_queue = queue_step;
    auto t0 = Clock::now();
    uint64_t work = 0;
    bool ok = true;
    if (queue_step) {
      uint64_t n = 0, b = 0;
      bool done = false;
      ok = collector_.Step(allowance, &n, &b, &done).ok();
      work = std::max<uint64_t>(n, 1);
    } else {
      TraceStepResult r;
      ok = trace_.Step(allowance, &r).ok();
      work = std::max<uint64_t>(r.work, 1);
    }
    auto t1 = Clock::now();
    commits_since_checkpoint_.fetch_add(1, std::memory_order_relaxed);
    pacer.Spent(work, t1 - t0, t1);
    // More work may be waiting: come back as soon as the pacer allows (an
    // error, e.g. closing, waits a full tick).
    wait = ok ? std::min<Clock::duration>(pacer.Wait(t1), ms(tick)) : ms(tick);
  }
}

}  // namespace durus::bdb
