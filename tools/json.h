// JSON output of the command-line tools, on nlohmann::json (Debian's
// nlohmann-json3-dev).  Objects keep their keys in insertion order, so a
// report reads in the order its fields are set.
//
// Output is ASCII: other code points are written \uXXXX; bytes that are
// not UTF-8 (a class name or path from an old pickle) become U+FFFD
// rather than invalid JSON.  Threading: plain functions.  Nothing throws.
#ifndef DURUS_BDB_TOOLS_JSON_H_
#define DURUS_BDB_TOOLS_JSON_H_

#include <nlohmann/json.hpp>
#include <string>

namespace durus::tools {

using Json = nlohmann::ordered_json;

// {"a": 1, "b": [1, 2], "c": {}} on one line (", " and ": " separators).
inline std::string JsonLine(const Json& j) {
  std::string pretty = j.dump(0, ' ', true, Json::error_handler_t::replace);
  // dump(0) puts each item on its own line with no indentation; a raw
  // newline occurs nowhere else (inside strings it is escaped).
  std::string out;
  out.reserve(pretty.size());
  for (size_t i = 0; i < pretty.size(); ++i) {
    if (pretty[i] != '\n') {
      out += pretty[i];
    } else if (!out.empty() && out.back() != '{' && out.back() != '[' && i + 1 < pretty.size() &&
               pretty[i + 1] != '}' && pretty[i + 1] != ']') {
      out += ' ';
    }
  }
  return out;
}

// {"a":1,"b":[1,2]}: compact.
inline std::string JsonCompact(const Json& j) {
  return j.dump(-1, ' ', true, Json::error_handler_t::replace);
}

}  // namespace durus::tools

#endif  // DURUS_BDB_TOOLS_JSON_H_
