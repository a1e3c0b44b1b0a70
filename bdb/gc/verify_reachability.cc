// The verifier's reachability check (bdb/gc/verifier.h): marks from the root in
// temporary tables, then simulates reference counting on the unreachable
// part to tell garbage counting will free from leaks (cycles), and judges
// dangling references against a trace in progress.
#include <string>
#include <vector>

#include "bdb/gc/verifier.h"
#include "engine/record.h"

namespace durus::bdb {

namespace {

const char kEmpty[1] = {0};

}  // namespace

// --- 3. Reachability: mark from the root, then simulate counting on the
// unreachable part (Kahn's algorithm): what it cannot free is leaked.
Status Verifier::Reachability() {
  DURUS_RETURN_IF_ERROR(OpenTemp(s_->env(), &marks_));
  DURUS_RETURN_IF_ERROR(OpenTemp(s_->env(), &frontier_));
  std::string rec;
  int ret = TempGet(s_->records(), kRootOid, &rec);  // TempGet works on any oid-keyed table
  if (ret == 0) {
    ret = TempPut(marks_.get(), kRootOid, kEmpty, 0);
    if (ret == 0) ret = TempPut(frontier_.get(), kRootOid, kEmpty, 0);
    if (ret != 0) return FromDb(ret, "starting the reachability trace");
  } else if (ret != DB_NOTFOUND) {
    return FromDb(ret, "reading the root");
  }
  std::vector<Oid> batch;
  for (;;) {
    DURUS_RETURN_IF_ERROR(FirstKeys(frontier_.get(), 1024, &batch));
    if (batch.empty()) break;
    for (Oid oid : batch) {
      ret = TempDel(frontier_.get(), oid);
      if (ret != 0) return FromDb(ret, "popping the trace frontier");
      ret = TempGet(s_->records(), oid, &rec);
      if (ret == DB_NOTFOUND) continue;  // dangling: reported by Compare
      if (ret != 0) return FromDb(ret, "reading oid " + OidToString(oid));
      ++rep_->reachable;
      Progress("trace", rep_->reachable, rep_->records);
      for (Oid r : RecordRefs(rec)) {
        if (dangling_ > 0) DURUS_RETURN_IF_ERROR(CountReachableReferrer(r));
        ret = TempPut(marks_.get(), r, kEmpty, 0, DB_NOOVERWRITE);
        if (ret == DB_KEYEXIST) continue;
        if (ret == 0) ret = TempPut(frontier_.get(), r, kEmpty, 0);
        if (ret != 0) return FromDb(ret, "marking oid " + OidToString(r));
      }
    }
  }
  frontier_.reset();

  // Unreachable records, with their referrer counts (all their referrers
  // are unreachable too), into unreach_; those with none into zero_.
  DURUS_RETURN_IF_ERROR(OpenTemp(s_->env(), &unreach_));
  DURUS_RETURN_IF_ERROR(OpenTemp(s_->env(), &zero_));
  {
    Stream recs(s_->records()), marks(marks_.get());
    DURUS_RETURN_IF_ERROR(recs.Advance("records.db"));
    DURUS_RETURN_IF_ERROR(marks.Advance("the marks"));
    std::string v;
    uint64_t n = 0;
    while (recs.valid) {
      while (marks.valid && marks.key < recs.key) DURUS_RETURN_IF_ERROR(marks.Advance("marks"));
      bool marked = marks.valid && marks.key == recs.key;
      if (!marked) {
        Oid oid = recs.key;
        ++rep_->unreachable;
        uint64_t c = 0;
        ret = TempGet(counts_.get(), oid, &v);
        if (ret == 0)
          c = GetU64(v.data());
        else if (ret != DB_NOTFOUND)
          return FromDb(ret, "reading the recount");
        std::string cv = U64Bytes(c);
        ret = TempPut(unreach_.get(), oid, cv.data(), 8);
        if (ret == 0 && c == 0) ret = TempPut(zero_.get(), oid, kEmpty, 0);
        if (ret != 0) return FromDb(ret, "recording unreachable oid " + OidToString(oid));
      }
      Progress("unreachable", ++n, rep_->records);
      DURUS_RETURN_IF_ERROR(recs.Advance("records.db"));
    }
  }
  marks_.reset();

  // Kahn: free what counting would free, in any order.  A freed entry's
  // count is set to kFreed.
  const uint64_t kFreed = UINT64_MAX;
  std::string freed_v = U64Bytes(kFreed), v;
  for (;;) {
    DURUS_RETURN_IF_ERROR(FirstKeys(zero_.get(), 1024, &batch));
    if (batch.empty()) break;
    for (Oid oid : batch) {
      ret = TempDel(zero_.get(), oid);
      if (ret == 0) ret = TempPut(unreach_.get(), oid, freed_v.data(), 8);
      if (ret != 0) return FromDb(ret, "simulating the collector");
      ++rep_->collectable;
      ret = TempGet(s_->records(), oid, &rec);
      if (ret != 0) return FromDb(ret, "reading oid " + OidToString(oid));
      for (Oid r : RecordRefs(rec)) {
        ret = TempGet(unreach_.get(), r, &v);
        if (ret == DB_NOTFOUND) continue;  // reachable (or dangling)
        if (ret != 0) return FromDb(ret, "simulating the collector");
        uint64_t c = GetU64(v.data());
        if (c == kFreed || c == 0) continue;
        std::string nv = U64Bytes(c - 1);
        ret = TempPut(unreach_.get(), r, nv.data(), 8);
        if (ret == 0 && c == 1) ret = TempPut(zero_.get(), r, kEmpty, 0);
        if (ret != 0) return FromDb(ret, "simulating the collector");
      }
    }
  }
  zero_.reset();
  {
    Stream un(unreach_.get());
    DURUS_RETURN_IF_ERROR(un.Advance("the unreachable set"));
    while (un.valid) {
      if (GetU64(un.value.data()) != kFreed) {
        bool condemned = false;
        DURUS_RETURN_IF_ERROR(CondemnedByTrace(un.key, &condemned));
        if (condemned) {
          ++rep_->trace_will_free;
        } else {
          ++rep_->leaked;
          rep_->Add(
              Problem{ProblemKind::kLeaked, un.key.value(), GetU64(un.value.data()), 0, 0, ""});
        }
      }
      DURUS_RETURN_IF_ERROR(un.Advance("the unreachable set"));
    }
  }
  return Status::OK();
}

// A reachable record references `r`: if `r` is missing, count it.
Status Verifier::CountReachableReferrer(Oid r) {
  std::string v;
  int ret = TempGet(missing_.get(), r, &v);
  if (ret == DB_NOTFOUND) return Status::OK();
  if (ret != 0 || v.size() != 24) return FromDb(ret ? ret : EINVAL, "reading missing oids");
  std::string nv = v.substr(0, 16) + U64Bytes(GetU64(v.data() + 16) + 1);
  return FromDb(TempPut(missing_.get(), r, nv.data(), nv.size()), "writing missing oids");
}

// True if the running trace will delete `oid`: it has finished marking
// (or is marking and `oid` is unmarked) and `oid` lies in what it has
// still to sweep.
Status Verifier::CondemnedByTrace(Oid oid, bool* condemned) {
  *condemned = false;
  if (trace_.phase == TracePhase::kIdle || trace_marks_ == nullptr) return Status::OK();
  if (oid.value() < trace_.cursor || oid.value() >= trace_.limit) return Status::OK();
  char mk[9];
  mk[0] = 'M';
  oid.ToBytes(mk + 1);
  Dbt key = InDbt(mk, 9);
  std::string v;
  int ret = GetInto(trace_marks_, nullptr, &key, &v, 0);
  if (ret == DB_NOTFOUND) {
    *condemned = true;
    return Status::OK();
  }
  return FromDb(ret, "reading the trace's marks");
}

// Dangling references are problems, except those held only by
// unreachable records to oids a running sweep has deleted already (a
// garbage cycle is deleted one record at a time).
Status Verifier::EvaluateDangling() {
  if (dangling_ == 0) return Status::OK();
  std::vector<Oid> benign;
  {
    Stream st(missing_.get());
    DURUS_RETURN_IF_ERROR(st.Advance("missing oids"));
    while (st.valid) {
      uint64_t referrers = GetU64(st.value.data());
      uint64_t referrer = GetU64(st.value.data() + 8);
      uint64_t reachable = GetU64(st.value.data() + 16);
      bool swept = opt_.check_reachability && reachable == 0 &&
                   trace_.phase == TracePhase::kSweep && st.key.value() < trace_.cursor;
      if (swept) {
        ++rep_->trace_swept_refs;
        benign.push_back(st.key);
      } else {
        rep_->Add(Problem{ProblemKind::kDanglingRef, st.key.value(), 0, referrers, referrer, ""});
      }
      DURUS_RETURN_IF_ERROR(st.Advance("missing oids"));
    }
  }
  for (Oid o : benign) {
    int ret = TempDel(missing_.get(), o);
    if (ret != 0) return FromDb(ret, "updating missing oids");
  }
  dangling_ -= benign.size();
  return Status::OK();
}

Status Verifier::FirstKeys(Db* db, size_t max, std::vector<Oid>* out) {
  out->clear();
  TableReader reader(db);
  while (out->size() < max) {
    std::string_view k, v;
    bool end;
    int ret = reader.Next(&k, &v, &end);
    if (ret != 0) return FromDb(ret, "reading a temporary table");
    if (end) break;
    out->push_back(Oid::FromBytes(k.data()));
  }
  return Status::OK();
}

}  // namespace durus::bdb
