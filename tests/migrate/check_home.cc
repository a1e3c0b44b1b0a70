// migrate_check_home HOME: open HOME read-only (no collector), check every
// invariant of bdb/schema.h against a recount from the records
// (tests/core/test_util.h), print "objects=N bytes=N pending=N next_oid=N".
// Exit 0 if consistent, 1 with the problems on stderr otherwise.
#include <cstdio>

#include "tests/core/test_util.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: migrate_check_home HOME\n");
    return 2;
  }
  durus::BdbOptions o;
  o.readonly = true;
  o.create_if_missing = false;
  o.gc_background = false;
  o.cache_mb = 16;
  std::unique_ptr<durus::BdbHandle> s;
  durus::Status st = durus::OpenBdbStorage(argv[1], o, &s);
  if (!st.ok()) {
    fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  std::vector<std::string> problems = durus::test::CheckConsistency(s.get());
  for (const std::string& p : problems) fprintf(stderr, "%s\n", p.c_str());
  durus::StorageStats stats;
  if (!s->GetStats(&stats).ok()) return 1;
  printf("objects=%llu bytes=%llu pending=%llu next_oid=%llu\n",
         (unsigned long long)stats.object_count, (unsigned long long)stats.record_bytes,
         (unsigned long long)stats.pending_garbage, (unsigned long long)stats.next_oid);
  if (!s->Close().ok()) return 1;
  return problems.empty() ? 0 : 1;
}
