#include "server/metrics.h"

namespace durus::server {

LatencyHistogram::Snapshot LatencyHistogram::Take() const {
  Snapshot s;
  for (size_t i = 0; i <= kBounds; ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.count += s.counts[i];
  }
  s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

LatencyHistogram::Snapshot LatencyHistogram::Snapshot::Minus(const Snapshot& earlier) const {
  Snapshot d;
  for (size_t i = 0; i <= kBounds; ++i) {
    d.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0;
    d.count += d.counts[i];
  }
  d.sum_seconds = sum_seconds > earlier.sum_seconds ? sum_seconds - earlier.sum_seconds : 0;
  return d;
}

double LatencyHistogram::Snapshot::Quantile(double q) const {
  if (count == 0) return 0;
  const double rank = q * static_cast<double>(count);
  uint64_t below = 0;
  for (size_t i = 0; i <= kBounds; ++i) {
    if (counts[i] == 0 || static_cast<double>(below + counts[i]) < rank) {
      below += counts[i];
      continue;
    }
    // Past the last bound there is no upper edge: report the last bound.
    if (i == kBounds) return kUpperBounds[kBounds - 1];
    const double lo = i == 0 ? 0 : kUpperBounds[i - 1];
    const double hi = kUpperBounds[i];
    return lo + (hi - lo) * (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
  }
  return kUpperBounds[kBounds - 1];
}

}  // namespace durus::server
