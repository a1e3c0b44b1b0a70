// Verify and repair (see bdb/verify.h for what is checked and fixed),
// collection with progress, compaction.
//
// Memory stays bounded whatever the store size: tables are read in chunks
// with bulk cursors (closed between chunks, so no lock is held while we
// write), recounts and marks live in temporary Berkeley DB tables (file
// NULL: pages in the environment's cache, spilled to a temporary file when
// it is full), and the refs gathered for the recount are aggregated in a
// fixed-size in-memory buffer before being merged into the temporary table.
#include "bdb/verify.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include "bdb/schema.h"
#include "bdb/storage_impl.h"
#include "bdb/table_reader.h"
#include "bdb/verify_pages.h"
#include "engine/record.h"

namespace durus {
namespace bdb {

namespace {

using gc::Problem;
using gc::ProblemKind;
using gc::VerifyReport;

constexpr size_t kRefBuffer = 1u << 19;        // (target, referrer) pairs: 8 MiB
constexpr size_t kFixesPerTxn = 1000;
constexpr int kMaxRetries = 50;
const char kEmpty[1] = {0};

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

int TempPut(Db* db, Oid oid, const void* data, size_t size, uint32_t flags = 0) {
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

// value + delta into *out; Corruption (nothing written) when that would go
// below zero: the counters were recomputed from the records just before,
// so it can only be a bug, and writing a wrapped counter (18446744073709551615
// objects) hides it.
Status AddToCounter(const char* name, uint64_t value, int64_t delta, uint64_t* out) {
  if (delta < 0 && static_cast<uint64_t>(-(delta + 1)) + 1 > value) {
    return Status::Corruption(std::string("repair would take ") + name + " below zero (" +
                              std::to_string(value) + " " + std::to_string(delta) +
                              "): a bug; stopped before writing it (please report this)");
  }
  *out = value + static_cast<uint64_t>(delta);
  return Status::OK();
}

std::string U64Bytes(uint64_t v) {
  std::string s;
  PutU64(&s, v);
  return s;
}

// One change to a storage table, applied later in a batch transaction.
struct Fix {
  enum Kind { kPut, kDel } kind;
  Db* db;
  std::string key;
  std::string value;
};

}  // namespace

namespace {

BdbStorage* AsBdb(Storage* storage) { return dynamic_cast<BdbStorage*>(storage); }

uint64_t TableFileBytes(const std::string& home) {
  uint64_t total = 0;
  for (const char* f : {schema::kRecordsFile, schema::kRefcountsFile, schema::kPendingFile,
                        schema::kMetaFile, schema::kMarksFile}) {
    struct stat st;
    if (stat((home + "/" + f).c_str(), &st) == 0) total += st.st_size;
  }
  return total;
}

}  // namespace

// Friend of BdbStorage: the whole verification under write_mu_.
class Verifier {
 public:
  // `writing`: the repair pass (VerifyStorage runs it only after a
  // read-only pass read everything without an error).
  Verifier(BdbStorage* s, const VerifyOptions& o, VerifyReport* r, bool writing)
      : s_(s), opt_(o), rep_(r), writing_(writing) {}

  Status Run() {
    auto t0 = std::chrono::steady_clock::now();
    rep_->max_samples = opt_.max_samples;
    rep_->repair_requested = opt_.repair;
    {
      std::shared_lock<std::shared_mutex> open(s_->close_mu_);
      DURUS_RETURN_IF_ERROR(s_->CheckOpen());
      if (opt_.repair && s_->options_.readonly) {
        return Status::ReadOnly("cannot repair " + s_->home() + ": opened read-only");
      }
      std::lock_guard<std::mutex> l(s_->write_mu_);
      total_ = s_->object_count_;
      Status st = Check();
      if (!st.ok()) {
        CloseTemps();
        if (writing_) return st;
        // What could not be read is unknown, not missing: the report says
        // so (and VerifyStorage refuses to repair from it).
        rep_->complete = false;
        rep_->incomplete = st.ToString();
        if (st.code() == Status::Code::kCorruption) rep_->damaged = true;
      } else if (writing_ && !rep_->clean()) {
        st = Repair();
        CloseTemps();
        DURUS_RETURN_IF_ERROR(st);
      }
      CloseTemps();
    }
    rep_->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return Status::OK();
  }

