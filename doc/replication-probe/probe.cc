// Scratch probe for Berkeley DB 5.3 repmgr (issue 13). Not product code.
// One process = one site. Commands on stdin, events and results on stdout.
#include <db_cxx.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

static std::mutex out_mu;
static double now_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
#define OUT(...)                           \
  do {                                     \
    std::lock_guard<std::mutex> g(out_mu); \
    printf(__VA_ARGS__);                   \
    fflush(stdout);                        \
  } while (0)

static std::atomic<int> is_master{0};
static std::atomic<int> master_epoch{0};
static std::atomic<int> startup_done{0};
static std::atomic<long> perm_failed_total{0};
static thread_local int perm_failed_here = 0;
static thread_local int in_commit_here = 0;
static std::atomic<long> pf_outside_commit{0};
static pthread_t commit_thread;
static std::atomic<int> commit_in_progress{0};
static std::atomic<int> perm_failed_other_thread{0};
static int site_id = 0;
static int o_port = 0;

static const char* ev_name(u_int32_t e) {
  switch (e) {
    case DB_EVENT_PANIC: return "PANIC";
    case DB_EVENT_REP_CLIENT: return "CLIENT";
    case DB_EVENT_REP_CONNECT_BROKEN: return "CONNECT_BROKEN";
    case DB_EVENT_REP_CONNECT_ESTD: return "CONNECT_ESTD";
    case DB_EVENT_REP_CONNECT_TRY_FAILED: return "CONNECT_TRY_FAILED";
    case DB_EVENT_REP_DUPMASTER: return "DUPMASTER";
    case DB_EVENT_REP_ELECTED: return "ELECTED";
    case DB_EVENT_REP_ELECTION_FAILED: return "ELECTION_FAILED";
    case DB_EVENT_REP_INIT_DONE: return "INIT_DONE";
    case DB_EVENT_REP_JOIN_FAILURE: return "JOIN_FAILURE";
    case DB_EVENT_REP_LOCAL_SITE_REMOVED: return "LOCAL_SITE_REMOVED";
    case DB_EVENT_REP_MASTER: return "MASTER";
    case DB_EVENT_REP_MASTER_FAILURE: return "MASTER_FAILURE";
    case DB_EVENT_REP_NEWMASTER: return "NEWMASTER";
    case DB_EVENT_REP_PERM_FAILED: return "PERM_FAILED";
    case DB_EVENT_REP_SITE_ADDED: return "SITE_ADDED";
    case DB_EVENT_REP_SITE_REMOVED: return "SITE_REMOVED";
    case DB_EVENT_REP_STARTUPDONE: return "STARTUPDONE";
    case DB_EVENT_REP_WOULD_ROLLBACK: return "WOULD_ROLLBACK";
    case DB_EVENT_WRITE_FAILED: return "WRITE_FAILED";
    default: return "?";
  }
}

// repmgr 5.3 does not set TCP_NODELAY: Nagle + delayed ACK cost ~40 ms per acked commit.
// On each new connection set it on every TCP socket of the process.
static int nodelay_all() {
  int n = 0;
  for (int fd = 0; fd < 1024; fd++) {
    int type;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
    sockaddr_storage ss;
    len = sizeof ss;
    if (getsockname(fd, (sockaddr*)&ss, &len) != 0) continue;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) continue;
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) n++;
  }
  return n;
}

