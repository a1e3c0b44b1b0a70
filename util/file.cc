#include "util/file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace durus::util {

namespace {
bool SetError(std::string* error, const std::string& message) {
  if (error != nullptr) *error = message;
  return false;
}
}  // namespace

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool ReadFile(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return SetError(error, "cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return SetError(error, "cannot read " + path);
  *out = ss.str();
  return true;
}

bool WriteFile(const std::string& path, const std::string& bytes, std::string* error) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return SetError(error, "cannot create " + path + ": " + std::strerror(errno));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return SetError(error, "cannot write " + path);
  return true;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool RemoveTree(const std::string& path, std::string* error) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);  // does not follow symbolic links
  if (ec) return SetError(error, "cannot remove " + path + ": " + ec.message());
  return true;
}

uint64_t DirectoryBytes(const std::string& dir,
                        const std::function<bool(const std::string& name)>& keep) {
  uint64_t total = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fe;
    if (!it->is_regular_file(fe) || fe) continue;
    if (keep && !keep(it->path().filename().string())) continue;
    uint64_t size = it->file_size(fe);
    if (!fe) total += size;  // a file removed meanwhile counts nothing
  }
  return total;
}

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (keep_) {
    std::fprintf(stderr, "kept %s\n", path_.c_str());
    return;
  }
  std::string error;
  if (!RemoveTree(path_, &error)) std::fprintf(stderr, "%s\n", error.c_str());
}

}  // namespace durus::util
