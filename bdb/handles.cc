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

int GetInto(Db* db, DbTxn* txn, Dbt* key, std::string* out, uint32_t flags) {
  if (out->capacity() < 512) out->reserve(512);
  out->resize(out->capacity());
  for (;;) {
    Dbt data;
    data.set_flags(DB_DBT_USERMEM);
    data.set_data(out->data());
    data.set_ulen(static_cast<u_int32_t>(out->size()));
    int ret = db->get(txn, key, &data, flags);
    if (ret == DB_BUFFER_SMALL) {
      out->resize(data.get_size());
      continue;
    }
    if (ret == 0) out->resize(data.get_size());
    return ret;
  }
}

}  // namespace durus::bdb