static void on_event(DbEnv*, u_int32_t which, void* info) {
  if (which == DB_EVENT_REP_CONNECT_ESTD && !getenv("NO_NODELAY")) nodelay_all();
  if (which == DB_EVENT_REP_PERM_FAILED) {
    perm_failed_here = 1;
    if (!in_commit_here) pf_outside_commit++;
    perm_failed_total++;
    if (!commit_in_progress.load() || !pthread_equal(pthread_self(), commit_thread))
      perm_failed_other_thread++;
    return;  // too many to print
  }
  if (which == DB_EVENT_REP_MASTER) {
    is_master = 1;
    master_epoch++;
  }
  if (which == DB_EVENT_REP_CLIENT) is_master = 0;
  if (which == DB_EVENT_REP_STARTUPDONE) startup_done = 1;
  std::string extra;
  if (which == DB_EVENT_REP_NEWMASTER || which == DB_EVENT_REP_CONNECT_ESTD ||
      which == DB_EVENT_REP_CONNECT_BROKEN || which == DB_EVENT_REP_SITE_ADDED ||
      which == DB_EVENT_REP_SITE_REMOVED)
    extra = " eid=" + std::to_string(*(int*)info);
  OUT("EV %s t=%.1f tid=%lx%s\n", ev_name(which), now_ms(), (unsigned long)pthread_self(),
      extra.c_str());
}

struct Opts {
  std::string home;
  int port = 0;
  std::vector<int> peers;
  bool creator = false;
  int prio = 100;
  std::string ack = "quorum";
  bool nosync = true;
  bool lease = false;
  bool recover = true;
  bool autoinit = true;
  int elect_ms = 1000, elect_retry_ms = 1000, hb_send_ms = 200, hb_mon_ms = 800,
      conn_retry_ms = 500, ack_ms = 1000, lease_ms = 1000;
  int threads = 3;
  bool inmem_regions = false;
  bool autoremove = false;
};

static int ack_policy(const std::string& a) {
  if (a == "quorum") return DB_REPMGR_ACKS_QUORUM;
  if (a == "all") return DB_REPMGR_ACKS_ALL;
  if (a == "one") return DB_REPMGR_ACKS_ONE;
  if (a == "none") return DB_REPMGR_ACKS_NONE;
  if (a == "allpeers") return DB_REPMGR_ACKS_ALL_PEERS;
  return DB_REPMGR_ACKS_QUORUM;
}

static DbEnv* env;
static int env_lgmax = 0;
static Db* db = nullptr;
static std::mutex db_mu;

static void close_db() {
  if (db) {
    db->close(0);
    delete db;
    db = nullptr;
  }
}
// Open (or reopen) the table; on a client without the file yet this fails.
static int ensure_db(bool create) {
  if (db) return 0;
  Db* d = new Db(env, DB_CXX_NO_EXCEPTIONS);
  int ret = d->open(nullptr, "t.db", nullptr, DB_BTREE,
                    (create ? DB_CREATE : 0) | DB_AUTO_COMMIT | DB_THREAD, 0644);
  if (ret != 0) {
    d->close(0);
    delete d;
    return ret;
  }
  db = d;
  return 0;
}

static long next_key() {  // max key + 1, from a cursor
  Dbc* c;
  if (db->cursor(nullptr, &c, 0) != 0) return -1;
  Dbt k, v;
  k.set_flags(DB_DBT_MALLOC);
  v.set_flags(DB_DBT_MALLOC);
  long n = 0;
  int ret = c->get(&k, &v, DB_LAST);
  if (ret == 0) {
    n = strtol(std::string((char*)k.get_data(), k.get_size()).c_str() + 1, nullptr, 10) + 1;
    free(k.get_data());
    free(v.get_data());
  } else if (ret != DB_NOTFOUND) {
    n = ret < 0 ? ret : -ret;
  }
  c->close();
  return n;
}

// One transaction writing key k. Returns db error; *pf = PERM_FAILED seen during commit.
static int write_one(long k, int* pf, bool nosync) {
  DbTxn* t;
  int ret = env->txn_begin(nullptr, &t, 0);
  if (ret) return ret;
  char kb[32];
  snprintf(kb, sizeof kb, "k%012ld", k);
  char vb[100];
  memset(vb, 'v', sizeof vb);
  snprintf(vb, sizeof vb, "w%d", o_port);
  Dbt key(kb, strlen(kb)), val(vb, sizeof vb);
  ret = db->put(t, &key, &val, 0);
  if (ret) {
    t->abort();
    return ret;
  }
  perm_failed_here = 0;
  commit_thread = pthread_self();
  commit_in_progress = 1;
  in_commit_here = 1;
  ret = t->commit(nosync ? DB_TXN_NOSYNC : 0);
  in_commit_here = 0;
  commit_in_progress = 0;
  *pf = perm_failed_here;
  return ret;
}

