#include "server/log.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/storage.h"

#ifndef DURUS_BDB_VERSION
#define DURUS_BDB_VERSION "unknown"
#endif

namespace durus::server {

namespace {

// Messages longer than this are cut (a line stays one write(2)).
constexpr size_t kMaxMessage = 2000;

// "2026-12-07T12:00:00.123+01:00": local time, milliseconds, the offset
// from UTC (ISO 8601 / RFC 3339), so that lines from hosts in different
// zones, or from either side of a DST change, order correctly.
size_t FormatTime(char* out, size_t cap) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  localtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  long off = tm.tm_gmtoff;
  const char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  int m = snprintf(out + n, cap - n, ".%03d%c%02ld:%02ld", static_cast<int>(ts.tv_nsec / 1000000),
                   sign, off / 3600, (off % 3600) / 60);
  return n + (m > 0 ? static_cast<size_t>(m) : 0);
}

const char* JsonLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "?";
}

size_t FormatMessage(char* out, size_t cap, const char* fmt, va_list ap) {
  int m = vsnprintf(out, cap, fmt, ap);
  if (m < 0) m = 0;
  return std::min(static_cast<size_t>(m), cap - 1);  // cut when longer
}

// The write end of the SIGHUP self-pipe (LogThread), -1 when none.
std::atomic<int> g_hangup_fd{-1};

void OnHangup(int) {
  const int fd = g_hangup_fd.load();
  if (fd < 0) return;
  const int saved = errno;
  const char byte = 'h';
  // A full pipe already holds a wake-up: nothing is lost.
  if (::write(fd, &byte, 1) < 0) {
  }
  errno = saved;
}

}  // namespace

Status ParseLogLevel(const std::string& name, LogLevel* out) {
  if (name == "error")
    *out = LogLevel::kError;
  else if (name == "warn" || name == "warning")
    *out = LogLevel::kWarn;
  else if (name == "info")
    *out = LogLevel::kInfo;
  else if (name == "debug")
    *out = LogLevel::kDebug;
  else
    return Status::InvalidArgument("unknown log level '" + name + "' (error, warn, info, debug)");
  return Status::OK();
}

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "ERROR";
    case LogLevel::kWarn: return "WARN ";
    case LogLevel::kInfo: return "INFO ";
    case LogLevel::kDebug: return "DEBUG";
  }
  return "?";
}

Status ParseLogFormat(const std::string& name, LogFormat* out) {
  if (name == "text")
    *out = LogFormat::kText;
  else if (name == "json")
    *out = LogFormat::kJson;
  else
    return Status::InvalidArgument("unknown log format '" + name + "' (text, json)");
  return Status::OK();
}

const char* ServerVersion() { return DURUS_BDB_VERSION; }

LogFields& LogFields::Add(const char* key, const std::string& value) {
  fields_.push_back(Field{key, Field::kString, value});
  return *this;
}

LogFields& LogFields::Add(const char* key, uint64_t value) {
  Field f{key, Field::kUnsigned, {}};
  f.u = value;
  fields_.push_back(std::move(f));
  return *this;
}

LogFields& LogFields::Add(const char* key, double value) {
  Field f{key, Field::kDouble, {}};
  f.d = value;
  fields_.push_back(std::move(f));
  return *this;
}

LogFields& LogFields::Add(const char* key, bool value) {
  Field f{key, Field::kBool, {}};
  f.u = value ? 1 : 0;
  fields_.push_back(std::move(f));
  return *this;
}

Logger::~Logger() {
  if (own_fd_) close(fd_);
}

Status Logger::OpenFile(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Status::IOError("cannot open the log file " + path + ": " + strerror(errno));
  if (own_fd_) close(fd_);
  fd_ = fd;
  own_fd_ = true;
  path_ = path;
  return Status::OK();
}

Status Logger::Reopen() {
  if (!own_fd_) return Status::OK();
  int fd = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return Status::IOError("cannot reopen the log file " + path_ + ": " + strerror(errno));
  // In place: a thread writing a line meanwhile uses the same number and
  // reaches the old file or the new one, never a closed descriptor.
  int r;
  do {
    r = dup3(fd, fd_, O_CLOEXEC);
  } while (r < 0 && errno == EINTR);
  const int err = errno;
  close(fd);
  if (r < 0) return Status::IOError("cannot reopen the log file " + path_ + ": " + strerror(err));
  return Status::OK();
}

