// durus-bdb stop: ask a running server to quit (Durus's Q, as
// `durus -s --stop`), then wait until it has closed its storage and its
// listening socket.  The server honours Q per its --allow-stop (by
// default from its own machine only).
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "server/flags.h"
#include "server/listener.h"
#include "tools/command.h"

namespace {

using durus::Status;
namespace srv = durus::server;

const char kUsage[] =
    "usage: durus-bdb stop [OPTIONS]\n"
    "\n"
    "Stop the server listening at the given address (sends Durus's Q) and wait\n"
    "until it has shut down.\n"
    "\n"
    "%s"
    "  --wait S            give up waiting after S seconds (default 60)\n";

std::string Describe(const srv::ListenOptions& o) {
  return o.address.empty() ? o.host + ":" + std::to_string(o.port) : o.address;
}

int Stop(const std::vector<std::string>& args) {
  srv::ListenOptions where;
  double wait_s = 60;
  srv::FlagReader flags(args);
  std::string name;
  Status st;
  while (flags.Next(&name, &st)) {
    if (!st.ok()) {
    } else if (name == "help" || name == "h") {
      printf(kUsage, srv::kAddressFlagsHelp);
      return 0;
    } else if (srv::ParseAddressFlag(name, &flags, &where, &st)) {
    } else if (name == "wait") {
      st = flags.DoubleValue(0, &wait_s);
    } else {
      st = Status::InvalidArgument("unknown option --" + name + " (see --help)");
    }
    if (!st.ok()) return durus::tools::Fail("stop", st.message(), 2);
  }

  int err = 0;
  int fd = srv::ConnectTo(where, &err);
  if (fd < 0) {
    return durus::tools::Fail("stop", "no server at " + Describe(where) + ": " + strerror(err));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<
      std::chrono::steady_clock::duration>(std::chrono::duration<double>(wait_s));
  if (::write(fd, "Q", 1) != 1) {
    ::close(fd);
    return durus::tools::Fail("stop", "cannot send Q to " + Describe(where) + ": " + strerror(errno));
  }
  // The server closes every client connection once its workers are done
  // (a commit in progress finishes first) ...
  char b;
  while (std::chrono::steady_clock::now() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0 && ::read(fd, &b, 1) <= 0) break;
  }
  ::close(fd);
  // ... and its listening socket after closing the storage.
  while (std::chrono::steady_clock::now() < deadline) {
    int probe = srv::ConnectTo(where, &err);
    if (probe < 0) {
      fprintf(stderr, "durus-bdb stop: server at %s stopped\n", Describe(where).c_str());
      return 0;
    }
    ::close(probe);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // A server that does not take Q from us (--allow-stop) closes our
  // connection as one that is stopping does; its log says which.
  return durus::tools::Fail("stop", "server at " + Describe(where) + " still running after " +
                                        std::to_string(static_cast<int>(wait_s)) +
                                        " s (if its log says 'quit (Q) refused', see --allow-stop "
                                        "in doc/security.md; SIGTERM stops it)");
}

const durus::tools::CommandRegistration kReg{
    "stop", "stop a running server (sends Durus's Q and waits)", &Stop};

}  // namespace