static Opts o;

static void cmd_write(long n) {
  std::lock_guard<std::mutex> g(db_mu);
  if (!is_master) {
    OUT("ERR notmaster\n");
    return;
  }
  int ret = ensure_db(true);
  if (ret) {
    OUT("ERR open %s\n", db_strerror(ret));
    return;
  }
  long k = next_key();
  double t0 = now_ms();
  long pf = 0, errs = 0;
  for (long i = 0; i < n; i++) {
    int p = 0;
    ret = write_one(k + i, &p, o.nosync);
    if (ret) {
      errs++;
      if (errs < 3) OUT("WERR %s\n", db_strerror(ret));
      if (ret == DB_REP_HANDLE_DEAD) close_db();
      break;
    }
    pf += p;
  }
  double t1 = now_ms();
  OUT("WROTE n=%ld ms=%.1f rate=%.0f/s permfailed=%ld errs=%ld first=%ld otherthreadpf=%d\n", n,
      t1 - t0, n * 1000.0 / (t1 - t0), pf, errs, k, perm_failed_other_thread.load());
}

static void cmd_count() {
  std::lock_guard<std::mutex> g(db_mu);
  int ret = ensure_db(false);
  if (ret) {
    OUT("COUNT err=%s\n", db_strerror(ret));
    return;
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    Dbc* c;
    ret = db->cursor(nullptr, &c, 0);
    if (ret == 0) {
      Dbt k, v;
      long n = 0;
      std::string last;
      while ((ret = c->get(&k, &v, DB_NEXT)) == 0) {
        n++;
        last.assign((char*)k.get_data(), k.get_size());
      }
      c->close();
      if (ret == DB_NOTFOUND) {
        OUT("COUNT n=%ld last=%s\n", n, last.c_str());
        return;
      }
    }
    OUT("COUNT err=%s\n", db_strerror(ret));
    if (ret == DB_REP_HANDLE_DEAD) {
      close_db();
      if (ensure_db(false)) return;
      continue;
    }
    return;
  }
}

static void cmd_stat() {
  DB_REP_STAT* s;
  if (env->rep_stat(&s, 0) == 0) {
    OUT("STAT status=%u master=%d egen=%u gen=%u next_lsn=%u/%u max_perm=%u/%u startup=%u "
        "elections=%u\n",
        s->st_status, s->st_master, s->st_egen, s->st_gen, s->st_next_lsn.file,
        s->st_next_lsn.offset, s->st_max_perm_lsn.file, s->st_max_perm_lsn.offset,
        s->st_startup_complete, (unsigned)s->st_elections);
    free(s);
  }
  u_int cnt;
  DB_REPMGR_SITE* list;
  if (env->repmgr_site_list(&cnt, &list) == 0) {
    for (u_int i = 0; i < cnt; i++)
      OUT("SITE eid=%d %s:%u %s%s\n", list[i].eid, list[i].host, list[i].port,
          list[i].status == DB_REPMGR_CONNECTED ? "connected" : "disconnected",
          (list[i].flags & DB_REPMGR_ISPEER) ? " peer" : "");
    free(list);
  }
  DB_LSN lsn;
  DbLogc* lc;
  if (env->log_cursor(&lc, 0) == 0) {
    Dbt d;
    DbLsn l;
    if (lc->get(&l, &d, DB_LAST) == 0) OUT("LOGEND %u/%u\n", l.file, l.offset);
    lc->close(0);
  }
  (void)lsn;
}

