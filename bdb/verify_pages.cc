// Page-level verification (bdb/verify_pages.h).
#include "bdb/verify_pages.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <set>
#include <sstream>

#include "bdb/handles.h"
#include "bdb/schema.h"
#include "engine/record.h"

namespace durus::bdb {

namespace {

// A private cache for each handle: enough for verify's bookkeeping and a
// few pages; verify's own state spills to a temporary file.
constexpr u_int32_t kPrivateCacheBytes = 8u << 20;

uint16_t U16(const unsigned char* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}
uint32_t U32(const unsigned char* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

bool ReadAt(int fd, uint64_t off, size_t n, std::string* out) {
  out->assign(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, out->data() + got, n - got, static_cast<off_t>(off + got));
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

// The 8-byte keys legible on btree leaf page `pgno` of `path`, read from
// the raw page: Berkeley DB refuses a page whose checksum fails, but its
// item index and keys are usually intact when a record's bytes are not.
// Layout (Berkeley DB 5.3, dbinc/db_page.h; host byte order, which the
// file's magic confirms): meta page 0 holds the page size at offset 20 and
// the checksum flag (DBMETA_CHKSUM) at offset 26; a page's header is 26
// bytes (entries u16 at 20, type u8 at 25: 5 = btree leaf), 32 with
// checksums; then the u16 item offsets, keys at even indexes, each item
// {u16 length, u8 type (1 = inline), bytes}.  Anything inconsistent: no
// keys (the report then names the page only).
std::vector<uint64_t> LeafKeys(const std::string& path, uint64_t pgno) {
  std::vector<uint64_t> keys;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return keys;
  std::string meta, page;
  bool ok = ReadAt(fd, 0, 512, &meta);
  const auto* m = reinterpret_cast<const unsigned char*>(meta.data());
  uint32_t pagesize = ok ? U32(m + 20) : 0;
  const uint32_t kBtreeMagic = 0x053162;
  ok = ok && U32(m + 12) == kBtreeMagic && pagesize >= 512 && pagesize <= 65536 &&
       (pagesize & (pagesize - 1)) == 0;
  ok = ok && ReadAt(fd, pgno * pagesize, pagesize, &page);
  close(fd);
  if (!ok) return keys;
  const auto* p = reinterpret_cast<const unsigned char*>(page.data());
  const size_t overhead = (m[26] & 0x01) ? 32 : 26;
  const uint8_t kLeaf = 5, kKeyData = 1;
  uint16_t entries = U16(p + 20);
  if (U32(p + 8) != pgno || p[25] != kLeaf || overhead + 2 * size_t{entries} > pagesize) {
    return keys;
  }
  for (uint16_t i = 0; i < entries; i += 2) {
    size_t off = U16(p + overhead + 2 * i);
    if (off < overhead || off + 3 + 8 > pagesize) continue;
    if (U16(p + off) != 8 || (p[off + 2] & 0x7f) != kKeyData) continue;
    keys.push_back(GetU64(reinterpret_cast<const char*>(p + off + 3)));
  }
  return keys;
}

}  // namespace

Status VerifyTableFile(const std::string& dir, const char* file, size_t max_pages,
                       std::vector<DamagedPage>* out, uint64_t* more, bool* examined) {
  std::string path = dir + "/" + file;
  struct stat st;
  *examined = stat(path.c_str(), &st) == 0;
  if (!*examined) return Status::OK();
  std::ostringstream messages;
  int ret;
  {
    Db db(nullptr, DB_CXX_NO_EXCEPTIONS);
    db.set_error_stream(&messages);
    db.set_cachesize(0, kPrivateCacheBytes, 1);
    // The handle is unusable afterwards whatever the outcome (and closed).
    ret = db.verify(path.c_str(), nullptr, nullptr, 0);
  }
  if (ret == 0) return Status::OK();
  // One DamagedPage per page named (in the order reported), one for the
  // file when no line names a page.
  static const std::regex kPage("[Pp]age (\\d+)");
  std::set<uint64_t> seen;
  std::string line, first;
  std::istringstream in(messages.str());
  size_t before = out->size();
  while (std::getline(in, line)) {
    if (line.empty() || line.find("PANIC") != std::string::npos) continue;
    if (first.empty()) first = line;
    std::smatch m;
    if (!std::regex_search(line, m, kPage)) continue;
    uint64_t pgno = std::stoull(m[1].str());
    if (!seen.insert(pgno).second) continue;
    if (out->size() - before >= max_pages) {
      ++*more;
      continue;
    }
    DamagedPage d;
    d.file = file;
    d.page_known = true;
    d.page = pgno;
    d.message = line;
    if (strcmp(file, schema::kRecordsFile) == 0) d.oids = LeafKeys(path, pgno);
    out->push_back(std::move(d));
  }
  if (out->size() == before && seen.empty()) {
    DamagedPage d;
    d.file = file;
    d.message = first.empty() ? std::string(DbEnv::strerror(ret)) : first;
    out->push_back(std::move(d));
  }
  return Status::OK();
}

Status FindUnreadableRecords(const std::string& path, size_t max,
                             std::vector<UnreadableRecord>* out) {
  std::string last;  // the last key whose record was read (or found unreadable)
  bool started = false;
  std::string value;
  while (out->size() < max) {
    // A fresh handle (and private environment) for each stretch: a
    // checksum failure panics the one it happened in.
    std::ostringstream messages;
    Db db(nullptr, DB_CXX_NO_EXCEPTIONS);
    db.set_error_stream(&messages);
    db.set_cachesize(0, kPrivateCacheBytes, 1);
    int ret = db.open(nullptr, path.c_str(), nullptr, DB_BTREE, DB_RDONLY, 0);
    if (ret != 0) return FromDb(ret, "opening " + path + " to find unreadable records");
    Cursor c;
    ret = c.Open(&db, nullptr);
    if (ret != 0) return FromDb(ret, "reading " + path);
    bool stretch_done = false;
    for (bool first = true; !stretch_done; first = false) {
      // Keys only (a zero-length partial read touches no overflow page).
      char kbuf[64];
      Dbt key;
      key.set_flags(DB_DBT_USERMEM);
      key.set_data(kbuf);
      key.set_ulen(sizeof kbuf);
      uint32_t flag = DB_NEXT;
      if (first && !started) {
        flag = DB_FIRST;
      } else if (first) {
        memcpy(kbuf, last.data(), std::min(last.size(), sizeof kbuf));
        key.set_size(static_cast<u_int32_t>(std::min(last.size(), sizeof kbuf)));
        flag = DB_SET_RANGE;
      }
      Dbt data;
      data.set_flags(DB_DBT_USERMEM | DB_DBT_PARTIAL);
      data.set_data(kbuf);
      data.set_ulen(0);
      data.set_dlen(0);
      ret = c->get(&key, &data, flag);
      if (ret == DB_NOTFOUND) return Status::OK();
      std::string k(kbuf, std::min<size_t>(key.get_size(), sizeof kbuf));
      if (ret == 0 && flag == DB_SET_RANGE && k == last) continue;  // read already
      if (ret != 0) {
        // A damaged leaf or internal page: keys beyond `last` are unknown.
        std::string msg = messages.str();
        UnreadableRecord u;
        u.after_only = true;
        u.oid = last.size() == 8 ? GetU64(last.data()) : 0;
        u.message = msg.empty() ? DbEnv::strerror(ret) : msg.substr(0, msg.find('\n'));
        if (ret == DB_BUFFER_SMALL) u.message = "a damaged key (" + u.message + ")";
        out->push_back(std::move(u));
        return Status::OK();
      }
      last = k;
      started = true;
      Dbt full = InDbt(kbuf, key.get_size());
      ret = GetInto(&db, nullptr, &full, &value, 0);
      if (ret != 0 && ret != DB_NOTFOUND) {
        std::string msg = messages.str();
        UnreadableRecord u;
        u.oid = k.size() == 8 ? GetU64(k.data()) : 0;
        u.message = msg.empty() ? DbEnv::strerror(ret) : msg.substr(0, msg.find('\n'));
        out->push_back(std::move(u));
        stretch_done = true;  // this handle is panicked: a new one goes on after `last`
      }
    }
  }
  return Status::OK();
}

}  // namespace durus::bdb
