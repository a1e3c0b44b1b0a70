// Plain-file I/O for migrate/: a buffered sequential reader that hands out
// views of the bytes it read (so a record is not copied on its way from
// the source into Berkeley DB), a buffered appending writer, and a
// temporary file that is unlinked as soon as it is created (so a crash
// leaves nothing behind).
//
// Ownership: each object owns its file descriptor.  Threading: one thread
// per object.  Errors: Status (IOError with the path and errno text).
#ifndef DURUS_BDB_MIGRATE_FILE_IO_H_
#define DURUS_BDB_MIGRATE_FILE_IO_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace durus::migrate {

class FileReader {
 public:
  FileReader() = default;
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  ~FileReader();

  Status Open(const std::string& path);
  // Read from an already open descriptor (taken over; closed by us).
  void Adopt(int fd, std::string name, uint64_t size);

  // The next `n` bytes as a view valid until the next call.  At the end of
  // the file the view is shorter than `n` (possibly empty): the caller
  // decides whether that is a clean end or a short read.
  Status Read(size_t n, std::string_view* out);
  // Skip `n` bytes (may move past the end: the next Read is then empty).
  void Skip(uint64_t n) { Seek(pos_ + n); }
  void Seek(uint64_t pos);

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  Status Fill(size_t n);

  int fd_ = -1;
  std::string name_;
  uint64_t size_ = 0;
  uint64_t pos_ = 0;  // logical position of the next byte
  std::vector<char> buf_;
  uint64_t buf_start_ = 0;  // file offset of buf_[0]
  size_t buf_len_ = 0;      // valid bytes in buf_
};

class FileWriter {
 public:
  FileWriter() = default;
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  ~FileWriter();

  // Create `path` (must not exist: O_EXCL).
  Status Create(const std::string& path);
  void Adopt(int fd, std::string name);

  Status Append(std::string_view data);
  // Overwrite already written bytes at `offset` (flushes first).
  Status WriteAt(uint64_t offset, std::string_view data);
  Status Flush();
  Status Sync();   // Flush + fsync
  Status Close();  // Flush + close
  uint64_t pos() const { return written_ + buf_.size(); }
  int fd() const { return fd_; }
  // Give up the descriptor without closing it (for TempFile).
  int Release();

 private:
  Status WriteOut(std::string_view data);

  int fd_ = -1;
  std::string name_;
  std::string buf_;
  uint64_t written_ = 0;
};

// A file in `dir` that has no name (created, then unlinked): written once
// sequentially, then read back from the start.
class TempFile {
 public:
  Status Create(const std::string& dir);
  Status Append(std::string_view data) { return writer_.Append(data); }
  // Switch from writing to reading from offset 0.
  Status StartReading();
  FileReader* reader() { return &reader_; }
  uint64_t size() const { return size_; }

 private:
  FileWriter writer_;
  FileReader reader_;
  uint64_t size_ = 0;
};

// Salvage scans (shelf_source.cc, dfs20_source.cc): from *pos, the first
// position p <= last whose `need` bytes (all in the file) satisfy
// pred(bytes, p), read a window at a time so most positions cost a few
// comparisons.  *found, and *pos = p; else *pos past what was examined.
template <typename Pred>
Status ScanFor(FileReader* file, uint64_t* pos, uint64_t last, size_t need, Pred pred,
               bool* found) {
  constexpr size_t kWindow = size_t{1} << 16;
  *found = false;
  while (*pos <= last) {
    file->Seek(*pos);
    std::string_view w;
    DURUS_RETURN_IF_ERROR(file->Read(kWindow, &w));
    size_t i = 0;
    for (; i + need <= w.size() && *pos + i <= last; ++i) {
      if (pred(w.data() + i, *pos + i)) {
        *pos += i;
        *found = true;
        return Status::OK();
      }
    }
    if (i == 0) break;  // fewer than `need` bytes left
    *pos += i;
  }
  return Status::OK();
}

// A shared flock(2) on a Durus file for as long as we read it.  Durus
// (durus/file.py) holds flock(LOCK_EX | LOCK_NB) on a FileStorage or
// FileStorage2 file while any process has it open for writing (a server,
// an application): such a file can grow, or be packed and replaced, under
// a reader.  Holding LOCK_SH makes the check and the read one: a Durus
// process that starts meanwhile fails to open the file for writing,
// rather than writing into a file half copied.
class SharedFileLock {
 public:
  SharedFileLock() = default;
  SharedFileLock(const SharedFileLock&) = delete;
  SharedFileLock& operator=(const SharedFileLock&) = delete;
  ~SharedFileLock();

  // Busy ("PATH is in use by a running Durus process (pid N)"; the caller
  // adds how to override it) when
  // another process holds the file's exclusive lock; the pid comes from
  // /proc/locks ("pid unknown" when it does not show the holder).
  Status Acquire(const std::string& path);

 private:
  int fd_ = -1;
};

// Size of a file, or NotFound.
Status GetFileSize(const std::string& path, uint64_t* size);
// fsync the directory holding `path` (after a rename into it).
Status SyncParentDir(const std::string& path);

}  // namespace durus::migrate

#endif  // DURUS_BDB_MIGRATE_FILE_IO_H_
