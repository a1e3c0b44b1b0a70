// server_loadgen: a Durus protocol-1 load generator (C++), for comparing
// `durus-bdb serve` with Durus's own StorageServer (bench/server_bench.sh).
//
//   server_loadgen --host H --port P --mode MODE [--clients N] [--seconds S]
//                  [--objects K] [--batch B] [--commit-objects C] [--record-bytes R]
//
// Modes (each prints one "RESULT ..." line):
//   populate  on an empty server: root -> chunks of 1000 data objects
//             (--objects K of --record-bytes) and root -> one container per
//             potential committer (16) -> its --commit-objects objects.
//             Every commit keeps everything reachable from the root.
//   load      N clients, each a connection in its own thread, random
//             single loads ('L') of the data objects for S seconds.
//   bulk      N clients, random bulk loads ('B') of --batch oids.
//   commit    N clients, each repeatedly commits new versions of its own
//             --commit-objects objects (disjoint: no conflicts).
//
// Each client is its own connection with one request outstanding at a
// time (as a Durus process is).  By default the connections are driven by
// an event loop on --driver-threads threads (default 2), so that on a
// small machine the load generator's own thread wake-ups do not eat the
// CPU the servers need; --blocking gives each client its own thread
// doing blocking I/O instead.
//
// The layout is found again by the other modes from the root record, so
// populate runs once per server.  Clients speak the protocol exactly as
// ClientStorage does (V handshake; C reads the invalidation list before
// sending the commit data).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/oid.h"
#include "engine/record.h"

namespace {

using durus::GetU32;
using durus::Oid;
using durus::PutU32;
using durus::PutU64;

constexpr int kMaxCommitters = 16;
constexpr int kChunk = 1000;

struct Options {
  std::string host = "127.0.0.1";
  int port = 2972;
  std::string mode;
  int clients = 1;
  double seconds = 3;
  int objects = 20000;
  int batch = 100;
  int commit_objects = 10;
  int record_bytes = 300;
  int driver_threads = 2;
  bool blocking = false;
};

[[noreturn]] void Die(const std::string& msg) {
  fprintf(stderr, "server_loadgen: %s\n", msg.c_str());
  exit(1);
}

class Conn {
 public:
  explicit Conn(const Options& o) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &res) != 0)
      Die("resolve");
    fd_ = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd_ < 0 || connect(fd_, res->ai_addr, res->ai_addrlen) != 0)
      Die("connect: " + std::string(strerror(errno)));
    freeaddrinfo(res);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::string v = "V";
    PutU32(&v, 1);
    Send(v);
    if (GetU32(Recv(4).data()) != 1) Die("protocol mismatch");
  }
  ~Conn() {
    if (fd_ < 0) return;
    Send(".");
    close(fd_);
  }
  // Hand the connected socket over (after the handshake).
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) Die("send failed");
      off += static_cast<size_t>(n);
    }
  }
  std::string Recv(size_t n) {
    std::string out(n, '\0');
    size_t off = 0;
    while (off < n) {
      ssize_t r = recv(fd_, &out[off], n - off, 0);
      if (r <= 0) Die("connection closed by the server");
      off += static_cast<size_t>(r);
    }
    return out;
  }
  // One load reply; returns the status byte, record into *rec.
  char LoadReply(std::string* rec) {
    char s = Recv(1)[0];
    if (s == 'O') *rec = Recv(GetU32(Recv(4).data()));
    return s;
  }
  std::vector<uint64_t> NewOids(int n) {
    std::vector<uint64_t> out;
    while (n > 0) {
      int k = n > 200 ? 200 : n;
      std::string req = "M";
      req.push_back(static_cast<char>(k));
      Send(req);
      std::string r = Recv(8 * static_cast<size_t>(k));
      for (int i = 0; i < k; ++i) out.push_back(Oid::FromBytes(&r[8 * i]).value());
      n -= k;
    }
    return out;
  }
  // Full commit exchange; returns the status byte.
  char Commit(const std::string& tdata) {
    Send("C");
    uint32_t n = GetU32(Recv(4).data());
    if (n > 0) Recv(8 * static_cast<size_t>(n));
    std::string req;
    PutU32(&req, static_cast<uint32_t>(tdata.size()));
    Send(req + tdata);
    return Recv(1)[0];
  }
  void Sync() {
    Send("S");
    uint32_t n = GetU32(Recv(4).data());
    if (n > 0) Recv(8 * static_cast<size_t>(n));
  }

 private:
  int fd_ = -1;
};

