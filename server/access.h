// Access: who may connect to the server and who may stop it.
//
// Protocol 1 has no authentication and clients stay unmodified, so the
// only facts about a client are where it connects from: its address (TCP)
// or its credentials (a unix socket, SO_PEERCRED).  This file turns them
// into the two decisions the server makes (doc/security.md):
//
//  - connect: a TCP peer must be inside one of the `--allow-from` ranges
//    when any are given (checked at accept, before a byte is read); unix
//    socket peers are governed by the socket file's mode and group.
//  - stop (`Q`): `--allow-stop local` (the default) honours it only from
//    the local machine: a unix-socket peer whose uid is the server's (or
//    root), or a TCP peer on a loopback address or on the very address it
//    connected to (a connection from this host to one of its own
//    addresses; Linux drops packets from outside that claim a local
//    source).  `any` is Durus's behaviour, `none` refuses every Q.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack "::"
// listener sees) are treated as the IPv4 address they carry.
//
// Threading: plain values and functions; an AccessPolicy is read-only
// once the server has started.
#ifndef DURUS_BDB_SERVER_ACCESS_H_
#define DURUS_BDB_SERVER_ACCESS_H_

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"

namespace durus::server {

// One address range, "10.0.0.0/8", "192.168.1.7" (/32), "fd00::/8", "::1".
struct Cidr {
  int family = 0;         // AF_INET or AF_INET6
  uint8_t addr[16] = {};  // network byte order; IPv4 uses the first 4
  int prefix = 0;         // bits

  // "a.b.c.d/n" or "x::y/n" (the address with its host bits cleared).
  std::string ToString() const;
};

// Parses one range.  Host bits set below the prefix are an error (a typo
// like 10.1.2.3/8 is more likely than a wish for 10.0.0.0/8).
Status ParseCidr(const std::string& text, Cidr* out);
// Parses a comma-separated list (spaces allowed), appending to *out.
Status ParseCidrList(const std::string& text, std::vector<Cidr>* out);

enum class StopPolicy { kLocal, kAny, kNone };
Status ParseStopPolicy(const std::string& text, StopPolicy* out);
const char* StopPolicyName(StopPolicy p);

struct AccessPolicy {
  // TCP peers allowed to connect; empty: everyone who reaches the port.
  std::vector<Cidr> allow_from;
  StopPolicy allow_stop = StopPolicy::kLocal;
};

// What the server knows about a connected peer.
struct PeerInfo {
  int family = 0;  // AF_INET, AF_INET6 (mapped IPv4 already unwrapped) or AF_UNIX
  uint8_t addr[16] = {};
  // TCP: the peer is on a loopback address, or on the address it reached
  // us at (the same machine).
  bool same_host = false;
  // Unix sockets: the peer's credentials (SO_PEERCRED); -1 if unknown.
  int64_t uid = -1;
  int64_t pid = -1;
  // For log lines: "127.0.0.1:41062", "[::1]:5000", "unix:/path (uid 1000, pid 42)".
  std::string name;
};

// Describes the peer of accepted socket `fd`; `sa`/`len` are what accept
// returned, `listen_desc` the listener's description (for unix peers).
PeerInfo DescribePeer(int fd, const sockaddr_storage& sa, socklen_t len,
                      const std::string& listen_desc);

// True if `peer` may connect under `policy`.
bool MayConnect(const AccessPolicy& policy, const PeerInfo& peer);
// True if `peer` may stop the server under `policy`; `server_uid` is the
// server's effective uid.
bool MayStop(const AccessPolicy& policy, const PeerInfo& peer, int64_t server_uid);

// Why a Q from a peer MayStop refused is refused (the log line's text).
std::string StopRefusal(StopPolicy policy);

// The requests a --read-only server refuses (they write): the request's
// name for the log ("commit", ...), or nullptr if `cmd` is allowed.
const char* RefusedWhenReadOnly(uint8_t cmd);

// True if `cidr` contains the (unwrapped) address of `peer`.
bool CidrContains(const Cidr& cidr, int family, const uint8_t* addr);

// The warning the server logs at start when listening socket `listen_fd`
// is reachable beyond the local user (a TCP address other than loopback
// without --allow-from, or an abstract unix socket, which has no
// permissions), or "" when there is nothing to warn about.
std::string ExposureWarning(const AccessPolicy& policy, int listen_fd,
                            const std::string& listen_desc);

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_ACCESS_H_
