// Log: the server's line-oriented log on stderr (or any fd).
//
// One line per event: "2025-01-31 12:00:00.123 INFO  client 3 connected ...".
// Each line is written with a single write(2), so lines from concurrent
// threads never interleave (lines stay well under PIPE_BUF in practice).
//
// Levels: error (always shown), warn, info (default: a line per
// connection and per commit), debug (a line per request).
//
// Threading: Log() may be called from any thread; the level is atomic.
#ifndef DURUS_BDB_SERVER_LOG_H_
#define DURUS_BDB_SERVER_LOG_H_

#include <atomic>
#include <string>

#include "engine/status.h"

namespace durus::server {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// "error", "warn"/"warning", "info", "debug".
Status ParseLogLevel(const std::string& name, LogLevel* out);
const char* LogLevelName(LogLevel level);

class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::kInfo, int fd = 2) : level_(level), fd_(fd) {}

  bool Enabled(LogLevel level) const {
    return level == LogLevel::kError || static_cast<int>(level) <= static_cast<int>(level_.load());
  }
  void set_level(LogLevel level) { level_ = level; }

  // printf-style; the newline is added.
  void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

 private:
  std::atomic<LogLevel> level_;
  int fd_;
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
