// The options a home keeps (bdb/home_options.h): precedence (explicit >
// DURUS_BDB_<KEY> > the home's > default), the file written whole, bad
// values refused naming their source, and issue 15's defect: the mode
// `durus-bdb migrate --durability` records survives the next default open.
#include "bdb/home_options.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "bdb/backup.h"
#include "bdb/restore.h"
#include "tests/core/test_util.h"
#include "util/file.h"

namespace durus::test {
namespace {

ToolRun RunTool(const std::string& args) {
  return RunCommandLine(std::string(DURUS_BDB_BINARY) + " " + args);
}

// Sets an environment variable for one test, restoring it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

std::string Durable(const std::string& home, BdbOptions o = {}) {
  auto s = OpenBdb(home, o);
  if (!s) return "(open failed)";
  StorageStats st;
  EXPECT_TRUE(s->GetStats(&st).ok());
  EXPECT_EQ(st.durability, DurabilityName(s->options().durability));
  EXPECT_TRUE(s->Close().ok());
  return st.durability;
}

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string ReadText(const std::string& path) {
  std::string text;
  EXPECT_TRUE(util::ReadFile(path, &text)) << path;
  return text;
}

// Issue 15: migrate recorded write_nosync, the next default open (Python's
// BerkeleyDBStorage(path), `durus-bdb serve`) turned it back to sync.
TEST(HomeOptionsTest, MigratedDurabilitySurvivesTheNextDefaultOpen) {
  TempDir dir;
  MakeHome(dir.Sub("src"), {{0, Rec(0, {}, "root", "PersistentDict")}});
  ToolRun r =
      RunTool("migrate -q --durability write_nosync " + dir.Sub("src") + " " + dir.Sub("home"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(Durable(dir.Sub("home")), "write_nosync");
  EXPECT_EQ(Durable(dir.Sub("home")), "write_nosync");  // and stays so
  BdbOptions sync;
  sync.durability = Durability::kSync;
  EXPECT_EQ(Durable(dir.Sub("home"), sync), "sync");  // explicit: this open only
  EXPECT_EQ(Durable(dir.Sub("home")), "write_nosync");
}

TEST(HomeOptionsTest, PrecedenceExplicitThenEnvThenHomeThenDefault) {
  TempDir dir;
  const std::string home = dir.Sub("home");
  MakeHome(home, {});
  // MakeHome set sync explicitly at creation: kept.
  EXPECT_NE(ReadText(home + "/" + kHomeOptionsFile).find("\ndurability=sync\n"), std::string::npos);
  ASSERT_TRUE(ConfigureHome(home, {{"durability", "nosync"}, {"cache_mb", "16"}}).ok());
  BdbOptions none;
  std::vector<ResolvedOption> rows;
  ASSERT_TRUE(ResolveHomeOptions(home, &none, &rows).ok());
  EXPECT_EQ(none.durability, Durability::kNoSync);
  EXPECT_EQ(none.cache_mb, 16u);
  EXPECT_EQ(none.gc_batch, 256u);
  ASSERT_EQ(rows.size(), HomeOptionInfos().size());
  for (const ResolvedOption& row : rows) {
    OptionSource want = row.key == "durability" || row.key == "cache_mb" ? OptionSource::kHome
                                                                         : OptionSource::kDefault;
    EXPECT_EQ(row.source, want) << row.key;
  }
  EXPECT_EQ(Durable(home), "nosync");
  {
    ScopedEnv env("DURUS_BDB_DURABILITY", "write_nosync");
    EXPECT_EQ(Durable(home), "write_nosync");  // env beats the home
    BdbOptions sync;
    sync.durability = Durability::kSync;
    EXPECT_EQ(Durable(home, sync), "sync");  // explicit beats env
    BdbOptions o;
    ASSERT_TRUE(ResolveHomeOptions(home, &o, &rows).ok());
    EXPECT_EQ(rows[0].source, OptionSource::kEnv);
  }
  EXPECT_EQ(Durable(home), "nosync");  // nothing of those opens was kept
  // "default" forgets the kept value.
  ASSERT_TRUE(ConfigureHome(home, {{"durability", "default"}}).ok());
  EXPECT_EQ(Durable(home), "sync");
  BdbOptions o;
  ASSERT_TRUE(ResolveHomeOptions(home, &o, &rows).ok());
  EXPECT_EQ(rows[0].source, OptionSource::kDefault);
}

TEST(HomeOptionsTest, CreationKeepsTheCreatorsDurabilityOnly) {
  TempDir dir;
  BdbOptions o;
  o.durability = Durability::kWriteNoSync;
  o.cache_mb = 8;
  EXPECT_EQ(Durable(dir.Sub("home"), o), "write_nosync");
  BdbOptions plain;
  ASSERT_TRUE(ResolveHomeOptions(dir.Sub("home"), &plain).ok());
  EXPECT_EQ(plain.durability, Durability::kWriteNoSync);
  EXPECT_EQ(plain.cache_mb, 64u);  // tuning applies to the creating open only
  // A home created without a mode keeps no file at all.
  MakeHome(dir.Sub("plain"), {});
  std::unique_ptr<BdbHandle> s;
  ASSERT_TRUE(OpenBdbStorage(dir.Sub("fresh"), BdbOptions(), &s).ok());
  ASSERT_TRUE(s->Close().ok());
  EXPECT_FALSE(util::PathExists(dir.Sub("fresh") + "/" + kHomeOptionsFile));
}

TEST(HomeOptionsTest, BadValuesNameTheirSourceAndChangeNothing) {
  TempDir dir;
  const std::string home = dir.Sub("home");
  MakeHome(home, {{0, Rec(0, {}, "root", "PersistentDict")}}, Durability::kNoSync);
  const std::string file = home + "/" + kHomeOptionsFile;
  const std::string before = ReadText(file);
  // One bad setting among good ones: nothing is written.
  Status s = ConfigureHome(home, {{"cache_mb", "32"}, {"durability", "fast"}});
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("durability=fast"), std::string::npos) << s.ToString();
  s = ConfigureHome(home, {{"durabilty", "sync"}});
  EXPECT_NE(s.message().find("unknown option 'durabilty'"), std::string::npos) << s.ToString();
  s = ConfigureHome(home, {{"cache_mb", "0"}});
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s.ToString();
  EXPECT_EQ(ReadText(file), before);
  {
    ScopedEnv env("DURUS_BDB_CACHE_MB", "lots");
    std::unique_ptr<BdbHandle> h;
    s = OpenBdbStorage(home, BdbOptions(), &h);
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_NE(s.message().find("DURUS_BDB_CACHE_MB"), std::string::npos) << s.ToString();
    BdbOptions given;
    given.cache_mb = 8;  // explicit: the variable is not even read
    EXPECT_EQ(Durable(home, given), "nosync");
  }
  WriteText(file, before + "gc_batch=many\n");
  std::unique_ptr<BdbHandle> h;
  s = OpenBdbStorage(home, BdbOptions(), &h);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find(file + " line"), std::string::npos) << s.ToString();
  WriteText(file, before + "typo_key=1\n");
  s = OpenBdbStorage(home, BdbOptions(), &h);
  EXPECT_NE(s.message().find("unknown option 'typo_key'"), std::string::npos) << s.ToString();
  // The failed opens lost nothing.
  WriteText(file, before);
  auto st = OpenBdb(home);
  ASSERT_TRUE(st);
  EXPECT_EQ(ScanAll(st.get()).size(), 1u);
}

TEST(HomeOptionsTest, WrittenWholeAndAtomically) {
  TempDir dir;
  const std::string home = dir.Sub("home");
  MakeHome(home, {});
  ASSERT_TRUE(ConfigureHome(home, {{"gc_background", "off"}, {"log_file_mb", "8"}}).ok());
  const std::string text = ReadText(home + "/" + kHomeOptionsFile);
  EXPECT_NE(text.find("\ngc_background=false\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nlog_file_mb=8\n"), std::string::npos) << text;
  // No temporary left beside it.
  EXPECT_FALSE(util::PathExists(home + "/" + kHomeOptionsFile + ".tmp"));
  // A held home is refused, naming the holder; the file is unchanged.
  auto s = OpenBdb(home);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->options().gc_background);
  EXPECT_EQ(s->options().log_file_mb, 8u);
  Status st = ConfigureHome(home, {{"cache_mb", "32"}});
  EXPECT_TRUE(st.IsBusy()) << st.ToString();
  EXPECT_NE(st.message().find("stop it"), std::string::npos) << st.ToString();
  EXPECT_EQ(ReadText(home + "/" + kHomeOptionsFile), text);
}

// A backup, and a home restored from it, keep the home's mode.
TEST(HomeOptionsTest, BackupAndRestoreKeepTheOptions) {
  TempDir dir;
  const std::string home = dir.Sub("home");
  MakeHome(home, {{0, Rec(0, {}, "root", "PersistentDict")}}, Durability::kWriteNoSync);
  ASSERT_TRUE(ConfigureHome(home, {{"cache_mb", "16"}}).ok());
  BackupReport report;
  Status s = BackupHome(home, dir.Sub("backup"), BackupOptions(), &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  RestoreReport restored;
  s = RestoreBackup(dir.Sub("backup"), dir.Sub("restored"), RestoreOptions(), &restored);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (const std::string& h : {dir.Sub("backup"), dir.Sub("restored")}) {
    BdbOptions o;
    ASSERT_TRUE(ResolveHomeOptions(h, &o).ok()) << h;
    EXPECT_EQ(o.cache_mb, 16u) << h;
    EXPECT_EQ(Durable(h), "write_nosync") << h;
  }
}

TEST(HomeOptionsTest, AFileWhereAHomeShouldBeIsNamed) {
  TempDir dir;
  WriteText(dir.Sub("data.durus"), std::string("SHELF-1\n") + std::string(16, '\0'));
  WriteText(dir.Sub("notes.txt"), "hello\n");
  std::unique_ptr<BdbHandle> h;
  Status s = OpenBdbStorage(dir.Sub("data.durus"), BdbOptions(), &h);
  EXPECT_EQ(s.message(), dir.Sub("data.durus") +
                             " is a Durus FileStorage file: durus-bdb migrate " +
                             dir.Sub("data.durus") + " HOME");
  s = OpenBdbStorage(dir.Sub("notes.txt"), BdbOptions(), &h);
  EXPECT_EQ(s.message(), dir.Sub("notes.txt") + " is not a durus-bdb home (a file)");
}

}  // namespace
}  // namespace durus::test
