#include "server/unused_oids.h"

namespace durus::server {

void UnusedOids::Insert(Oid oid) {
  const uint64_t v = oid.value();
  auto next = ranges_.upper_bound(v);  // first range starting after v
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (v < prev->second) return;  // held already
    if (prev->second == v) {
      ++prev->second;
      ++count_;
      if (next != ranges_.end() && next->first == prev->second) {
        prev->second = next->second;
        ranges_.erase(next);
      }
      return;
    }
  }
  ++count_;
  if (next != ranges_.end() && next->first == v + 1) {
    const uint64_t end = next->second;
    ranges_.erase(next);
    ranges_.emplace(v, end);
    return;
  }
  ranges_.emplace(v, v + 1);
}

void UnusedOids::Erase(Oid oid) {
  const uint64_t v = oid.value();
  auto it = ranges_.upper_bound(v);
  if (it == ranges_.begin()) return;
  --it;
  if (v >= it->second) return;
  --count_;
  const uint64_t first = it->first, end = it->second;
  if (v + 1 < end) ranges_.emplace(v + 1, end);  // the part after v
  if (first == v) {
    ranges_.erase(it);
  } else {
    it->second = v;
  }
}

bool UnusedOids::Contains(Oid oid) const {
  const uint64_t v = oid.value();
  auto it = ranges_.upper_bound(v);
  if (it == ranges_.begin()) return false;
  --it;
  return v < it->second;
}

}  // namespace durus::server
