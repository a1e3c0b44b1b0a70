// Salvage (bdb/salvage.h): Berkeley DB's salvage verification on a home's
// files, its text output parsed back into records.
#include "bdb/salvage.h"

#include <db_cxx.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ostream>
#include <set>
#include <streambuf>
#include <unordered_set>

#include "bdb/home_lock.h"
#include "bdb/salvage_replay.h"
#include "bdb/schema.h"
#include "engine/record.h"

namespace durus {

// ---------------------------------------------------------------------------
// Running Berkeley DB's salvage

namespace {

// Berkeley DB's messages of the current run on this thread.
struct MessageSink {
  uint64_t count = 0;
  std::vector<std::string> samples;
  size_t max_samples = 20;
  std::set<uint64_t> pages;           // "Page N: ..." and "page N"
  std::set<uint64_t> checksum_pages;  // "checksum error: page N"
};
thread_local MessageSink* t_sink = nullptr;

// The page number after "page " / "Page " in `msg`, if any.
bool PageAfter(const std::string& msg, size_t from, uint64_t* page) {
  for (size_t at = from; at < msg.size();) {
    size_t p = msg.find("age ", at);
    if (p == std::string::npos || p == 0) return false;
    at = p + 4;
    if (msg[p - 1] != 'P' && msg[p - 1] != 'p') continue;
    size_t d = p + 4;
    if (d >= msg.size() || msg[d] < '0' || msg[d] > '9') continue;
    uint64_t v = 0;
    while (d < msg.size() && msg[d] >= '0' && msg[d] <= '9' && v < (uint64_t{1} << 40)) {
      v = v * 10 + static_cast<uint64_t>(msg[d] - '0');
      ++d;
    }
    *page = v;
    return true;
  }
  return false;
}

void OnDbMessage(const DbEnv*, const char*, const char* text) {
  MessageSink* s = t_sink;
  if (s == nullptr || text == nullptr) return;
  std::string msg(text);
  ++s->count;
  if (s->samples.size() < s->max_samples) s->samples.push_back(msg);
  uint64_t page = 0;
  size_t ck = msg.find("checksum error: page ");
  if (ck != std::string::npos && PageAfter(msg, ck, &page)) {
    s->checksum_pages.insert(page);
    s->pages.insert(page);
  } else if (PageAfter(msg, 0, &page)) {
    s->pages.insert(page);
  }
}

// The ostream Berkeley DB's salvage prints into: buffers the text and hands
// it to the parser.  After `fail()`, writes fail, so Berkeley DB's print
// callback returns EIO and the salvage winds down quickly.
class ParserStreamBuf : public std::streambuf {
 public:
  explicit ParserStreamBuf(SalvageTextParser* parser) : parser_(parser) {
    setp(buf_, buf_ + sizeof(buf_));
  }
  void Fail() { failed_ = true; }
  void Flush() {
    if (pptr() > pbase()) parser_->Feed(std::string_view(pbase(), pptr() - pbase()));
    setp(buf_, buf_ + sizeof(buf_));
  }

