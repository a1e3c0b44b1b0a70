#include "server/server_status.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace durus::server {
namespace {

constexpr const char* kHeader = "durus-bdb-server-status 1";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The fields, by name, for writing and parsing alike.
template <typename F>
void ForEachField(ServerFigures* f, F fn) {
  fn("clients", &f->clients);
  fn("commits", &f->commits);
  fn("commit_conflicts", &f->commit_conflicts);
  fn("commits_refused", &f->commits_refused);
  fn("load_conflicts", &f->load_conflicts);
  fn("load_waits", &f->load_waits);
  fn("grace_expired", &f->grace_expired);
  fn("dropped", &f->dropped);
  fn("request_bytes", &f->request_bytes);
}

}  // namespace

Status WriteServerStatus(const std::string& path, const ServerFigures& figures) {
  ServerFigures f = figures;
  std::ostringstream out;
  out << kHeader << "\npid " << getpid() << "\nwritten_ms " << NowMs() << "\n";
  ForEachField(&f, [&](const char* name, uint64_t* v) { out << name << " " << *v << "\n"; });
  const std::string text = out.str();
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + tmp + ": " + strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return Status::IOError("cannot write " + path + ": " + strerror(err));
  }
  return Status::OK();
}

void RemoveServerStatus(const std::string& path) {
  ::unlink(path.c_str());
  ::unlink((path + ".tmp").c_str());
}

Status ReadServerStatus(const std::string& path, ServerFigures* f, int64_t* pid,
                        double* age_seconds) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("no server figures at " + path);
  std::string line;
  if (!std::getline(in, line) || line != kHeader) {
    return Status::InvalidArgument(path + " is not a durus-bdb server status file");
  }
  *f = ServerFigures();
  *pid = 0;
  int64_t written_ms = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    unsigned long long v = 0;
    if (!(fields >> name >> v))
      return Status::InvalidArgument(path + ": malformed line '" + line + "'");
    if (name == "pid") *pid = static_cast<int64_t>(v);
    if (name == "written_ms") written_ms = static_cast<int64_t>(v);
    ForEachField(f, [&](const char* n, uint64_t* field) {
      if (name == n) *field = v;
    });
  }
  if (*pid <= 0) return Status::InvalidArgument(path + " names no pid");
  if (::kill(static_cast<pid_t>(*pid), 0) != 0 && errno == ESRCH) {
    return Status::NotFound("the server figures in " + path + " are from process " +
                            std::to_string(*pid) + ", which is gone");
  }
  *age_seconds = std::max<int64_t>(NowMs() - written_ms, 0) / 1000.0;
  return Status::OK();
}

}  // namespace durus::server
