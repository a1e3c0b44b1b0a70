// Oid: a Durus object id.
//
// On disk and on the wire an oid is 8 bytes, an unsigned 64-bit integer in
// big-endian order, so byte order equals numeric order and a plain btree
// keeps records sorted by oid.  In memory it is a uint64_t wrapped in a
// value type so it cannot be confused with a count or a length.
//
// The root object is oid 0 (Durus's ROOT_OID, "\0" * 8).
#ifndef DURUS_BDB_ENGINE_OID_H_
#define DURUS_BDB_ENGINE_OID_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

namespace durus {

class Oid {
 public:
  static constexpr size_t kSize = 8;

  constexpr Oid() : value_(0) {}
  constexpr explicit Oid(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }
  constexpr bool IsRoot() const { return value_ == 0; }

  // Decode 8 big-endian bytes.  `p` must point at kSize readable bytes.
  static Oid FromBytes(const void* p) {
    const unsigned char* b = static_cast<const unsigned char*>(p);
    uint64_t v = 0;
    for (size_t i = 0; i < kSize; ++i) v = (v << 8) | b[i];
    return Oid(v);
  }

  // Encode as 8 big-endian bytes into `out` (kSize writable bytes).
  void ToBytes(void* out) const {
    unsigned char* b = static_cast<unsigned char*>(out);
    uint64_t v = value_;
    for (size_t i = kSize; i-- > 0;) {
      b[i] = static_cast<unsigned char>(v & 0xff);
      v >>= 8;
    }
  }

  std::string Bytes() const {
    std::string s(kSize, '\0');
    ToBytes(s.data());
    return s;
  }

  friend constexpr bool operator==(Oid a, Oid b) { return a.value_ == b.value_; }
  friend constexpr bool operator!=(Oid a, Oid b) { return a.value_ != b.value_; }
  friend constexpr bool operator<(Oid a, Oid b) { return a.value_ < b.value_; }
  friend constexpr bool operator<=(Oid a, Oid b) { return a.value_ <= b.value_; }
  friend constexpr bool operator>(Oid a, Oid b) { return a.value_ > b.value_; }
  friend constexpr bool operator>=(Oid a, Oid b) { return a.value_ >= b.value_; }

 private:
  uint64_t value_;
};

inline constexpr Oid kRootOid{0};

// Decimal form for messages ("oid 17"), as Durus prints str_to_int8(oid).
inline std::string OidToString(Oid oid) { return std::to_string(oid.value()); }

}  // namespace durus

template <>
struct std::hash<durus::Oid> {
  size_t operator()(durus::Oid oid) const noexcept {
    // splitmix64 finalizer: oids are dense integers, spread them.
    uint64_t x = oid.value() + 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<size_t>(x ^ (x >> 31));
  }
};

#endif  // DURUS_BDB_ENGINE_OID_H_
