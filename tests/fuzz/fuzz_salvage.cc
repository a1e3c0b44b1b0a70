// libFuzzer target: the salvage output parser (bdb/salvage.h
// SalvageTextParser + SalvagePairer), which reads the db_dump-format text
// Berkeley DB's salvage prints from damaged files.  Invariants checked:
//   - no out-of-bounds read, no crash, whatever the text (ASan);
//   - every record handed on validates under the oid it is handed on with;
//   - the result does not depend on how the text is cut into pieces (the
//     first byte chooses a piece size; the whole text at once must give
//     the same records and the same problem count).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bdb/salvage.h"
#include "engine/record.h"

namespace {

struct Result {
  std::vector<std::pair<uint64_t, std::string>> records;
  size_t problems = 0;
  uint64_t bad_lines = 0;
};

Result Run(std::string_view text, size_t piece) {
  Result r;
  durus::SalvagePairer pairer(
      [&](durus::Oid oid, std::string_view rec, bool) {
        durus::RecordView v;
        if (!durus::ValidateRecord(oid, rec, &v).ok()) abort();
        r.records.emplace_back(oid.value(), std::string(rec));
      },
      [&](durus::SalvagePairer::Problem, const std::string&) { ++r.problems; });
  durus::SalvageTextParser parser([&](std::string_view b, bool ok) { pairer.Item(b, ok); },
                                  [&] { pairer.SectionEnd(); });
  for (size_t i = 0; i < text.size(); i += piece) parser.Feed(text.substr(i, piece));
  parser.Finish();
  r.bad_lines = parser.bad_lines();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t piece = 1 + data[0] % 17;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  Result a = Run(text, piece);
  Result b = Run(text, text.size() + 1);
  if (a.records != b.records || a.problems != b.problems || a.bad_lines != b.bad_lines) abort();
  return 0;
}
