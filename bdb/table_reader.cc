// TableReader (bdb/table_reader.h).
//
// Why a chunk starts with a positioning get: a bulk DB_SET_RANGE from the
// last key returned puts that key first in the chunk, and when the buffer
// has room for that entry only (the next one is larger than what is left),
// Berkeley DB returns a chunk holding nothing new rather than
// DB_BUFFER_SMALL.  The reader used to take such a chunk for the end of the
// table: a record of 1 MiB or more (the initial buffer) ended every scan
// early, verify reported everything after it as missing and --repair
// dropped live references (issue 11).  Now the cursor is first positioned
// on the last key (a DB_SET_RANGE reading no data) and the chunk is read
// with DB_NEXT: it holds only new entries, and an entry larger than the
// buffer gives DB_BUFFER_SMALL, so the buffer grows.
#include "bdb/table_reader.h"

#include <algorithm>
#include <cstdint>

namespace durus::bdb {

namespace {

// The largest bulk buffer: a Dbt's size is 32 bits.
constexpr size_t kMaxBufferBytes = (size_t{1} << 32) - 1024;

size_t RoundUp(size_t n) { return (n + 1023) / 1024 * 1024; }

}  // namespace

TableReader::TableReader(Db* db, size_t chunk_bytes)
    : db_(db), buf_(RoundUp(std::max<size_t>(chunk_bytes, 1))), kbuf_(64, '\0') {}

TableReader::~TableReader() = default;

int TableReader::Next(std::string_view* key, std::string_view* value, bool* end) {
  *end = false;
  for (;;) {
    if (it_) {
      Dbt k, d;
      bool fresh = fresh_;
      fresh_ = false;
      if (it_->next(k, d)) {
        std::string_view ks(static_cast<const char*>(k.get_data()), k.get_size());
        last_key_.assign(ks.data(), ks.size());
        started_ = true;
        *key = ks;
        *value = std::string_view(static_cast<const char*>(d.get_data()), d.get_size());
        return 0;
      }
      it_.reset();
      // A successful bulk get always holds an entry; were one ever empty,
      // fetching again from the same key would loop forever.
      if (fresh) return EINVAL;
    }
    if (eof_) {
      *end = true;
      return 0;
    }
    int ret = Fetch();
    if (ret != 0) return ret;
  }
}

// Positions `c` on the first key >= last_key_ without reading its data,
// leaving that key in kbuf_[0, *found_size); *found_next: it is not
// last_key_ (that one was deleted meanwhile), so the chunk starts with it
// rather than after it.
int TableReader::Position(Dbc* c, bool* found_next, size_t* found_size) {
  for (;;) {
    if (kbuf_.size() < last_key_.size()) kbuf_.resize(last_key_.size());
    std::copy(last_key_.begin(), last_key_.end(), kbuf_.begin());
    Dbt key;
    key.set_flags(DB_DBT_USERMEM);
    key.set_data(kbuf_.data());
    key.set_ulen(static_cast<u_int32_t>(kbuf_.size()));
    key.set_size(static_cast<u_int32_t>(last_key_.size()));
    Dbt data;
    data.set_flags(DB_DBT_USERMEM | DB_DBT_PARTIAL);
    data.set_data(buf_.data());
    data.set_ulen(0);
    data.set_dlen(0);
    data.set_doff(0);
    int ret = c->get(&key, &data, DB_SET_RANGE);
    if (ret == DB_BUFFER_SMALL && key.get_size() > kbuf_.size()) {
      kbuf_.resize(key.get_size());
      continue;
    }
    if (ret != 0) return ret;
    // kbuf_ holds the key found (last_key_ is left alone: it is what was
    // returned, and a retry of the chunk must position from it again).
    *found_next = std::string_view(kbuf_.data(), key.get_size()) != last_key_;
    *found_size = key.get_size();
    return 0;
  }
}

int TableReader::Fetch() {
  for (;;) {
    Cursor c;
    int ret = c.Open(db_, nullptr);
    if (ret != 0) return ret;
    uint32_t flag = DB_FIRST;
    size_t key_size = 0;
    if (started_) {
      bool found_next = false;
      ret = Position(c.get(), &found_next, &key_size);
      if (ret == DB_NOTFOUND) {
        eof_ = true;
        return 0;
      }
      if (ret != 0) return ret;
      // A key deleted since: re-read from the one found (a bulk
      // DB_SET_RANGE on an existing key starts with that key).
      flag = found_next ? DB_SET_RANGE : DB_NEXT;
    }
    // DB_SET_RANGE starts from the key found (in kbuf_); DB_FIRST and
    // DB_NEXT do not read it.
    Dbt key;
    key.set_flags(DB_DBT_USERMEM);
    key.set_data(kbuf_.data());
    key.set_ulen(static_cast<u_int32_t>(kbuf_.size()));
    key.set_size(static_cast<u_int32_t>(key_size));
    Dbt data;
    data.set_flags(DB_DBT_USERMEM);
    data.set_data(buf_.data());
    data.set_ulen(static_cast<u_int32_t>(buf_.size()));
    ret = c->get(&key, &data, flag | DB_MULTIPLE_KEY);
    if (ret == DB_BUFFER_SMALL) {
      // The next entry does not fit (or, never in practice, the key):
      // grow and read the chunk again from a fresh cursor.
      if (key.get_size() > kbuf_.size()) {
        kbuf_.resize(key.get_size());
        continue;
      }
      if (buf_.size() >= kMaxBufferBytes) return ret;
      size_t want = std::max<size_t>(buf_.size() * 2, size_t{data.get_size()} + 4096);
      buf_.resize(RoundUp(std::min(want, kMaxBufferBytes)));
      continue;
    }
    if (ret == DB_NOTFOUND) {
      eof_ = true;
      return 0;
    }
    if (ret != 0) return ret;
    it_ = std::make_unique<DbMultipleKeyDataIterator>(data);
    fresh_ = true;
    return 0;
  }
}

}  // namespace durus::bdb
