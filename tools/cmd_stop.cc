// durus-bdb stop: ask a running server to quit (Durus's Q, as
// `durus -s --stop`), then wait until it has closed its storage and its
// listening socket.  The server honours Q per its --allow-stop (by
// default from its own machine only).
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "server/listener.h"
#include "tools/command.h"
#include "tools/flags.h"

namespace {

namespace srv = durus::server;

const char kDescription[] =
    "Stop the server listening at the given address (sends Durus's Q) and wait\n"
    "until it has shut down.";

std::string Describe(const srv::ListenOptions& o) {
  return o.address.empty() ? o.host + ":" + std::to_string(o.port) : o.address;
}

int Stop(const std::vector<std::string>& args) {
  srv::ListenOptions where;
  double wait_s = 60;
  CLI::App app{"", "durus-bdb stop"};
  durus::tools::SetUp(&app, kDescription);
  durus::tools::AddAddressFlags(&app, &where, durus::tools::AddressUse::kConnect);
  app.add_option("--wait", wait_s, "give up waiting after S seconds (default 60)")
      ->type_name("S")
      ->check(durus::util::NonNegative());
  if (auto rc = durus::util::ParseArgs(&app, args)) return *rc;

  int err = 0;
  int fd = srv::ConnectTo(where, &err);
  if (fd < 0) {
    return durus::tools::Fail("stop", "no server at " + Describe(where) + ": " + strerror(err));
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(wait_s));
  if (::write(fd, "Q", 1) != 1) {
    ::close(fd);
    return durus::tools::Fail("stop",
                              "cannot send Q to " + Describe(where) + ": " + strerror(errno));
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