// When this site becomes master, write one txn at once and report the time.
static void first_write_loop() {
  int seen = 0;
  while (true) {
    usleep(1000);
    int e = master_epoch.load();
    if (e == seen || !is_master) continue;
    seen = e;
    double t0 = now_ms();
    for (int tries = 0; tries < 5000; tries++) {
      std::unique_lock<std::mutex> g(db_mu);
      double ta = now_ms();
      int ret = ensure_db(true);
      double tb = now_ms();
      if (ret == 0) {
        long k = next_key();
        double tc = now_ms();
        int pf = 0;
        ret = k < 0 ? (int)k : write_one(k, &pf, o.nosync);
        if (ret == 0) {
          OUT("FIRSTWRITE t=%.1f took=%.1f key=%ld permfailed=%d tries=%d lockwait=%.1f open=%.1f "
              "nextkey=%.1f commit=%.1f\n",
              now_ms(), now_ms() - t0, k, pf, tries, ta - t0, tb - ta, tc - tb, now_ms() - tc);
          break;
        }
      }
      if (ret == DB_REP_HANDLE_DEAD) close_db();
      if (tries % 500 == 0) OUT("FWERR %s\n", db_strerror(ret));
      g.unlock();
      usleep(2000);
    }
  }
}

// Writer loop for the kill test: write as fast as possible while master, print each ack.
static std::atomic<int> loop_on{0};
static void writer_loop() {
  while (true) {
    if (!loop_on || !is_master) {
      usleep(2000);
      continue;
    }
    std::lock_guard<std::mutex> g(db_mu);
    if (ensure_db(true)) continue;
    long k = next_key();
    if (k < 0) {
      close_db();
      continue;
    }
    int pf = 0;
    int ret = write_one(k, &pf, o.nosync);
    if (ret == 0)
      OUT("ACK %ld pf=%d\n", k, pf);
    else if (ret == DB_REP_HANDLE_DEAD)
      close_db();
    usleep(1000);
  }
}

static std::vector<int> parse_list(const char* s) {
  std::vector<int> v;
  while (*s) {
    v.push_back(atoi(s));
    const char* c = strchr(s, ',');
    if (!c) break;
    s = c + 1;
  }
  return v;
}

