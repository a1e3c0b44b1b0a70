// ExternalSorter<T>: sorts more fixed-size items than fit in memory.
//
// Items are collected in a buffer of at most `memory_bytes`; a full buffer
// is sorted and written to a nameless temporary file (a "run").  Reading
// merges the runs with a heap; when there are more than kMaxFanIn runs,
// groups of them are first merged into bigger runs, so memory stays
// bounded (buffer + kMaxFanIn read buffers) however many items there are.
// With a single run's worth of items nothing touches the disk.
//
// T must be trivially copyable and ordered by operator<.  Runs hold T's
// bytes as they are in memory: they never leave this process.
//
// Threading: one thread.  Errors: Status (I/O on the temporary files).
#ifndef DURUS_BDB_MIGRATE_EXTERNAL_SORTER_H_
#define DURUS_BDB_MIGRATE_EXTERNAL_SORTER_H_

#include <algorithm>
#include <cstring>
#include <memory>
#include <queue>
#include <string>
#include <type_traits>
#include <vector>

#include "migrate/file_io.h"

namespace durus::migrate {

template <typename T>
class ExternalSorter {
  static_assert(std::is_trivially_copyable_v<T>, "ExternalSorter needs trivially copyable items");

 public:
  static constexpr size_t kMaxFanIn = 64;

  // `temp_dir`: where runs go.  `memory_bytes`: the in-memory buffer.
  ExternalSorter(std::string temp_dir, size_t memory_bytes)
      : temp_dir_(std::move(temp_dir)),
        capacity_(std::max<size_t>(memory_bytes / sizeof(T), 1024)) {}

  Status Add(const T& item) {
    if (buf_.size() >= capacity_) DURUS_RETURN_IF_ERROR(SpillRun());
    if (buf_.capacity() == 0) buf_.reserve(capacity_);  // pages are touched as used
    buf_.push_back(item);
    ++count_;
    return Status::OK();
  }

  // No more Add(); prepare to read in order.
  Status Finish() {
    if (runs_.empty()) {  // everything fits in memory
      std::sort(buf_.begin(), buf_.end());
      mem_pos_ = 0;
      in_memory_ = true;
      return Status::OK();
    }
    if (!buf_.empty()) DURUS_RETURN_IF_ERROR(SpillRun());
    std::vector<T>().swap(buf_);
    while (runs_.size() > kMaxFanIn) {  // bound the number of open readers
      std::vector<std::unique_ptr<Run>> group;
      for (size_t i = 0; i < kMaxFanIn; ++i) group.push_back(std::move(runs_[i]));
      runs_.erase(runs_.begin(), runs_.begin() + kMaxFanIn);
      auto merged = std::make_unique<Run>();
      DURUS_RETURN_IF_ERROR(merged->file.Create(temp_dir_));
      Merger m;
      DURUS_RETURN_IF_ERROR(m.Start(std::move(group)));
      T item{};
      bool done = false;
      for (;;) {
        DURUS_RETURN_IF_ERROR(m.Next(&item, &done));
        if (done) break;
        DURUS_RETURN_IF_ERROR(merged->Write(item));
      }
      runs_.push_back(std::move(merged));
    }
    return merger_.Start(std::move(runs_));
  }

  // The next item in order; *done at the end.
  Status Next(T* item, bool* done) {
    if (in_memory_) {
      *done = mem_pos_ >= buf_.size();
      if (!*done) *item = buf_[mem_pos_++];
      return Status::OK();
    }
    return merger_.Next(item, done);
  }

  uint64_t count() const { return count_; }
  size_t runs_written() const { return runs_written_; }

 private:
  struct Run {
    TempFile file;
    Status Write(const T& item) {
      return file.Append(std::string_view(reinterpret_cast<const char*>(&item), sizeof(T)));
    }
    Status Read(T* item, bool* done) {
      std::string_view v;
      DURUS_RETURN_IF_ERROR(file.reader()->Read(sizeof(T), &v));
      if (v.empty()) {
        *done = true;
        return Status::OK();
      }
      if (v.size() != sizeof(T)) return Status::IOError("temporary sort file truncated");
      memcpy(item, v.data(), sizeof(T));
      *done = false;
      return Status::OK();
    }
  };

  // Heap merge of sorted runs.
  class Merger {
   public:
    Status Start(std::vector<std::unique_ptr<Run>> runs) {
      runs_ = std::move(runs);
      for (size_t i = 0; i < runs_.size(); ++i) {
        DURUS_RETURN_IF_ERROR(runs_[i]->file.StartReading());
        DURUS_RETURN_IF_ERROR(Refill(i));
      }
      return Status::OK();
    }
    Status Next(T* item, bool* done) {
      if (heap_.empty()) {
        *done = true;
        return Status::OK();
      }
      Head h = heap_.top();
      heap_.pop();
      *item = h.item;
      *done = false;
      return Refill(h.run);
    }

   private:
    struct Head {
      T item{};
      size_t run;
      bool operator<(const Head& o) const {  // min-heap on item, then run (stable)
        if (o.item < item) return true;
        if (item < o.item) return false;
        return run > o.run;
      }
    };
    Status Refill(size_t run) {
      T item{};
      bool done = false;
      DURUS_RETURN_IF_ERROR(runs_[run]->Read(&item, &done));
      if (!done) heap_.push(Head{item, run});
      return Status::OK();
    }
    std::vector<std::unique_ptr<Run>> runs_;
    std::priority_queue<Head> heap_;
  };

  Status SpillRun() {
    std::sort(buf_.begin(), buf_.end());
    auto run = std::make_unique<Run>();
    DURUS_RETURN_IF_ERROR(run->file.Create(temp_dir_));
    DURUS_RETURN_IF_ERROR(run->file.Append(
        std::string_view(reinterpret_cast<const char*>(buf_.data()), buf_.size() * sizeof(T))));
    runs_.push_back(std::move(run));
    ++runs_written_;
    buf_.clear();
    return Status::OK();
  }

  const std::string temp_dir_;
  const size_t capacity_;
  std::vector<T> buf_;
  std::vector<std::unique_ptr<Run>> runs_;
  Merger merger_;
  bool in_memory_ = false;
  size_t mem_pos_ = 0;
  uint64_t count_ = 0;
  size_t runs_written_ = 0;
};

}  // namespace durus::migrate

#endif  // DURUS_BDB_MIGRATE_EXTERNAL_SORTER_H_
