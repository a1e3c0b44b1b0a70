// ProgressTracker: turns a stream of counter updates into calls of the
// user's ProgressFn (migrate/migrate.h), at most every kInterval, plus one
// final call per phase.  Cheap enough to call per record.  The first call
// comes at record 1024 (then every 1024 records, at most every 200 ms).
#ifndef DURUS_BDB_MIGRATE_PROGRESS_H_
#define DURUS_BDB_MIGRATE_PROGRESS_H_

#include <chrono>

#include "migrate/migrate.h"

namespace durus::migrate {

class ProgressTracker {
 public:
  ProgressTracker(const ProgressFn* fn, const char* phase, uint64_t total_bytes,
                  uint64_t total_records)
      : fn_(fn), start_(Clock::now()), last_(start_ - kInterval) {  // first update reports
    p_.phase = phase;
    p_.total_bytes = total_bytes;
    p_.total_records = total_records;
  }

  void Update(uint64_t records, uint64_t bytes) {
    p_.records = records;
    p_.bytes = bytes;
    if (fn_ == nullptr || !*fn_ || (records & 1023) != 0) return;
    auto now = Clock::now();
    if (now - last_ < kInterval) return;
    last_ = now;
    p_.phase_seconds = Seconds(now);
    (*fn_)(p_);
  }

  void Done(uint64_t records, uint64_t bytes) {
    p_.records = records;
    p_.bytes = bytes;
    p_.phase_done = true;
    p_.phase_seconds = Seconds(Clock::now());
    if (fn_ != nullptr && *fn_) (*fn_)(p_);
  }

  double seconds() const { return Seconds(Clock::now()); }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kInterval{200};
  double Seconds(Clock::time_point t) const {
    return std::chrono::duration<double>(t - start_).count();
  }

  const ProgressFn* fn_;
  Progress p_;
  Clock::time_point start_, last_;
};

}  // namespace durus::migrate

#endif  // DURUS_BDB_MIGRATE_PROGRESS_H_
