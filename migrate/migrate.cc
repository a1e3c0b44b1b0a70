// Migrate(): source -> new durus-bdb home, in phases (migrate/migrate.h):
//
//   load    every source item goes into records.db (BulkLoader::Put); a
//           later version of an oid overwrites the earlier one, so the
//           last version wins with no per-oid state here.
//   count   one scan of the FINAL records emits a (target, referrer) pair
//           per reference into an external sort and the oids, in order,
//           into a spool file; merging the two gives every oid's count in
//           oid order (BulkLoader::AppendCount, which also queues the
//           zeros), and the targets that are not stored: dangling refs.
//   strip   (--allow-dangling only) drop dangling refs from their records.
//   verify  (--verify) re-read the source: a digest of the last version of
//           every oid, sorted by oid, is compared with every stored record;
//           the stored counts and queue are compared with a fresh recount.
//   finish  counters, state=complete, durable (BulkLoader::Finish); then
//           the home is opened through OpenBdbStorage to check it.
//
// Memory: the loader's buffer and cache, the sort buffers, the read
// buffers: all fixed sizes.  Nothing is proportional to the object count.
#include "migrate/migrate.h"

#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>

#include "bdb/bulk_loader.h"
#include "engine/record.h"
#include "migrate/external_sorter.h"
#include "migrate/file_io.h"
#include "migrate/hash.h"
#include "migrate/progress.h"
#include "migrate/source.h"
#include "util/format.h"

namespace durus::migrate {

namespace {

struct RefPair {
  uint64_t target;
  uint64_t referrer;
  bool operator<(const RefPair& o) const {
    return target != o.target ? target < o.target : referrer < o.referrer;
  }
};

// The digest of one source item, for --verify.
struct VerifyEntry {
  uint64_t oid;
  uint64_t seq;  // position in the source: the last one per oid wins
  uint64_t size;
  Hash128 full;  // the whole record
  Hash128 head;  // the record without its refs (oid, length, data)
  bool operator<(const VerifyEntry& o) const { return oid != o.oid ? oid < o.oid : seq < o.seq; }
};

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  if (realpath(p.c_str(), buf) == nullptr) return p;
  return buf;
}

// A u64 stream through a TempFile (oids in order).
class U64Spool {
 public:
  Status Create(const std::string& dir) { return file_.Create(dir); }
  Status Add(uint64_t v) { return file_.Append(std::string_view(reinterpret_cast<char*>(&v), 8)); }
  Status StartReading() { return file_.StartReading(); }
  Status Next(uint64_t* v, bool* done) {
    std::string_view b;
    DURUS_RETURN_IF_ERROR(file_.reader()->Read(8, &b));
    *done = b.size() < 8;
    if (!*done) memcpy(v, b.data(), 8);
    return Status::OK();
  }

 private:
  TempFile file_;
};

class Migration {
 public:
  Migration(const MigrateOptions& o, MigrateReport* r) : o_(o), r_(r) {}

  Status Run();

 private:
  Status Load();
  Status Count();
  Status Strip(ExternalSorter<RefPair>* dangling, U64Spool* stripped);
  Status Verify();
  Status VerifyRecords();
  Status VerifyCounts();
  Status CheckOpens();
  // Salvage: what the source skipped into the report, and which lost
  // versions an older one stands in for (after the load).
  Status ReportSalvage(const std::map<uint64_t, uint64_t>& lost);
  size_t SortBytes() const { return size_t{o_.sort_memory_mb} << 20; }
  bool AllowDangling() const { return o_.allow_dangling || o_.salvage; }
  SourceOptions SourceOpts() const {
    SourceOptions so;
    so.strict = o_.strict;
    so.salvage = o_.salvage;
    return so;
  }

