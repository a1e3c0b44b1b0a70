// libFuzzer target: the server's commit frame parser (server/protocol.h,
// ParseCommitData: int4(8 + len) + oid + record, repeated) and SplitOids,
// and the info request's JSON parser (server/info_request.h: it must not
// throw, whatever the bytes).
// Invariants: no out-of-bounds read (ASan); on success every entry is a
// record valid under its oid, and re-framing the entries (each oid once,
// last record) is accepted again with the same result.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "engine/record.h"
#include "server/info_request.h"
#include "server/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::optional<durus::JournalPosition> since;
  (void)durus::server::ParseInfoRequest(in, &since);  // any bytes: a Status, never a throw
  std::vector<durus::Oid> oids = durus::server::SplitOids(in);
  if (oids.size() != size / 8) abort();
  durus::CommitBatch batch;
  durus::Status st = durus::server::ParseCommitData(in, &batch);
  if (!st.ok()) return 0;
  std::string again;
  for (const auto& e : batch.entries()) {
    durus::RecordView v;
    if (!durus::ValidateRecord(e.oid, e.record, &v).ok()) abort();
    durus::PutU32(&again, static_cast<uint32_t>(8 + e.record.size()));
    again.append(e.oid.Bytes());
    again.append(e.record);
  }
  durus::CommitBatch batch2;
  if (!durus::server::ParseCommitData(again, &batch2).ok()) abort();
  if (batch2.size() != batch.size() || batch2.bytes() != batch.bytes()) abort();
  return 0;
}
