// Reading another durus-bdb home as a migration source (to copy or compact
// a home): opened read-only through OpenBdbStorage, so the garbage
// collector does not run and nothing in it changes, and scanned in oid
// order in batches.
#include "bdb/bdb_storage.h"
#include "migrate/source.h"

namespace durus::migrate {

namespace {

constexpr size_t kBatch = 2048;

class BdbSource : public RecordSource {
 public:
  explicit BdbSource(std::string path) : path_(std::move(path)) {}
  ~BdbSource() override {
    if (storage_) storage_->Close().IgnoreError();
  }

  Status Init() {
    BdbOptions o;
    o.readonly = true;
    o.create_if_missing = false;
    o.gc_background = false;
    DURUS_RETURN_IF_ERROR(OpenBdbStorage(path_, o, &storage_));
    StorageStats stats;
    DURUS_RETURN_IF_ERROR(storage_->GetStats(&stats));
    total_records_ = stats.object_count;
    total_bytes_ = stats.record_bytes;
    next_oid_ = stats.next_oid;
    return Status::OK();
  }

  Status Next(SourceItem* item, bool* done) override {
    if (pos_ >= batch_.size()) {
      if (exhausted_) {
        *done = true;
        return Status::OK();
      }
      DURUS_RETURN_IF_ERROR(storage_->Scan(next_, kBatch, &batch_));
      pos_ = 0;
      if (batch_.size() < kBatch) exhausted_ = true;
      if (batch_.empty()) {
        *done = true;
        return Status::OK();
      }
      next_ = Oid(batch_.back().first.value() + 1);
    }
    *done = false;
    const auto& [oid, record] = batch_[pos_++];
    bytes_ += record.size();
    item->oid = oid;
    item->record = record;
    item->offset = 0;
    return CheckItem(path_ + " (oid " + OidToString(oid) + ")", oid, record, 0);
  }

  uint64_t bytes_read() const override { return bytes_; }
  uint64_t total_bytes() const override { return total_bytes_; }
  uint64_t total_records() const override { return total_records_; }
  uint64_t next_oid_hint() const override { return next_oid_; }

 private:
  const std::string path_;
  std::unique_ptr<Storage> storage_;
  std::vector<std::pair<Oid, std::string>> batch_;
  size_t pos_ = 0;
  Oid next_{0};
  bool exhausted_ = false;
  uint64_t bytes_ = 0, total_bytes_ = 0, total_records_ = 0, next_oid_ = 0;
};

}  // namespace

Status OpenBdbSource(const std::string& path, const SourceOptions& options,
                     std::unique_ptr<RecordSource>* out) {
  auto src = std::make_unique<BdbSource>(path);
  DURUS_RETURN_IF_ERROR(src->Init());
  *out = std::move(src);
  return Status::OK();
}

}  // namespace durus::migrate