 private:
  void Progress(const char* phase, uint64_t done, uint64_t total) {
    if (opt_.progress && (done % 4096 == 0 || done == total)) opt_.progress(phase, done, total);
  }

  // Everything that reads: pages, recount, comparison, reachability,
  // counters.  Writes only in the repair pass (buffered count and queue
  // fixes, applied as the comparison goes).
  Status Check() {
    DURUS_RETURN_IF_ERROR(CheckPages());
    if (rep_->damaged) return Status::OK();  // reading through the storage would panic it
    DURUS_RETURN_IF_ERROR(OpenTemp(s_->env(), &counts_));
    DURUS_RETURN_IF_ERROR(Recount());
    trace_ = s_->trace_.state_;
    trace_marks_ = s_->trace_.marks_.get();
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
  Status CheckPages() {
    // A panicked environment (a load met a damaged page before us) cannot
    // write its cache back, and has nothing to write (nothing could commit
    // since); the files on disk, where the damage is, are verified anyway.
    Status synced = FromDb(s_->env()->memp_sync(nullptr),
                           "writing the cache back before verifying the files");
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
      rep_->Add(Problem{ProblemKind::kDamagedPage, d.oids.empty() ? 0 : d.oids.front(), d.page,
                        0, 0, detail});
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
    rep_->incomplete = "damaged pages in " + files +
                       ": records, counts and references were not checked";
    if (records_damaged) {
      std::vector<UnreadableRecord> unreadable;
      DURUS_RETURN_IF_ERROR(FindUnreadableRecords(s_->home() + "/" + schema::kRecordsFile,
                                                  std::max<uint64_t>(opt_.max_samples, 1),
                                                  &unreadable));
      for (const UnreadableRecord& u : unreadable) {
        if (u.after_only) {
          rep_->incomplete += "; records.db cannot be read past oid " + std::to_string(u.oid) +
                              " (" + u.message + ")";
        } else if (named.insert(u.oid).second) {
          rep_->Add(Problem{ProblemKind::kUnreadableRecord, u.oid, 0, 0, 0, u.message});
        }
      }
    }
    return Status::OK();
  }

  void CloseTemps() {
    for (DbPtr* d : {&counts_, &marks_, &frontier_, &unreach_, &zero_, &missing_}) d->reset();
  }

  // --- 1. Recount: counts_[target] = (referrers u64, one referrer u64).
  Status Recount() {
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
        return Status::Corruption("records.db has a key of " + std::to_string(key.size()) +
                                  " bytes");
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

  Status FlushPairs(std::vector<std::pair<uint64_t, uint64_t>>* pairs) {
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
  struct Stream {
    explicit Stream(Db* db) : reader(db) {}
    TableReader reader;
    bool valid = false;
    Oid key;
    std::string_view value;
    Status Advance(const char* what) {
      std::string_view k;
      bool end;
      int ret = reader.Next(&k, &value, &end);
      if (ret != 0) return FromDb(ret, std::string("scanning ") + what);
      valid = !end;
      if (valid) {
        if (k.size() != 8) return Status::Corruption(std::string(what) + " has a malformed key");
        key = Oid::FromBytes(k.data());
      }
      return Status::OK();
    }
  };

  Status Compare() {
    Stream recs(s_->records()), counts(s_->refcounts()), recount(counts_.get()),
        queue(s_->pending());
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
      if (writing_ && fixes_.size() >= kFixesPerTxn) DURUS_RETURN_IF_ERROR(ApplyFixes());
      if (has_rec) DURUS_RETURN_IF_ERROR(recs.Advance("records.db"));
      if (has_count) DURUS_RETURN_IF_ERROR(counts.Advance("refcounts.db"));
      if (has_recount) DURUS_RETURN_IF_ERROR(recount.Advance("the recount"));
      if (queued) DURUS_RETURN_IF_ERROR(queue.Advance("pending.db"));
    }
    return Status::OK();
  }

  // Repair never acts on "oid has no record" without asking records.db
  // directly: a scan that missed records (issue 11: a reader that stopped
  // at the first record larger than its buffer) must not turn into
  // dropped references or deleted counts.
  Status ExpectNoRecord(Oid oid, const char* action) {
    std::string rec;
    int ret = TempGet(s_->records(), oid, &rec);
    if (ret == DB_NOTFOUND) return Status::OK();
    if (ret != 0) return FromDb(ret, "reading oid " + OidToString(oid));
    return Status::Corruption("verify took oid " + OidToString(oid) +
                              " for missing but its record exists (a bug in verify's scan); "
                              "stopped before " + action + " (please report this)");
  }

  void FixCount(Oid oid, uint64_t value) {
    if (!writing_) return;
    fixes_.push_back(Fix{Fix::kPut, s_->refcounts(), oid.Bytes(), U64Bytes(value)});
    ++repair_.counts_set;
  }

  void FixQueue(Oid oid, bool add) {
    if (!writing_) return;
    fixes_.push_back(Fix{add ? Fix::kPut : Fix::kDel, s_->pending(), oid.Bytes(), ""});
    ++(add ? repair_.queue_added : repair_.queue_removed);
  }

  // Applies the buffered fixes in one transaction (retried on deadlock).
  Status ApplyFixes() {
    if (fixes_.empty()) return Status::OK();
    for (int attempt = 0;; ++attempt) {
      Txn txn;
      int ret = txn.Begin(s_->env());
      for (size_t i = 0; ret == 0 && i < fixes_.size(); ++i) {
        const Fix& f = fixes_[i];
        Dbt key = InDbt(f.key.data(), f.key.size());
        if (f.kind == Fix::kPut) {
          Dbt data = InDbt(f.value.data(), f.value.size());
          ret = f.db->put(txn.get(), &key, &data, 0);
        } else {
          ret = f.db->del(txn.get(), &key, 0);
          if (ret == DB_NOTFOUND) ret = 0;
        }
      }
      if (ret == 0) ret = txn.Commit(0);
      if (ret == 0) break;
      if (!IsRetryable(ret) || attempt >= kMaxRetries) return FromDb(ret, "repairing");
    }
    fixes_.clear();
    return Status::OK();
  }

  // --- 3. Reachability: mark from the root, then simulate counting on the
  // unreachable part (Kahn's algorithm): what it cannot free is leaked.
  Status Reachability() {
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
          if (ret == 0) c = GetU64(v.data());
          else if (ret != DB_NOTFOUND) return FromDb(ret, "reading the recount");
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
            rep_->Add(Problem{ProblemKind::kLeaked, un.key.value(), GetU64(un.value.data()), 0,
                              0, ""});
          }
        }
        DURUS_RETURN_IF_ERROR(un.Advance("the unreachable set"));
      }
    }
    return Status::OK();
  }

