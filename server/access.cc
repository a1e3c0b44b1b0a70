#include "server/access.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "server/protocol.h"

namespace durus::server {

namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

int AddrBytes(int family) { return family == AF_INET ? 4 : 16; }

bool IsMappedV4(const uint8_t* a) {
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kPrefix, sizeof(kPrefix)) == 0;
}

// An IPv4 or IPv6 socket address as (family, bytes), mapped IPv4
// unwrapped.  Returns false for other families.
bool Unwrap(const sockaddr_storage& sa, int* family, uint8_t* addr, int* port) {
  if (sa.ss_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&sa);
    *family = AF_INET;
    std::memcpy(addr, &s4->sin_addr, 4);
    if (port != nullptr) *port = ntohs(s4->sin_port);
    return true;
  }
  if (sa.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    const auto* a = reinterpret_cast<const uint8_t*>(&s6->sin6_addr);
    if (IsMappedV4(a)) {
      *family = AF_INET;
      std::memcpy(addr, a + 12, 4);
    } else {
      *family = AF_INET6;
      std::memcpy(addr, a, 16);
    }
    if (port != nullptr) *port = ntohs(s6->sin6_port);
    return true;
  }
  return false;
}

bool IsLoopback(int family, const uint8_t* a) {
  if (family == AF_INET) return a[0] == 127;
  static const uint8_t kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return family == AF_INET6 && std::memcmp(a, kLoop6, 16) == 0;
}

std::string AddrString(int family, const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family, a, buf, sizeof(buf));
  return buf;
}

}  // namespace

std::string Cidr::ToString() const {
  return AddrString(family, addr) + "/" + std::to_string(prefix);
}

Status ParseCidr(const std::string& text, Cidr* out) {
  std::string t = Trim(text);
  size_t slash = t.find('/');
  std::string host = t.substr(0, slash);
  Cidr c;
  if (inet_pton(AF_INET, host.c_str(), c.addr) == 1) {
    c.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), c.addr) == 1) {
    c.family = AF_INET6;
    if (IsMappedV4(c.addr)) {
      // ::ffff:10.0.0.0/104 means 10.0.0.0/8 (peers are unwrapped too).
      std::memmove(c.addr, c.addr + 12, 4);
      std::memset(c.addr + 4, 0, 12);
      c.family = AF_INET;
    }
  } else {
    return Status::InvalidArgument(
        "--allow-from: '" + t +
        "' is not an IPv4 or IPv6 address or range (like 10.0.0.0/8 or fd00::/8)");
  }
  const int bits = AddrBytes(c.family) * 8;
  const bool was_mapped = c.family == AF_INET && host.find(':') != std::string::npos;
  c.prefix = bits;
  if (slash != std::string::npos) {
    std::string p = t.substr(slash + 1);
    char* end = nullptr;
    long n = std::strtol(p.c_str(), &end, 10);
    const int max = was_mapped ? 128 : bits;
    if (p.empty() || *end != '\0' || n < 0 || n > max) {
      return Status::InvalidArgument("--allow-from: '" + t + "': the prefix length must be 0-" +
                                     std::to_string(max));
    }
    c.prefix = static_cast<int>(was_mapped ? std::max(0L, n - 96) : n);
  }
  // Host bits below the prefix: most likely a typo, so say what we would
  // have matched instead of guessing.
  Cidr masked = c;
  for (int i = 0; i < AddrBytes(c.family); ++i) {
    int keep = std::min(8, std::max(0, c.prefix - i * 8));
    masked.addr[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  if (std::memcmp(masked.addr, c.addr, sizeof(c.addr)) != 0) {
    return Status::InvalidArgument("--allow-from: '" + t + "' has bits set beyond its /" +
                                   std::to_string(c.prefix) + " prefix; did you mean " +
                                   masked.ToString() + "?");
  }
  *out = c;
  return Status::OK();
}

Status ParseCidrList(const std::string& text, std::vector<Cidr>* out) {
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (Trim(item).empty())
      return Status::InvalidArgument("--allow-from: empty range in '" + text + "'");
    Cidr c;
    DURUS_RETURN_IF_ERROR(ParseCidr(item, &c));
    out->push_back(c);
    if (comma == std::string::npos) return Status::OK();
    start = comma + 1;
  }
}

Status ParseStopPolicy(const std::string& text, StopPolicy* out) {
  if (text == "local") {
    *out = StopPolicy::kLocal;
  } else if (text == "any") {
    *out = StopPolicy::kAny;
  } else if (text == "none") {
    *out = StopPolicy::kNone;
  } else {
    return Status::InvalidArgument("--allow-stop: '" + text + "' is not local, any or none");
  }
  return Status::OK();
}

