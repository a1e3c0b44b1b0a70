// Placeholder while the real implementation is written.
#include "bdb/bdb_storage.h"
namespace durus {
Status OpenBdbStorage(const std::string& home, const BdbOptions&, std::unique_ptr<Storage>*) {
  return Status::NotSupported("bdb storage not built yet: " + home);
}
bool IsBdbHome(const std::string&) { return false; }
}  // namespace durus
