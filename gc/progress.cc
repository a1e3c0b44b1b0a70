#include "gc/progress.h"

#include <algorithm>
#include <cinttypes>

namespace durus::gc {

namespace {

std::string Grouped(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(i, ",");
  return s;
}

std::string Duration(double seconds) {
  uint64_t s = static_cast<uint64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    snprintf(buf, sizeof(buf), "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, s / 60 % 60,
             s % 60);
  } else {
    snprintf(buf, sizeof(buf), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
  }
  return buf;
}

}  // namespace

std::string ProgressBar::Render(const std::string& phase, uint64_t done, uint64_t total,
                                double seconds, int width) {
  std::string line = phase;
  double rate = seconds > 0 ? done / seconds : 0;
  if (total > 0) {
    double frac = std::min(1.0, static_cast<double>(done) / total);
    int fill = static_cast<int>(frac * width);
    line += " [" + std::string(fill, '#') + std::string(width - fill, '.') + "]";
    char pct[16];
    snprintf(pct, sizeof(pct), " %3d%%", static_cast<int>(frac * 100));
    line += pct;
  }
  line += "  " + Grouped(done) + " rec";
  line += "  " + Grouped(static_cast<uint64_t>(rate)) + " rec/s";
  if (total > 0 && rate > 0 && done <= total) {
    line += "  ETA " + Duration((total - done) / rate);
  }
  return line;
}

void ProgressBar::Update(const std::string& phase, uint64_t done, uint64_t total) {
  if (!enabled_) return;
  Clock::time_point now = Clock::now();
  if (phase != phase_) {
    phase_ = phase;
    phase_start_ = now;
  } else if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) {
    return;
  }
  last_draw_ = now;
  double seconds = std::chrono::duration<double>(now - phase_start_).count();
  std::string line = Render(phase, done, total, seconds);
  fprintf(out_, "\r%-79s", line.c_str());
  fflush(out_);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (!enabled_ || !drawn_) return;
  fprintf(out_, "\r%79s\r", "");
  fflush(out_);
  drawn_ = false;
}

}  // namespace durus::gc