 protected:
  int_type overflow(int_type c) override {
    if (failed_) return traits_type::eof();
    Flush();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override {
    if (failed_) return -1;
    Flush();
    return 0;
  }

 private:
  SalvageTextParser* parser_;
  bool failed_ = false;
  char buf_[1 << 16];
};

// A handle for one Db::verify, without an environment (Berkeley DB makes
// a private one in memory: nothing is written anywhere).
Db* NewVerifyDb(uint32_t cache_mb) {
  Db* db = new Db(nullptr, DB_CXX_NO_EXCEPTIONS);
  db->set_errcall(&OnDbMessage);
  uint64_t cache = uint64_t{std::max<uint32_t>(cache_mb, 1)} << 20;
  (void)db->set_cachesize(static_cast<u_int32_t>(cache >> 30),
                          static_cast<u_int32_t>(cache & ((1u << 30) - 1)), 1);
  return db;
}

struct RunResult {
  int ret = 0;
  MessageSink messages;
};

// One Db::verify(DB_SALVAGE) of `path`, printing into `parser`.  No
// environment: Berkeley DB makes a private one in memory.
RunResult RunSalvage(const std::string& path, bool aggressive, uint32_t cache_mb, size_t samples,
                     SalvageTextParser* parser, ParserStreamBuf* buf) {
  RunResult r;
  r.messages.max_samples = samples;
  t_sink = &r.messages;
  Db* db = NewVerifyDb(cache_mb);
  std::ostream out(buf);
  uint32_t flags = DB_SALVAGE | (aggressive ? DB_AGGRESSIVE : 0);
  // Db::verify destroys the underlying handle whatever it returns.
  r.ret = db->verify(path.c_str(), nullptr, &out, flags);
  delete db;
  buf->pubsync();
  parser->Finish();
  t_sink = nullptr;
  return r;
}

// Berkeley DB's plain verification of `path` (no output): the salvage
// passes skip what they cannot read without a word, this names the pages.
RunResult RunVerify(const std::string& path, uint32_t cache_mb, size_t samples) {
  RunResult r;
  r.messages.max_samples = samples;
  t_sink = &r.messages;
  Db* db = NewVerifyDb(cache_mb);
  r.ret = db->verify(path.c_str(), nullptr, nullptr, 0);
  delete db;
  t_sink = nullptr;
  return r;
}

// Oids seen so far, for "first version wins".  Salvage output is mostly in
// ascending oid order: those go to a sorted vector (8 bytes an oid), the
// rest to a hash set.
class OidSet {
 public:
  // True if `oid` was not there yet.
  bool Insert(uint64_t oid) {
    if (sorted_.empty() || oid > sorted_.back()) {
      sorted_.push_back(oid);
      return true;
    }
    if (std::binary_search(sorted_.begin(), sorted_.end(), oid)) return false;
    return others_.insert(oid).second;
  }
  std::vector<uint64_t> Sorted() const {
    std::vector<uint64_t> all(sorted_);
    all.insert(all.end(), others_.begin(), others_.end());
    std::sort(all.begin(), all.end());
    return all;
  }

 private:
  std::vector<uint64_t> sorted_;
  std::unordered_set<uint64_t> others_;
};

// The referenced oids, distinct (compacted as it grows).
class RefSet {
 public:
  void Add(const std::vector<Oid>& refs) {
    for (Oid o : refs) v_.push_back(o.value());
    if (v_.size() > 2 * compacted_ + (1u << 20)) Compact();
  }
  const std::vector<uint64_t>& Sorted() {
    Compact();
    return v_;
  }

 private:
  void Compact() {
    std::sort(v_.begin(), v_.end());
    v_.erase(std::unique(v_.begin(), v_.end()), v_.end());
    compacted_ = v_.size();
  }
  std::vector<uint64_t> v_;
  size_t compacted_ = 0;
};

bool IsDir(const std::string& path, int* err) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *err = errno;
    return false;
  }
  *err = 0;
  return S_ISDIR(st.st_mode);
}

// Page size from a btree meta page (offset 20, host order as written).
uint32_t ReadPageSize(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  unsigned char meta[32];
  ssize_t n = pread(fd, meta, sizeof meta, 0);
  close(fd);
  if (n != static_cast<ssize_t>(sizeof meta)) return 0;
  uint32_t ps;
  memcpy(&ps, meta + 20, 4);
  if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0) return 0;
  return ps;
}

