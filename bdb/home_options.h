// The options a home keeps: HOME/durus-bdb.options (doc/options.md,
// doc/on-disk-format.md).
//
// A home remembers how it is to be opened (durability, cache size, the
// background intervals, the collector's pace, the log file size), so an
// opener that passes nothing -- `BerkeleyDBStorage(path)`, `durus -s
// --storage-class=durus_bdb.BerkeleyDBStorage`, `durus-bdb serve` without
// flags -- gets the home's mode, not the built-in default.  Precedence, for
// each option, at every open (ResolveHomeOptions):
//
//   1. the opener's explicit option (a BdbOptions Setting it assigned),
//   2. the environment variable DURUS_BDB_<KEY> (DURUS_BDB_DURABILITY,
//      DURUS_BDB_CACHE_MB, ...): for openers that cannot pass options,
//   3. the home's kept value (this file),
//   4. the built-in default (bdb/bdb_storage.h).
//
// Who records.  `durus-bdb config HOME key=value` (SetHomeOptions),
// creating a home (the durability its creator set) and `durus-bdb migrate`
// (its --durability, default sync, as before this file existed).  An explicit option at a later
// open applies to that open only: it is not recorded, so a one-off
// `serve --cache-mb=4096` does not change the home for everyone after it.
//
// The file: text, one "key=value" a line, '#' comments, written whole and
// atomically (a temporary beside it, fsync, rename, fsync of HOME) by a
// writer holding the HomeLock, so a reader sees the old file or the new
// one.  Unknown keys and bad values are errors naming the file and line
// (a mistyped key silently ignored would be the defect this file fixes);
// nothing is changed by a failed open.
//
// Log archiving keeps its own file, HOME/durus-bdb.archive
// (bdb/log_archive.h): it holds the home's log identity, is read before
// the environment opens and is deliberately left out of backups, so it is
// not folded in here.  (A backup copies Berkeley DB's files only: a
// restored home does not keep this file either; set it again with
// `durus-bdb config`.)
//
// Threading: plain functions; the caller serialises writers (HomeLock).
#ifndef DURUS_BDB_BDB_HOME_OPTIONS_H_
#define DURUS_BDB_BDB_HOME_OPTIONS_H_

#include <string>
#include <utility>
#include <vector>

#include "bdb/bdb_storage.h"
#include "engine/status.h"

namespace durus {

inline constexpr const char* kHomeOptionsFile = "durus-bdb.options";  // in the home

enum class OptionSource { kDefault, kHome, kEnv, kExplicit };
const char* OptionSourceName(OptionSource s);  // "default", "home", "env", "explicit"

struct OptionInfo {
  std::string key;            // "durability", "cache_mb", ...
  std::string env;            // "DURUS_BDB_DURABILITY"
  std::string default_value;  // as text
  std::string help;           // one line
};
// Every option a home keeps, in a stable order.
const std::vector<OptionInfo>& HomeOptionInfos();

struct ResolvedOption {
  std::string key;
  std::string value;  // as text, as the file would hold it
  OptionSource source = OptionSource::kDefault;
};

// Complete `options` for an open of `home`: every Setting the caller did
// not set takes DURUS_BDB_<KEY>, else the home's kept value, else stays at
// its default.  `report` (optional) gets every option's value and source.
// InvalidArgument naming the variable, or the file and line, for a bad
// value or unknown key.  A home without the file (or not existing yet)
// keeps nothing.
Status ResolveHomeOptions(const std::string& home, BdbOptions* options,
                          std::vector<ResolvedOption>* report = nullptr);

// The home's kept options as key/value text, in file order (NotFound-free:
// a missing file is an empty list).  Validates them as ResolveHomeOptions.
Status ReadHomeOptions(const std::string& home,
                       std::vector<std::pair<std::string, std::string>>* kept);

// Check one key=value: InvalidArgument naming `source` ("DURUS_BDB_X",
// "durus-bdb config", "FILE line N") for an unknown key or a bad value.
// `*canonical` (optional) gets the value as it would be written.
Status ValidateHomeOption(const std::string& key, const std::string& value,
                          const std::string& source, std::string* canonical = nullptr);

// Set `settings` in the home's file (merged with what it keeps; a value
// "default" removes the key), validating all of them first: one bad
// setting changes nothing.  The caller holds the home's HomeLock (or is
// creating the home).
Status SetHomeOptions(const std::string& home,
                      const std::vector<std::pair<std::string, std::string>>& settings);

// SetHomeOptions for a caller not holding the home (`durus-bdb config`):
// takes the HomeLock for the write.  Busy (naming the holder) while a
// process holds the home: its options are read at open, so the change
// would silently wait for the next one; InvalidArgument if `home` is not a
// durus-bdb home.
Status ConfigureHome(const std::string& home,
                     const std::vector<std::pair<std::string, std::string>>& settings);

// Record what the creator of a new home set that belongs to the home, not
// to one open: its durability, if set.  (Tuning a creator passes -- a
// cache size, the collector's pace, a test's intervals -- applies to that
// open only; keep it with `durus-bdb config`.)
Status RecordCreationOptions(const std::string& home, const BdbOptions& options);

}  // namespace durus

#endif  // DURUS_BDB_BDB_HOME_OPTIONS_H_
