// UnusedOids: the oids handed out to one client by N/M and not yet stored
// by it (Durus's check: a commit may not store an oid handed out to another
// client), kept as ranges of consecutive oids, with a cap.
//
// Why ranges: the storage hands out oids from a counter, so a client's M
// batches are runs of consecutive oids; a client that asks for millions and
// never uses them (an `M` flood: 10.2 M oids, +390 MB as a hash set) costs
// a few ranges.  Why a cap: clients interleaving single N requests make
// one range per oid; the server drops a client past `--max-unused-oids`.
//
// Threading: none (the owner serialises access: the InvalidationTable
// holds its member's lock).
#ifndef DURUS_BDB_SERVER_UNUSED_OIDS_H_
#define DURUS_BDB_SERVER_UNUSED_OIDS_H_

#include <cstddef>
#include <cstdint>
#include <map>

#include "engine/oid.h"

namespace durus::server {

class UnusedOids {
 public:
  void Insert(Oid oid);
  // Removes `oid` if present.
  void Erase(Oid oid);
  bool Contains(Oid oid) const;
  bool empty() const { return count_ == 0; }
  // Oids held.
  uint64_t size() const { return count_; }
  // Runs of consecutive oids held (the memory cost: one map node each).
  size_t ranges() const { return ranges_.size(); }

 private:
  std::map<uint64_t, uint64_t> ranges_;  // first -> one past the last
  uint64_t count_ = 0;
};

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_UNUSED_OIDS_H_
