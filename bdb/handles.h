// RAII owners for Berkeley DB handles, and the conversion of Berkeley DB
// return codes into Status.  Internal to bdb/.
//
// Every handle is created with DB_CXX_NO_EXCEPTIONS: Berkeley DB reports
// errors as return codes, which we turn into Status values here, so no C++
// exception ever leaves this layer.
//
// Txn aborts in its destructor unless Commit() succeeded: an early return
// on any error path cannot leave a transaction open.
#ifndef DURUS_BDB_BDB_HANDLES_H_
#define DURUS_BDB_BDB_HANDLES_H_

#include <db_cxx.h>

#include <memory>
#include <string>

#include "engine/status.h"

namespace durus::bdb {

// Status for a Berkeley DB return code; `what` says what was being done
// ("put oid 17 into records.db").  DB_NOTFOUND maps to NotFound.
// DB_RUNRECOVERY (the environment has panicked) maps to Corruption carrying
// the cause Berkeley DB gave when it panicked, e.g. "page 7 fails its
// checksum", and what to do; permission and read-only file system errors
// stay IOError with their system message.
Status FromDb(int ret, const std::string& what);

// Berkeley DB's error messages.  Every environment we open installs
// DbErrorCallback (DbEnv::set_errcall): the messages of each thread since
// ClearLastDbError are kept for the Status of a failed open (LastDbError,
// joined by "; "), and the message that
// explains a panic (a checksum failure) is kept per process for FromDb,
// since after a panic every call on every thread returns DB_RUNRECOVERY.
void DbErrorCallback(const DbEnv* env, const char* prefix, const char* msg);
const std::string& LastDbError();
void ClearLastDbError();
// The cause recorded for `env`'s panic, if any ("" otherwise); forgotten
// when the environment is closed.
std::string DbPanicCause();
void ForgetDbPanicCause(const DbEnv* env);

// True for the return codes that mean "abort and retry the transaction".
inline bool IsRetryable(int ret) { return ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED; }

struct EnvCloser {
  void operator()(DbEnv* env) const;
};
using EnvPtr = std::unique_ptr<DbEnv, EnvCloser>;

struct DbCloser {
  void operator()(Db* db) const;
};
using DbPtr = std::unique_ptr<Db, DbCloser>;

// A transaction that aborts unless committed.
class Txn {
 public:
  Txn() = default;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { Abort(); }

  int Begin(DbEnv* env, uint32_t flags = 0) {
    Abort();
    return env->txn_begin(nullptr, &txn_, flags);
  }
  int Commit(uint32_t flags) {
    DbTxn* t = txn_;
    txn_ = nullptr;
    return t->commit(flags);  // the handle is freed even on failure
  }
  void Abort() {
    if (txn_ != nullptr) {
      txn_->abort();
      txn_ = nullptr;
    }
  }
  DbTxn* get() const { return txn_; }

 private:
  DbTxn* txn_ = nullptr;
};

// A cursor closed on scope exit.
class Cursor {
 public:
  Cursor() = default;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() { Close(); }
  int Open(Db* db, DbTxn* txn, uint32_t flags = 0) { return db->cursor(txn, &c_, flags); }
  void Close() {
    if (c_ != nullptr) {
      c_->close();
      c_ = nullptr;
    }
  }
  Dbc* operator->() const { return c_; }
  Dbc* get() const { return c_; }

 private:
  Dbc* c_ = nullptr;
};

// A Dbt over caller memory for keys and values we pass in.
inline Dbt InDbt(const void* data, size_t size) {
  Dbt d(const_cast<void*>(data), static_cast<u_int32_t>(size));
  return d;
}

// The key of a cursor walk over an oid-keyed table: an 8-byte buffer that
// a DB_SET_RANGE get reads and every get overwrites with the key found.
inline Dbt OidCursorKey(char (&buf)[8]) {
  Dbt key;
  key.set_flags(DB_DBT_USERMEM);
  key.set_data(buf);
  key.set_ulen(8);
  key.set_size(8);
  return key;
}

// Get into `out` (resized to fit).  DB_THREAD handles need user memory:
// the value is read into a stack buffer of kGetIntoStackBytes and copied
// (or, when `out` already holds more than that, straight into `out`); a
// record that does not fit takes a second get into `out` sized to it.
// Nothing is zero-filled beyond what a record needs.  On failure `out` is
// unspecified.
inline constexpr size_t kGetIntoStackBytes = 4096;
int GetInto(Db* db, DbTxn* txn, Dbt* key, std::string* out, uint32_t flags);
// The same through a cursor, for flags that take the key as given
// (DB_SET, DB_SET | DB_RMW): the cursor is left on the key found, so a
// DB_CURRENT put can follow without a second search.
int GetInto(Dbc* cursor, Dbt* key, std::string* out, uint32_t flags);

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_HANDLES_H_
