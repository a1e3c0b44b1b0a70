// A deadline for one Berkeley DB call that can block in a socket connect
// or read with no timeout of its own -- DB_ENV->repmgr_channel, which opens
// a connection to the master and reads its handshake (establish_connection
// in repmgr_method.c): while the master is stopped (SIGSTOP, a hung host)
// or cut off with the connection up, it never returns.
//
// How: a POSIX timer (CLOCK_MONOTONIC) sends this thread a real-time
// signal after `ms`; the signal's handler does nothing and is installed
// without SA_RESTART, so a connect or read blocked at that moment fails
// with EINTR, which repmgr's connection set-up treats as a failed
// connection (it closes the socket and returns an error).  Other waits
// (futexes, condition variables) resume after the handler, unchanged.
//
// Threading: a CallDeadline belongs to the thread that made it (the timer
// signals that thread only).  Errors: if the timer cannot be made, the call
// simply runs without a deadline (armed() is false).
#ifndef DURUS_BDB_BDB_CALL_DEADLINE_H_
#define DURUS_BDB_BDB_CALL_DEADLINE_H_

#include <time.h>

#include <cstdint>

namespace durus::bdb {

class CallDeadline {
 public:
  // Arms the timer: the calling thread is interrupted `ms` from now, and
  // every `ms` after that until destruction (a call that catches one
  // EINTR and tries again is interrupted again).
  explicit CallDeadline(uint32_t ms);
  ~CallDeadline();  // disarms
  CallDeadline(const CallDeadline&) = delete;
  CallDeadline& operator=(const CallDeadline&) = delete;

  bool armed() const { return armed_; }

  // The signal used (a real-time one, not used elsewhere in the process).
  static int Signal();

 private:
  timer_t timer_{};
  bool armed_ = false;
};

}  // namespace durus::bdb

#endif  // DURUS_BDB_BDB_CALL_DEADLINE_H_
