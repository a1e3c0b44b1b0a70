#include "server/request_budget.h"

#include <malloc.h>

namespace durus::server {

void RequestBudget::Release(uint64_t bytes) {
  bool trim = false;
  {
    util::MutexLock l(&mu_);
    used_ -= bytes;
    const auto now = std::chrono::steady_clock::now();
    if (bytes >= (1u << 20) && now - trimmed_at_ >= std::chrono::seconds(1)) {
      trimmed_at_ = now;
      trim = true;
    }
  }
  cv_.SignalAll();
  if (trim) ::malloc_trim(0);
}

}  // namespace durus::server
