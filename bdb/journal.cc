// The replicated commit journal (bdb/journal.h).
#include "bdb/journal.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "bdb/handles.h"
#include "engine/record.h"

namespace durus::bdb {

std::string EncodeJournalValue(uint8_t kind, uint64_t time_us, const std::vector<Oid>& oids) {
  std::string v;
  v.reserve(13 + 8 * oids.size());
  v.push_back(static_cast<char>(kind));
  PutU64(&v, time_us);
  PutU32(&v, static_cast<uint32_t>(oids.size()));
  char b[8];
  for (Oid oid : oids) {
    oid.ToBytes(b);
    v.append(b, 8);
  }
  return v;
}

Status DecodeJournalValue(const void* data, size_t size, JournalEntry* out) {
  const char* p = static_cast<const char*>(data);
  if (size < 13) return Status::Corruption("journal entry shorter than its header");
  const uint32_t n = GetU32(p + 9);
  if (size != 13 + 8 * uint64_t{n}) {
    return Status::Corruption("journal entry of " + std::to_string(size) + " bytes for " +
                              std::to_string(n) + " oids");
  }
  out->kind = static_cast<uint8_t>(p[0]);
  out->time_us = GetU64(p + 1);
  out->oids.resize(n);
  for (uint32_t i = 0; i < n; ++i) out->oids[i] = Oid::FromBytes(p + 13 + 8 * i);
  return Status::OK();
}

uint64_t JournalNowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int AppendJournal(Db* journal, DbTxn* txn, uint64_t seq, const CommitBatch& batch) {
  std::vector<Oid> oids;
  oids.reserve(batch.size());
  for (const CommitBatch::Entry& e : batch.entries()) oids.push_back(e.oid);
  return AppendJournalOids(journal, txn, seq, kJournalCommit, oids);
}

int AppendJournalOids(Db* journal, DbTxn* txn, uint64_t seq, uint8_t kind,
                      const std::vector<Oid>& oids) {
  const std::string value = EncodeJournalValue(kind, JournalNowUs(), oids);
  char kb[8];
  Oid(seq).ToBytes(kb);
  Dbt key = InDbt(kb, 8);
  Dbt data = InDbt(value.data(), value.size());
  return journal->put(txn, &key, &data, 0);
}

namespace {

// The key at the cursor's `flags` position (DB_FIRST, DB_LAST), the value
// not read (a zero-length partial get); 0 for an empty journal.
Status JournalEndSeq(Db* journal, uint32_t flags, uint64_t* seq) {
  Cursor c;
  int ret = c.Open(journal, nullptr);
  if (ret != 0) return FromDb(ret, "opening a cursor on journal.db");
  char kb[8];
  Dbt key;
  key.set_flags(DB_DBT_USERMEM);
  key.set_data(kb);
  key.set_ulen(sizeof kb);
  Dbt data;
  data.set_flags(DB_DBT_PARTIAL | DB_DBT_USERMEM);
  data.set_ulen(0);
  data.set_dlen(0);
  ret = c->get(&key, &data, flags);
  if (ret == DB_NOTFOUND) {
    *seq = 0;
    return Status::OK();
  }
  if (ret != 0) return FromDb(ret, "reading an end of journal.db");
  if (key.get_size() != 8) return Status::Corruption("journal.db key is not 8 bytes");
  *seq = GetU64(kb);
  return Status::OK();
}

}  // namespace

Status FirstJournalSeq(Db* journal, uint64_t* seq) { return JournalEndSeq(journal, DB_FIRST, seq); }

uint64_t JournalEntriesFloor(uint64_t last, uint64_t keep_entries) {
  const uint64_t keep = std::max<uint64_t>(keep_entries, 1);  // the newest always stays
  return last > keep ? last - keep + 1 : 1;
}

Status TrimJournal(DbEnv* env, Db* journal, uint64_t last, const JournalRetention& keep,
                   uint64_t now_us, size_t max, uint32_t commit_flags, size_t* deleted) {
  *deleted = 0;
  const uint64_t floor = JournalEntriesFloor(last, keep.keep_entries);
  const uint64_t cutoff = now_us > keep.keep_us ? now_us - keep.keep_us : 0;
  if (floor <= 1 || cutoff == 0) return Status::OK();
  Txn txn;
  int ret = txn.Begin(env);
  if (ret != 0) return FromDb(ret, "beginning a journal trim");
  size_t n = 0;
  {
    Cursor c;
    ret = c.Open(journal, txn.get());
    if (ret != 0) return FromDb(ret, "opening a cursor on journal.db");
    while (n < max) {
      char kb[8];
      Dbt key;
      key.set_flags(DB_DBT_USERMEM);
      key.set_data(kb);
      key.set_ulen(sizeof kb);
      // The header only: kind and stamp (a partial get of 9 bytes).
      char head[9];
      Dbt data;
      data.set_flags(DB_DBT_PARTIAL | DB_DBT_USERMEM);
      data.set_data(head);
      data.set_ulen(sizeof head);
      data.set_dlen(sizeof head);
      data.set_doff(0);
      ret = c->get(&key, &data, (n == 0 ? DB_FIRST : DB_NEXT) | DB_RMW);
      if (ret == DB_NOTFOUND) break;
      if (ret != 0) return FromDb(ret, "reading journal.db to trim it");
      if (key.get_size() != 8 || data.get_size() != sizeof head) {
        return Status::Corruption("journal.db entry with a short key or header");
      }
      if (GetU64(kb) >= floor || GetU64(head + 1) >= cutoff) break;  // kept, and all after
      ret = c->del(0);
      if (ret != 0) return FromDb(ret, "deleting a journal.db entry");
      ++n;
    }
  }
  if (n == 0) return Status::OK();  // Txn aborts: nothing written
  ret = txn.Commit(commit_flags);
  if (ret != 0) return FromDb(ret, "committing a journal trim");
  *deleted = n;
  return Status::OK();
}

Status LastJournalSeq(Db* journal, uint64_t* seq) { return JournalEndSeq(journal, DB_LAST, seq); }

Status ReadJournal(Db* journal, uint64_t after, uint64_t upto, size_t max,
                   std::vector<JournalEntry>* out) {
  out->clear();
  if (after >= upto) return Status::OK();
  Cursor c;
  int ret = c.Open(journal, nullptr);
  if (ret != 0) return FromDb(ret, "opening a cursor on journal.db");
  char kb[8];
  Oid(after + 1).ToBytes(kb);
  Dbt key;
  key.set_flags(DB_DBT_USERMEM);
  key.set_data(kb);
  key.set_ulen(sizeof kb);
  key.set_size(8);
  std::string value;
  uint32_t flags = DB_SET_RANGE;
  while (out->size() < max) {
    ret = GetInto(c.get(), &key, &value, flags);
    flags = DB_NEXT;
    if (ret == DB_NOTFOUND) break;
    if (ret != 0) return FromDb(ret, "reading journal.db");
    if (key.get_size() != 8) return Status::Corruption("journal.db key is not 8 bytes");
    JournalEntry e;
    e.seq = GetU64(kb);
    if (e.seq > upto) break;
    DURUS_RETURN_IF_ERROR(DecodeJournalValue(value.data(), value.size(), &e));
    out->push_back(std::move(e));
  }
  return Status::OK();
}

Status JournalChangesSince(Db* journal, const JournalPosition* since, size_t max_oids,
                           JournalPosition* last, bool* all, std::vector<Oid>* changed) {
  *last = JournalPosition();
  *all = false;
  changed->clear();
  uint64_t tail = 0;
  DURUS_RETURN_IF_ERROR(LastJournalSeq(journal, &tail));
  std::vector<JournalEntry> entries;
  if (tail > 0) {
    DURUS_RETURN_IF_ERROR(ReadJournal(journal, tail - 1, tail, 1, &entries));
    if (entries.empty()) return Status::Corruption("journal.db: its last entry vanished");
    *last = {tail, entries.back().time_us};
  }
  if (since == nullptr) return Status::OK();
  auto cannot_tell = [&] {
    *all = true;
    changed->clear();
    return Status::OK();
  };
  if (since->seq > tail) return cannot_tell();  // entries rolled back in a failover
  if (since->seq > 0) {
    // The very entry the client saw: not another history's entry under
    // the same seq, nor trimmed away.
    DURUS_RETURN_IF_ERROR(ReadJournal(journal, since->seq - 1, since->seq, 1, &entries));
    if (entries.empty() || entries[0].time_us != since->time_us) return cannot_tell();
  }
  for (uint64_t after = since->seq; after < tail; after = entries.back().seq) {
    DURUS_RETURN_IF_ERROR(ReadJournal(journal, after, tail, 1024, &entries));
    // Entries are contiguous from the trim point on: a gap right after
    // `since` means the trim took entries the client missed.
    if (entries.empty() || entries[0].seq != after + 1) return cannot_tell();
    for (const JournalEntry& e : entries) {
      changed->insert(changed->end(), e.oids.begin(), e.oids.end());
    }
    if (changed->size() > max_oids) return cannot_tell();
  }
  return Status::OK();
}

}  // namespace durus::bdb