// A copy of `src` in `dir` with `pages` zeroed and, when `no_checksums`,
// the meta page's checksum flag cleared.  The copy's name is returned in
// `*copy`; the caller unlinks it.
Status CopyWithPagesZeroed(const std::string& src, const std::string& dir, uint32_t page_size,
                           const std::set<uint64_t>& pages, bool no_checksums, std::string* copy) {
  std::string tmpl = (dir.empty() ? std::string(".") : dir) + "/durus-salvage-XXXXXX";
  int out = mkstemp(tmpl.data());
  if (out < 0) {
    return Status::IOError("cannot create a temporary copy of " + src + " in " +
                           (dir.empty() ? std::string(".") : dir) + ": " + strerror(errno) +
                           " (choose another place with --temp-dir)");
  }
  *copy = tmpl;
  int in = open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    close(out);
    return Status::IOError("cannot read " + src + ": " + strerror(errno));
  }
  std::vector<char> page(page_size);
  Status s;
  for (uint64_t pgno = 0;; ++pgno) {
    ssize_t n = pread(in, page.data(), page_size, static_cast<off_t>(pgno * page_size));
    if (n < 0) {
      s = Status::IOError("reading " + src + ": " + strerror(errno));
      break;
    }
    if (n == 0) break;
    if (pages.count(pgno) != 0 && pgno != 0) memset(page.data(), 0, static_cast<size_t>(n));
    if (pgno == 0 && no_checksums && n > 26) page[26] &= ~0x01;  // DBMETA_CHKSUM
    if (pwrite(out, page.data(), static_cast<size_t>(n), static_cast<off_t>(pgno * page_size)) !=
        n) {
      s = Status::IOError("writing the temporary copy " + tmpl + ": " + strerror(errno));
      break;
    }
    if (static_cast<size_t>(n) < page_size) break;
  }
  close(in);
  if (close(out) != 0 && s.ok()) s = Status::IOError("writing " + tmpl + ": " + strerror(errno));
  return s;
}

constexpr int kMaxChecksumRetries = 32;

// meta.db's next_oid, by the same salvage (it may be damaged too).
void SalvageNextOid(const std::string& home, SalvageReport* r) {
  std::string path = home + "/" + schema::kMetaFile;
  if (access(path.c_str(), R_OK) != 0) {
    r->meta_problem = path + ": " + strerror(errno);
    return;
  }
  bool have_key = false, found = false;
  uint64_t value = 0;
  SalvageTextParser parser(
      [&](std::string_view b, bool ok) {
        if (have_key) {
          have_key = false;
          if (ok && b.size() == 8 && !found) {
            value = GetU64(b.data());
            found = true;
          }
          return;
        }
        have_key = ok && b == schema::kMetaNextOid;
      },
      [&] { have_key = false; });
  ParserStreamBuf buf(&parser);
  RunResult run = RunSalvage(path, false, 8, 5, &parser, &buf);
  if (found) {
    r->next_oid = value;
    r->meta_next_oid = true;
  } else {
    r->meta_problem = "no readable next_oid in " + path +
                      (run.ret != 0 ? " (" + std::string(DbEnv::strerror(run.ret)) + ")" : "");
  }
}

// Refuse a home another process holds (its files change under us), unless
// forced.  The lock file is opened read-only; a shared flock is held for
// the whole salvage so no opener starts meanwhile.
class HolderCheck {
 public:
  ~HolderCheck() {
    if (fd_ >= 0) close(fd_);
  }
  Status Check(const std::string& home, bool force, SalvageReport* r) {
    std::string path = home + "/" + schema::kLockFile;
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return Status::OK();  // no lock file: nobody holds it
    if (flock(fd_, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
      // Nobody holds it now; a description left in the file is a holder
      // that crashed (a clean close empties it: bdb/home_lock.h).
      r->last_holder = bdb::DescribeHolder(home);
      r->not_closed_cleanly = !r->last_holder.empty();
      return Status::OK();
    }
    std::string holder = bdb::DescribeHolder(home);
    if (holder.empty()) holder = "(unknown)";
    if (!force) {
      return Status::Busy("home " + home + " is in use by process " + holder +
                          ": its files are live and change while a salvage reads them; stop "
                          "that process first (or pass --force to salvage the live files anyway)");
    }
    r->forced_live = true;
    r->holder = holder;
    return Status::OK();
  }

 private:
  int fd_ = -1;
};

}  // namespace

