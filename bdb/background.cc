// The storage's background thread: checkpoints (after which Berkeley DB
// removes log files no longer needed, DB_LOG_AUTO_REMOVE), the periodic log
// flush that bounds nosync's loss window, and the paced garbage collector.
#include <chrono>

#include "bdb/storage_impl.h"

namespace durus::bdb {

void BdbStorage::StartBackground() {
  if (options_.readonly) return;
  bg_stop_ = false;
  bg_thread_ = std::thread([this] { BackgroundLoop(); });
}

void BdbStorage::StopBackground() {
  {
    std::lock_guard<std::mutex> l(bg_mu_);
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  if (bg_thread_.joinable()) bg_thread_.join();
}

void BdbStorage::BackgroundLoop() {
  using Clock = std::chrono::steady_clock;
  auto ms = [](uint32_t v) { return std::chrono::milliseconds(v); };
  uint32_t tick = std::max<uint32_t>(options_.checkpoint_interval_ms, 10);
  if (options_.flush_interval_ms > 0) tick = std::min(tick, options_.flush_interval_ms);
  if (options_.gc_background) tick = std::min(tick, std::max<uint32_t>(options_.gc_interval_ms, 1));
  auto next_checkpoint = Clock::now() + ms(options_.checkpoint_interval_ms);
  auto next_flush = Clock::now() + ms(options_.flush_interval_ms);
  for (;;) {
    {
      std::unique_lock<std::mutex> l(bg_mu_);
      bg_cv_.wait_for(l, ms(tick), [this] { return bg_stop_; });
      if (bg_stop_) return;
    }
    std::shared_lock<std::shared_mutex> open(close_mu_);
    if (closed_) return;
    auto now = Clock::now();
    if (options_.flush_interval_ms > 0 && now >= next_flush) {
      env_->log_flush(nullptr);
      next_flush = now + ms(options_.flush_interval_ms);
    }
    if (now >= next_checkpoint) {
      if (commits_since_checkpoint_.exchange(0) > 0) {
        // Checkpoint (DB_LOG_AUTO_REMOVE then drops unneeded log files).
        env_->txn_checkpoint(0, 0, 0);
      }
      next_checkpoint = now + ms(options_.checkpoint_interval_ms);
    }
    open.unlock();
    if (options_.gc_background) {
      uint32_t budget = options_.gc_batch;
      if (options_.gc_per_second > 0) {
        budget = std::min<uint32_t>(budget, std::max<uint32_t>(
                                                1, options_.gc_per_second * tick / 1000));
      }
      uint64_t n = 0, b = 0;
      bool done = false;
      bool has_work;
      {
        std::lock_guard<std::mutex> l(write_mu_);
        has_work = pending_count_ > 0;
      }
      if (has_work && CollectStep(budget, &n, &b, &done).ok() && n > 0) {
        commits_since_checkpoint_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
}

}  // namespace durus::bdb
