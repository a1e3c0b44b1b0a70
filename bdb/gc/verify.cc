// Verify (VerifyStorage, bdb/gc/gc.h) and the verifier's pass: the files
// page by page, the recount, the comparison of records, counts and queue,
// and the counters.  Reachability: bdb/gc/verify_reachability.cc; repair:
// bdb/gc/verify_repair.cc; the class and how memory stays bounded:
// bdb/gc/verifier.h.
#include <algorithm>
#include <chrono>
#include <set>

#include "bdb/gc/verifier.h"
#include "bdb/schema.h"
#include "bdb/verify_pages.h"
#include "engine/record.h"

namespace durus {
namespace bdb {

namespace {

constexpr size_t kRefBuffer = 1u << 19;  // (target, referrer) pairs: 8 MiB

}  // namespace

// A temporary btree in the storage's environment (not transactional).
Status OpenTemp(DbEnv* env, DbPtr* out) {
  DbPtr db(new Db(env, 0));
  int ret = db->open(nullptr, nullptr, nullptr, DB_BTREE, DB_CREATE, 0600);
  if (ret != 0) return FromDb(ret, "creating a temporary table");
  *out = std::move(db);
  return Status::OK();
}

int TempGet(Db* db, Oid oid, std::string* value) {
  char kb[8];
  oid.ToBytes(kb);
  Dbt key = InDbt(kb, 8);
  return GetInto(db, nullptr, &key, value, 0);
}

int TempPut(Db* db, Oid oid, const void* data, size_t size, uint32_t flags) {
  char kb[8];
  oid.ToBytes(kb);
  Dbt key = InDbt(kb, 8);
  Dbt d = InDbt(data, size);
  return db->put(nullptr, &key, &d, flags);
}

int TempDel(Db* db, Oid oid) {
  char kb[8];
  oid.ToBytes(kb);
  Dbt key = InDbt(kb, 8);
  int ret = db->del(nullptr, &key, 0);
  return ret == DB_NOTFOUND ? 0 : ret;
}

std::string U64Bytes(uint64_t v) {
  std::string s;
  PutU64(&s, v);
  return s;
}

Status Verifier::Run() {
  auto t0 = std::chrono::steady_clock::now();
  rep_->max_samples = opt_.max_samples;
  rep_->repair_requested = opt_.repair;
  const std::string readonly_error =
      opt_.repair ? "cannot repair " + s_->home() + ": opened read-only" : "";
  DURUS_RETURN_IF_ERROR(s_->Exclusive(readonly_error, [&]() -> Status {
    meta_ = s_->CountersLocked();
    total_ = meta_.objects;
    Status st = Check();
    if (!st.ok()) {
      CloseTemps();
      if (writing_) return st;
      // What could not be read is unknown, not missing: the report says
      // so (and VerifyStorage refuses to repair from it).
      rep_->complete = false;
      rep_->incomplete = st.ToString();
      rep_->Add(Problem{ProblemKind::kReadError, 0, 0, 0, 0, st.ToString()});
      if (st.code() == Status::Code::kCorruption) rep_->damaged = true;
    } else if (writing_ && !rep_->clean()) {
      st = Repair();
      CloseTemps();
      DURUS_RETURN_IF_ERROR(st);
    }
    CloseTemps();
    return Status::OK();
  }));
  rep_->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Status::OK();
}

// Everything that reads: pages, recount, comparison, reachability,
// counters.  Writes only in the repair pass (buffered count and queue
// fixes, applied as the comparison goes).
Status Verifier::Check() {
  DURUS_RETURN_IF_ERROR(CheckPages());
  if (rep_->damaged) return Status::OK();  // reading through the storage would panic it
  DURUS_RETURN_IF_ERROR(OpenTemp(s_->env(), &counts_));
  DURUS_RETURN_IF_ERROR(Recount());
  trace_ = running_trace_->StateLocked();
  trace_marks_ = running_trace_->MarksLocked();
  rep_->trace_running = trace_.phase != TracePhase::kIdle;
  DURUS_RETURN_IF_ERROR(Compare());
  if (opt_.check_reachability) DURUS_RETURN_IF_ERROR(Reachability());
  DURUS_RETURN_IF_ERROR(EvaluateDangling());
  CheckMeta();
  return Status::OK();
}

// --- 0. Pages: Berkeley DB's structural verification of every table
// file (and, with page checksums, every page's checksum), outside the
// storage's environment (bdb/verify_pages.h).  The cache is written back
// first so that the files are current; we hold the writer lock, so
// nothing writes them meanwhile.  Damage found: the records are not read
// through the storage (a checksum failure would panic its environment);
// the damaged pages and the records they make unreadable are reported.
Status Verifier::CheckPages() {
  // A panicked environment (a load met a damaged page before us) cannot
  // write its cache back, and has nothing to write (nothing could commit
  // since); the files on disk, where the damage is, are verified anyway.
  Status synced =
      FromDb(s_->env()->memp_sync(nullptr), "writing the cache back before verifying the files");
  std::vector<DamagedPage> pages;
  uint64_t more = 0;
  for (const char* f : {schema::kRecordsFile, schema::kRefcountsFile, schema::kPendingFile,
                        schema::kMetaFile, schema::kMarksFile}) {
    bool examined = false;
    DURUS_RETURN_IF_ERROR(
        VerifyTableFile(s_->home(), f, opt_.max_samples, &pages, &more, &examined));
    if (opt_.progress) opt_.progress("pages", ++rep_->files_verified, 5);
  }
  if (pages.empty()) return synced;
  rep_->damaged = true;
  rep_->complete = false;
  std::set<uint64_t> named;
  bool records_damaged = false;
  std::string files;
  for (const DamagedPage& d : pages) {
    if (files.find(d.file) == std::string::npos) files += (files.empty() ? "" : ", ") + d.file;
    std::string detail = d.file;
    if (d.page_known) detail += " page " + std::to_string(d.page);
    detail += ": " + d.message;
    if (!d.oids.empty()) {
      detail += "; its " + std::to_string(d.oids.size()) + " record(s), oids " +
                std::to_string(d.oids.front()) + " to " + std::to_string(d.oids.back()) +
                ", cannot be read";
    }
    rep_->Add(Problem{ProblemKind::kDamagedPage, d.oids.empty() ? 0 : d.oids.front(), d.page, 0, 0,
                      detail});
    for (uint64_t oid : d.oids) {
      if (named.insert(oid).second) {
        rep_->Add(Problem{ProblemKind::kUnreadableRecord, oid, d.page, 0, 0,
                          "on damaged page " + std::to_string(d.page) + " of records.db"});
      }
    }
    records_damaged |= d.file == schema::kRecordsFile;
  }
  for (uint64_t i = 0; i < more; ++i) {
    rep_->Add(Problem{ProblemKind::kDamagedPage, 0, 0, 0, 0, "(another damaged page)"});
  }
  rep_->incomplete =
      "damaged pages in " + files + ": records, counts and references were not checked";
  if (records_damaged) {
    std::vector<UnreadableRecord> unreadable;
    DURUS_RETURN_IF_ERROR(FindUnreadableRecords(s_->home() + "/" + schema::kRecordsFile,
                                                std::max<uint64_t>(opt_.max_samples, 1),
                                                &unreadable));
    for (const UnreadableRecord& u : unreadable) {
      if (u.after_only) {
        rep_->incomplete += "; records.db cannot be read past oid " + std::to_string(u.oid) + " (" +
                            u.message + ")";
      } else if (named.insert(u.oid).second) {
        rep_->Add(Problem{ProblemKind::kUnreadableRecord, u.oid, 0, 0, 0, u.message});
      }
    }
  }
  return Status::OK();
}

// --- 1. Recount: counts_[target] = (referrers u64, one referrer u64).
Status Verifier::Recount() {
  TableReader reader(s_->records());
  std::vector<std::pair<uint64_t, uint64_t>> pairs;
  pairs.reserve(kRefBuffer);
  uint64_t n = 0;
  for (;;) {
    std::string_view key, value;
    bool end;
    int ret = reader.Next(&key, &value, &end);
    if (ret != 0) return FromDb(ret, "scanning records.db");
    if (end) break;
    if (key.size() != 8) {
      return Status::Corruption("records.db has a key of " + std::to_string(key.size()) + " bytes");
    }
    Oid oid = Oid::FromBytes(key.data());
    ++rep_->records;
    rep_->record_bytes += value.size();
    max_oid_ = std::max(max_oid_, oid.value());
    RecordView view;
    Status us = UnpackRecord(value, &view);
    if (!us.ok()) {
      rep_->Add(Problem{ProblemKind::kMalformedRecord, oid.value(), 0, 0, 0, us.message()});
      continue;
    }
    if (view.oid != oid) {
      rep_->Add(Problem{ProblemKind::kMalformedRecord, oid.value(), 0, 0, 0,
                        "embedded oid is " + OidToString(view.oid)});
    }
    for (Oid r : NormalizedRefs(view.refs, oid)) {
      ++rep_->refs;
      pairs.emplace_back(r.value(), oid.value());
      if (pairs.size() >= kRefBuffer) DURUS_RETURN_IF_ERROR(FlushPairs(&pairs));
    }
    Progress("recount", ++n, total_);
  }
  return FlushPairs(&pairs);
}

Status Verifier::FlushPairs(std::vector<std::pair<uint64_t, uint64_t>>* pairs) {
  std::sort(pairs->begin(), pairs->end());
  std::string v;
  for (size_t i = 0; i < pairs->size();) {
    uint64_t target = (*pairs)[i].first, first_ref = (*pairs)[i].second;
    uint64_t c = 0;
    while (i < pairs->size() && (*pairs)[i].first == target) ++c, ++i;
    int ret = TempGet(counts_.get(), Oid(target), &v);
    if (ret == 0 && v.size() == 16) {
      c += GetU64(v.data());
      first_ref = GetU64(v.data() + 8);
    } else if (ret != 0 && ret != DB_NOTFOUND) {
      return FromDb(ret, "reading the recount table");
    }
    std::string nv = U64Bytes(c) + U64Bytes(first_ref);
    ret = TempPut(counts_.get(), Oid(target), nv.data(), nv.size());
    if (ret != 0) return FromDb(ret, "writing the recount table");
  }
  pairs->clear();
  return Status::OK();
}

// --- 2. Compare records, refcounts, recount and queue in one merge.

Status Verifier::Compare() {
  Stream recs(s_->records()), counts(s_->refcounts()), recount(counts_.get()), queue(s_->pending());
  DURUS_RETURN_IF_ERROR(recs.Advance("records.db"));
  DURUS_RETURN_IF_ERROR(counts.Advance("refcounts.db"));
  DURUS_RETURN_IF_ERROR(recount.Advance("the recount"));
  DURUS_RETURN_IF_ERROR(queue.Advance("pending.db"));
  uint64_t n = 0;
  while (recs.valid || counts.valid || recount.valid || queue.valid) {
    uint64_t k = UINT64_MAX;
    for (Stream* st : {&recs, &counts, &recount, &queue}) {
      if (st->valid) k = std::min(k, st->key.value());
    }
    Oid oid(k);
    bool has_rec = recs.valid && recs.key == oid;
    bool has_count = counts.valid && counts.key == oid;
    bool has_recount = recount.valid && recount.key == oid;
    bool queued = queue.valid && queue.key == oid;
    uint64_t stored = 0;
    bool stored_ok = false;
    if (has_count) {
      ++rep_->count_entries;
      stored_ok = counts.value.size() == 8;
      if (stored_ok) stored = GetU64(counts.value.data());
    }
    uint64_t expected = 0, referrer = 0;
    if (has_recount) {
      expected = GetU64(recount.value.data());
      referrer = GetU64(recount.value.data() + 8);
    }
    if (queued) ++rep_->queued;
    if (has_rec) {
      if (!has_count) {
        rep_->Add(Problem{ProblemKind::kMissingCount, k, 0, expected, 0, ""});
        FixCount(oid, expected);
      } else if (!stored_ok || stored != expected) {
        rep_->Add(Problem{ProblemKind::kCountMismatch, k, stored, expected, 0, ""});
        FixCount(oid, expected);
      }
      bool should_queue = expected == 0 && !oid.IsRoot();
      if (queued && !should_queue) {
        rep_->Add(Problem{ProblemKind::kQueuedNonZero, k, 0, expected, 0, ""});
        FixQueue(oid, false);
      } else if (!queued && should_queue) {
        rep_->Add(Problem{ProblemKind::kMissingQueueEntry, k, 0, 0, 0, ""});
        FixQueue(oid, true);
      }
      if (should_queue) ++queue_after_;
      Progress("check", ++n, total_);
    } else {
      if (has_count) {
        rep_->Add(Problem{ProblemKind::kOrphanCount, k, stored, 0, 0, ""});
        if (writing_) {
          DURUS_RETURN_IF_ERROR(ExpectNoRecord(oid, "removing its count entry"));
          fixes_.push_back(Fix{Fix::kDel, s_->refcounts(), oid.Bytes(), ""});
          ++repair_.counts_removed;
        }
      }
      if (has_recount) {
        // Judged after the reachability trace (EvaluateDangling): a
        // dangling ref inside garbage a running trace is deleting is not
        // a problem.  Value: referrers, a referrer, reachable referrers.
        ++dangling_;
        if (!missing_) DURUS_RETURN_IF_ERROR(OpenTemp(s_->env(), &missing_));
        std::string v = U64Bytes(expected) + U64Bytes(referrer) + U64Bytes(0);
        int ret = TempPut(missing_.get(), oid, v.data(), v.size());
        if (ret != 0) return FromDb(ret, "writing the missing-oid table");
      }
      if (queued) {
        rep_->Add(Problem{ProblemKind::kQueuedMissing, k, 0, 0, 0, ""});
        FixQueue(oid, false);
      }
    }
    if (writing_ && fixes_.size() >= kVerifyFixesPerTxn) DURUS_RETURN_IF_ERROR(ApplyFixes());
    if (has_rec) DURUS_RETURN_IF_ERROR(recs.Advance("records.db"));
    if (has_count) DURUS_RETURN_IF_ERROR(counts.Advance("refcounts.db"));
    if (has_recount) DURUS_RETURN_IF_ERROR(recount.Advance("the recount"));
    if (queued) DURUS_RETURN_IF_ERROR(queue.Advance("pending.db"));
  }
  return Status::OK();
}

void Verifier::FixCount(Oid oid, uint64_t value) {
  if (!writing_) return;
  fixes_.push_back(Fix{Fix::kPut, s_->refcounts(), oid.Bytes(), U64Bytes(value)});
  ++repair_.counts_set;
}

void Verifier::FixQueue(Oid oid, bool add) {
  if (!writing_) return;
  fixes_.push_back(Fix{add ? Fix::kPut : Fix::kDel, s_->pending(), oid.Bytes(), ""});
  ++(add ? repair_.queue_added : repair_.queue_removed);
}

// --- 4. Counters.
void Verifier::CheckMeta() {
  auto check = [&](const char* name, uint64_t stored, uint64_t expected) {
    if (stored != expected) {
      rep_->Add(Problem{ProblemKind::kMetaMismatch, 0, stored, expected, 0, name});
    }
  };
  check(schema::kMetaObjectCount, meta_.objects, rep_->records);
  check(schema::kMetaRecordBytes, meta_.bytes, rep_->record_bytes);
  check(schema::kMetaPendingCount, meta_.pending, rep_->queued);
  if (rep_->records > 0 && meta_.next_oid <= max_oid_) {
    check(schema::kMetaNextOid, meta_.next_oid, max_oid_ + 1);
  }
}

namespace {

// Why the repair pass must not run after `r` (empty: it may).  Repair
// rewrites counts, the queue and ref lists from what verify read: from an
// incomplete reading it would take unread records for missing ones and
// free what they keep alive (issue 11).
std::string RepairRefusal(const gc::VerifyReport& r) {
  if (r.damaged) {
    return "the home is damaged (" + r.incomplete +
           "); it needs salvage (durus-bdb salvage) or a backup";
  }
  if (!r.complete) {
    return "verify could not read everything (" + r.incomplete +
           "), and what it could not read is no evidence that anything is missing";
  }
  uint64_t malformed = r.count(gc::ProblemKind::kMalformedRecord);
  if (malformed > 0) {
    return std::to_string(malformed) +
           " record(s) do not parse, so what they reference is unknown: recounting without "
           "them could free objects they keep alive (restore or remove those records first)";
  }
  return "";
}

}  // namespace

Status Verify(GcStore* s, Trace* trace, const VerifyOptions& options, gc::VerifyReport* report) {
  *report = gc::VerifyReport();
  // First a pass that only reads; the repair pass runs only when that one
  // read everything and found problems, so that nothing is changed on the
  // strength of a partial reading.
  {
    Verifier v(s, trace, options, report, /*writing=*/false);
    DURUS_RETURN_IF_ERROR(v.Run());
  }
  if (!options.repair || report->clean()) return Status::OK();
  std::string refusal = RepairRefusal(*report);
  if (!refusal.empty()) {
    report->repair_refused = refusal;
    return Status::OK();
  }
  gc::VerifyReport second;
  Verifier v(s, trace, options, &second, /*writing=*/true);
  DURUS_RETURN_IF_ERROR(v.Run());
  second.seconds += report->seconds;
  *report = std::move(second);
  return Status::OK();
}

}  // namespace bdb
}  // namespace durus
