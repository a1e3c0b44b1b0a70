// The cycle trace (see bdb/gc/trace.h for the layout, phases, the commit
// barrier and why it is correct).
#include "bdb/gc/trace.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>

#include "bdb/environment.h"
#include "bdb/gc/gc_private.h"
#include "bdb/retry.h"
#include "bdb/schema.h"
#include "engine/record.h"

namespace durus::bdb {

namespace {

constexpr char kMarkTag = 'M';
constexpr char kFrontierTag = 'F';
constexpr char kStateKey[1] = {'S'};
constexpr uint8_t kStateVersion = 1;
const char kEmpty[1] = {0};

void TagKey(char tag, Oid oid, char out[9]) {
  out[0] = tag;
  oid.ToBytes(out + 1);
}

std::string EncodeState(const TraceState& st) {
  std::string v;
  v.push_back(static_cast<char>(kStateVersion));
  v.push_back(static_cast<char>(st.phase));
  for (uint64_t x : {st.limit, st.cursor, st.traced, st.swept, st.bytes_freed, st.started}) {
    PutU64(&v, x);
  }
  return v;
}

bool DecodeState(const std::string& v, TraceState* st) {
  if (v.size() != 2 + 6 * 8 || static_cast<uint8_t>(v[0]) != kStateVersion) return false;
  uint8_t phase = static_cast<uint8_t>(v[1]);
  if (phase != static_cast<uint8_t>(TracePhase::kMark) &&
      phase != static_cast<uint8_t>(TracePhase::kSweep)) {
    return false;
  }
  st->phase = static_cast<TracePhase>(phase);
  const char* p = v.data() + 2;
  uint64_t* fields[] = {&st->limit, &st->cursor,      &st->traced,
                        &st->swept, &st->bytes_freed, &st->started};
  for (uint64_t* f : fields) {
    *f = GetU64(p);
    p += 8;
  }
  return true;
}

// Reads up to `max` keys of `db` from `start` (inclusive) whose first
// `prefix_len` bytes equal those of `start`, decoding the 8-byte oid that
// follows the prefix.  Stops at the first oid >= `limit`.  Values are not
// read (partial get of 0 bytes).
int ReadKeys(Db* db, DbTxn* txn, const char* start, size_t prefix_len, uint64_t limit, size_t max,
             std::vector<Oid>* out) {
  out->clear();
  Cursor c;
  int ret = c.Open(db, txn);
  if (ret != 0) return ret;
  char kb[16];
  memcpy(kb, start, prefix_len + 8);
  uint32_t flag = DB_SET_RANGE;
  while (out->size() < max) {
    Dbt key;
    key.set_flags(DB_DBT_USERMEM);
    key.set_data(kb);
    key.set_ulen(sizeof(kb));
    key.set_size(static_cast<u_int32_t>(prefix_len + 8));
    char nothing[1];
    Dbt data;
    AskNoData(&data, nothing);
    ret = c->get(&key, &data, flag);
    flag = DB_NEXT;
    if (ret == DB_NOTFOUND) return 0;
    if (ret == DB_BUFFER_SMALL) return 0;  // a longer key: past our key space
    if (ret != 0) return ret;
    if (key.get_size() != prefix_len + 8 || memcmp(kb, start, prefix_len) != 0) return 0;
    Oid oid = Oid::FromBytes(kb + prefix_len);
    if (oid.value() >= limit) return 0;
    out->push_back(oid);
  }
  return 0;
}

}  // namespace

Status Trace::OpenMarksLocked() {
  if (marks_) return Status::OK();
  // Read-only storages open it only to show a trace in progress (stat).
  return OpenBtree(s_->env(), s_->home(), schema::kMarksFile, s_->options().readonly, &marks_,
                   /*create=*/true, s_->options().page_checksums);
}

int Trace::PutStateLocked(DbTxn* txn, const TraceState& st) {
  Dbt key = InDbt(kStateKey, 1);
  if (st.phase == TracePhase::kIdle) {
    int ret = marks_->del(txn, &key, 0);
    return ret == DB_NOTFOUND ? 0 : ret;
  }
  std::string v = EncodeState(st);
  Dbt data = InDbt(v.data(), v.size());
  return marks_->put(txn, &key, &data, 0);
}

void Trace::PublishLocked() {
  std::lock_guard<std::mutex> l(progress_mu_);
  progress_.running = state_.phase != TracePhase::kIdle;
  progress_.state = state_;
}

TraceProgress Trace::Progress() const {
  std::lock_guard<std::mutex> l(progress_mu_);
  return progress_;
}

int Trace::MarkLocked(DbTxn* txn, const TraceState& st, Oid oid, bool* added) {
  *added = false;
  // Oids behind the sweep cursor survived already; oids from `limit` on
  // are never swept: neither needs a mark.
  if (oid.value() >= st.limit || oid.value() < st.cursor) return 0;
  char kb[9];
  TagKey(kMarkTag, oid, kb);
  Dbt key = InDbt(kb, 9);
  Dbt empty = InDbt(kEmpty, 0);
  int ret = marks_->put(txn, &key, &empty, DB_NOOVERWRITE);
  if (ret == DB_KEYEXIST) return 0;
  if (ret != 0) return ret;
  kb[0] = kFrontierTag;
  Dbt fkey = InDbt(kb, 9);
  ret = marks_->put(txn, &fkey, &empty, 0);
  if (ret == 0) *added = true;
  return ret;
}

Status Trace::MarkCommitLocked(DbTxn* txn, const CommitBatch& batch,
                               const std::unordered_set<Oid>& created, bool* retry) {
  if (!ActiveLocked() || !marks_) return Status::OK();
  std::vector<Oid> oids;
  for (const CommitBatch::Entry& e : batch.entries()) {
    if (e.oid.value() >= state_.cursor && e.oid.value() < state_.limit) oids.push_back(e.oid);
    for (Oid r : RecordRefs(e.record)) {
      if (r.value() >= state_.cursor && r.value() < state_.limit) oids.push_back(r);
    }
  }
  std::sort(oids.begin(), oids.end());
  oids.erase(std::unique(oids.begin(), oids.end()), oids.end());
  auto fail = [&](int r, const std::string& what) { return TxnFailure(r, what, retry); };
  if (state_.phase == TracePhase::kSweep) {
    // Created by this commit: new (an oid handed out before the trace
    // started), so live: mark it, or the sweep would take it.  Its refs are
    // among `oids`, so they are checked here too; it needs no visit.
    // Otherwise unmarked and still stored (a count entry): condemned.  An
    // oid without a count entry was deleted: the commit itself refuses it.
    std::vector<Oid> condemned;
    std::string buf;
    for (Oid oid : oids) {
      char mk[9];
      TagKey(kMarkTag, oid, mk);
      Dbt mkey = InDbt(mk, 9);
      int ret = GetInto(marks_.get(), txn, &mkey, &buf, 0);
      if (ret == 0) continue;
      if (ret != DB_NOTFOUND) return fail(ret, "reading the mark of oid " + OidToString(oid));
      if (created.count(oid)) {
        Dbt empty = InDbt(kEmpty, 0);
        ret = marks_->put(txn, &mkey, &empty, 0);
        if (ret != 0) return fail(ret, "marking new oid " + OidToString(oid));
        continue;
      }
      char kb[8];
      oid.ToBytes(kb);
      Dbt key = InDbt(kb, 8);
      ret = GetInto(s_->refcounts(), txn, &key, &buf, 0);
      if (ret == 0) {
        condemned.push_back(oid);
      } else if (ret != DB_NOTFOUND) {
        return fail(ret, "reading the count of oid " + OidToString(oid));
      }
    }
    if (!condemned.empty()) {
      return Status::Conflict(
          "commit stores or references oid " + OidToString(condemned[0]) +
              (condemned.size() > 1 ? " (and " + std::to_string(condemned.size() - 1) + " more)"
                                    : std::string()) +
              ", which a collection found unreachable and is deleting",
          condemned);
    }
    return Status::OK();  // every oid concerned is marked already
  }
  for (Oid oid : oids) {
    bool added;
    int ret = MarkLocked(txn, state_, oid, &added);
    if (ret != 0) return fail(ret, "marking oid " + OidToString(oid) + " for the trace");
  }
  return Status::OK();
}

Status Trace::Start(bool* started) {
  *started = false;
  return s_->Exclusive("storage " + s_->home() + " is read-only", [&]() -> Status {
    if (ActiveLocked()) return Status::OK();
    DURUS_RETURN_IF_ERROR(OpenMarksLocked());
    TraceState st;
    bool no_root = false;
    DURUS_RETURN_IF_ERROR(s_->TransactLocked(
        "a trace", DB_TXN_NOSYNC, [&](DbTxn* txn, TxnEffects* effects, bool* retry) {
          DURUS_RETURN_IF_ERROR(StartBody(txn, &st, &no_root, retry));
          effects->abort = no_root;
          return Status::OK();
        }));
    if (no_root) return Status::OK();  // no root: nothing is reachable, keep all
    state_ = st;
    *started = true;
    {
      std::lock_guard<std::mutex> pl(progress_mu_);
      ++progress_.started_total;
    }
    PublishLocked();
    return Status::OK();
  });
}

Status Trace::StartBody(DbTxn* t, TraceState* st, bool* no_root, bool* retry) {
  char rk[8];
  kRootOid.ToBytes(rk);
  Dbt rkey = InDbt(rk, 8);
  char rbuf[1];
  Dbt rdata;
  AskNoData(&rdata, rbuf);
  int ret = s_->records()->get(t, &rkey, &rdata, 0);
  *no_root = ret == DB_NOTFOUND;
  if (*no_root) return Status::OK();
  if (ret == 0) {
    // Leftovers of an abandoned trace (none normally: a finished trace
    // empties the table) would be taken for marks: clear them first.
    Cursor c;
    ret = c.Open(marks_.get(), t);
    if (ret == 0) {
      char kbuf[16], dbuf[1];
      Dbt k, d;
      k.set_flags(DB_DBT_USERMEM);
      k.set_data(kbuf);
      k.set_ulen(sizeof(kbuf));
      AskNoData(&d, dbuf);
      ret = c->get(&k, &d, DB_FIRST);
      c.Close();
      if (ret == 0) {
        u_int32_t n = 0;
        ret = marks_->truncate(t, &n, 0);
      } else if (ret == DB_NOTFOUND) {
        ret = 0;
      }
    }
  }
  *st = TraceState();
  st->phase = TracePhase::kMark;
  st->limit = s_->CountersLocked().next_oid;
  st->cursor = 0;
  st->started = static_cast<uint64_t>(time(nullptr));
  bool added = false;
  if (ret == 0) ret = MarkLocked(t, *st, kRootOid, &added);
  if (ret == 0) ret = PutStateLocked(t, *st);
  if (ret != 0) return TxnFailure(ret, "starting a trace", retry);
  return Status::OK();
}

Status Trace::Step(uint32_t max, TraceStepResult* result) {
  *result = TraceStepResult();
  return s_->Exclusive("", [&]() -> Status {
    if (!ActiveLocked()) {
      result->done = true;
      return Status::OK();
    }
    max = std::max<uint32_t>(max, 1);
    TraceState next;
    DURUS_RETURN_IF_ERROR(s_->TransactLocked(
        "a trace step", DB_TXN_NOSYNC, [&](DbTxn* txn, TxnEffects* effects, bool* retry) {
          next = state_;
          *result = TraceStepResult();
          return StepBody(txn, max, result, effects, &next, retry);
        }));
    // Committed; the store published the counters and the removed oids.
    bool finished = next.phase == TracePhase::kIdle;
    state_ = next;
    result->done = finished;
    if (finished) {
      std::lock_guard<std::mutex> pl(progress_mu_);
      ++progress_.completed_total;
      progress_.last_completed = next;
    }
    PublishLocked();
    return Status::OK();
  });
}

Status Trace::StepBody(DbTxn* t, uint32_t max, TraceStepResult* result, TxnEffects* effects,
                       TraceState* next, bool* retry) {
  auto fail = [&](int r, const std::string& what) { return TxnFailure(r, what, retry); };

  // 1. The frontier first, in every phase.
  char start[9];
  TagKey(kFrontierTag, kRootOid, start);
  std::vector<Oid> frontier;
  int ret = ReadKeys(marks_.get(), t, start, 1, UINT64_MAX, max, &frontier);
  if (ret != 0) return fail(ret, "reading the trace frontier");
  std::string buf;
  for (Oid oid : frontier) {
    char fk[9];
    TagKey(kFrontierTag, oid, fk);
    Dbt fkey = InDbt(fk, 9);
    ret = marks_->del(t, &fkey, 0);
    if (ret != 0) return fail(ret, "popping the trace frontier");
    char kb[8];
    oid.ToBytes(kb);
    Dbt key = InDbt(kb, 8);
    ret = GetInto(s_->records(), t, &key, &buf, 0);
    if (ret == DB_NOTFOUND) continue;  // collected by counting meanwhile
    if (ret != 0) return fail(ret, "reading oid " + OidToString(oid) + " for the trace");
    ++next->traced;
    for (Oid ref : RecordRefs(buf)) {
      bool added;
      ret = MarkLocked(t, *next, ref, &added);
      if (ret != 0) return fail(ret, "marking oid " + OidToString(ref));
    }
  }
  result->work = frontier.size();

  if (frontier.empty()) {
    if (next->phase == TracePhase::kMark) {
      next->phase = TracePhase::kSweep;
      next->cursor = 0;
    }
    // 2. Sweep [cursor, hi]: records and marks merged in oid order.
    std::vector<Oid> recs, marks;
    char rs[8];
    Oid(next->cursor).ToBytes(rs);
    ret = ReadKeys(s_->records(), t, rs, 0, next->limit, max, &recs);
    if (ret != 0) return fail(ret, "reading records.db for the sweep");
    char ms[9];
    TagKey(kMarkTag, Oid(next->cursor), ms);
    ret = ReadKeys(marks_.get(), t, ms, 1, next->limit, max, &marks);
    if (ret != 0) return fail(ret, "reading the marks for the sweep");
    // Everything up to `hi` has been read from both tables.
    uint64_t hi = next->limit == 0 ? 0 : next->limit - 1;
    if (recs.size() == max) hi = std::min(hi, recs.back().value());
    if (marks.size() == max) hi = std::min(hi, marks.back().value());
    size_t i = 0, j = 0;
    uint64_t freed = 0;
    DeleteCursors cursors;
    ret = cursors.Open(s_, t);
    if (ret != 0) return fail(ret, "opening cursors for the sweep");
    while (true) {
      bool has_r = i < recs.size() && recs[i].value() <= hi;
      bool has_m = j < marks.size() && marks[j].value() <= hi;
      if (!has_r && !has_m) break;
      Oid oid = !has_m || (has_r && recs[i] < marks[j]) ? recs[i] : marks[j];
      bool rec = has_r && recs[i] == oid;
      bool marked = has_m && marks[j] == oid;
      if (rec) ++i;
      if (marked) ++j;
      ++result->work;
      if (marked) {
        char mk[9];
        TagKey(kMarkTag, oid, mk);
        Dbt mkey = InDbt(mk, 9);
        ret = marks_->del(t, &mkey, 0);
        if (ret != 0) return fail(ret, "dropping the mark of oid " + OidToString(oid));
      } else if (rec && !oid.IsRoot()) {
        size_t before = effects->removed.size();
        ret = DeleteObjectInTxn(s_, t, &cursors, oid, DeleteMode(), effects, &freed);
        if (ret != 0) return fail(ret, "deleting unreachable oid " + OidToString(oid));
        result->collected += effects->removed.size() - before;
      }
    }
    result->bytes_freed = freed;
    next->swept += result->collected;
    next->bytes_freed += freed;
    if (next->limit == 0 || hi >= next->limit - 1) {
      next->phase = TracePhase::kIdle;  // done: marks.db is empty again
      next->cursor = next->limit;
    } else {
      next->cursor = hi + 1;
    }
  }

  ret = PutStateLocked(t, *next);
  if (ret != 0) return fail(ret, "saving the trace state");
  return Status::OK();  // the store writes the counters and commits
}

Status Trace::ResumeLocked() {
  struct stat st;
  std::string path = s_->home() + "/" + schema::kMarksFile;
  if (stat(path.c_str(), &st) != 0) return Status::OK();
  DURUS_RETURN_IF_ERROR(OpenMarksLocked());
  Dbt key = InDbt(kStateKey, 1);
  std::string v;
  int ret = GetInto(marks_.get(), nullptr, &key, &v, 0);
  if (ret == DB_NOTFOUND) return Status::OK();
  if (ret != 0) return FromDb(ret, "reading the trace state");
  TraceState state;
  if (!DecodeState(v, &state)) {
    return Status::Corruption("the trace state in " + path + " is malformed");
  }
  state_ = state;
  PublishLocked();
  return Status::OK();
}

void Trace::CloseHandleLocked() {
  marks_.reset();
  state_ = TraceState();
  PublishLocked();
}

}  // namespace durus::bdb