// A second process joining a running site's environment (as a hot backup does).
static int join_main(const char* home) {
  DbEnv* e = new DbEnv(DB_CXX_NO_EXCEPTIONS);
  e->set_errfile(stderr);
  int ret = e->open(home, DB_JOINENV | DB_THREAD, 0);
  printf("JOIN open=%s\n", ret ? db_strerror(ret) : "0");
  if (ret) return 1;
  Db* d = new Db(e, DB_CXX_NO_EXCEPTIONS);
  ret = d->open(nullptr, "t.db", nullptr, DB_BTREE, DB_RDONLY | DB_THREAD, 0);
  long n = 0;
  if (ret == 0) {
    Dbc* c;
    d->cursor(nullptr, &c, 0);
    Dbt k, v;
    while (c->get(&k, &v, DB_NEXT) == 0) n++;
    c->close();
  }
  printf("JOIN dbopen=%s count=%ld\n", ret ? db_strerror(ret) : "0", n);
  d->close(0);
  char** list = nullptr;
  ret = e->log_archive(&list, DB_ARCH_LOG | DB_ARCH_ABS);
  int nl = 0;
  for (char** p = list; p && *p; p++) nl++;
  printf("JOIN log_archive=%s logs=%d\n", ret ? db_strerror(ret) : "0", nl);
  free(list);
  ret = e->close(0);
  printf("JOIN close=%s\n", ret ? db_strerror(ret) : "0");
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--join") return join_main(argv[2]);
  site_id = getpid();
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&]() { return std::string(argv[++i]); };
    if (a == "--home")
      o.home = val();
    else if (a == "--port")
      o.port = atoi(argv[++i]);
    else if (a == "--peers")
      o.peers = parse_list(argv[++i]);
    else if (a == "--creator")
      o.creator = true;
    else if (a == "--prio")
      o.prio = atoi(argv[++i]);
    else if (a == "--ack")
      o.ack = val();
    else if (a == "--sync")
      o.nosync = false;
    else if (a == "--lease")
      o.lease = true;
    else if (a == "--norecover")
      o.recover = false;
    else if (a == "--noautoinit")
      o.autoinit = false;
    else if (a == "--elect")
      o.elect_ms = atoi(argv[++i]);
    else if (a == "--elect-retry")
      o.elect_retry_ms = atoi(argv[++i]);
    else if (a == "--hb-send")
      o.hb_send_ms = atoi(argv[++i]);
    else if (a == "--hb-mon")
      o.hb_mon_ms = atoi(argv[++i]);
    else if (a == "--conn-retry")
      o.conn_retry_ms = atoi(argv[++i]);
    else if (a == "--ack-timeout")
      o.ack_ms = atoi(argv[++i]);
    else if (a == "--lease-timeout")
      o.lease_ms = atoi(argv[++i]);
    else if (a == "--threads")
      o.threads = atoi(argv[++i]);
    else if (a == "--inmem")
      o.inmem_regions = true;
    else if (a == "--autoremove")
      o.autoremove = true;
    else {
      fprintf(stderr, "bad arg %s\n", a.c_str());
      return 2;
    }
  }
  o_port = o.port;
  mkdir(o.home.c_str(), 0755);
  if (getenv("LGMAX")) env_lgmax = atoi(getenv("LGMAX"));
  env = new DbEnv(DB_CXX_NO_EXCEPTIONS);
  env->set_errfile(stderr);
  env->set_errpfx(("site" + std::to_string(o.port)).c_str());
  env->set_event_notify(on_event);
  env->set_lk_detect(DB_LOCK_DEFAULT);
  // Clients apply the master's log with their own env's sync setting: without this each
  // perm record is fsynced on the client before it acks.
  if (getenv("ENV_WRITE_NOSYNC"))
    env->set_flags(DB_TXN_WRITE_NOSYNC, 1);
  else if (o.nosync && !getenv("CLIENT_SYNC"))
    env->set_flags(DB_TXN_NOSYNC, 1);
  if (env_lgmax) env->set_lg_max(env_lgmax);
  if (o.autoremove) env->log_set_config(DB_LOG_AUTO_REMOVE, 1);
  int ret;
