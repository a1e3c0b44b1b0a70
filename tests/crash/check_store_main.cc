// durus_check_store: run tests/crash/store_check.h's independent checker (and
// bdb/gc/gc.h's when built) on a home, for the Python reliability tests.
//
//   durus_check_store HOME [--collect]
//
// Opens HOME (recovery runs), with --collect first runs a complete
// collection (Collect(true): queue and cycle trace) and then also requires
// that no unreachable object remains.  Prints one summary line (records,
// reachable, unreachable) and every problem; exit 0 when clean, 1 when
// not, 2 when the home cannot be opened.
#include <cstdio>
#include <cstring>
#include <memory>

#include "bdb/bdb_storage.h"
#include "tests/crash/store_check.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--collect") != 0)) {
    fprintf(stderr, "usage: durus_check_store HOME [--collect]\n");
    return 2;
  }
  durus::BdbOptions o;
  o.gc_background = false;
  o.create_if_missing = false;
  std::unique_ptr<durus::BdbHandle> s;
  durus::Status st = durus::OpenBdbStorage(argv[1], o, &s);
  if (!st.ok()) {
    fprintf(stderr, "cannot open %s: %s\n", argv[1], st.ToString().c_str());
    return 2;
  }
  durus::reliability::CheckOptions co;
  if (argc == 3) {
    // Twice: the first finishes a trace already under way (whose barrier
    // legitimately keeps what commits touched during it), the second runs
    // a fresh one with nothing concurrent.
    durus::CollectReport rep, rep2;
    st = s->Collect(true, &rep);
    if (st.ok()) st = s->Collect(true, &rep2);
    rep.collected += rep2.collected;
    if (st.ok()) {
      co.leaks_are_problems = true;
      co.expect_no_garbage = true;
      printf("collected %llu objects\n", static_cast<unsigned long long>(rep.collected));
    } else if (!st.IsNotSupported()) {
      fprintf(stderr, "Collect(true) failed: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  durus::reliability::CheckResult r;
  st = durus::reliability::CheckStore(s.get(), co, &r);
  if (!st.ok()) {
    fprintf(stderr, "check failed: %s\n", st.ToString().c_str());
    return 1;
  }
  printf("%llu records, %llu reachable, %llu unreachable (%llu leaked), verify %s: %s\n",
         static_cast<unsigned long long>(r.records), static_cast<unsigned long long>(r.reachable),
         static_cast<unsigned long long>(r.unreachable), static_cast<unsigned long long>(r.leaked),
         r.verify_ran ? "ran" : "not built", r.ok() ? "clean" : "PROBLEMS");
  if (!r.ok()) printf("%s", r.Summary().c_str());
  st = s->Close();
  if (!st.ok()) {
    fprintf(stderr, "close failed: %s\n", st.ToString().c_str());
    return 1;
  }
  return r.ok() ? 0 : 1;
}
