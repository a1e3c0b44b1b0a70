#include "bdb/handles.h"

#include <cerrno>
#include <cstring>

namespace durus::bdb {

Status FromDb(int ret, const std::string& what) {
  if (ret == 0) return Status::OK();
  std::string msg = what + ": " + DbEnv::strerror(ret);
  switch (ret) {
    case DB_NOTFOUND:
      return Status::NotFound(msg);
    case DB_RUNRECOVERY:
      return Status::Corruption(msg + " (run recovery: reopen the home)");
    case ENOSPC:
    case EIO:
    default:
      return Status::IOError(msg);
  }
}

void EnvCloser::operator()(DbEnv* env) const {
  if (env != nullptr) {
    env->close(0);
    delete env;
  }
}

void DbCloser::operator()(Db* db) const {
  if (db != nullptr) {
    db->close(0);
    delete db;
  }
}

namespace {

// The body of both GetInto overloads; `get(data)` runs the get.
template <typename Get>
int GetIntoString(std::string* out, Get get) {
  // Never resize `out` to a guessed size before the get: that zero-fills
  // it on every call (the whole capacity once any large record went
  // through the string: half of Load's instructions, bench/README.md P1).
  Dbt data;
  data.set_flags(DB_DBT_USERMEM);
  int ret;
  if (out->size() > kGetIntoStackBytes) {
    // Holds a large record already (a caller reusing its string): its
    // bytes are ours to overwrite without any fill.
    data.set_data(out->data());
    data.set_ulen(static_cast<u_int32_t>(out->size()));
    ret = get(&data);
    if (ret == 0) out->resize(data.get_size());
  } else {
    // Most records fit a stack buffer: one get, one copy of exactly the
    // record's bytes.
    char stack[kGetIntoStackBytes];
    data.set_data(stack);
    data.set_ulen(sizeof stack);
    ret = get(&data);
    if (ret == 0) out->assign(stack, data.get_size());
  }
  // Larger than the buffer: again straight into `out`, sized to the record
  // (zero-filled once, in proportion to what is read); once more if a
  // concurrent writer grew the record in between.
  while (ret == DB_BUFFER_SMALL) {
    out->resize(data.get_size());
    data.set_data(out->data());
    data.set_ulen(static_cast<u_int32_t>(out->size()));
    ret = get(&data);
    if (ret == 0) out->resize(data.get_size());
  }
  return ret;
}

}  // namespace

int GetInto(Db* db, DbTxn* txn, Dbt* key, std::string* out, uint32_t flags) {
  return GetIntoString(out, [&](Dbt* data) { return db->get(txn, key, data, flags); });
}

int GetInto(Dbc* cursor, Dbt* key, std::string* out, uint32_t flags) {
  return GetIntoString(out, [&](Dbt* data) { return cursor->get(key, data, flags); });
}

}  // namespace durus::bdb
