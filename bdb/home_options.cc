// The options a home keeps (bdb/home_options.h).
#include "bdb/home_options.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "bdb/home_lock.h"
#include "bdb/log_archive.h"
#include "util/file.h"

namespace durus {

namespace {

enum class Kind { kDurability, kBool, kU32 };

// One kept option: how to parse, check and print it, and where it lives in
// BdbOptions.  The table is the one list: the file, the environment, the
// `config` command and doc/options.md follow it.
struct Spec {
  const char* key;
  Kind kind;
  uint32_t min, max;  // kU32 only
  Setting<uint32_t> BdbOptions::*u32;
  Setting<bool> BdbOptions::*flag;
  const char* help;
};

const Spec kSpecs[] = {
    {"durability", Kind::kDurability, 0, 0, nullptr, nullptr,
     "sync, write_nosync or nosync: what a commit waits for"},
    {"cache_mb", Kind::kU32, 1, 1u << 20, &BdbOptions::cache_mb, nullptr,
     "Berkeley DB cache, MiB (1..1048576)"},
    {"checkpoint_interval_ms", Kind::kU32, 1, 86400000, &BdbOptions::checkpoint_interval_ms,
     nullptr, "background checkpoint period, ms (1..86400000)"},
    {"flush_interval_ms", Kind::kU32, 0, 86400000, &BdbOptions::flush_interval_ms, nullptr,
     "nosync: flush the log every N ms (0: only at checkpoints)"},
    {"log_file_mb", Kind::kU32, 1, 1024, &BdbOptions::log_file_mb, nullptr,
     "size of each log file, MiB (1..1024)"},
    {"gc_background", Kind::kBool, 0, 0, nullptr, &BdbOptions::gc_background,
     "true or false: the background garbage collector"},
    {"gc_batch", Kind::kU32, 1, 1000000, &BdbOptions::gc_batch, nullptr,
     "records deleted per collector transaction (1..1000000)"},
    {"gc_per_second", Kind::kU32, 0, 0xffffffffu, &BdbOptions::gc_per_second, nullptr,
     "collector pace, records per second (0: unlimited)"},
    {"gc_interval_ms", Kind::kU32, 1, 86400000, &BdbOptions::gc_interval_ms, nullptr,
     "collector idle tick, ms (1..86400000)"},
};

const Spec* FindSpec(const std::string& key) {
  for (const Spec& s : kSpecs) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

std::string EnvName(const char* key) {
  std::string e = "DURUS_BDB_";
  for (const char* p = key; *p; ++p)
    e += static_cast<char>(toupper(static_cast<unsigned char>(*p)));
  return e;
}

std::string KnownKeys() {
  std::string k;
  for (const Spec& s : kSpecs) k += (k.empty() ? "" : ", ") + std::string(s.key);
  return k;
}

// The value as text, and into `out` when non-null (resolved, not explicit).
Status Parse(const Spec& spec, const std::string& value, const std::string& source,
             std::string* canonical, BdbOptions* out) {
  auto bad = [&](const std::string& expected) {
    return Status::InvalidArgument(source + ": " + spec.key + "=" + value + " is not valid (" +
                                   expected + ")");
  };
  switch (spec.kind) {
    case Kind::kDurability: {
      Durability d;
      if (!ParseDurability(value, &d).ok()) return bad("expected sync, write_nosync or nosync");
      if (canonical) *canonical = DurabilityName(d);
      if (out) out->durability.Resolve(d);
      return Status::OK();
    }
    case Kind::kBool: {
      bool b;
      if (value == "true" || value == "1" || value == "yes" || value == "on") {
        b = true;
      } else if (value == "false" || value == "0" || value == "no" || value == "off") {
        b = false;
      } else {
        return bad("expected true or false");
      }
      if (canonical) *canonical = b ? "true" : "false";
      if (out) (out->*spec.flag).Resolve(b);
      return Status::OK();
    }
    case Kind::kU32: {
      std::string range = std::to_string(spec.min) + ".." + std::to_string(spec.max);
      if (value.empty() || value.size() > 10 ||
          value.find_first_not_of("0123456789") != std::string::npos) {
        return bad("expected a whole number in " + range);
      }
      uint64_t v = std::stoull(value);
      if (v < spec.min || v > spec.max) return bad("out of range " + range);
      if (canonical) *canonical = std::to_string(v);
      if (out) (out->*spec.u32).Resolve(static_cast<uint32_t>(v));
      return Status::OK();
    }
  }
  return bad("?");
}

std::string Format(const Spec& spec, const BdbOptions& o) {
  switch (spec.kind) {
    case Kind::kDurability: return DurabilityName(o.durability);
    case Kind::kBool: return (o.*spec.flag) ? "true" : "false";
    case Kind::kU32: return std::to_string((o.*spec.u32).value());
  }
  return "?";
}

bool IsSet(const Spec& spec, const BdbOptions& o) {
  switch (spec.kind) {
    case Kind::kDurability: return o.durability.set();
    case Kind::kBool: return (o.*spec.flag).set();
    case Kind::kU32: return (o.*spec.u32).set();
  }
  return false;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

const char* OptionSourceName(OptionSource s) {
  switch (s) {
    case OptionSource::kDefault: return "default";
    case OptionSource::kHome: return "home";
    case OptionSource::kEnv: return "env";
    case OptionSource::kExplicit: return "explicit";
  }
  return "?";
}

const std::vector<OptionInfo>& HomeOptionInfos() {
  static const auto* infos = [] {
    auto* v = new std::vector<OptionInfo>;
    BdbOptions defaults;
    for (const Spec& s : kSpecs) v->push_back({s.key, EnvName(s.key), Format(s, defaults), s.help});
    return v;
  }();
  return *infos;
}

Status ValidateHomeOption(const std::string& key, const std::string& value,
                          const std::string& source, std::string* canonical) {
  const Spec* spec = FindSpec(key);
  if (spec == nullptr) {
    return Status::InvalidArgument(source + ": unknown option '" + key +
                                   "' (known: " + KnownKeys() + ")");
  }
  return Parse(*spec, value, source, canonical, nullptr);
}

Status ReadHomeOptions(const std::string& home,
                       std::vector<std::pair<std::string, std::string>>* kept) {
  kept->clear();
  const std::string path = home + "/" + kHomeOptionsFile;
  if (!util::PathExists(path)) return Status::OK();
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read " + path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = path + " line " + std::to_string(n);
    // The file is text a person may have edited: say how to get out.
    const std::string fix = " (edit that line of the text file, or remove the file)";
    size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument(where + ": expected key=value, not '" + line + "'" + fix);
    }
    std::string key = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1)), canonical;
    Status s = ValidateHomeOption(key, value, where, &canonical);
    if (!s.ok()) return Status::InvalidArgument(s.message() + fix);
    bool replaced = false;
    for (auto& kv : *kept) {
      if (kv.first == key) kv.second = canonical, replaced = true;
    }
    if (!replaced) kept->emplace_back(key, canonical);
  }
  if (in.bad()) return Status::IOError("cannot read " + path);
  return Status::OK();
}