  // A reachable record references `r`: if `r` is missing, count it.
  Status CountReachableReferrer(Oid r) {
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
  Status CondemnedByTrace(Oid oid, bool* condemned) {
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
  Status EvaluateDangling() {
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
          rep_->Add(Problem{ProblemKind::kDanglingRef, st.key.value(), 0, referrers, referrer,
                            ""});
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

  Status FirstKeys(Db* db, size_t max, std::vector<Oid>* out) {
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

  // --- 4. Counters.
  void CheckMeta() {
    auto check = [&](const char* name, uint64_t stored, uint64_t expected) {
      if (stored != expected) {
        rep_->Add(Problem{ProblemKind::kMetaMismatch, 0, stored, expected, 0, name});
      }
    };
    check(schema::kMetaObjectCount, s_->object_count_, rep_->records);
    check(schema::kMetaRecordBytes, s_->record_bytes_, rep_->record_bytes);
    check(schema::kMetaPendingCount, s_->pending_count_, rep_->queued);
    if (rep_->records > 0 && s_->max_stored_next_ <= max_oid_) {
      check(schema::kMetaNextOid, s_->max_stored_next_, max_oid_ + 1);
    }
  }

  // --- 5. Repair (the count and queue fixes are already buffered).
  Status Repair() {
    uint64_t problems = rep_->total_problems();
    uint64_t done = 0;
    DURUS_RETURN_IF_ERROR(ApplyFixes());
    uint64_t bytes = rep_->record_bytes;
    if (dangling_ > 0 && missing_) DURUS_RETURN_IF_ERROR(DropDanglingRefs(&bytes));
    if (opt_.progress) opt_.progress("repair", ++done, problems);
    // The counters, from what is now on disk.
    uint64_t objects = rep_->records;
    uint64_t pending = queue_after_;
    uint64_t next = std::max(s_->max_stored_next_, rep_->records > 0 ? max_oid_ + 1 : 0);
    if (objects != s_->object_count_ || bytes != s_->record_bytes_ ||
        pending != s_->pending_count_ || next != s_->max_stored_next_) {
      repair_.meta_fixed += (objects != s_->object_count_) + (bytes != s_->record_bytes_) +
                            (pending != s_->pending_count_) + (next != s_->max_stored_next_);
      DURUS_RETURN_IF_ERROR(WriteCounters(next, objects, bytes, pending));
    }
    if (rep_->leaked > 0) DURUS_RETURN_IF_ERROR(DeleteUnreachable());
    rep_->repaired = repair_;
    // Make the repair durable now, whatever the storage's durability.
    return FromDb(s_->env()->log_flush(nullptr), "flushing the repair");
  }

  Status WriteCounters(uint64_t next, uint64_t objects, uint64_t bytes, uint64_t pending) {
    for (int attempt = 0;; ++attempt) {
      Txn txn;
      int ret = txn.Begin(s_->env());
      if (ret != 0) return FromDb(ret, "begin");
      Status st = s_->PutMetaCounters(txn.get(), next, objects, bytes, pending);
      if (st.ok()) {
        ret = txn.Commit(0);
        if (ret == 0) break;
        st = FromDb(ret, "writing the counters");
      }
      if (attempt >= kMaxRetries) return st;
    }
    s_->max_stored_next_ = next;
    s_->object_count_ = objects;
    s_->record_bytes_ = bytes;
    s_->pending_count_ = pending;
    uint64_t cur = s_->next_oid_.load();
    while (cur < next && !s_->next_oid_.compare_exchange_weak(cur, next)) {
    }
    return Status::OK();
  }

  // Rewrites every record that references a missing oid without it.
  Status DropDanglingRefs(uint64_t* bytes) {
    {
      // Each of them really is missing (asked before anything is written).
      Stream st(missing_.get());
      DURUS_RETURN_IF_ERROR(st.Advance("missing oids"));
      while (st.valid) {
        DURUS_RETURN_IF_ERROR(ExpectNoRecord(st.key, "dropping references to it"));
        DURUS_RETURN_IF_ERROR(st.Advance("missing oids"));
      }
    }
    TableReader reader(s_->records());
    std::string v;
    for (;;) {
      std::string_view key, value;
      bool end;
      int ret = reader.Next(&key, &value, &end);
      if (ret != 0) return FromDb(ret, "scanning records.db");
      if (end) break;
      Oid oid = Oid::FromBytes(key.data());
      RecordView view;
      if (!UnpackRecord(value, &view).ok()) continue;
      std::string kept;
      bool changed = false;
      for (size_t i = 0; i + 8 <= view.refs.size(); i += 8) {
        Oid r = Oid::FromBytes(view.refs.data() + i);
        ret = TempGet(missing_.get(), r, &v);
        if (ret == 0) {
          changed = true;
          ++repair_.refs_dropped;
          continue;
        }
        if (ret != DB_NOTFOUND) return FromDb(ret, "reading the missing-oid table");
        kept.append(view.refs.data() + i, 8);
      }
      if (!changed) continue;
      std::string rec = PackRecordRaw(view.oid, view.data, kept);
      int64_t change = static_cast<int64_t>(rec.size()) - static_cast<int64_t>(value.size());
      DURUS_RETURN_IF_ERROR(AddToCounter(schema::kMetaRecordBytes, *bytes, change, bytes));
      fixes_.push_back(Fix{Fix::kPut, s_->records(), oid.Bytes(), rec});
      if (fixes_.size() >= kFixesPerTxn) DURUS_RETURN_IF_ERROR(ApplyFixes());
    }
    return ApplyFixes();
  }

  // Deletes every unreachable object (leaked or not), in small
  // transactions, as the trace's sweep does.
  Status DeleteUnreachable() {
    std::vector<Oid> batch;
    Stream un(unreach_.get());
    DURUS_RETURN_IF_ERROR(un.Advance("the unreachable set"));
    uint64_t n = 0;
    while (un.valid) {
      batch.clear();
      while (un.valid && batch.size() < 256) {
        batch.push_back(un.key);
        DURUS_RETURN_IF_ERROR(un.Advance("the unreachable set"));
      }
      std::vector<Oid> removed;
      for (int attempt = 0;; ++attempt) {
        removed.clear();
        CounterDelta delta;
        uint64_t freed = 0;
        Txn txn;
        DeleteCursors cursors;
        int ret = txn.Begin(s_->env());
        if (ret == 0) ret = cursors.Open(s_, txn.get());
        for (size_t i = 0; ret == 0 && i < batch.size(); ++i) {
          if (batch[i].IsRoot()) continue;
          ret = DeleteObjectInTxn(s_, txn.get(), &cursors, batch[i], DeleteMode(), &delta,
                                  &freed, &removed);
        }
        cursors.records.Close();
        cursors.counts.Close();
        uint64_t objects = 0, bytes = 0, pending = 0;
        if (ret == 0) {
          // A counter going below zero is a bug to report, never to write.
          DURUS_RETURN_IF_ERROR(AddToCounter(schema::kMetaObjectCount, s_->object_count_,
                                             delta.objects, &objects));
          DURUS_RETURN_IF_ERROR(AddToCounter(schema::kMetaRecordBytes, s_->record_bytes_,
                                             delta.bytes, &bytes));
          DURUS_RETURN_IF_ERROR(AddToCounter(schema::kMetaPendingCount, s_->pending_count_,
                                             delta.pending, &pending));
          Status st =
              s_->PutMetaCounters(txn.get(), s_->max_stored_next_, objects, bytes, pending);
          if (!st.ok()) return st;
          ret = txn.Commit(0);
        }
        if (ret == 0) {
          s_->object_count_ = objects;
          s_->record_bytes_ = bytes;
          s_->pending_count_ = pending;
          break;
        }
        if (!IsRetryable(ret) || attempt >= kMaxRetries) {
          return FromDb(ret, "deleting unreachable objects");
        }
      }
      repair_.unreachable_deleted += removed.size();
      n += batch.size();
      if (opt_.progress) opt_.progress("delete unreachable", n, rep_->unreachable);
      if (!removed.empty()) {
        s_->collected_total_ += removed.size();
        std::lock_guard<std::mutex> l(s_->collected_mu_);
        s_->collected_.insert(s_->collected_.end(), removed.begin(), removed.end());
      }
    }
    return Status::OK();
  }

 public:
  // Compaction (bdb/verify.h: CompactStorage) needs the handles and write_mu_.
  static Status Compact(BdbStorage* s, CompactReport* report) {
    std::shared_lock<std::shared_mutex> open(s->close_mu_);
    DURUS_RETURN_IF_ERROR(s->CheckOpen());
    if (s->options_.readonly) return Status::ReadOnly("storage " + s->home() + " is read-only");
    std::lock_guard<std::mutex> l(s->write_mu_);
    // Write the cache back first, so that the files show their real size.
    int ret0 = s->env()->txn_checkpoint(0, 0, DB_FORCE);
    if (ret0 != 0) return FromDb(ret0, "checkpoint before compaction");
    report->file_bytes_before = TableFileBytes(s->home());
    for (Db* db : {s->records(), s->refcounts(), s->pending(), s->meta()}) {
      DB_COMPACT c;
      memset(&c, 0, sizeof(c));
      int ret = db->compact(nullptr, nullptr, nullptr, &c, DB_FREE_SPACE, nullptr);
      if (ret != 0) return FromDb(ret, "compacting " + s->home());
      report->pages_freed += c.compact_pages_truncated;
      report->pages_examined += c.compact_pages_examine;
    }
    int ret = s->env()->txn_checkpoint(0, 0, DB_FORCE);
    if (ret != 0) return FromDb(ret, "checkpoint after compaction");
    report->file_bytes_after = TableFileBytes(s->home());
    return Status::OK();
  }

 private:
  BdbStorage* s_;
  const VerifyOptions& opt_;
  VerifyReport* rep_;
  uint64_t total_ = 0;
  uint64_t max_oid_ = 0;
  uint64_t dangling_ = 0;
  TraceState trace_;            // the running trace, if any, at the start
  Db* trace_marks_ = nullptr;   // its marks (owned by the Trace)
  uint64_t queue_after_ = 0;  // queue entries once repaired
  const bool writing_;
  gc::RepairSummary repair_;
  std::vector<Fix> fixes_;
  DbPtr counts_, marks_, frontier_, unreach_, zero_, missing_;
};


}  // namespace bdb

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

Status VerifyStorage(Storage* storage, const VerifyOptions& options, gc::VerifyReport* report) {
  *report = gc::VerifyReport();
  bdb::BdbStorage* s = bdb::AsBdb(storage);
  if (s == nullptr) return Status::InvalidArgument("verify needs a Berkeley DB storage");
  // First a pass that only reads; the repair pass runs only when that one
  // read everything and found problems, so that nothing is changed on the
  // strength of a partial reading.
  {
    bdb::Verifier v(s, options, report, /*writing=*/false);
    DURUS_RETURN_IF_ERROR(v.Run());
  }
  if (!options.repair || report->clean()) return Status::OK();
  std::string refusal = RepairRefusal(*report);
  if (!refusal.empty()) {
    report->repair_refused = refusal;
    return Status::OK();
  }
  gc::VerifyReport second;
  bdb::Verifier v(s, options, &second, /*writing=*/true);
  DURUS_RETURN_IF_ERROR(v.Run());
  second.seconds += report->seconds;
  *report = std::move(second);
  return Status::OK();
}

Status CollectWithProgress(Storage* storage, bool cycles, const MaintenanceProgressFn& progress,
                           CollectReport* report) {
  *report = CollectReport();
  bdb::BdbStorage* s = bdb::AsBdb(storage);
  if (s == nullptr) return storage->Collect(cycles, report);
  StorageStats stats;
  DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
  const uint32_t batch = 1024;
  auto drain = [&]() -> Status {
    uint64_t total = 0;
    DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
    uint64_t queued = stats.pending_garbage;
    for (bool done = false; !done;) {
      uint64_t n = 0, b = 0;
      DURUS_RETURN_IF_ERROR(s->CollectStep(batch, &n, &b, &done));
      report->collected += n;
      report->bytes_freed += b;
      total += n;
      // Cascades make the total unknowable in advance: show at least done.
      if (progress) progress("collect", total, std::max(queued, total));
    }
    return Status::OK();
  };
  DURUS_RETURN_IF_ERROR(drain());
  if (cycles) {
    // As BdbStorage::Collect: finish a running trace, then trace again if
    // that one was not ours.
    for (int pass = 0; pass < 2; ++pass) {
      bool started = false;
      DURUS_RETURN_IF_ERROR(s->trace()->Start(&started));
      DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
      for (;;) {
        bdb::TraceStepResult r;
        DURUS_RETURN_IF_ERROR(s->trace()->Step(batch, &r));
        report->collected += r.collected;
        report->bytes_freed += r.bytes_freed;
        if (r.done) break;
        bdb::TraceProgress p = s->trace()->Progress();
        if (progress) {
          if (p.state.phase == bdb::TracePhase::kMark) {
            progress("trace", p.state.traced, stats.object_count);
          } else {
            progress("sweep", p.state.cursor, p.state.limit);
          }
        }
      }
      if (started) break;
    }
    report->traced = s->trace()->Progress().state.traced;
    DURUS_RETURN_IF_ERROR(drain());
  }
  DURUS_RETURN_IF_ERROR(storage->GetStats(&stats));
  report->pending_after = stats.pending_garbage;
  return Status::OK();
}

Status CompactStorage(Storage* storage, CompactReport* report) {
  *report = CompactReport();
  bdb::BdbStorage* s = bdb::AsBdb(storage);
  if (s == nullptr) return Status::InvalidArgument("compact needs a Berkeley DB storage");
  return bdb::Verifier::Compact(s, report);
}

}  // namespace durus
