#include "tests/server/server_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace durus::server::test {

std::string Rec(uint64_t oid, const std::vector<uint64_t>& refs, const std::string& payload) {
  std::vector<Oid> r;
  for (uint64_t x : refs) r.push_back(Oid(x));
  return PackRecord(Oid(oid), "cmod\nThing\nq\x00" + payload, r);
}

std::string TData(const std::vector<std::pair<uint64_t, std::string>>& records) {
  std::string t;
  for (auto& [oid, rec] : records) {
    PutU32(&t, static_cast<uint32_t>(8 + rec.size()));
    PutU64(&t, oid);
    t += rec;
  }
  return t;
}

RawClient::RawClient(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fd_ = fd;
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RawClient::Send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string RawClient::Recv(size_t n, int timeout_ms) {
  std::string out;
  while (out.size() < n) {
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) break;
    char buf[65536];
    ssize_t r = ::recv(fd_, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

bool RawClient::WaitClosed(int timeout_ms) {
  while (true) {
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    ssize_t r = ::recv(fd_, buf, sizeof(buf), 0);
    if (r <= 0) return true;  // EOF or reset
  }
}

uint32_t RawClient::Version(uint32_t v) {
  std::string req = "V";
  PutU32(&req, v);
  Send(req);
  std::string r = Recv(4);
  return r.size() == 4 ? GetU32(r.data()) : 0;
}

std::vector<Oid> RawClient::NewOids(int n) {
  std::string req = "M";
  req.push_back(static_cast<char>(n));
  Send(req);
  std::string r = Recv(8 * static_cast<size_t>(n));
  std::vector<Oid> out;
  for (size_t i = 0; i + 8 <= r.size(); i += 8) out.push_back(Oid::FromBytes(r.data() + i));
  return out;
}

char RawClient::Load(uint64_t oid, std::string* record) {
  std::string req = "L";
  PutU64(&req, oid);
  Send(req);
  std::string s = Recv(1);
  if (s.empty()) return 0;
  if (s[0] == 'O') {
    std::string len = Recv(4);
    if (len.size() != 4) return 0;
    std::string rec = Recv(GetU32(len.data()));
    if (record != nullptr) *record = rec;
  }
  return s[0];
}

static std::vector<Oid> ReadOidList(RawClient* c) {
  std::string n = c->Recv(4);
  std::vector<Oid> out;
  if (n.size() != 4) return out;
  std::string body = c->Recv(8 * static_cast<size_t>(GetU32(n.data())));
  for (size_t i = 0; i + 8 <= body.size(); i += 8) out.push_back(Oid::FromBytes(body.data() + i));
  return out;
}

std::vector<Oid> RawClient::Sync() {
  Send("S");
  return ReadOidList(this);
}

std::vector<Oid> RawClient::BeginCommit() {
  Send("C");
  return ReadOidList(this);
}

char RawClient::SendCommitData(const std::string& tdata) {
  std::string req;
  PutU32(&req, static_cast<uint32_t>(tdata.size()));
  req += tdata;
  Send(req);
  if (tdata.empty()) return 0;
  std::string s = Recv(1);
  return s.empty() ? 0 : s[0];
}

void GatedStorage::Hold() {
  std::lock_guard<std::mutex> l(mu_);
  armed_ = true;
  holding_ = false;
  released_ = false;
}

void GatedStorage::WaitHeld() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return holding_; });
}

void GatedStorage::Release() {
  std::lock_guard<std::mutex> l(mu_);
  released_ = true;
  cv_.notify_all();
}

Status GatedStorage::Commit(const CommitBatch& batch) {
  Status st = inner_->Commit(batch);
  std::unique_lock<std::mutex> l(mu_);
  if (armed_) {
    armed_ = false;
    holding_ = true;
    cv_.notify_all();
    cv_.wait(l, [&] { return released_; });
  }
  return st;
}

}  // namespace durus::server::test