#define CK(x)                                                 \
  if ((ret = (x)) != 0) {                                     \
    fprintf(stderr, "%s failed: %s\n", #x, db_strerror(ret)); \
    return 1;                                                 \
  }
  CK(env->rep_set_priority(o.prio));
  CK(env->repmgr_set_ack_policy(ack_policy(o.ack)));
  CK(env->rep_set_timeout(DB_REP_ELECTION_TIMEOUT, o.elect_ms * 1000));
  CK(env->rep_set_timeout(DB_REP_ELECTION_RETRY, o.elect_retry_ms * 1000));
  CK(env->rep_set_timeout(DB_REP_HEARTBEAT_SEND, o.hb_send_ms * 1000));
  CK(env->rep_set_timeout(DB_REP_HEARTBEAT_MONITOR, o.hb_mon_ms * 1000));
  CK(env->rep_set_timeout(DB_REP_CONNECTION_RETRY, o.conn_retry_ms * 1000));
  CK(env->rep_set_timeout(DB_REP_ACK_TIMEOUT, o.ack_ms * 1000));
  if (getenv("REQ_MAX_MS")) CK(env->rep_set_request(10000, atoi(getenv("REQ_MAX_MS")) * 1000));
  if (getenv("FULL_ELECT_MS"))
    CK(env->rep_set_timeout(DB_REP_FULL_ELECTION_TIMEOUT, atoi(getenv("FULL_ELECT_MS")) * 1000));
  CK(env->rep_set_config(DB_REP_CONF_AUTOINIT, o.autoinit ? 1 : 0));
  if (o.lease) {
    CK(env->rep_set_config(DB_REP_CONF_LEASE, 1));
    CK(env->rep_set_timeout(DB_REP_LEASE_TIMEOUT, o.lease_ms * 1000));
  }
  DbSite* site;
  CK(env->repmgr_site("127.0.0.1", o.port, &site, 0));
  CK(site->set_config(DB_LOCAL_SITE, 1));
  if (o.creator) CK(site->set_config(DB_GROUP_CREATOR, 1));
  CK(site->close());
  for (int p : o.peers) {
    CK(env->repmgr_site("127.0.0.1", p, &site, 0));
    CK(site->set_config(DB_BOOTSTRAP_HELPER, 1));
    CK(site->close());
  }
  u_int32_t flags = DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_INIT_TXN |
                    DB_INIT_REP | DB_THREAD;
  if (o.recover) flags |= DB_RECOVER;
  if (o.inmem_regions) flags |= DB_PRIVATE;
  double t0 = now_ms();
  CK(env->open(o.home.c_str(), flags, 0));
  OUT("OPENED t=%.1f took=%.1f\n", now_ms(), now_ms() - t0);
  t0 = now_ms();
  // A site that is not yet in the group's membership database joins through a helper;
  // if no helper can take it now repmgr_start returns DB_REP_UNAVAIL: retry.
  int start_tries = 0;
  while ((ret = env->repmgr_start(o.threads, DB_REP_ELECTION)) == DB_REP_UNAVAIL &&
         ++start_tries < 120)
    usleep(250000);
  OUT("STARTTRIES %d\n", start_tries);
  OUT("STARTED ret=%s t=%.1f took=%.1f\n", ret ? db_strerror(ret) : "0", now_ms(), now_ms() - t0);
  if (ret && ret != DB_REP_IGNORE) return 1;
  std::thread(first_write_loop).detach();
  std::thread(writer_loop).detach();
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[64] = "";
    long arg = 0;
    char sarg[64] = "";
    sscanf(line, "%63s %63s", cmd, sarg);
    arg = atol(sarg);
    std::string c = cmd;
    if (c == "write")
      cmd_write(arg);
    else if (c == "count")
      cmd_count();
    else if (c == "stat")
      cmd_stat();
    else if (c == "ack") {
      ret = env->repmgr_set_ack_policy(ack_policy(sarg));
      OUT("ACKSET %s %d\n", sarg, ret);
    } else if (c == "loop")
      loop_on = arg;
    else if (c == "get") {
      std::lock_guard<std::mutex> g(db_mu);
      char kb[32];
      snprintf(kb, sizeof kb, "k%012ld", arg);
      Dbt k(kb, strlen(kb)), v;
      v.set_flags(DB_DBT_MALLOC);
      ret = ensure_db(false);
      if (ret == 0) ret = db->get(nullptr, &k, &v, 0);
      if (ret == DB_REP_HANDLE_DEAD) {
        OUT("HANDLE_DEAD on get\n");
        close_db();
        ret = ensure_db(false);
        if (ret == 0) ret = db->get(nullptr, &k, &v, 0);
      }
      OUT("GOT %ld %s\n", arg, ret == 0 ? (char*)v.get_data() : db_strerror(ret));
      if (ret == 0) free(v.get_data());
    } else if (c == "mwrite") {  // T threads x N commits each, distinct keys
      long T = arg, N = 0;
      sscanf(line, "%*s %*s %ld", &N);
      {
        std::lock_guard<std::mutex> g(db_mu);
        ensure_db(true);
      }
      std::vector<long> pf(T, 0), err(T, 0);
      std::vector<std::thread> th;
      double t0 = now_ms();
      for (long i = 0; i < T; i++)
        th.emplace_back([&, i] {
          for (long j = 0; j < N; j++) {
            int p = 0;
            int r = write_one(1000000000L + i * 1000000 + j, &p, o.nosync);
            if (r) err[i]++;
            pf[i] += p;
          }
        });
      for (auto& x : th) x.join();
      std::string per;
      for (long i = 0; i < T; i++)
        per += " " + std::to_string(pf[i]) + "/" + std::to_string(err[i]);
      OUT("MWROTE T=%ld N=%ld ms=%.1f pf/err per thread:%s pf_outside_commit=%ld pf_total=%ld\n", T,
          N, now_ms() - t0, per.c_str(), pf_outside_commit.load(), perm_failed_total.load());
    } else if (c == "costs") {  // per-call cost of "what is applied now?" probes
      std::lock_guard<std::mutex> g(db_mu);
      ensure_db(false);
      const int n = 20000;
      double t0 = now_ms();
      for (int i = 0; i < n; i++) {
        Dbc* cc;
        db->cursor(nullptr, &cc, 0);
        Dbt k, v;
        v.set_flags(DB_DBT_PARTIAL);
        v.set_dlen(0);
        cc->get(&k, &v, DB_LAST);
        cc->close();
      }
      double t1 = now_ms();
      for (int i = 0; i < n; i++) {
        DB_REP_STAT* st;
        env->rep_stat(&st, 0);
        free(st);
      }
      double t2 = now_ms();
      for (int i = 0; i < n; i++) {
        char kb[32];
        snprintf(kb, sizeof kb, "k%012d", i % 1000);
        Dbt k(kb, strlen(kb)), v;
        v.set_flags(DB_DBT_MALLOC);
        if (db->get(nullptr, &k, &v, 0) == 0) free(v.get_data());
      }
      double t3 = now_ms();
      OUT("COSTS us/call: cursor DB_LAST=%.2f rep_stat=%.2f get=%.2f\n", (t1 - t0) * 1000 / n,
          (t2 - t1) * 1000 / n, (t3 - t2) * 1000 / n);
    } else if (c == "forcewrite") {  // a write on a client: what error?
      std::lock_guard<std::mutex> g(db_mu);
      ret = ensure_db(false);
      int pf = 0;
      if (ret == 0) ret = write_one(999999999, &pf, true);
      Db* d2 = new Db(env, DB_CXX_NO_EXCEPTIONS);
      int r2 = d2->open(nullptr, "new.db", nullptr, DB_BTREE,
                        DB_CREATE | DB_AUTO_COMMIT | DB_THREAD, 0644);
      d2->close(0);
      delete d2;
      OUT("FORCEWRITE put=%s create=%s\n", ret ? db_strerror(ret) : "0",
          r2 ? db_strerror(r2) : "0");
    } else if (c == "ckpt") {
      int r1 = env->txn_checkpoint(0, 0, DB_FORCE);
      char** list = nullptr;
      int r2 = env->log_archive(&list, DB_ARCH_REMOVE);
      char** l2 = nullptr;
      env->log_archive(&l2, DB_ARCH_LOG);
      int n = 0;
      for (char** p = l2; p && *p; p++) n++;
      OUT("CKPT %d %d logs_now=%d\n", r1, r2, n);
      free(l2);
    } else if (c == "remove") {  // remove site with port arg from the group
      DbSite* s;
      ret = env->repmgr_site("127.0.0.1", arg, &s, 0);
      if (ret == 0) ret = s->remove();  // remove() also closes the handle
      OUT("REMOVED ret=%s\n", ret ? db_strerror(ret) : "0");
    } else if (c == "quit")
      break;
    else
      OUT("ERR unknown %s\n", cmd);
  }
  {
    std::lock_guard<std::mutex> g(db_mu);
    close_db();
  }
  env->log_flush(nullptr);
  ret = env->close(0);
  OUT("CLOSED %d\n", ret);
  _exit(0);
}
