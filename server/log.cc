#include "server/log.h"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>

namespace durus::server {

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

void Logger::Log(LogLevel level, const char* fmt, ...) {
  char line[2048];
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  size_t n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
  n += snprintf(line + n, sizeof(line) - n, ".%03d %s ", static_cast<int>(tv.tv_usec / 1000),
                LogLevelName(level));
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  n += static_cast<size_t>(m);
  if (n > sizeof(line) - 2) n = sizeof(line) - 2;  // truncated message
  line[n++] = '\n';
  // Best effort: a log line that cannot be written is dropped.
  size_t off = 0;
  while (off < n) {
    ssize_t w = ::write(fd_, line + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
}

}  // namespace durus::server