  const MigrateOptions& o_;
  MigrateReport* r_;
  SourceFormat format_ = SourceFormat::kAuto;
  SharedFileLock source_lock_;  // held for the whole migration, --verify included
  std::unique_ptr<RecordSource> source_;
  std::unique_ptr<BulkLoader> loader_;
  std::string temp_dir_;
  BulkLoadTotals totals_;
  uint64_t next_oid_hint_ = 0;
  // Oids whose records lost dangling refs (sorted), for Verify().
  std::unique_ptr<U64Spool> stripped_;
  bool any_stripped_ = false;
};

Status Migration::Run() {
  format_ = o_.format;
  if (format_ == SourceFormat::kAuto) DURUS_RETURN_IF_ERROR(DetectFormat(o_.source, &format_));
  r_->format = format_;
  if (o_.home.empty()) return Status::InvalidArgument("no target home given");
  if (RealPath(o_.source) == RealPath(o_.home)) {
    return Status::InvalidArgument("source and target are the same: " + o_.source);
  }
  // A file a Durus process writes is refused (unless force), and one we
  // read cannot be opened for writing by Durus until we are done.
  if (!o_.force && (format_ == SourceFormat::kShelf || format_ == SourceFormat::kFileStorage2)) {
    Status s = source_lock_.Acquire(o_.source);
    if (s.IsBusy()) return Status::Busy(s.message() + "; stop it or pass " + o_.force_hint);
    DURUS_RETURN_IF_ERROR(s);
  }
  // Open (and so check) the source before creating anything.
  r_->salvage = o_.salvage;
  DURUS_RETURN_IF_ERROR(OpenSource(o_.source, format_, SourceOpts(), &source_));

  BulkLoaderOptions lo;
  lo.cache_mb = o_.cache_mb;
  lo.durability = o_.durability;
  DURUS_RETURN_IF_ERROR(BulkLoader::Create(o_.home, lo, &loader_, &r_->restarted));
  if (r_->restarted) {
    r_->warnings.push_back("wiped an interrupted migration in " + o_.home + " and started again");
  }
  temp_dir_ = o_.temp_dir.empty() ? o_.home : o_.temp_dir;

  Status s = Load();
  if (s.ok()) s = Count();
  if (s.ok() && o_.verify) s = Verify();
  if (s.ok()) {
    ProgressTracker pt(&o_.progress, "finish", 0, 0);
    BulkLoadSummary summary;
    s = loader_->Finish(totals_, &summary);
    if (s.ok()) {
      r_->pending = summary.pending_count;
      r_->home_data_bytes = summary.data_file_bytes;
      pt.Done(0, 0);
    }
  }
  if (!s.ok()) {
    loader_->Abandon();
    return s;
  }
  loader_.reset();
  return CheckOpens();
}

Status Migration::Load() {
  ProgressTracker pt(&o_.progress, "load", source_->total_bytes(), source_->total_records());
  uint64_t n = 0;
  SourceItem item;
  // Salvage: oid -> offset of its lost version, until a later version
  // (one at a greater offset) replaces it.  Holds only identified lost
  // versions, so stays small unless most of the source is damaged.
  std::map<uint64_t, uint64_t> lost;
  size_t lost_seen = 0;
  auto take_lost = [&] {
    for (; lost_seen < source_->lost().size(); ++lost_seen) {
      const LostVersion& l = source_->lost()[lost_seen];
      auto [it, fresh] = lost.emplace(l.oid.value(), l.offset);
      if (!fresh) {
        ++r_->lost_superseded;
        it->second = l.offset;
      }
    }
  };
  for (;;) {
    bool done = false;
    DURUS_RETURN_IF_ERROR(source_->Next(&item, &done));
    take_lost();
    if (done) break;
    if (!lost.empty()) {
      auto it = lost.find(item.oid.value());
      if (it != lost.end() && item.offset > it->second) {
        lost.erase(it);
        ++r_->lost_superseded;
      }
    }
    DURUS_RETURN_IF_ERROR(loader_->Put(item.oid, item.record));
    ++n;
    pt.Update(n, source_->bytes_read());
  }
  DURUS_RETURN_IF_ERROR(loader_->FlushRecords());
  DURUS_RETURN_IF_ERROR(ReportSalvage(lost));
  r_->source_records = n;
  r_->source_bytes = source_->bytes_read();
  const TornTail& torn = source_->torn();
  if (torn.present) {
    r_->torn_tail = true;
    r_->torn_offset = torn.offset;
    r_->torn_bytes = torn.bytes;
    r_->torn_records = torn.records;
    r_->warnings.push_back("torn last transaction at byte offset " + std::to_string(torn.offset) +
                           " skipped (" + torn.detail + "; " + std::to_string(torn.bytes) +
                           " bytes, 1 transaction with " + std::to_string(torn.records) +
                           " complete record(s), ignored, as Durus's repair would truncate "
                           "them)");
  }
  pt.Done(n, source_->bytes_read());
  next_oid_hint_ = source_->next_oid_hint();
  // Release the source now: a durus-bdb home as source is locked while
  // open, and --verify opens it again.
  source_.reset();
  return Status::OK();
}

Status Migration::Count() {
  ProgressTracker pt(&o_.progress, "count", 0, r_->source_records);
  ExternalSorter<RefPair> pairs(temp_dir_, SortBytes());
  U64Spool oids;
  DURUS_RETURN_IF_ERROR(oids.Create(temp_dir_));
  uint64_t objects = 0, bytes = 0, max_oid = 0, refs = 0;
  DURUS_RETURN_IF_ERROR(loader_->ScanRecords([&](Oid oid, std::string_view rec) -> Status {
    RecordView v;
    Status s = ValidateRecord(oid, rec, &v);
    if (!s.ok())
      return Status::Corruption("stored record of oid " + OidToString(oid) + ": " + s.message());
    DURUS_RETURN_IF_ERROR(oids.Add(oid.value()));
    for (Oid t : NormalizedRefs(v.refs, oid)) {
      DURUS_RETURN_IF_ERROR(pairs.Add(RefPair{t.value(), oid.value()}));
      ++refs;
    }
    ++objects;
    bytes += rec.size();
    max_oid = oid.value();
    pt.Update(objects, bytes);
    return Status::OK();
  }));
  DURUS_RETURN_IF_ERROR(pairs.Finish());
  DURUS_RETURN_IF_ERROR(oids.StartReading());

  // Merge: counts for every stored oid, dangling targets in between.
  ExternalSorter<RefPair> dangling(temp_dir_, std::min<size_t>(SortBytes(), 8u << 20));
  std::vector<std::string> examples;
  uint64_t dangling_count = 0;
  RefPair p{};
  bool pairs_done = false;
  DURUS_RETURN_IF_ERROR(pairs.Next(&p, &pairs_done));
  auto on_dangling = [&](const RefPair& d) -> Status {
    ++dangling_count;
    if (examples.size() < 5) {
      examples.push_back("oid " + std::to_string(d.referrer) + " references missing oid " +
                         std::to_string(d.target));
    }
    if (AllowDangling()) return dangling.Add(RefPair{d.referrer, d.target});  // by referrer
    return Status::OK();
  };
  uint64_t counted = 0;
  for (;;) {
    uint64_t oid = 0;
    bool oids_done = false;
    DURUS_RETURN_IF_ERROR(oids.Next(&oid, &oids_done));
    if (oids_done) break;
    while (!pairs_done && p.target < oid) {
      DURUS_RETURN_IF_ERROR(on_dangling(p));
      DURUS_RETURN_IF_ERROR(pairs.Next(&p, &pairs_done));
    }
    uint64_t count = 0;
    while (!pairs_done && p.target == oid) {
      ++count;
      DURUS_RETURN_IF_ERROR(pairs.Next(&p, &pairs_done));
    }
    DURUS_RETURN_IF_ERROR(loader_->AppendCount(Oid(oid), count));
    ++counted;
  }
  while (!pairs_done) {
    DURUS_RETURN_IF_ERROR(on_dangling(p));
    DURUS_RETURN_IF_ERROR(pairs.Next(&p, &pairs_done));
  }
  if (counted != objects) {
    return Status::Corruption("internal: counted " + std::to_string(counted) + " of " +
                              std::to_string(objects) + " objects");
  }
  r_->dangling = dangling_count;
  r_->references = refs - dangling_count;
  if (dangling_count > 0) {
    std::string list;
    for (const std::string& e : examples) list += (list.empty() ? "" : "; ") + e;
    if (!AllowDangling()) {
      return Status::Corruption("the source holds " + std::to_string(dangling_count) +
                                " reference(s) to oids it does not contain (" + list +
                                (dangling_count > examples.size() ? "; ..." : "") +
                                "); a durus-bdb home never stores those.  Re-run with "
                                "--allow-dangling to drop them from the referring records");
    }
    r_->warnings.push_back("dropped " + std::to_string(dangling_count) +
                           " dangling reference(s) from their records (" + list +
                           (dangling_count > examples.size() ? "; ..." : "") + ")");
    DURUS_RETURN_IF_ERROR(dangling.Finish());
    stripped_ = std::make_unique<U64Spool>();
    DURUS_RETURN_IF_ERROR(stripped_->Create(temp_dir_));
    uint64_t removed_bytes = 0;
    // Strip, grouped by referrer.
    RefPair d{};
    bool ddone = false;
    DURUS_RETURN_IF_ERROR(dangling.Next(&d, &ddone));
    std::string rec;
    while (!ddone) {
      uint64_t referrer = d.target;  // stored swapped: (referrer, target)
      std::vector<uint64_t> gone;
      while (!ddone && d.target == referrer) {
        gone.push_back(d.referrer);
        DURUS_RETURN_IF_ERROR(dangling.Next(&d, &ddone));
      }
      DURUS_RETURN_IF_ERROR(loader_->Get(Oid(referrer), &rec));
      RecordView v;
      DURUS_RETURN_IF_ERROR(UnpackRecord(rec, &v));
      std::string kept;
      for (size_t i = 0; i + 8 <= v.refs.size(); i += 8) {
        uint64_t t = GetU64(v.refs.data() + i);
        if (std::binary_search(gone.begin(), gone.end(), t)) continue;
        kept.append(v.refs.data() + i, 8);
      }
      std::string fixed = PackRecordRaw(v.oid, v.data, kept);
      removed_bytes += rec.size() - fixed.size();
      DURUS_RETURN_IF_ERROR(loader_->Replace(Oid(referrer), fixed));
      DURUS_RETURN_IF_ERROR(stripped_->Add(referrer));
      any_stripped_ = true;
    }
    bytes -= removed_bytes;
  }
  r_->objects = objects;
  r_->record_bytes = bytes;
  totals_.object_count = objects;
  totals_.record_bytes = bytes;
  totals_.next_oid = std::max(objects == 0 ? 0 : max_oid + 1, next_oid_hint_);
  r_->next_oid = totals_.next_oid;
  pt.Done(objects, bytes);
  return Status::OK();
}

Status Migration::Verify() {
  DURUS_RETURN_IF_ERROR(VerifyRecords());
  DURUS_RETURN_IF_ERROR(VerifyCounts());
  r_->verified = true;
  return Status::OK();
}

Status Migration::ReportSalvage(const std::map<uint64_t, uint64_t>& lost) {
  for (const SkippedRange& k : source_->skipped()) {
    r_->skipped.push_back(SalvagedRange{k.offset, k.length, k.unit, k.reason});
    std::string where =
        k.length == 0
            ? "nothing at " + std::string(k.unit == std::string("bytes") ? "byte offset" : k.unit) +
                  " " + std::to_string(k.offset)
            : std::string(k.unit) + " " + std::to_string(k.offset) + ".." +
                  std::to_string(k.offset + k.length - 1) + " (" + std::to_string(k.length) + ")";
    r_->warnings.push_back("salvage: skipped " + where + ": " + k.reason);
  }
  std::string rec;
  for (const auto& [oid, offset] : lost) {
    Status s = loader_->Get(Oid(oid), &rec);
    if (!s.ok() && !s.IsNotFound()) return s;
    r_->lost.push_back(LostObject{oid, offset, s.ok()});
    r_->warnings.push_back("salvage: oid " + std::to_string(oid) + ": its version at byte offset " +
                           std::to_string(offset) + " was lost; " +
                           (s.ok() ? "an older version was copied" : "the object is missing"));
  }
  return Status::OK();
}

// Every stored record equals the last version of its oid in the source,
// and every oid of the source is stored.
Status Migration::VerifyRecords() {
  std::unique_ptr<RecordSource> src;
  DURUS_RETURN_IF_ERROR(OpenSource(o_.source, format_, SourceOpts(), &src));
  ProgressTracker pt(&o_.progress, "verify", src->total_bytes(), src->total_records());
  ExternalSorter<VerifyEntry> entries(temp_dir_, SortBytes());
  uint64_t seq = 0;
  SourceItem item;
  for (;;) {
    bool done = false;
    DURUS_RETURN_IF_ERROR(src->Next(&item, &done));
    if (done) break;
    RecordView v;
    DURUS_RETURN_IF_ERROR(UnpackRecord(item.record, &v));
    VerifyEntry e;
    e.oid = item.oid.value();
    e.seq = seq++;
    e.size = item.record.size();
    e.full = HashBytes(item.record);
    e.head = HashBytes(item.record.substr(0, item.record.size() - v.refs.size()));
    DURUS_RETURN_IF_ERROR(entries.Add(e));
    pt.Update(seq, src->bytes_read());
  }
  if (seq != r_->source_records) {
    return Status::Corruption("verify: the source now yields " + std::to_string(seq) +
                              " records, " + std::to_string(r_->source_records) +
                              " were migrated (did it change during the migration?)");
  }
  DURUS_RETURN_IF_ERROR(entries.Finish());
  if (stripped_) DURUS_RETURN_IF_ERROR(stripped_->StartReading());

  // The last entry of each oid, via one entry of lookahead.
  VerifyEntry ahead{};
  bool ahead_done = false;
  DURUS_RETURN_IF_ERROR(entries.Next(&ahead, &ahead_done));
  auto next_final = [&](VerifyEntry* out, bool* done) -> Status {
    *done = ahead_done;
    if (ahead_done) return Status::OK();
    *out = ahead;
    for (;;) {
      DURUS_RETURN_IF_ERROR(entries.Next(&ahead, &ahead_done));
      if (ahead_done || ahead.oid != out->oid) return Status::OK();
      *out = ahead;
    }
  };
  uint64_t stripped_oid = 0;
  bool stripped_done = !stripped_;
  if (stripped_) DURUS_RETURN_IF_ERROR(stripped_->Next(&stripped_oid, &stripped_done));

  uint64_t checked = 0;
  DURUS_RETURN_IF_ERROR(loader_->ScanRecords([&](Oid oid, std::string_view rec) -> Status {
    VerifyEntry e;
    bool done = false;
    DURUS_RETURN_IF_ERROR(next_final(&e, &done));
    if (done || e.oid > oid.value()) {
      return Status::Corruption("verify: oid " + OidToString(oid) +
                                " is in the new home but not in the source");
    }
    if (e.oid < oid.value()) {
      return Status::Corruption("verify: oid " + std::to_string(e.oid) +
                                " of the source is missing from the new home");
    }
    bool same = e.size == rec.size() && e.full == HashBytes(rec);
    if (!same) {
      while (!stripped_done && stripped_oid < oid.value()) {
        DURUS_RETURN_IF_ERROR(stripped_->Next(&stripped_oid, &stripped_done));
      }
      RecordView v;
      DURUS_RETURN_IF_ERROR(UnpackRecord(rec, &v));
      bool was_stripped = !stripped_done && stripped_oid == oid.value();
      same = was_stripped && e.head == HashBytes(rec.substr(0, rec.size() - v.refs.size()));
    }
    if (!same) {
      return Status::Corruption("verify: the record of oid " + OidToString(oid) +
                                " differs from the last version in the source");
    }
    ++checked;
    pt.Update(seq + checked, src->bytes_read());
    return Status::OK();
  }));
  VerifyEntry e;
  bool done = false;
  DURUS_RETURN_IF_ERROR(next_final(&e, &done));
  if (!done) {
    return Status::Corruption("verify: oid " + std::to_string(e.oid) +
                              " of the source is missing from the new home");
  }
  if (checked != totals_.object_count) {
    return Status::Corruption("verify: " + std::to_string(checked) + " records checked, " +
                              std::to_string(totals_.object_count) + " expected");
  }
  pt.Done(seq + checked, src->bytes_read());
  return Status::OK();
}

// The stored counts and queue equal a recount from the stored records:
// every stored oid has a count, the count is the number of records
// referring to it, the queue is exactly the non-root zeros, and no stored
// record refers to an oid that is not stored.
Status Migration::VerifyCounts() {
  ProgressTracker pt(&o_.progress, "verify-counts", 0, totals_.object_count);
  ExternalSorter<uint64_t> targets(temp_dir_, SortBytes());
  U64Spool oids;
  DURUS_RETURN_IF_ERROR(oids.Create(temp_dir_));
  uint64_t n = 0;
  DURUS_RETURN_IF_ERROR(loader_->ScanRecords([&](Oid oid, std::string_view rec) -> Status {
    DURUS_RETURN_IF_ERROR(oids.Add(oid.value()));
    for (Oid t : RecordRefs(rec)) {
      if (t == oid) continue;
      DURUS_RETURN_IF_ERROR(targets.Add(t.value()));
    }
    pt.Update(++n, 0);
    return Status::OK();
  }));
  DURUS_RETURN_IF_ERROR(targets.Finish());
  DURUS_RETURN_IF_ERROR(oids.StartReading());
  // Pending oids, read into a spool so the three streams can be merged.
  U64Spool pending;
  DURUS_RETURN_IF_ERROR(pending.Create(temp_dir_));
  DURUS_RETURN_IF_ERROR(loader_->ScanPending([&](Oid oid) { return pending.Add(oid.value()); }));
  DURUS_RETURN_IF_ERROR(pending.StartReading());
  uint64_t t = 0, q = 0;
  bool t_done = false, q_done = false;
  DURUS_RETURN_IF_ERROR(targets.Next(&t, &t_done));
  DURUS_RETURN_IF_ERROR(pending.Next(&q, &q_done));
  uint64_t counts_seen = 0;
  DURUS_RETURN_IF_ERROR(loader_->ScanCounts([&](Oid oid, uint64_t stored) -> Status {
    uint64_t rec_oid = 0;
    bool rec_done = false;
    DURUS_RETURN_IF_ERROR(oids.Next(&rec_oid, &rec_done));
    if (rec_done || rec_oid != oid.value()) {
      return Status::Corruption("verify: refcounts.db has oid " + OidToString(oid) +
                                " where records.db has " +
                                (rec_done ? std::string("nothing") : std::to_string(rec_oid)));
    }
    if (!t_done && t < oid.value()) {
      return Status::Corruption("verify: a stored record references oid " + std::to_string(t) +
                                ", which is not stored");
    }
    uint64_t recount = 0;
    while (!t_done && t == oid.value()) {
      ++recount;
      DURUS_RETURN_IF_ERROR(targets.Next(&t, &t_done));
    }
    if (recount != stored) {
      return Status::Corruption("verify: oid " + OidToString(oid) + " has count " +
                                std::to_string(stored) + ", a recount gives " +
                                std::to_string(recount));
    }
    bool queued = !q_done && q == oid.value();
    if (queued) DURUS_RETURN_IF_ERROR(pending.Next(&q, &q_done));
    if (!q_done && q < oid.value()) {
      return Status::Corruption("verify: pending.db holds oid " + std::to_string(q) +
                                ", which is not stored");
    }
    bool should = stored == 0 && !oid.IsRoot();
    if (queued != should) {
      return Status::Corruption("verify: oid " + OidToString(oid) + " (count " +
                                std::to_string(stored) + ") is " + (queued ? "" : "not ") +
                                "on the pending-garbage queue");
    }
    ++counts_seen;
    return Status::OK();
  }));
  uint64_t extra = 0;
  bool rec_done = false;
  DURUS_RETURN_IF_ERROR(oids.Next(&extra, &rec_done));
  if (!rec_done) {
    return Status::Corruption("verify: oid " + std::to_string(extra) + " has no count");
  }
  if (!t_done) {
    return Status::Corruption("verify: a stored record references oid " + std::to_string(t) +
                              ", which is not stored");
  }
  if (!q_done) {
    return Status::Corruption("verify: pending.db holds oid " + std::to_string(q) +
                              ", which is not stored");
  }
  if (counts_seen != totals_.object_count) {
    return Status::Corruption("verify: " + std::to_string(counts_seen) + " counts for " +
                              std::to_string(totals_.object_count) + " objects");
  }
  pt.Done(n, 0);
  return Status::OK();
}

// The finished home opens like any other and says what we wrote.
Status Migration::CheckOpens() {
  BdbOptions bo;
  bo.readonly = true;
  bo.create_if_missing = false;
  bo.gc_background = false;
  bo.cache_mb = 4;
  std::unique_ptr<Storage> storage;
  DURUS_RETURN_IF_ERROR(OpenBdbStorage(o_.home, bo, &storage));
  StorageStats st;
  Status s = storage->GetStats(&st);
  Status c = storage->Close();
  DURUS_RETURN_IF_ERROR(s);
  DURUS_RETURN_IF_ERROR(c);
  if (st.object_count != totals_.object_count || st.record_bytes != totals_.record_bytes ||
      st.pending_garbage != r_->pending) {
    return Status::Corruption(
        "the migrated home reports " + std::to_string(st.object_count) + " objects / " +
        std::to_string(st.record_bytes) + " bytes, the migration wrote " +
        std::to_string(totals_.object_count) + " / " + std::to_string(totals_.record_bytes));
  }
  return Status::OK();
}

}  // namespace

