// util/file.h: the file-system helpers the tools, the benchmarks and the
// tests share (as LevelDB's Env, without the indirection): whether a path
// exists or is a directory, whole-file reads and writes, a directory's
// parent, tree removal, and a temporary directory removed on destruction.
//
// Depends on nothing of ours: errors are a bool plus, where asked for, a
// one-line message naming the path and the system's reason.
// Threading: plain functions; a TempDir has one owner.
#ifndef DURUS_UTIL_FILE_H_
#define DURUS_UTIL_FILE_H_

#include <cstdint>
#include <functional>
#include <string>

namespace durus::util {

// Both follow symbolic links (a dangling link does not exist).
bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);

// The whole file into *out.  False (with *error, if given) when it cannot
// be opened or read.
bool ReadFile(const std::string& path, std::string* out, std::string* error = nullptr);
// `bytes` as the whole of `path` (created or truncated; not fsynced).
bool WriteFile(const std::string& path, const std::string& bytes, std::string* error = nullptr);

// "a/b/c" -> "a/b"; "c" -> "."; "/c" -> "/".
std::string DirName(const std::string& path);

// Removes `path` and, for a directory, everything below it, without
// following symbolic links (as `rm -rf`, without a shell).  A missing path
// is not an error.
bool RemoveTree(const std::string& path, std::string* error = nullptr);

// Bytes of the regular files directly in `dir` whose names `keep` accepts
// (all of them when `keep` is empty); 0 for a missing directory.
uint64_t DirectoryBytes(const std::string& dir,
                        const std::function<bool(const std::string& name)>& keep = nullptr);

// A fresh directory $TMPDIR/PREFIX-XXXXXX (TMPDIR defaults to /tmp),
// removed with everything in it on destruction unless Keep() was called.
// path() is empty if it could not be created.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "durus-bdb-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  // Leave the directory in place (named on stderr at destruction), e.g.
  // for a failed test's post-mortem.
  void Keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

}  // namespace durus::util

#endif  // DURUS_UTIL_FILE_H_
