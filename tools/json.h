// Minimal JSON output helpers for the command-line tools (no dependency).
#ifndef DURUS_BDB_TOOLS_JSON_H_
#define DURUS_BDB_TOOLS_JSON_H_

#include <cstdio>
#include <string>

namespace durus::tools {

// `s` as a JSON string literal, quotes included.  Bytes that are not
// printable ASCII are escaped as \u00XX so any class name round-trips.
inline std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// 1234567 -> "1.2 MiB"
inline std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace durus::tools

#endif  // DURUS_BDB_TOOLS_JSON_H_
