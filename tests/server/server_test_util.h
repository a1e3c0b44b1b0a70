// Helpers for the server's C++ tests: a raw protocol-1 client over a real
// socket, record builders, and a Storage wrapper that can hold a commit
// "in flight" (applied, Commit() not yet returned) on demand.
#ifndef DURUS_BDB_TESTS_SERVER_SERVER_TEST_UTIL_H_
#define DURUS_BDB_TESTS_SERVER_SERVER_TEST_UTIL_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/oid.h"
#include "engine/record.h"
#include "engine/storage.h"

namespace durus::server::test {

// A record for `oid` referencing `refs`, with a Durus-like data part.
std::string Rec(uint64_t oid, const std::vector<uint64_t>& refs, const std::string& payload = "x");

// Commit data (tdata) for ClientStorage's frame format.
std::string TData(const std::vector<std::pair<uint64_t, std::string>>& records);

class RawClient {
 public:
  // TCP to 127.0.0.1:port.  ok() false if the connection failed.
  explicit RawClient(int port);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  void Send(const std::string& bytes);
  // Exactly n bytes, or fewer if the server closed the connection or
  // nothing came within `timeout_ms`.
  std::string Recv(size_t n, int timeout_ms = 20000);
  // True if the server closes the connection within timeout_ms.
  bool WaitClosed(int timeout_ms = 20000);

  uint32_t Version(uint32_t v = 1);
  std::vector<Oid> NewOids(int n);
  // 'O' (record set), 'K', 'I', or 0 on a broken connection.
  char Load(uint64_t oid, std::string* record = nullptr);
  std::vector<Oid> Sync();
  // C: returns the invalidation list; follow with SendCommitData.
  std::vector<Oid> BeginCommit();
  // Sends int4 len + tdata and reads the status byte ('O', 'I'; 0: none).
  char SendCommitData(const std::string& tdata);
  char Commit(const std::vector<std::pair<uint64_t, std::string>>& records) {
    BeginCommit();
    return SendCommitData(TData(records));
  }

 private:
  int fd_ = -1;
};

// Forwards to `inner`; when Hold() is armed, the next Commit applies the
// commit (it is visible) and then blocks until Release().
class GatedStorage : public Storage {
 public:
  explicit GatedStorage(Storage* inner) : inner_(inner) {}

  void Hold();
  // Blocks until a held commit is applied and waiting.
  void WaitHeld();
  void Release();

  Status Load(Oid oid, std::string* record) override { return inner_->Load(oid, record); }
  Status BulkLoad(const std::vector<Oid>& oids, std::vector<LoadResult>* out) override {
    return inner_->BulkLoad(oids, out);
  }
  Status Commit(const CommitBatch& batch) override;
  std::vector<Oid> Sync() override { return inner_->Sync(); }
  Status NewOid(Oid* oid) override { return inner_->NewOid(oid); }
  Status Scan(Oid start, size_t max, std::vector<std::pair<Oid, std::string>>* out) override {
    return inner_->Scan(start, max, out);
  }
  Status GetStats(StorageStats* stats) override { return inner_->GetStats(stats); }
  Status Collect(bool cycles, CollectReport* report) override {
    return inner_->Collect(cycles, report);
  }
  Status StartPack() override { return inner_->StartPack(); }
  Status Flush() override { return inner_->Flush(); }
  Status Close() override { return inner_->Close(); }
  std::string Describe() const override { return "Gated(" + inner_->Describe() + ")"; }

 private:
  Storage* inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool holding_ = false;
  bool released_ = false;
};

}  // namespace durus::server::test

#endif  // DURUS_BDB_TESTS_SERVER_SERVER_TEST_UTIL_H_
