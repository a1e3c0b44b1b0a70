// libFuzzer target: the Durus record codec (engine/record.h) and
// CommitBatch::AddRaw (engine/commit_batch.h).  Invariants checked:
//   - UnpackRecord never reads out of bounds (ASan) and, when it accepts a
//     record, PackRecordRaw of its parts gives back exactly the input;
//   - NormalizedRefs is sorted, unique, without the record's own oid;
//   - a batch accepts a record under its embedded oid iff the codec does.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/commit_batch.h"
#include "engine/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  durus::RecordView v;
  durus::Status st = durus::UnpackRecord(in, &v);
  std::string cls = durus::ExtractClassName(in);
  (void)cls;
  std::vector<durus::Oid> refs = durus::RecordRefs(in);
  if (st.ok()) {
    if (durus::PackRecordRaw(v.oid, v.data, v.refs) != in) abort();
    std::vector<durus::Oid> n = durus::NormalizedRefs(v.refs, v.oid);
    for (size_t i = 0; i < n.size(); ++i) {
      if (n[i] == v.oid) abort();
      if (i > 0 && !(n[i - 1] < n[i])) abort();
    }
    if (n != refs) abort();
    durus::CommitBatch batch;
    if (!batch.Add(v.oid, std::string(in)).ok()) abort();
    if (batch.size() != 1 || batch.bytes() != in.size()) abort();
  } else if (size >= 8) {
    durus::CommitBatch batch;
    if (batch.AddRaw(in.substr(0, 8), std::string(in)).ok()) abort();  // codec refused it
  }
  // Any 8-byte prefix as an oid, the rest as a record.
  if (size >= 8) {
    durus::CommitBatch batch;
    durus::Status a = batch.AddRaw(in.substr(0, 8), std::string(in.substr(8)));
    durus::RecordView w;
    durus::Status b = durus::ValidateRecord(durus::Oid::FromBytes(data), in.substr(8), &w);
    if (a.ok() != b.ok()) abort();
  }
  return 0;
}