Status ResolveHomeOptions(const std::string& home, BdbOptions* options,
                          std::vector<ResolvedOption>* report) {
  std::vector<std::pair<std::string, std::string>> kept;
  if (util::IsDirectory(home)) DURUS_RETURN_IF_ERROR(ReadHomeOptions(home, &kept));
  // Everything is checked before anything is applied: a bad value anywhere
  // fails the open with the options untouched.
  BdbOptions resolved = *options;
  std::vector<ResolvedOption> rows;
  for (const Spec& spec : kSpecs) {
    ResolvedOption row{spec.key, "", OptionSource::kDefault};
    const std::string env = EnvName(spec.key);
    const char* env_value = getenv(env.c_str());
    if (IsSet(spec, *options)) {
      row.source = OptionSource::kExplicit;
    } else if (env_value != nullptr) {
      DURUS_RETURN_IF_ERROR(
          Parse(spec, Trim(env_value), "environment variable " + env, nullptr, &resolved));
      row.source = OptionSource::kEnv;
    } else {
      for (const auto& kv : kept) {
        if (kv.first != spec.key) continue;
        DURUS_RETURN_IF_ERROR(
            Parse(spec, kv.second, home + "/" + kHomeOptionsFile, nullptr, &resolved));
        row.source = OptionSource::kHome;
      }
    }
    row.value = Format(spec, resolved);
    rows.push_back(row);
  }
  *options = resolved;
  if (report != nullptr) *report = std::move(rows);
  return Status::OK();
}

Status SetHomeOptions(const std::string& home,
                      const std::vector<std::pair<std::string, std::string>>& settings) {
  std::vector<std::pair<std::string, std::string>> kept;
  DURUS_RETURN_IF_ERROR(ReadHomeOptions(home, &kept));
  for (const auto& [key, value] : settings) {
    std::string canonical;
    if (value == "default") {
      if (FindSpec(key) == nullptr) {
        return ValidateHomeOption(key, value, "durus-bdb config");  // unknown key
      }
    } else {
      DURUS_RETURN_IF_ERROR(ValidateHomeOption(key, value, "durus-bdb config", &canonical));
    }
    bool found = false;
    for (auto it = kept.begin(); it != kept.end(); ++it) {
      if (it->first != key) continue;
      found = true;
      if (value == "default") {
        kept.erase(it);
      } else {
        it->second = canonical;
      }
      break;
    }
    if (!found && value != "default") kept.emplace_back(key, canonical);
  }
  std::ostringstream os;
  os << "# durus-bdb: the options this home is opened with (doc/options.md).\n"
        "# Set with `durus-bdb config HOME key=value`; an explicit option or a\n"
        "# DURUS_BDB_<KEY> environment variable overrides one for a single open.\n";
  for (const auto& [key, value] : kept) os << key << "=" << value << "\n";
  return bdb::WriteFileAtomically(home + "/" + kHomeOptionsFile, os.str());
}

Status ConfigureHome(const std::string& home,
                     const std::vector<std::pair<std::string, std::string>>& settings) {
  if (!IsBdbHome(home)) return Status::InvalidArgument(home + " is not a durus-bdb home");
  // A holder left by a crash stays described, so the next open still
  // checks the log as after a crash (bdb/home_lock.h).
  const bool crashed = !bdb::DescribeHolder(home).empty();
  bdb::HomeLock lock;
  Status s = lock.Acquire(home);
  if (s.IsBusy()) {
    return Status::Busy(s.message() +
                        ": options are read when a home is opened, so stop it, set them, "
                        "and open it again");
  }
  DURUS_RETURN_IF_ERROR(s);
  s = SetHomeOptions(home, settings);
  lock.Release(/*clean=*/!crashed);
  return s;
}

Status RecordCreationOptions(const std::string& home, const BdbOptions& options) {
  if (!options.durability.set()) return Status::OK();
  return SetHomeOptions(home, {{"durability", DurabilityName(options.durability)}});
}

}  // namespace durus
