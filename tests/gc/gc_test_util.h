// Helpers for the garbage-collection tests: object graphs built through
// real commits, and checks that a store is consistent (bdb/gc/gc.h) and
// holds exactly what is reachable.
#ifndef DURUS_BDB_TESTS_GC_GC_TEST_UTIL_H_
#define DURUS_BDB_TESTS_GC_GC_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bdb/bdb_storage.h"
#include "bdb/gc/gc.h"
#include "bdb/testing.h"
#include "engine/record.h"
#include "engine/storage.h"
#include "tests/core/test_util.h"

namespace durus::gctest {

// Waits (up to a generous deadline, never asserting on speed) for `pred`.
template <typename Pred>
bool Eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

using test::Rec;
using test::TempDir;

// A model of the object graph the test believes is stored: oid -> refs.
// Writes go through Storage::Commit; the model is updated only when the
// commit succeeded.
class Graph {
 public:
  explicit Graph(Storage* s) : s_(s) {}

  uint64_t New() {
    Oid o;
    EXPECT_TRUE(s_->NewOid(&o).ok());
    return o.value();
  }

  // Stage `oid` with `refs`; Flush() commits everything staged at once.
  void Set(uint64_t oid, std::vector<uint64_t> refs) { staged_[oid] = std::move(refs); }

  Status Flush() {
    CommitBatch batch;
    for (auto& [oid, refs] : staged_) {
      DURUS_RETURN_IF_ERROR(batch.Add(Oid(oid), Rec(oid, refs, "payload-" + std::to_string(oid))));
    }
    Status s = s_->Commit(batch);
    if (s.ok()) {
      for (auto& [oid, refs] : staged_) model_[oid] = refs;
    }
    staged_.clear();
    return s;
  }

  // Set + Flush.
  void Put(uint64_t oid, std::vector<uint64_t> refs) {
    Set(oid, std::move(refs));
    Status s = Flush();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  const std::vector<uint64_t>& RefsOf(uint64_t oid) const { return model_.at(oid); }
  const std::map<uint64_t, std::vector<uint64_t>>& model() const { return model_; }

  // Oids reachable from the root in the model.
  std::set<uint64_t> Reachable() const {
    std::set<uint64_t> seen;
    std::vector<uint64_t> todo;
    if (model_.count(0)) todo.push_back(0);
    while (!todo.empty()) {
      uint64_t o = todo.back();
      todo.pop_back();
      if (!seen.insert(o).second) continue;
      auto it = model_.find(o);
      if (it == model_.end()) continue;
      for (uint64_t r : it->second) todo.push_back(r);
    }
    return seen;
  }

  // A chain of `n` new objects, each referencing the next; returns the oids.
  std::vector<uint64_t> Chain(size_t n) {
    std::vector<uint64_t> oids;
    for (size_t i = 0; i < n; ++i) oids.push_back(New());
    for (size_t i = 0; i < n; ++i) {
      Set(oids[i], i + 1 < n ? std::vector<uint64_t>{oids[i + 1]} : std::vector<uint64_t>{});
    }
    return oids;
  }

  // A ring of `n` new objects (the last references the first).
  std::vector<uint64_t> Ring(size_t n) {
    std::vector<uint64_t> oids;
    for (size_t i = 0; i < n; ++i) oids.push_back(New());
    for (size_t i = 0; i < n; ++i) Set(oids[i], {oids[(i + 1) % n]});
    return oids;
  }

  // A tree of `n` new objects with fan-out `fanout`; returns the oids, the
  // first being the tree's root.
  std::vector<uint64_t> Tree(size_t n, size_t fanout) {
    std::vector<uint64_t> oids;
    for (size_t i = 0; i < n; ++i) oids.push_back(New());
    for (size_t i = 0; i < n; ++i) {
      std::vector<uint64_t> kids;
      for (size_t k = 1; k <= fanout && i * fanout + k < n; ++k)
        kids.push_back(oids[i * fanout + k]);
      Set(oids[i], kids);
    }
    return oids;
  }

  // Objects deleted from the store (by the collector): forget them.
  void Forget(uint64_t oid) { model_.erase(oid); }

 private:
  Storage* s_;
  std::map<uint64_t, std::vector<uint64_t>> model_;
  std::map<uint64_t, std::vector<uint64_t>> staged_;
};

inline bool Exists(Storage* s, uint64_t oid) {
  std::string rec;
  return s->Load(Oid(oid), &rec).ok();
}

inline gc::VerifyReport Verify(BdbHandle* s, bool repair = false) {
  VerifyOptions o;
  o.repair = repair;
  gc::VerifyReport r;
  Status st = VerifyStorage(s, o, &r);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return r;
}

inline std::string Describe(const gc::VerifyReport& r) { return gc::FormatVerifyText(r); }

inline BdbOptions ManualGc() {
  BdbOptions o;
  o.gc_background = false;
  return o;
}

inline StorageStats Stats(Storage* s) {
  StorageStats st;
  EXPECT_TRUE(s->GetStats(&st).ok());
  return st;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Overwrites `bytes` at `offset` of `path` (damage injection).
inline void WriteAt(const std::string& path, uint64_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

#ifdef DURUS_BDB_BINARY
struct CommandResult {
  int code = -1;
  std::string out, err;
};

// Runs `durus-bdb ARGS` (a real process), capturing stdout and stderr.
inline CommandResult RunCommand(const std::string& args) {
  TempDir tmp;
  std::string cmd =
      std::string(DURUS_BDB_BINARY) + " " + args + " >" + tmp.Sub("out") + " 2>" + tmp.Sub("err");
  int st = system(cmd.c_str());
  CommandResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = ReadFile(tmp.Sub("out"));
  r.err = ReadFile(tmp.Sub("err"));
  return r;
}
#endif

}  // namespace durus::gctest

#endif  // DURUS_BDB_TESTS_GC_GC_TEST_UTIL_H_
