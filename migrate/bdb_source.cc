// Reading another durus-bdb home as a migration source (to copy or compact
// a home): opened read-only through OpenBdbStorage, so the garbage
// collector does not run and nothing in it changes, and scanned in oid
// order in batches.
//
// A damaged home: a read error is Corruption naming the home and the oid
// the scan had reached.  A damaged page can also make Berkeley DB return
// fewer records, or keys out of order, without an error; so the oids must
// increase (RecordIterator, engine/storage.h, checks that) and, at the end, the records read must
// be as many (and as large) as the home's own counters say.  Under salvage a shortfall is reported
// (which oids is unknown) instead of failing; a read error still fails (Berkeley DB cannot position
// a cursor past a damaged page).
#include <memory>

#include "bdb/bdb_storage.h"
#include "migrate/source.h"

namespace durus::migrate {

namespace {

constexpr size_t kBatch = 2048;

class BdbSource : public RecordSource {
 public:
  BdbSource(std::string path, SourceOptions options) : path_(std::move(path)), options_(options) {}
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
    if (!it_) {
      it_ = std::make_unique<RecordIterator>(storage_.get(), Oid(0), kBatch);
    } else {
      it_->Next();
    }
    if (!it_->Valid()) {
      const Status& s = it_->status();
      if (s.ok()) return End(done);
      if (!s.IsCorruption()) return s;
      // Includes oids going backwards (RecordIterator checks them).
      return Status::Corruption(path_ + ": cannot read the records from oid " +
                                OidToString(it_->position()) + " on: " + s.message() +
                                "; the home is damaged: `durus-bdb verify` it, or recover "
                                "what its files hold with `durus-bdb salvage`");
    }
    *done = false;
    Oid oid = it_->oid();
    const std::string& record = it_->record();
    bytes_ += record.size();
    ++read_;
    item->oid = oid;
    item->record = record;
    item->offset = 0;
    return CheckItem(path_ + " (oid " + OidToString(oid) + ")", oid, record, 0);
  }

  // The end: the counts must agree with the home's counters.
  Status End(bool* done) {
    *done = true;
    if (read_ == total_records_ && bytes_ == total_bytes_) return Status::OK();
    std::string what = "read " + std::to_string(read_) + " records (" + std::to_string(bytes_) +
                       " bytes) but the home counts " + std::to_string(total_records_) + " (" +
                       std::to_string(total_bytes_) + " bytes)";
    if (!options_.salvage) {
      return Status::Corruption(path_ + ": " + what + ": the home is damaged; " + kSalvageHint +
                                " (or `durus-bdb verify` it)");
    }
    skipped_.push_back(SkippedRange{0, total_records_ > read_ ? total_records_ - read_ : 0,
                                    "records", what + " (which oids is unknown)"});
    return Status::OK();
  }

  uint64_t bytes_read() const override { return bytes_; }
  uint64_t total_bytes() const override { return total_bytes_; }
  uint64_t total_records() const override { return total_records_; }
  uint64_t next_oid_hint() const override { return next_oid_; }

 private:
  const std::string path_;
  const SourceOptions options_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<RecordIterator> it_;  // created by the first Next()
  uint64_t bytes_ = 0, read_ = 0, total_bytes_ = 0, total_records_ = 0, next_oid_ = 0;
};

}  // namespace

Status OpenBdbSource(const std::string& path, const SourceOptions& options,
                     std::unique_ptr<RecordSource>* out) {
  auto src = std::make_unique<BdbSource>(path, options);
  DURUS_RETURN_IF_ERROR(src->Init());
  *out = std::move(src);
  return Status::OK();
}

}  // namespace durus::migrate