std::string Payload(std::mt19937_64* rng, int bytes) {
  std::string p = "cbench\nObj\n";
  // Eight random bytes per draw: building a commit stays cheap next to
  // the servers' work (it is on every commit's round trip).
  while (static_cast<int>(p.size()) < bytes) {
    uint64_t r = (*rng)();
    for (int i = 0; i < 8 && static_cast<int>(p.size()) < bytes; ++i, r >>= 8) {
      p.push_back(static_cast<char>(r & 0xff));
    }
  }
  return p;
}

void AddFrame(std::string* tdata, uint64_t oid, const std::string& record) {
  PutU32(tdata, static_cast<uint32_t>(8 + record.size()));
  PutU64(tdata, oid);
  *tdata += record;
}

std::vector<Oid> Refs(const std::string& record) {
  durus::RecordView v;
  if (!durus::UnpackRecord(record, &v).ok()) Die("bad record");
  std::vector<Oid> out;
  for (size_t i = 0; i + 8 <= v.refs.size(); i += 8)
    out.push_back(Oid::FromBytes(v.refs.data() + i));
  return out;
}

// The layout, read back from the root: root refs = [containers..., chunks...].
struct Layout {
  std::vector<uint64_t> data;                      // data object oids
  std::vector<std::vector<uint64_t>> client_objs;  // per committer
};

Layout ReadLayout(const Options& o) {
  Conn c(o);
  std::string rec;
  std::string req = "L";
  PutU64(&req, 0);
  c.Send(req);
  if (c.LoadReply(&rec) != 'O') Die("no root: run --mode populate first");
  std::vector<Oid> refs = Refs(rec);
  if (refs.size() < static_cast<size_t>(kMaxCommitters)) Die("unexpected root");
  Layout l;
  for (size_t i = 0; i < refs.size(); ++i) {
    std::string r;
    std::string q = "L";
    PutU64(&q, refs[i].value());
    c.Send(q);
    if (c.LoadReply(&r) != 'O') Die("missing container/chunk");
    std::vector<uint64_t> kids;
    for (Oid k : Refs(r)) kids.push_back(k.value());
    if (i < static_cast<size_t>(kMaxCommitters)) {
      l.client_objs.push_back(kids);
    } else {
      l.data.insert(l.data.end(), kids.begin(), kids.end());
    }
  }
  return l;
}

void Populate(const Options& o) {
  Conn c(o);
  std::mt19937_64 rng(42);
  auto t0 = std::chrono::steady_clock::now();
  uint64_t root = c.NewOids(1)[0];
  if (root != 0) Die("populate needs an empty server (first oid was not 0)");
  std::vector<Oid> root_refs;
  // Containers and their objects first (one commit), then chunks.
  std::vector<uint64_t> containers = c.NewOids(kMaxCommitters);
  {
    std::string tdata;
    for (uint64_t ct : containers) {
      std::vector<uint64_t> objs = c.NewOids(o.commit_objects);
      std::vector<Oid> refs;
      for (uint64_t x : objs) {
        AddFrame(&tdata, x, durus::PackRecord(Oid(x), Payload(&rng, o.record_bytes), {}));
        refs.push_back(Oid(x));
      }
      AddFrame(&tdata, ct, durus::PackRecord(Oid(ct), "cbench\nContainer\n", refs));
      root_refs.push_back(Oid(ct));
    }
    AddFrame(&tdata, root, durus::PackRecord(Oid(root), "cbench\nRoot\n", root_refs));
    if (c.Commit(tdata) != 'O') Die("populate commit refused");
  }
  int left = o.objects;
  while (left > 0) {
    int n = left > kChunk ? kChunk : left;
    uint64_t chunk = c.NewOids(1)[0];
    std::vector<uint64_t> objs = c.NewOids(n);
    std::string tdata;
    std::vector<Oid> refs;
    for (uint64_t x : objs) {
      AddFrame(&tdata, x, durus::PackRecord(Oid(x), Payload(&rng, o.record_bytes), {}));
      refs.push_back(Oid(x));
    }
    AddFrame(&tdata, chunk, durus::PackRecord(Oid(chunk), "cbench\nChunk\n", refs));
    root_refs.push_back(Oid(chunk));
    AddFrame(&tdata, root, durus::PackRecord(Oid(root), "cbench\nRoot\n", root_refs));
    if (c.Commit(tdata) != 'O') Die("populate commit refused");
    left -= n;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("RESULT mode=populate objects=%d seconds=%.2f\n", o.objects, s);
}

// One client connection driven by an event loop.
struct Session {
  int fd = -1;
  int index = 0;  // which committer's objects
  std::mt19937_64 rng;
  enum Phase { kLoadReplies, kCommitList, kCommitStatus } phase = kLoadReplies;
  int pending = 0;  // load replies outstanding
  std::string in;
  uint64_t done = 0;
  bool busy = false;  // a request is outstanding
};

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, 1000);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      Die("send failed");
    }
  }
}

