// ProgressBar: a one-line progress display for long offline runs (verify,
// gc): phase, a bar, percent, records/s and ETA, redrawn in place with
// '\r' at most ~10 times a second.  Disabled (prints nothing at all) when
// the output is not a terminal, so piped and logged output stays clean.
//
// Threading: not thread-safe; one owner.  Errors: write failures ignored.
#ifndef DURUS_BDB_GC_PROGRESS_H_
#define DURUS_BDB_GC_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace durus::gc {

class ProgressBar {
 public:
  // `enabled`: normally isatty(fileno(out)).
  ProgressBar(FILE* out, bool enabled) : out_(out), enabled_(enabled) {}
  ~ProgressBar() { Finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `done` of `total` units (records) in `phase`; total 0 = unknown.
  void Update(const std::string& phase, uint64_t done, uint64_t total);
  // Clear the line (call before printing results).
  void Finish();

  bool enabled() const { return enabled_; }

  // The line Update would draw, for tests: e.g.
  // "verify: recount [#####.....]  50%  12,345 rec/s  ETA 0:04".
  static std::string Render(const std::string& phase, uint64_t done, uint64_t total,
                            double seconds, int width = 30);

 private:
  using Clock = std::chrono::steady_clock;
  FILE* out_;
  bool enabled_;
  bool drawn_ = false;
  std::string phase_;
  Clock::time_point phase_start_;
  Clock::time_point last_draw_;
};

}  // namespace durus::gc

#endif  // DURUS_BDB_GC_PROGRESS_H_