void Logger::Write(int fd, const char* data, size_t n) {
  // Best effort: a log line that cannot be written is dropped.
  size_t off = 0;
  while (off < n) {
    ssize_t w = ::write(fd, data + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
}

void Logger::Emit(LogLevel level, const LogFields* fields, const char* fmt, va_list ap) {
  char msg[kMaxMessage + 1];
  const size_t len = FormatMessage(msg, sizeof msg, fmt, ap);
  char time[64];
  FormatTime(time, sizeof time);
  if (format_ == LogFormat::kText) {
    char line[sizeof time + 8 + sizeof msg];
    int n = snprintf(line, sizeof line, "%s %s %.*s\n", time, LogLevelName(level),
                     static_cast<int>(len), msg);
    if (n > 0) Write(fd_, line, std::min(static_cast<size_t>(n), sizeof line - 1));
    return;
  }
  nlohmann::ordered_json j;
  j["time"] = time;
  j["level"] = JsonLevelName(level);
  j["msg"] = std::string(msg, len);
  if (fields != nullptr) {
    for (const LogFields::Field& f : fields->fields()) {
      switch (f.kind) {
        case LogFields::Field::kString: j[f.key] = f.s; break;
        case LogFields::Field::kUnsigned: j[f.key] = f.u; break;
        case LogFields::Field::kDouble: j[f.key] = f.d; break;
        case LogFields::Field::kBool: j[f.key] = f.u != 0; break;
      }
    }
  }
  // ASCII only, and bytes that are not UTF-8 (a peer's or a path's) become
  // U+FFFD: every line parses, whatever a message quotes.
  std::string line = j.dump(-1, ' ', true, nlohmann::ordered_json::error_handler_t::replace);
  line += '\n';
  Write(fd_, line.data(), line.size());
}

void Logger::Log(LogLevel level, const char* fmt, ...) {
  if (!Enabled(level)) return;
  va_list ap;
  va_start(ap, fmt);
  Emit(level, nullptr, fmt, ap);
  va_end(ap);
}

void Logger::LogWith(LogLevel level, const LogFields& fields, const char* fmt, ...) {
  if (!Enabled(level)) return;
  va_list ap;
  va_start(ap, fmt);
  Emit(level, &fields, fmt, ap);
  va_end(ap);
}

void Logger::Announce(const LogFields& fields, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[kMaxMessage + 1];
  size_t len = FormatMessage(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const bool logged = Enabled(LogLevel::kInfo);
  if (logged) LogWith(LogLevel::kInfo, fields, "%.*s", static_cast<int>(len), msg);
  if (announce_on_stderr_ && (!logged || fd_ != 2)) {
    msg[len++] = '\n';
    Write(2, msg, len);
  }
}

Status LogThread::Start() {
  // The pipe lives as long as the process: a handler that is still running
  // when Stop() returns may yet write to it.
  static int fds[2] = {-1, -1};
  if (fds[0] < 0 && pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Status::IOError(std::string("cannot create the SIGHUP pipe: ") + strerror(errno));
  }
  pipe_[0] = fds[0];
  pipe_[1] = fds[1];
  stop_ = false;
  g_hangup_fd = pipe_[1];
  struct sigaction sa {};
  sa.sa_handler = OnHangup;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &sa, nullptr);
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void LogThread::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  const char byte = 'q';
  if (::write(pipe_[1], &byte, 1) < 0) {
    // Full: the thread wakes up anyway and sees stop_ (within a tick).
  }
  thread_.join();
  signal(SIGHUP, SIG_IGN);
}

void LogThread::Loop() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kTick = std::chrono::seconds(1);
  auto next_tick = Clock::now() + kTick;
  while (!stop_) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - Clock::now()).count();
    struct pollfd p = {pipe_[0], POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0)));
    bool hangup = false;
    if (r > 0) {
      char buf[64];
      ssize_t n;
      while ((n = read(pipe_[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; ++i) hangup |= buf[i] == 'h';
      }
    }
    if (stop_) break;
    if (hangup) {
      Status s = log_->Reopen();
      if (!s.ok()) {
        log_->Log(LogLevel::kError, "SIGHUP: %s (still writing to the old file)",
                  s.ToString().c_str());
      } else if (!log_->path().empty()) {
        log_->Log(LogLevel::kInfo, "SIGHUP: reopened the log file %s", log_->path().c_str());
      } else {
        log_->Log(LogLevel::kInfo, "SIGHUP: no log file to reopen (the log goes to stderr)");
      }
    }
    if (Clock::now() >= next_tick) {
      if (tick_) tick_();
      next_tick = Clock::now() + kTick;
    }
  }
}

void PackWatcher::Poll() {
  StorageStats st;
  if (!storage_->GetStats(&st).ok() || st.traces_completed <= seen_) return;
  const uint64_t finished = st.traces_completed - seen_;
  seen_ = st.traces_completed;
  char more[96] = "";
  if (finished > 1) {
    snprintf(more, sizeof more, " (the last of %" PRIu64 " finished since the last look)",
             finished);
  }
  log_->LogWith(LogLevel::kInfo,
                LogFields()
                    .Add("event", std::string("pack_finished"))
                    .Add("objects_freed", st.last_trace_swept)
                    .Add("bytes_freed", st.last_trace_bytes_freed)
                    .Add("reachable", st.last_trace_traced),
                "pack finished: %" PRIu64 " unreachable objects freed (%" PRIu64 " bytes), %" PRIu64
                " reachable objects traced%s",
                st.last_trace_swept, st.last_trace_bytes_freed, st.last_trace_traced, more);
}

}  // namespace durus::server