Status Migrate(const MigrateOptions& options, MigrateReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  *report = MigrateReport();
  Migration m(options, report);
  Status s = m.Run();
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

std::string SummaryLine(const MigrateReport& r) {
  char rate[64];
  snprintf(rate, sizeof(rate), "%.1f s, %.0f records/s", r.seconds,
           r.seconds > 0 ? r.source_records / r.seconds : 0.0);
  std::string s =
      "migrated " + std::to_string(r.objects) + " objects (" + util::HumanBytes(r.record_bytes) +
      ") from " + std::to_string(r.source_records) + " " + SourceFormatName(r.format) +
      " records (" + util::HumanBytes(r.source_bytes) + "); " + std::to_string(r.references) +
      " references, " + std::to_string(r.pending) + " unreferenced queued for collection; " + rate;
  if (r.verified) s += "; verified";
  if (r.torn_tail) s += "; torn tail skipped";
  if (r.salvage) {
    uint64_t missing = 0;
    for (const LostObject& l : r.lost) missing += l.older_kept ? 0 : 1;
    s += "; salvage: " + std::to_string(r.skipped.size()) +
         " range(s) skipped; lost objects identified: " + std::to_string(missing) + " missing, " +
         std::to_string(r.lost.size() - missing) + " older version kept";
  }
  if (r.dangling > 0) s += "; " + std::to_string(r.dangling) + " dangling refs dropped";
  if (r.restarted) s += "; restarted";
  return s;
}

}  // namespace durus::migrate
