// Status: the result of an operation, carried as a value (LevelDB style).
//
// Errors never cross a layer as C++ exceptions: every fallible function in
// engine/, bdb/, gc/, migrate/ and server/ returns a Status.  The Python
// boundary (python/) and the command line (tools/) turn a Status into a
// Durus exception or a one-line message and an exit code.
//
// The class is [[nodiscard]], so ignoring a returned Status is a compiler
// warning (an error under -Werror), the compile-time version of RocksDB's
// "unchecked status" assertion.
//
// A Status may carry the oids it concerns (a conflict names the oids that
// caused it, a missing-key error names the oid) so that Durus's
// ConflictError(oids) and DurusKeyError(oid) can be raised faithfully.
//
// Threading: a Status is a plain value; copies are independent.
#ifndef DURUS_BDB_ENGINE_STATUS_H_
#define DURUS_BDB_ENGINE_STATUS_H_

#include <string>
#include <utility>
#include <vector>

#include "engine/oid.h"

namespace durus {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,         // a missing oid (Durus: KeyError / DurusKeyError)
    kConflict,         // commit refused: dangling or collected reference
    kReadConflict,     // load of an oid invalidated for this reader
    kInvalidArgument,  // malformed record, bad oid, bad option
    kCorruption,       // on-disk state violates an invariant
    kIOError,          // the OS or Berkeley DB failed
    kBusy,             // the home is held by another process
    kNotSupported,
    kReadOnly,  // a write on a read-only storage
    kClosed,    // the storage was closed
    // A commit applied on a replication group's master but not
    // acknowledged by the replicas its ack policy asks for (bdb/
    // replication.h): it may or may not survive a failover.  Not Busy: a
    // blind retry would apply it twice.
    kNotReplicated,
  };

  Status() = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg, std::vector<Oid> oids = {}) {
    return Status(Code::kNotFound, std::move(msg), std::move(oids));
  }
  static Status Conflict(std::string msg, std::vector<Oid> oids = {}) {
    return Status(Code::kConflict, std::move(msg), std::move(oids));
  }
  static Status ReadConflict(std::string msg, std::vector<Oid> oids = {}) {
    return Status(Code::kReadConflict, std::move(msg), std::move(oids));
  }
  static Status InvalidArgument(std::string msg, std::vector<Oid> oids = {}) {
    return Status(Code::kInvalidArgument, std::move(msg), std::move(oids));
  }
  static Status Corruption(std::string msg, std::vector<Oid> oids = {}) {
    return Status(Code::kCorruption, std::move(msg), std::move(oids));
  }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg), {}); }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg), {}); }
  static Status NotSupported(std::string msg) {
    return Status(Code::kNotSupported, std::move(msg), {});
  }
  static Status ReadOnly(std::string msg) { return Status(Code::kReadOnly, std::move(msg), {}); }
  static Status Closed(std::string msg) { return Status(Code::kClosed, std::move(msg), {}); }
  static Status NotReplicated(std::string msg) {
    return Status(Code::kNotReplicated, std::move(msg), {});
  }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsReadConflict() const { return code_ == Code::kReadConflict; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }
  bool IsReadOnly() const { return code_ == Code::kReadOnly; }
  bool IsClosed() const { return code_ == Code::kClosed; }
  bool IsNotReplicated() const { return code_ == Code::kNotReplicated; }

  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::vector<Oid>& oids() const { return oids_; }

  // "Conflict: commit references oid 17, which does not exist".
  std::string ToString() const;

  // Explicitly ignore a status (for best-effort cleanup paths).
  void IgnoreError() const {}

 private:
  Status(Code code, std::string msg, std::vector<Oid> oids)
      : code_(code), message_(std::move(msg)), oids_(std::move(oids)) {}

  Code code_ = Code::kOk;
  std::string message_;
  std::vector<Oid> oids_;
};

const char* CodeName(Status::Code code);

}  // namespace durus

// Return early from the enclosing function if `expr` is not OK.
#define DURUS_RETURN_IF_ERROR(expr) \
  do {                              \
    ::durus::Status _st = (expr);   \
    if (!_st.ok()) return _st;      \
  } while (0)

#endif  // DURUS_BDB_ENGINE_STATUS_H_