std::string CommitData(const Options& o, const Layout& layout, Session* s) {
  std::string tdata;
  for (uint64_t x : layout.client_objs[static_cast<size_t>(s->index)]) {
    AddFrame(&tdata, x, durus::PackRecord(Oid(x), Payload(&s->rng, o.record_bytes), {}));
  }
  return tdata;
}

void StartRequest(const Options& o, const Layout& layout, Session* s) {
  std::uniform_int_distribution<size_t> pick(0, layout.data.size() - 1);
  std::string req;
  if (o.mode == "load") {
    req = "L";
    PutU64(&req, layout.data[pick(s->rng)]);
    s->phase = Session::kLoadReplies;
    s->pending = 1;
  } else if (o.mode == "bulk") {
    req = "B";
    PutU32(&req, static_cast<uint32_t>(o.batch));
    for (int i = 0; i < o.batch; ++i) PutU64(&req, layout.data[pick(s->rng)]);
    s->phase = Session::kLoadReplies;
    s->pending = o.batch;
  } else {
    req = "C";
    s->phase = Session::kCommitList;
  }
  s->busy = true;
  SendAll(s->fd, req);
}

// Consume complete replies from s->in; returns when more bytes are needed
// or the request finished (then s->busy is false).
void Advance(const Options& o, const Layout& layout, Session* s) {
  size_t pos = 0;
  const std::string& in = s->in;
  while (s->busy) {
    size_t avail = in.size() - pos;
    if (s->phase == Session::kLoadReplies) {
      if (avail < 1) break;
      char st = in[pos];
      if (st != 'O') Die(std::string("load failed: status ") + st);
      if (avail < 5) break;
      size_t len = GetU32(in.data() + pos + 1);
      if (avail < 5 + len) break;
      pos += 5 + len;
      if (--s->pending == 0) {
        s->busy = false;
        ++s->done;
      }
    } else if (s->phase == Session::kCommitList) {
      if (avail < 4) break;
      size_t n = GetU32(in.data() + pos);
      if (avail < 4 + 8 * n) break;
      pos += 4 + 8 * n;
      std::string tdata = CommitData(o, layout, s);
      std::string req;
      PutU32(&req, static_cast<uint32_t>(tdata.size()));
      SendAll(s->fd, req + tdata);
      s->phase = Session::kCommitStatus;
    } else {
      if (avail < 1) break;
      if (in[pos] != 'O') Die(std::string("commit refused: ") + in[pos]);
      pos += 1;
      s->busy = false;
      ++s->done;
    }
  }
  s->in.erase(0, pos);
}

uint64_t RunEvented(const Options& o, const Layout& layout, double* seconds) {
  std::vector<std::unique_ptr<Session>> sessions;
  for (int t = 0; t < o.clients; ++t) {
    auto s = std::make_unique<Session>();
    Conn c(o);
    s->fd = c.Release();
    fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
    s->index = t;
    s->rng.seed(1000 + t);
    sessions.push_back(std::move(s));
  }
  int nthreads = std::max(1, std::min(o.driver_threads, o.clients));
  std::atomic<bool> stop{false};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; ++t) {
    threads.emplace_back([&, t] {
      int ep = epoll_create1(0);
      std::vector<Session*> mine;
      for (size_t i = t; i < sessions.size(); i += nthreads) {
        Session* s = sessions[i].get();
        mine.push_back(s);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = s;
        epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
      }
      while (!go.load()) std::this_thread::yield();
      for (Session* s : mine) StartRequest(o, layout, s);
      epoll_event evs[64];
      char buf[65536];
      auto drain_deadline = std::chrono::steady_clock::time_point::max();
      while (true) {
        bool stopping = stop.load(std::memory_order_relaxed);
        if (stopping) {
          bool idle = true;
          for (Session* s : mine) idle = idle && !s->busy;
          if (idle) break;
          if (drain_deadline == std::chrono::steady_clock::time_point::max()) {
            drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          } else if (std::chrono::steady_clock::now() > drain_deadline) {
            Die("server did not answer outstanding requests");
          }
        }
        int n = epoll_wait(ep, evs, 64, 20);
        for (int i = 0; i < n; ++i) {
          Session* s = static_cast<Session*>(evs[i].data.ptr);
          while (true) {
            ssize_t r = recv(s->fd, buf, sizeof(buf), 0);
            if (r > 0) {
              s->in.append(buf, static_cast<size_t>(r));
              // A short read emptied the socket: no second recv just to
              // hear EAGAIN (epoll is level-triggered here, so nothing
              // that arrives later is missed).
              if (static_cast<size_t>(r) < sizeof(buf)) break;
              continue;
            }
            if (r == 0) Die("connection closed by the server");
            if (errno == EINTR) continue;
            break;  // EAGAIN
          }
          Advance(o, layout, s);
          if (!s->busy && !stop.load(std::memory_order_relaxed)) StartRequest(o, layout, s);
        }
      }
      close(ep);
    });
  }
  auto t0 = std::chrono::steady_clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t total = 0;
  for (auto& s : sessions) {
    total += s->done;
    SendAll(s->fd, ".");
    close(s->fd);
  }
  return total;
}