Status SalvageHome(const std::string& home, const SalvageOptions& o,
                   const SalvageRecordFn& on_record, SalvageReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  SalvageReport& r = *report;
  r = SalvageReport();
  r.home = home;
  int err = 0;
  if (!IsDir(home, &err)) {
    if (err == ENOENT) return Status::NotFound(home + " does not exist");
    if (err != 0) return Status::IOError("cannot read " + home + ": " + strerror(err));
    return Status::InvalidArgument(home + " is not a directory (salvage reads a durus-bdb home)");
  }
  std::string records = home + "/" + schema::kRecordsFile;
  const std::string meta = home + "/" + schema::kMetaFile;
  struct stat st;
  if (stat(records.c_str(), &st) != 0) {
    if (errno == ENOENT && access(meta.c_str(), F_OK) != 0) {
      return Status::InvalidArgument(home + " is not a durus-bdb home (it has neither " +
                                     schema::kRecordsFile + " nor " + schema::kMetaFile + ")");
    }
    return Status::Corruption("cannot salvage " + records + ": " + strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::Corruption(records + " is not a regular file");
  if (access(records.c_str(), R_OK) != 0) {
    return Status::IOError("cannot read " + records + ": " + strerror(errno));
  }
  r.file_bytes = static_cast<uint64_t>(st.st_size);
  if (r.file_bytes == 0) return Status::Corruption(records + " is empty: nothing to salvage");
  HolderCheck holder;
  DURUS_RETURN_IF_ERROR(holder.Check(home, o.force, &r));
  // A crashed home: its latest commits are in the log; read a copy with
  // the log replayed instead (the copy goes when `replay` does).
  bdb::LogReplay replay;
  if (r.not_closed_cleanly && o.replay_log) {
    bdb::ReplayLogIntoCopy(home, o.temp_dir, o.cache_mb, &replay);
    r.log_damage = replay.damage;
    if (replay.replayed) {
      r.log_replayed = true;
      records = replay.dir + "/" + schema::kRecordsFile;
      if (stat(records.c_str(), &st) == 0) r.file_bytes = static_cast<uint64_t>(st.st_size);
    } else {
      r.replay_problem = replay.problem;
    }
  } else if (r.not_closed_cleanly) {
    r.replay_problem = "not asked to (--no-replay)";
  }
  r.page_size = ReadPageSize(records);

  SalvageNextOid(home, &r);

  // The records, each oid once.
  OidSet seen;
  RefSet refs;
  uint64_t max_oid = 0;
  bool any = false;
  bool aggressive_pass = false;
  // After a run cut short by a checksum failure, its records come again in
  // the repeated run: not duplicates.
  std::vector<uint64_t> before_retry;
  Status cb_status;
  ParserStreamBuf* current_buf = nullptr;
  auto sample = [&](const std::string& s) {
    if (r.problem_samples.size() < o.max_samples) r.problem_samples.push_back(s);
  };
  SalvagePairer pairer(
      [&](Oid oid, std::string_view rec, bool keyless) {
        if (!cb_status.ok()) return;
        if (!seen.Insert(oid.value())) {
          if (!std::binary_search(before_retry.begin(), before_retry.end(), oid.value())) {
            ++r.duplicates;
          }
          return;
        }
        RecordView v;
        if (!UnpackRecord(rec, &v).ok()) return;  // the pairer checked it
        std::vector<Oid> targets = NormalizedRefs(v.refs, oid);
        refs.Add(targets);
        for (Oid t : targets) max_oid = std::max(max_oid, t.value());
        max_oid = std::max(max_oid, oid.value());
        any = true;
        if (oid == kRootOid) r.root_found = true;
        ++r.records;
        r.record_bytes += rec.size();
        if (keyless) ++r.keyless;
        if (aggressive_pass) ++r.aggressive_only;
        cb_status = on_record(oid, rec);
        if (!cb_status.ok() && current_buf != nullptr) current_buf->Fail();
        if (o.progress && r.records % 10000 == 0) o.progress(r.records, r.record_bytes);
      },
      [&](SalvagePairer::Problem p, const std::string& what) {
        if (aggressive_pass) {  // the ordinary pass's problems come again
          ++r.aggressive_unusable;
          return;
        }
        switch (p) {
          case SalvagePairer::Problem::kMalformed: ++r.malformed; break;
          case SalvagePairer::Problem::kLostKey: ++r.lost_keys; break;
          case SalvagePairer::Problem::kUnreadable: ++r.unreadable_items; break;
        }
        sample(what);
      });
  SalvageTextParser parser([&](std::string_view b, bool ok) { pairer.Item(b, ok); },
                           [&] { pairer.SectionEnd(); });

  std::set<uint64_t> pages, checksum_pages;
  std::string copy;
  auto drop_copy = [&] {
    if (!copy.empty()) unlink(copy.c_str());
    copy.clear();
  };
  auto absorb = [&](const RunResult& run) {
    ++r.passes;
    if (run.ret != 0) r.db_clean = false;
    r.db_messages += run.messages.count;
    for (const std::string& m : run.messages.samples) {
      if (r.db_message_samples.size() < o.max_samples) r.db_message_samples.push_back(m);
    }
    pages.insert(run.messages.pages.begin(), run.messages.pages.end());
  };
  auto run_pass = [&](bool aggressive) -> Status {
    // Repeated while new checksum failures end runs early (see salvage.h).
    aggressive_pass = aggressive;
    for (;;) {
      // Problems found by a run cut short are found again by its repetition.
      const SalvageReport at_start = r;
      ParserStreamBuf buf(&parser);
      current_buf = &buf;
      RunResult run = RunSalvage(copy.empty() ? records : copy, aggressive, o.cache_mb,
                                 o.max_samples, &parser, &buf);
      current_buf = nullptr;
      DURUS_RETURN_IF_ERROR(cb_status);
      absorb(run);
      size_t before = checksum_pages.size();
      checksum_pages.insert(run.messages.checksum_pages.begin(), run.messages.checksum_pages.end());
      if (checksum_pages.size() == before || r.structural_only) return Status::OK();
      r.malformed = at_start.malformed;
      r.lost_keys = at_start.lost_keys;
      r.unreadable_items = at_start.unreadable_items;
      r.problem_samples = at_start.problem_samples;
      before_retry = seen.Sorted();
      if (r.page_size == 0) {
        return Status::Corruption(records + ": page checksums failed (page " +
                                  std::to_string(*checksum_pages.begin()) +
                                  ") and the page size is unreadable");
      }
      // Again, on a copy with the failed pages zeroed (or, for the meta
      // page or too many pages, without checksum checking).
      drop_copy();
      bool off = checksum_pages.count(0) != 0 ||
                 checksum_pages.size() > static_cast<size_t>(kMaxChecksumRetries);
      r.structural_only = off;
      DURUS_RETURN_IF_ERROR(
          CopyWithPagesZeroed(records, o.temp_dir, r.page_size, checksum_pages, off, &copy));
    }
  };
  Status s = run_pass(false);
  if (s.ok() && o.aggressive) {
    before_retry.clear();
    s = run_pass(true);
  }
  if (s.ok()) {
    // The diagnosis, on the same file the salvage read (failed checksum
    // pages zeroed: a second checksum panic would end it early).
    absorb(RunVerify(copy.empty() ? records : copy, o.cache_mb, o.max_samples));
  }
  drop_copy();
  DURUS_RETURN_IF_ERROR(s);
  r.bad_lines = parser.bad_lines();
  r.damaged_pages.assign(pages.begin(), pages.end());
  r.checksum_failed_pages.assign(checksum_pages.begin(), checksum_pages.end());

  // What the salvaged set references but does not hold, and what it holds
  // but nothing references.
  std::vector<uint64_t> have = seen.Sorted();
  const std::vector<uint64_t>& wanted = refs.Sorted();
  size_t i = 0, j = 0;
  while (i < have.size() || j < wanted.size()) {
    if (j == wanted.size() || (i < have.size() && have[i] < wanted[j])) {
      if (have[i] != kRootOid.value()) {
        ++r.orphans;
        if (r.orphan_samples.size() < o.max_samples) r.orphan_samples.push_back(Oid(have[i]));
      }
      ++i;
    } else if (i == have.size() || wanted[j] < have[i]) {
      ++r.dangling;
      if (r.dangling_samples.size() < o.max_samples) r.dangling_samples.push_back(Oid(wanted[j]));
      ++j;
    } else {
      ++i;
      ++j;
    }
  }
  // Never hand out an oid that was stored or is still referenced.
  uint64_t floor = any ? max_oid + 1 : 0;
  r.next_oid = std::max(r.next_oid, floor);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Status::OK();
}

}  // namespace durus
