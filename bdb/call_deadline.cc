#include "bdb/call_deadline.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

namespace durus::bdb {

namespace {

void Nothing(int) {}

// Installed once per process: a handler (not SIG_IGN, which would not
// interrupt anything) without SA_RESTART.
void InstallHandlerOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = &Nothing;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(CallDeadline::Signal(), &sa, nullptr);
  });
}

}  // namespace

int CallDeadline::Signal() { return SIGRTMIN + 4; }

CallDeadline::CallDeadline(uint32_t ms) {
  InstallHandlerOnce();
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD_ID;
  ev.sigev_signo = Signal();
  ev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (timer_create(CLOCK_MONOTONIC, &ev, &timer_) != 0) return;
  struct itimerspec when {};
  when.it_value.tv_sec = ms / 1000;
  when.it_value.tv_nsec = static_cast<long>(ms % 1000) * 1000000;
  when.it_interval = when.it_value;
  if (timer_settime(timer_, 0, &when, nullptr) != 0) {
    timer_delete(timer_);
    return;
  }
  armed_ = true;
}

CallDeadline::~CallDeadline() {
  if (armed_) timer_delete(timer_);  // disarms; a signal already sent is harmless
}

}  // namespace durus::bdb