void Run(const Options& o) {
  Layout layout = ReadLayout(o);
  if (layout.data.empty()) Die("no data objects");
  if (o.mode == "commit" && o.clients > kMaxCommitters) Die("at most 16 committing clients");
  if (!o.blocking) {
    double s = 0;
    uint64_t total = RunEvented(o, layout, &s);
    printf("RESULT mode=%s clients=%d ops=%llu seconds=%.2f rate=%.1f\n", o.mode.c_str(), o.clients,
           static_cast<unsigned long long>(total), s, total / s);
    return;
  }
  std::atomic<bool> go{false}, stop{false};
  std::atomic<int> ready{0};
  std::vector<uint64_t> counts(static_cast<size_t>(o.clients), 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < o.clients; ++t) {
    threads.emplace_back([&, t] {
      Conn c(o);
      std::mt19937_64 rng(1000 + t);
      std::uniform_int_distribution<size_t> pick(0, layout.data.size() - 1);
      std::string rec;
      ++ready;
      while (!go.load()) std::this_thread::yield();
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (o.mode == "load") {
          std::string req = "L";
          PutU64(&req, layout.data[pick(rng)]);
          c.Send(req);
          if (c.LoadReply(&rec) != 'O') Die("load failed");
          ++n;
        } else if (o.mode == "bulk") {
          std::string req = "B";
          PutU32(&req, static_cast<uint32_t>(o.batch));
          for (int i = 0; i < o.batch; ++i) PutU64(&req, layout.data[pick(rng)]);
          c.Send(req);
          for (int i = 0; i < o.batch; ++i) {
            if (c.LoadReply(&rec) != 'O') Die("bulk load failed");
          }
          ++n;
        } else {
          std::string tdata;
          for (uint64_t x : layout.client_objs[static_cast<size_t>(t)]) {
            AddFrame(&tdata, x, durus::PackRecord(Oid(x), Payload(&rng, o.record_bytes), {}));
          }
          char s = c.Commit(tdata);
          if (s != 'O') Die(std::string("commit refused: ") + s);
          ++n;
        }
      }
      counts[static_cast<size_t>(t)] = n;
    });
  }
  while (ready.load() < o.clients) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto t0 = std::chrono::steady_clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t total = 0;
  for (uint64_t n : counts) total += n;
  printf("RESULT mode=%s clients=%d ops=%llu seconds=%.2f rate=%.1f\n", o.mode.c_str(), o.clients,
         static_cast<unsigned long long>(total), s, total / s);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--host")
      o.host = val();
    else if (a == "--port")
      o.port = atoi(val().c_str());
    else if (a == "--mode")
      o.mode = val();
    else if (a == "--clients")
      o.clients = atoi(val().c_str());
    else if (a == "--seconds")
      o.seconds = atof(val().c_str());
    else if (a == "--objects")
      o.objects = atoi(val().c_str());
    else if (a == "--batch")
      o.batch = atoi(val().c_str());
    else if (a == "--commit-objects")
      o.commit_objects = atoi(val().c_str());
    else if (a == "--record-bytes")
      o.record_bytes = atoi(val().c_str());
    else if (a == "--driver-threads")
      o.driver_threads = atoi(val().c_str());
    else if (a == "--blocking")
      o.blocking = true;
    else
      Die("unknown argument " + a);
  }
  if (o.mode == "populate")
    Populate(o);
  else if (o.mode == "load" || o.mode == "bulk" || o.mode == "commit")
    Run(o);
  else
    Die("--mode populate|load|bulk|commit");
  return 0;
}