const char* StopPolicyName(StopPolicy p) {
  switch (p) {
    case StopPolicy::kLocal: return "local";
    case StopPolicy::kAny: return "any";
    case StopPolicy::kNone: return "none";
  }
  return "?";
}

bool CidrContains(const Cidr& cidr, int family, const uint8_t* addr) {
  if (cidr.family != family) return false;
  int whole = cidr.prefix / 8;
  if (std::memcmp(cidr.addr, addr, static_cast<size_t>(whole)) != 0) return false;
  int rest = cidr.prefix % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff00 >> rest);
  return (cidr.addr[whole] & mask) == (addr[whole] & mask);
}

PeerInfo DescribePeer(int fd, const sockaddr_storage& sa, socklen_t len,
                      const std::string& listen_desc) {
  (void)len;
  PeerInfo p;
  int port = 0;
  if (Unwrap(sa, &p.family, p.addr, &port)) {
    std::string host = AddrString(p.family, p.addr);
    p.name = p.family == AF_INET6 ? "[" + host + "]:" + std::to_string(port)
                                  : host + ":" + std::to_string(port);
    // Same machine: loopback, or the peer's address is the one it reached
    // us at (from this host to one of its own addresses).
    sockaddr_storage local;
    socklen_t llen = sizeof(local);
    int lfamily = 0;
    uint8_t laddr[16] = {};
    p.same_host = IsLoopback(p.family, p.addr) ||
                  (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0 &&
                   Unwrap(local, &lfamily, laddr, nullptr) && lfamily == p.family &&
                   std::memcmp(laddr, p.addr, static_cast<size_t>(AddrBytes(p.family))) == 0);
    return p;
  }
  p.family = AF_UNIX;
  struct ucred cred {};
  socklen_t clen = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
    p.uid = cred.uid;
    p.pid = cred.pid;
    p.name = "unix:" + listen_desc + " (uid " + std::to_string(cred.uid) + ", pid " +
             std::to_string(cred.pid) + ")";
  } else {
    p.name = "unix:" + listen_desc;
  }
  return p;
}

bool MayConnect(const AccessPolicy& policy, const PeerInfo& peer) {
  if (peer.family == AF_UNIX || policy.allow_from.empty()) return true;
  for (const Cidr& c : policy.allow_from) {
    if (CidrContains(c, peer.family, peer.addr)) return true;
  }
  return false;
}

bool MayStop(const AccessPolicy& policy, const PeerInfo& peer, int64_t server_uid) {
  switch (policy.allow_stop) {
    case StopPolicy::kAny: return true;
    case StopPolicy::kNone: return false;
    case StopPolicy::kLocal:
      if (peer.family == AF_UNIX) return peer.uid >= 0 && (peer.uid == server_uid || peer.uid == 0);
      return peer.same_host;
  }
  return false;
}

std::string StopRefusal(StopPolicy policy) {
  if (policy == StopPolicy::kNone) return "quit (Q) refused: --allow-stop none";
  return "quit (Q) refused: --allow-stop local honours it only from this machine (loopback TCP, or "
         "a "
         "unix-socket peer running as the server's user)";
}

const char* RefusedWhenReadOnly(uint8_t cmd) {
  switch (static_cast<char>(cmd)) {
    case kCmdCommit: return "commit (C)";
    case kCmdNewOid: return "new oid (N)";
    case kCmdNewOids: return "new oids (M)";
    case kCmdPack: return "pack (P)";
    default: return nullptr;
  }
}

std::string ExposureWarning(const AccessPolicy& policy, int listen_fd,
                            const std::string& listen_desc) {
  sockaddr_storage bound;
  socklen_t len = sizeof(bound);
  if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return "";
  if (bound.ss_family == AF_UNIX) {
    const auto* su = reinterpret_cast<const sockaddr_un*>(&bound);
    bool abstract = len > offsetof(sockaddr_un, sun_path) && su->sun_path[0] == '\0';
    if (!abstract) return "";
    return "listening on abstract socket " + listen_desc +
           ", which has no permissions: every local user can connect, read and overwrite every "
           "object (protocol 1 has no authentication; use a socket file with --socket-mode and "
           "--socket-group to choose who may connect; see doc/security.md)";
  }
  int family = 0;
  uint8_t addr[16] = {};
  if (!Unwrap(bound, &family, addr, nullptr) || IsLoopback(family, addr)) return "";
  if (!policy.allow_from.empty()) return "";
  return "listening on " + listen_desc +
         " beyond loopback without --allow-from: anyone who can reach this port can read and "
         "overwrite every object (protocol 1 has no authentication or encryption); restrict it "
         "with --allow-from CIDR[,CIDR...], or listen on loopback or a unix socket and reach it "
         "through an SSH or WireGuard tunnel (doc/security.md)";
}

}  // namespace durus::server
