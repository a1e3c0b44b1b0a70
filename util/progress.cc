#include "util/progress.h"

#include <unistd.h>

#include <algorithm>

#include "util/format.h"

namespace durus::util {

ProgressBar::Mode ProgressBar::ModeFor(FILE* out, bool quiet) {
  if (quiet) return Mode::kOff;
  return isatty(fileno(out)) == 1 ? Mode::kBar : Mode::kLines;
}

std::string ProgressBar::Render(const Progress& p, double seconds, int width,
                                const std::string& unit) {
  std::string line = p.phase;
  // "load:" but "verify: recount" (a phase that names its tool already).
  if (line.find(':') == std::string::npos) line += ":";
  double frac = -1;
  if (p.total_bytes > 0 && p.bytes <= p.total_bytes) {
    frac = static_cast<double>(p.bytes) / p.total_bytes;
  } else if (p.total_records > 0) {
    frac = std::min(1.0, static_cast<double>(p.records) / p.total_records);
  }
  if (p.phase_done) frac = frac < 0 ? -1 : 1;
  if (frac >= 0) {
    if (width > 0) {
      int fill = static_cast<int>(frac * width);
      line += " [" + std::string(fill, '#') + std::string(width - fill, '.') + "]";
    }
    char pct[16];
    snprintf(pct, sizeof(pct), " %3d%%", static_cast<int>(frac * 100));
    line += pct;
  }
  // A copy (backup) counts bytes only: its rate is in bytes too.
  const bool bytes_only = p.records == 0 && p.total_records == 0 && p.total_bytes > 0;
  if (!bytes_only) line += "  " + GroupDigits(p.records) + " " + unit;
  if (p.bytes > 0 || bytes_only) {
    line += "  " + HumanBytes(p.bytes);
    if (p.total_bytes > 0) line += " of " + HumanBytes(p.total_bytes);
  }
  // No rate before there is one (not "0 rec/s" as a phase starts).
  const uint64_t done = bytes_only ? p.bytes : p.records;
  if (seconds > 0 && done > 0) {
    if (bytes_only) {
      line += "  " + HumanBytes(static_cast<uint64_t>(p.bytes / seconds)) + "/s";
    } else {
      line += "  " + GroupDigits(static_cast<uint64_t>(p.records / seconds)) + " " + unit + "/s";
    }
    if (!p.phase_done && frac > 0 && frac <= 1) {
      line += "  ETA " + FormatDuration(seconds * (1 / frac - 1));
    }
  }
  if (p.phase_done) line += seconds > 0 ? "  done in " + FormatDuration(seconds) : "  done";
  return line;
}

std::string ProgressBar::Render(const std::string& phase, uint64_t done, uint64_t total,
                                double seconds, int width) {
  Progress p;
  p.phase = phase.c_str();
  p.records = done;
  p.total_records = total;
  return Render(p, seconds, width, "rec");
}

void ProgressBar::Update(const std::string& phase, uint64_t done, uint64_t total) {
  Progress p;
  p.phase = phase.c_str();
  p.records = done;
  p.total_records = total;
  p.phase_seconds = -1;
  Update(p);
}

void ProgressBar::Update(const Progress& p) {
  if (mode_ == Mode::kOff) return;
  Clock::time_point now = Clock::now();
  if (p.phase != phase_) {
    if (mode_ == Mode::kBar && pending_) {
      // The last state of the phase that ends, which throttling held back.
      Progress last = last_;
      last.phase = phase_.c_str();
      Draw(Render(last, std::chrono::duration<double>(now - phase_start_).count(), 20, unit_),
           false);
    }
    Finish();
    phase_ = p.phase;
    phase_start_ = now;
    last_draw_ = now;
    if (mode_ == Mode::kBar) last_draw_ -= std::chrono::seconds(1);  // draw at once
  }
  last_ = p;
  last_.phase = "";  // the caller's string may not outlive the call
  double seconds = p.phase_seconds >= 0 ? p.phase_seconds
                                        : std::chrono::duration<double>(now - phase_start_).count();
  Clock::duration interval =
      mode_ == Mode::kBar ? Clock::duration(std::chrono::milliseconds(100)) : line_interval_;
  pending_ = !p.phase_done && now - last_draw_ < interval;
  if (pending_) return;
  last_draw_ = now;
  if (mode_ == Mode::kLines && p.phase_done && !lines_printed_) return;  // a short phase
  Draw(Render(p, seconds, mode_ == Mode::kBar ? 20 : 0, unit_), p.phase_done);
  if (p.phase_done) phase_.clear();
}

void ProgressBar::Draw(const std::string& line, bool keep) {
  if (mode_ == Mode::kBar) {
    fprintf(out_, "\r%-79s%s", line.c_str(), keep ? "\n" : "");
    drawn_ = !keep;
  } else {
    fprintf(out_, "%s\n", line.c_str());
    lines_printed_ = !keep;
  }
  fflush(out_);
}

void ProgressBar::Finish() {
  if (mode_ == Mode::kBar && drawn_) {
    fprintf(out_, "\r%79s\r", "");
    fflush(out_);
    drawn_ = false;
  } else if (mode_ == Mode::kLines && lines_printed_) {
    // The phase printed lines: say where it ended.
    Progress p = last_;
    p.phase = phase_.c_str();
    p.phase_done = true;
    double seconds = std::chrono::duration<double>(Clock::now() - phase_start_).count();
    fprintf(out_, "%s\n", Render(p, seconds, 0, unit_).c_str());
    fflush(out_);
    lines_printed_ = false;
  }
}

ProgressFn ProgressBar::Callback() {
  if (mode_ == Mode::kOff) return nullptr;
  return [this](const Progress& p) { Update(p); };
}

ProgressBar::CountFn ProgressBar::CountCallback(const std::string& prefix) {
  if (mode_ == Mode::kOff) return nullptr;
  return [this, prefix](const char* phase, uint64_t done, uint64_t total) {
    Update(prefix + ": " + phase, done, total);
  };
}

}  // namespace durus::util
