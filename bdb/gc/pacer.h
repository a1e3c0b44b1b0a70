// Pacer: how much garbage-collection work the background thread may do,
// and when.  Not Berkeley-DB-specific: it only counts records and time.
//
// Two policies, chosen by `per_second`:
//   per_second > 0  a token bucket: `per_second` records per second on
//                   average, in steps of at most `batch` records (the bucket
//                   holds at most one batch, so an idle period does not turn
//                   into a burst that would stall commits).
//   per_second == 0 no rate limit, but a duty cycle: after a step that took
//                   d, the next waits d * (1 - duty) / duty, so the collector
//                   holds the storage's writer lock at most `duty` of the
//                   time and commits interleave between steps.
//
// Threading: not thread-safe; the background thread owns its Pacer.
#ifndef DURUS_BDB_BDB_GC_PACER_H_
#define DURUS_BDB_BDB_GC_PACER_H_

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace durus::gc {

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;

  Pacer(uint32_t per_second, uint32_t batch, double duty = 0.5)
      : per_second_(per_second),
        batch_(std::max<uint32_t>(batch, 1)),
        duty_(std::clamp(duty, 0.05, 1.0)),
        tokens_(0),
        last_(Clock::now()),
        not_before_(last_) {}

  // Records the next step may process at `now` (0: none yet; see Wait()).
  uint32_t Allowance(Clock::time_point now) {
    Refill(now);
    if (now < not_before_) return 0;
    if (per_second_ == 0) return batch_;
    return static_cast<uint32_t>(std::min<double>(tokens_, batch_));
  }

  // A step processed `records` records in `elapsed`, ending at `now`.
  void Spent(uint64_t records, Clock::duration elapsed, Clock::time_point now) {
    Refill(now);
    if (per_second_ == 0) {
      auto rest = std::chrono::duration_cast<Clock::duration>(elapsed * ((1.0 - duty_) / duty_));
      not_before_ = now + rest;
    } else {
      tokens_ = std::max(0.0, tokens_ - static_cast<double>(records));
    }
  }

  // How long from `now` until Allowance() can be non-zero.
  Clock::duration Wait(Clock::time_point now) const {
    Clock::duration wait = not_before_ > now ? not_before_ - now : Clock::duration::zero();
    if (per_second_ > 0 && tokens_ < 1.0) {
      double seconds = (1.0 - tokens_) / per_second_;
      auto refill =
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
      wait = std::max(wait, refill);
    }
    return wait;
  }

  uint32_t per_second() const { return per_second_; }
  uint32_t batch() const { return batch_; }

 private:
  void Refill(Clock::time_point now) {
    if (now <= last_) return;
    if (per_second_ > 0) {
      double add = std::chrono::duration<double>(now - last_).count() * per_second_;
      tokens_ = std::min<double>(tokens_ + add, batch_);
    }
    last_ = now;
  }

  const uint32_t per_second_;
  const uint32_t batch_;
  const double duty_;
  double tokens_;
  Clock::time_point last_;
  Clock::time_point not_before_;
};

}  // namespace durus::gc

#endif  // DURUS_BDB_BDB_GC_PACER_H_
