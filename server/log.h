// Log: the server's line-oriented log, on stderr or in a file.
//
// One line per event.  Text (the default):
//   "2026-12-07T12:00:00.123+00:00 INFO  client 3 connected ..."
// JSON (--log-format json), one object per line:
//   {"time":"2026-12-07T12:00:00.123+00:00","level":"info","msg":"...",
//    "address":"127.0.0.1:2972",...}
// The time is local time with its UTC offset (ISO 8601), milliseconds.
// Each line is written with a single write(2), so lines from concurrent
// threads never interleave (lines stay well under PIPE_BUF in practice).
//
// Levels: error (always shown), warn, info (default: a line per
// connection and per commit), debug (a line per request).  A level off
// writes nothing at all.
//
// The ready announcement ("ready on ADDRESS (...)", which scripts and tests
// wait for) is Announce(): an INFO line like any other, and, when that line
// does not reach stderr (the log is a file, or INFO is off) and
// set_announce_on_stderr(true) was called (durus-bdb serve), the bare
// message on stderr as well: the announcement is printed whatever the
// level, format or file.
//
// A log file (OpenFile) is opened for appending and reopened by Reopen()
// (logrotate renames it, then sends SIGHUP: LogThread below).  The reopen
// replaces the descriptor in place (dup3), so a line being written goes
// wholly to the old or the new file.
//
// Threading: Log()/Announce()/Reopen() may be called from any thread; the
// level is atomic.  set_format, set_announce_on_stderr and OpenFile are
// set-up, before other threads use the logger.
#ifndef DURUS_BDB_SERVER_LOG_H_
#define DURUS_BDB_SERVER_LOG_H_

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engine/status.h"

namespace durus {
class Storage;
}  // namespace durus

namespace durus::server {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };
enum class LogFormat { kText = 0, kJson = 1 };

// "error", "warn"/"warning", "info", "debug".
Status ParseLogLevel(const std::string& name, LogLevel* out);
const char* LogLevelName(LogLevel level);
// "text", "json".
Status ParseLogFormat(const std::string& name, LogFormat* out);

// The durus-bdb version ("0.1.0"), for the ready line.
const char* ServerVersion();

// Named values a JSON line carries besides time, level and msg (the text
// format shows only the message, which states them in words).
class LogFields {
 public:
  LogFields& Add(const char* key, const std::string& value);
  LogFields& Add(const char* key, uint64_t value);
  LogFields& Add(const char* key, double value);
  LogFields& Add(const char* key, bool value);

  struct Field {
    const char* key;
    enum Kind { kString, kUnsigned, kDouble, kBool } kind;
    std::string s;
    uint64_t u = 0;
    double d = 0;
  };
  const std::vector<Field>& fields() const { return fields_; }

 private:
  std::vector<Field> fields_;
};

class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::kInfo, int fd = 2) : level_(level), fd_(fd) {}
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool Enabled(LogLevel level) const {
    return level == LogLevel::kError || static_cast<int>(level) <= static_cast<int>(level_.load());
  }
  void set_level(LogLevel level) { level_ = level; }
  void set_format(LogFormat format) { format_ = format; }
  void set_announce_on_stderr(bool on) { announce_on_stderr_ = on; }

  // Write to `path` from now on: opened for appending, created mode 0640
  // (less the umask), close-on-exec.  IOError naming the path.
  Status OpenFile(const std::string& path);
  // Reopen the file OpenFile opened (a renamed file is left to its new
  // name; a new one is created).  OK and nothing done without a file.  On
  // failure the old file stays in use.
  Status Reopen();
  const std::string& path() const { return path_; }

  // printf-style; the newline is added.
  void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // The same with fields for the JSON format.
  void LogWith(LogLevel level, const LogFields& fields, const char* fmt, ...)
      __attribute__((format(printf, 4, 5)));
  // An INFO line that is also printed on stderr, bare, if the log line
  // does not go there (see the file comment).
  void Announce(const LogFields& fields, const char* fmt, ...)
      __attribute__((format(printf, 3, 4)));

 private:
  void Emit(LogLevel level, const LogFields* fields, const char* fmt, va_list ap);
  void Write(int fd, const char* data, size_t n);

  std::atomic<LogLevel> level_;
  LogFormat format_ = LogFormat::kText;
  bool announce_on_stderr_ = false;
  // The descriptor lines go to: 2, or the file (replaced in place by
  // Reopen, so the number never changes once set up).
  int fd_;
  bool own_fd_ = false;
  std::string path_;
};

// The log's own thread in `durus-bdb serve`.  It reopens the log file when
// SIGHUP arrives (logrotate renames the file, then signals: the signal
// handler only writes a byte to a self-pipe, and the reopen runs on this
// thread), and calls `tick` about once a second (serve: PackWatcher::Poll).
// With it running SIGHUP no longer terminates the process; after Stop it
// is ignored.  One per process (the handler is process-wide).
class LogThread {
 public:
  LogThread(Logger* log, std::function<void()> tick) : log_(log), tick_(std::move(tick)) {}
  ~LogThread() { Stop(); }
  LogThread(const LogThread&) = delete;
  LogThread& operator=(const LogThread&) = delete;

  // Installs the SIGHUP handler and starts the thread.
  Status Start();
  // Joins the thread (tick is not called after it returns).
  void Stop();

 private:
  void Loop();

  Logger* const log_;
  const std::function<void()> tick_;
  int pipe_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A pack (Durus's P: the storage's cycle trace) runs on the storage's
// background thread, which has no logger: Poll() logs, from the storage's
// stats, each trace that finished since the last Poll (objects and bytes
// freed, reachable objects traced).  Traces finished between the open and
// the first Poll (one an earlier server left half done) are logged too.
class PackWatcher {
 public:
  PackWatcher(Storage* storage, Logger* log) : storage_(storage), log_(log) {}
  void Poll();

 private:
  Storage* const storage_;
  Logger* const log_;
  uint64_t seen_ = 0;  // traces_completed already logged
};

}  // namespace durus::server

// Skip formatting entirely when the level is off (per-request debug lines
// are on the hot path).
#define DURUS_LOG(logger, level, ...)                              \
  do {                                                             \
    if ((logger).Enabled(::durus::server::LogLevel::level))        \
      (logger).Log(::durus::server::LogLevel::level, __VA_ARGS__); \
  } while (0)

#endif  // DURUS_BDB_SERVER_LOG_H_
