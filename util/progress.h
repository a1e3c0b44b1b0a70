// util/progress.h: the one progress report type and the one renderer for
// long runs (migrate, export, verify, gc, backup).
//
// Producers fill a Progress and call a ProgressFn (a few times a second at
// most, plus once with phase_done at the end of a phase, where they can).
// ProgressBar draws them on stderr:
//   - kBar (a terminal): one line redrawn in place with '\r' at most ~10
//     times a second (and with a phase's last state as the next begins):
//     phase, a bar, percent, records, bytes, rate, ETA;
//     a phase_done report leaves its line ("done in ...") on screen.
//   - kLines (piped or logged): a plain line every `line_interval` (10 s by
//     default; the first one after that long in a phase, so short runs
//     print nothing), and a "done" line for a phase that printed any.
//   - kOff: nothing at all.
// The rate is left out until something was done (no "0 rec/s").
//
// Threading: not thread-safe; one owner (a callback from a worker thread
// must be serialised by the caller).  Errors: write failures are ignored.
#ifndef DURUS_UTIL_PROGRESS_H_
#define DURUS_UTIL_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace durus::util {

// One report.  `records` and `bytes` count what this phase has handled;
// a total of 0 is unknown.  The ETA comes from bytes when total_bytes is
// known, else from records.
struct Progress {
  const char* phase = "";
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t total_records = 0;
  uint64_t total_bytes = 0;
  double phase_seconds = 0;  // time spent in this phase; < 0: let the renderer time it
  bool phase_done = false;   // the last report of the phase
};
using ProgressFn = std::function<void(const Progress&)>;

class ProgressBar {
 public:
  enum class Mode { kOff, kBar, kLines };
  using Clock = std::chrono::steady_clock;

  ProgressBar(FILE* out, Mode mode, Clock::duration line_interval = std::chrono::seconds(10))
      : out_(out), mode_(mode), line_interval_(line_interval) {}
  // `terminal`: kBar if true, else kOff (the renderer the gc tests know).
  ProgressBar(FILE* out, bool terminal) : ProgressBar(out, terminal ? Mode::kBar : Mode::kOff) {}
  ~ProgressBar() { Finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // kBar on a terminal, kLines otherwise; kOff if `quiet`.
  static Mode ModeFor(FILE* out, bool quiet);

  void Update(const Progress& p);
  // `done` of `total` records in `phase`; total 0 = unknown; timed here.
  void Update(const std::string& phase, uint64_t done, uint64_t total);
  // Clears the bar (call before printing results); ends a phase in kLines.
  void Finish();
  // A callback drawing on this bar (which must outlive it); empty when kOff.
  ProgressFn Callback();
  // The same for producers that count records only (bdb/gc/gc.h's
  // MaintenanceProgressFn): phase "PREFIX: phase", `done` of `total`.
  using CountFn = std::function<void(const char* phase, uint64_t done, uint64_t total)>;
  CountFn CountCallback(const std::string& prefix);

  bool enabled() const { return mode_ != Mode::kOff; }

  // What is counted, as the line names it: "rec" (default), "records".
  void set_unit(const std::string& unit) { unit_ = unit; }

  // The text of a report: e.g. "load: [#####.....]  50%  12,345 records
  // 1.0 GiB of 2.0 GiB  12,345 records/s  ETA 0:04" or "verify: recount
  // [##...]  20%  500 rec  250 rec/s  ETA 0:08"; width 0 leaves out the
  // bar.  `seconds` is the phase's time so far.
  static std::string Render(const Progress& p, double seconds, int width, const std::string& unit);
  static std::string Render(const std::string& phase, uint64_t done, uint64_t total, double seconds,
                            int width = 30);

 private:
  void Draw(const std::string& line, bool keep);

  FILE* out_;
  Mode mode_;
  Clock::duration line_interval_;
  std::string unit_ = "rec";
  bool drawn_ = false;          // kBar: a line to clear
  bool lines_printed_ = false;  // kLines: this phase printed a line
  bool pending_ = false;        // last_ was not drawn (throttled)
  std::string phase_;
  Progress last_;
  Clock::time_point phase_start_;
  Clock::time_point last_draw_;
};

}  // namespace durus::util

#endif  // DURUS_UTIL_PROGRESS_H_
