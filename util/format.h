// util/format.h: numbers for people, as the tools print them.
// Plain functions over values; no dependency.
#ifndef DURUS_UTIL_FORMAT_H_
#define DURUS_UTIL_FORMAT_H_

#include <cstdint>
#include <string>

namespace durus::util {

// 1234567 -> "1.2 MiB"; under 1 KiB whole bytes: "512 B".
std::string HumanBytes(uint64_t n);
// 1234567 -> "1,234,567".
std::string GroupDigits(uint64_t n);
// Seconds as "M:SS", or "H:MM:SS" from an hour on; "?" when negative or
// absurd (an ETA that cannot be estimated).
std::string FormatDuration(double seconds);

}  // namespace durus::util

#endif  // DURUS_UTIL_FORMAT_H_
