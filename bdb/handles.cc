#include "bdb/handles.h"

#include <cerrno>
#include <cstring>
#include <mutex>

namespace durus::bdb {

namespace {

thread_local std::string t_last_db_error;

// The message that explains an environment's panic.  One storage per
// process is the rule, so one slot (with its owner) is enough.
std::mutex g_panic_mu;
const DbEnv* g_panic_env = nullptr;
std::string g_panic_cause;

bool Contains(const char* s, const char* part) {
  return s != nullptr && strstr(s, part) != nullptr;
}

}  // namespace

void DbErrorCallback(const DbEnv* env, const char*, const char* msg) {
  if (msg == nullptr) return;
  // Every message since the last ClearLastDbError (a failing recovery says
  // several things; the first is usually the cause), capped.
  if (t_last_db_error.size() < 2000) {
    if (!t_last_db_error.empty()) t_last_db_error += "; ";
    t_last_db_error += msg;
  }
  // "checksum error: page 7: catastrophic recovery required", followed by
  // the panic itself ("PANIC: fatal region error detected; run recovery"):
  // keep the first, which says what is damaged.
  if (Contains(msg, "checksum error")) {
    std::lock_guard<std::mutex> l(g_panic_mu);
    if (g_panic_env != env || g_panic_cause.empty()) {
      g_panic_env = env;
      g_panic_cause = msg;
    }
  }
}

const std::string& LastDbError() { return t_last_db_error; }
void ClearLastDbError() { t_last_db_error.clear(); }

std::string DbPanicCause() {
  std::lock_guard<std::mutex> l(g_panic_mu);
  return g_panic_cause;
}

void ForgetDbPanicCause(const DbEnv* env) {
  std::lock_guard<std::mutex> l(g_panic_mu);
  if (g_panic_env == env) {
    g_panic_env = nullptr;
    g_panic_cause.clear();
  }
}

namespace {

// "checksum error: page 7: catastrophic recovery required" -> "page 7".
std::string DamagedPage(const std::string& cause) {
  size_t at = cause.find("page ");
  if (at == std::string::npos) return "a page";
  size_t end = cause.find(':', at);
  return cause.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

Status FromDb(int ret, const std::string& what) {
  if (ret == 0) return Status::OK();
  std::string msg = what + ": " + DbEnv::strerror(ret);
  switch (ret) {
    case DB_NOTFOUND: return Status::NotFound(msg);
    case DB_RUNRECOVERY: {
      std::string cause = DbPanicCause();
      if (!cause.empty()) {
        // A page whose checksum fails: Berkeley DB stops the environment
        // rather than serve it.  Reopening helps nothing (the page is
        // still damaged); the user needs verify, a backup or salvage.
        return Status::Corruption(
            what + ": " + DamagedPage(cause) +
            " fails its checksum: the file is damaged on disk and the storage has stopped "
            "(run `durus-bdb verify HOME` to list what is damaged, then restore a backup or "
            "copy what is readable with `durus-bdb salvage HOME DUMP`)");
      }
      return Status::Corruption(msg +
                                " (Berkeley DB stopped the environment: reopen the home; "
                                "if that fails, see `durus-bdb salvage`)");
    }
    case ENOSPC:
    case EIO:
    default: return Status::IOError(msg);
  }
}

void EnvCloser::operator()(DbEnv* env) const {
  if (env != nullptr) {
    env->close(0);
    ForgetDbPanicCause(env);
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
