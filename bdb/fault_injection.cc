#include "bdb/fault_injection.h"

#include <db.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bdb/storage_impl.h"

namespace durus::fault {

namespace {

std::atomic<bool> g_installed{false};
std::atomic<bool> g_armed{false};
std::atomic<int> g_ops{0};
std::atomic<int> g_error{ENOSPC};
std::atomic<int64_t> g_skip{0};
std::atomic<int64_t> g_count{-1};
std::atomic<bool> g_short_pending{false};
std::atomic<uint64_t> g_threshold{0};  // probability * 2^64 (0: off)
std::atomic<uint64_t> g_rng{1};
char g_path[32];  // written only while disarmed
std::atomic<DbEnv*> g_panic_env{nullptr};

std::atomic<uint64_t> g_writes{0}, g_pwrites{0}, g_fsyncs{0}, g_injected{0};

bool PathMatches(int fd) {
  if (g_path[0] == '\0') return true;
  char link[64], target[512];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof(target) - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  const char* base = strrchr(target, '/');
  return strstr(base ? base + 1 : target, g_path) != nullptr;
}

uint64_t NextRandom() {
  // splitmix64 over an atomic counter: lock-free and good enough.
  uint64_t z = g_rng.fetch_add(0x9E3779B97F4A7C15ULL) + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Decides whether this call fails; *torn: write half of it instead.
bool ShouldFail(int op_bit, int fd, bool* torn) {
  *torn = false;
  if (!g_armed.load(std::memory_order_acquire)) return false;
  if ((g_ops.load() & op_bit) == 0) return false;
  if (!PathMatches(fd)) return false;
  uint64_t threshold = g_threshold.load();
  if (threshold != 0) {
    if (NextRandom() >= threshold) return false;
  } else if (g_skip.load() > 0 && g_skip.fetch_sub(1) > 0) {
    return false;
  }
  int64_t c = g_count.load();
  for (;;) {
    if (c == 0) return false;
    if (c < 0 || g_count.compare_exchange_weak(c, c - 1)) break;
  }
  if (op_bit != static_cast<int>(FaultOp::kFsync) && g_short_pending.exchange(false)) *torn = true;
  g_injected.fetch_add(1);
  if (DbEnv* env = g_panic_env.load()) {
    int saved = errno;
    env->set_flags(DB_PANIC_ENVIRONMENT, 1);
    errno = saved;
  }
  return true;
}

ssize_t HookWrite(int fd, const void* buf, size_t n) {
  g_writes.fetch_add(1, std::memory_order_relaxed);
  bool torn;
  if (ShouldFail(static_cast<int>(FaultOp::kWrite), fd, &torn)) {
    if (torn && n >= 2) return ::write(fd, buf, n / 2);
    errno = g_error.load();
    return -1;
  }
  return ::write(fd, buf, n);
}

ssize_t HookPwrite(int fd, const void* buf, size_t n, off_t off) {
  g_pwrites.fetch_add(1, std::memory_order_relaxed);
  bool torn;
  if (ShouldFail(static_cast<int>(FaultOp::kPwrite), fd, &torn)) {
    if (torn && n >= 2) return ::pwrite(fd, buf, n / 2, off);
    errno = g_error.load();
    return -1;
  }
  return ::pwrite(fd, buf, n, off);
}

int HookFsync(int fd) {
  g_fsyncs.fetch_add(1, std::memory_order_relaxed);
  bool torn;
  if (ShouldFail(static_cast<int>(FaultOp::kFsync), fd, &torn)) {
    // Berkeley DB's contract for this hook: 0, or the errno value.
    errno = g_error.load();
    return errno;
  }
  return ::fdatasync(fd);
}

int ErrnoByName(const std::string& name) {
  if (name == "ENOSPC") return ENOSPC;
  if (name == "EIO") return EIO;
  if (name == "EDQUOT") return EDQUOT;
  if (name == "EROFS") return EROFS;
  return 0;
}

}  // namespace

Status InstallFaultHooks() {
  if (g_installed.exchange(true)) return Status::OK();
  int ret = db_env_set_func_write(&HookWrite);
  if (ret == 0) ret = db_env_set_func_pwrite(&HookPwrite);
  if (ret == 0) ret = db_env_set_func_fsync(&HookFsync);
  if (ret != 0) {
    g_installed = false;
    return Status::IOError(std::string("installing Berkeley DB I/O hooks: ") + db_strerror(ret));
  }
  return Status::OK();
}

void ArmFault(const FaultSpec& spec) {
  g_armed.store(false, std::memory_order_release);
  g_ops.store(spec.ops);
  g_error.store(spec.error);
  g_skip.store(static_cast<int64_t>(spec.skip));
  g_count.store(spec.count);
  g_short_pending.store(spec.short_write);
  double p = spec.probability;
  g_threshold.store(p <= 0   ? 0
                    : p >= 1 ? ~uint64_t{0}
                             : static_cast<uint64_t>(p * 18446744073709551616.0));
  g_rng.store(spec.seed);
  size_t i = 0;
  for (; i + 1 < sizeof(g_path) && spec.path_contains[i] != '\0'; ++i)
    g_path[i] = spec.path_contains[i];
  g_path[i] = '\0';
  g_armed.store(true, std::memory_order_release);
}

void DisarmFault() { g_armed.store(false, std::memory_order_release); }

bool FaultArmed() { return g_armed.load(); }

FaultCounters GetFaultCounters() {
  FaultCounters c;
  c.writes = g_writes.load();
  c.pwrites = g_pwrites.load();
  c.fsyncs = g_fsyncs.load();
  c.injected = g_injected.load();
  return c;
}

Status PanicEnvironment(BdbHandle* storage) {
  bdb::BdbStorage* s = storage != nullptr ? &storage->impl() : nullptr;
  if (s == nullptr || s->env() == nullptr)
    return Status::InvalidArgument("not an open Berkeley DB storage");
  int ret = s->env()->set_flags(DB_PANIC_ENVIRONMENT, 1);
  return bdb::FromDb(ret, "panicking the environment of " + s->home());
}

void SetPanicOnFault(BdbHandle* storage) {
  g_panic_env.store(storage != nullptr ? storage->impl().env() : nullptr);
}

Status ParseFaultSpec(const std::string& text, FaultSpec* spec) {
  *spec = FaultSpec();
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t p = text.find(':', start);
    parts.push_back(text.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("fault spec '" + text + "': " + why);
  };
  if (parts.size() < 2) return bad("expected OP:ERRNO[:PATH][:skip=N][:count=N][:p=X][:short]");
  const std::string& op = parts[0];
  if (op == "write")
    spec->ops = static_cast<int>(FaultOp::kWrite);
  else if (op == "pwrite")
    spec->ops = static_cast<int>(FaultOp::kPwrite);
  else if (op == "fsync")
    spec->ops = static_cast<int>(FaultOp::kFsync);
  else if (op == "any")
    spec->ops = static_cast<int>(FaultOp::kAll);
  else if (op == "anywrite")
    spec->ops = static_cast<int>(FaultOp::kAnyWrite);
  else
    return bad("unknown op " + op);
  spec->error = ErrnoByName(parts[1]);
  if (spec->error == 0) return bad("unknown errno " + parts[1]);
  for (size_t i = 2; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p.rfind("skip=", 0) == 0) {
      spec->skip = strtoull(p.c_str() + 5, nullptr, 10);
    } else if (p.rfind("count=", 0) == 0) {
      spec->count = strtoll(p.c_str() + 6, nullptr, 10);
    } else if (p.rfind("p=", 0) == 0) {
      spec->probability = strtod(p.c_str() + 2, nullptr);
    } else if (p.rfind("seed=", 0) == 0) {
      spec->seed = strtoull(p.c_str() + 5, nullptr, 10);
    } else if (p == "short") {
      spec->short_write = true;
    } else if (p.size() < sizeof(spec->path_contains)) {
      snprintf(spec->path_contains, sizeof(spec->path_contains), "%s", p.c_str());
    } else {
      return bad("path filter too long: " + p);
    }
  }
  return Status::OK();
}

}  // namespace durus::fault
