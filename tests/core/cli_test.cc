// The durus-bdb command as a user runs it: a real binary in a real process.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "tests/core/test_util.h"
#include "tools/json.h"

namespace durus::test {
namespace {

ToolRun RunTool(const std::string& args) {
  return RunCommandLine(std::string(DURUS_BDB_BINARY) + " " + args);
}

size_t Lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

TEST(CliTest, HelpListsSubcommands) {
  ToolRun r = RunTool("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("stat"), std::string::npos) << r.out;
  r = RunTool("no-such-command");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(Lines(r.out), 1u) << r.out;
}

TEST(CliTest, StatJsonMatchesTheStoredData) {
  TempDir dir;
  std::string home = dir.Sub("home");
  {
    BdbOptions opts;
    opts.gc_background = false;
    auto s = OpenBdb(home, opts);
    ASSERT_NE(s, nullptr);
    Commit(s.get(), {{0, Rec(0, {1, 2}, "r", "PersistentDict")},
                     {1, Rec(1, {}, "a", "Leaf")},
                     {2, Rec(2, {}, "b", "Leaf")},
                     {3, Rec(3, {}, "c", "Orphan")}});
    ASSERT_TRUE(s->Close().ok());
  }
  uint64_t bytes = Rec(0, {1, 2}, "r", "PersistentDict").size() + Rec(1, {}, "a", "Leaf").size() +
                   Rec(2, {}, "b", "Leaf").size() + Rec(3, {}, "c", "Orphan").size();
  ToolRun r = RunTool("stat --json --census " + home);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"object_count\": 4,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"record_bytes\": " + std::to_string(bytes) + ","), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"pending_garbage\": 1,"), std::string::npos) << r.out;  // oid 3
  EXPECT_NE(r.out.find("\"format_version\": 2,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"durability\": \"sync\""), std::string::npos) << r.out;
  EXPECT_NE(
      r.out.find("\"census\": {\"mod.Leaf\": 2, \"mod.Orphan\": 1, \"mod.PersistentDict\": 1}"),
      std::string::npos)
      << r.out;
  r = RunTool("stat " + home);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("objects           4"), std::string::npos) << r.out;
}

// Disk use by kind (issue 14): the home's files as `du` counts them
// (allocated blocks), each kind a named set of files, adding up to
// disk_bytes.
TEST(CliTest, StatShowsDiskUseByKind) {
  TempDir dir;
  std::string home = dir.Sub("home");
  MakeHome(home, {{0, Rec(0, {1}, "r")}, {1, Rec(1, {}, std::string(20000, 'x'))}});
  // What the files take, measured as the user would, before stat runs.
  uint64_t total = 0, records = 0, logs = 0;
  DIR* d = opendir(home.c_str());
  ASSERT_NE(d, nullptr);
  while (struct dirent* e = readdir(d)) {
    struct stat st;
    std::string name = e->d_name;
    if (stat((home + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    total += st.st_blocks * 512ull;
    if (name == "records.db") records = st.st_blocks * 512ull;
    if (name.rfind("log.", 0) == 0) logs += st.st_blocks * 512ull;
  }
  closedir(d);
  ASSERT_GT(records, 0u);

  ToolRun r = RunTool("stat --json " + home);
  ASSERT_EQ(r.status, 0) << r.out;
  tools::Json j = tools::Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_TRUE(j["disk"].is_object()) << r.out;
  uint64_t sum = 0, apparent = 0, files = 0;
  for (const char* kind : {"records", "counts", "queue", "meta", "logs", "regions", "other"}) {
    ASSERT_TRUE(j["disk"].contains(kind)) << kind << ": " << r.out;
    const tools::Json& k = j["disk"][kind];
    ASSERT_TRUE(k.contains("bytes") && k.contains("apparent_bytes") && k.contains("files"))
        << kind << ": " << r.out;
    sum += k["bytes"].get<uint64_t>();
    apparent += k["apparent_bytes"].get<uint64_t>();
    files += k["files"].get<uint64_t>();
  }
  EXPECT_EQ(j["disk"].size(), 8u) << r.out;  // the seven kinds and the total
  EXPECT_EQ(sum, j["disk"]["total"]["bytes"].get<uint64_t>()) << r.out;
  EXPECT_EQ(apparent, j["disk"]["total"]["apparent_bytes"].get<uint64_t>()) << r.out;
  EXPECT_EQ(files, j["disk"]["total"]["files"].get<uint64_t>()) << r.out;
  EXPECT_EQ(sum, j["disk_bytes"].get<uint64_t>()) << r.out;
  EXPECT_EQ(sum, total) << r.out;
  EXPECT_EQ(j["disk"]["records"]["bytes"].get<uint64_t>(), records) << r.out;
  EXPECT_EQ(j["disk"]["records"]["files"].get<uint64_t>(), 1u) << r.out;
  EXPECT_EQ(j["disk"]["logs"]["bytes"].get<uint64_t>(), logs) << r.out;
  EXPECT_EQ(j["disk"]["counts"]["files"].get<uint64_t>(), 1u) << r.out;
  EXPECT_EQ(j["disk"]["queue"]["files"].get<uint64_t>(), 1u) << r.out;

  r = RunTool("stat " + home);
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* row : {"\n  records  ", "\n  counts  ", "\n  queue  ", "\n  meta  ",
                          "\n  logs  ", "\n  regions  ", "\n  other  "}) {
    EXPECT_NE(r.out.find(row), std::string::npos) << row << r.out;
  }
}

TEST(CliTest, StatErrorsAreOneLineAndNonZero) {
  TempDir dir;
  ToolRun r = RunTool("stat " + dir.Sub("missing"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(Lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;

  ASSERT_EQ(system(("echo x > " + dir.Sub("file")).c_str()), 0);
  r = RunTool("stat " + dir.path());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(Lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("not a durus-bdb home"), std::string::npos) << r.out;

  std::string home = dir.Sub("home");
  ASSERT_NE(OpenBdb(home), nullptr);  // create it
  // Held by a process that publishes no live figures (a read-only opener).
  BdbOptions ro;
  ro.readonly = true;
  auto held = OpenBdb(home, ro);
  ASSERT_NE(held, nullptr);
  r = RunTool("stat " + home);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(Lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("in use by process " + std::to_string(getpid())), std::string::npos)
      << r.out;

  r = RunTool("stat");
  EXPECT_EQ(r.status, 2);
  r = RunTool("stat --bogus " + home);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(Lines(r.out), 1u) << r.out;
}

// A home held by a running storage (a server): stat cannot open it, and
// shows the figures the holder publishes: the collector's backlog and
// progress, and a running trace.
TEST(CliTest, StatOnAHomeInUseShowsTheHoldersLiveFigures) {
  TempDir dir;
  std::string home = dir.Sub("home");
  BdbOptions opts;
  opts.gc_batch = 1;
  opts.gc_per_second = 2;  // slow enough that the trace below is still running
  auto s = OpenBdb(home, opts);
  ASSERT_NE(s, nullptr);
  // A chain 0 -> 1 -> ... -> 20, and 21 -> 22 hanging off nothing.
  std::vector<std::pair<uint64_t, std::string>> recs;
  for (uint64_t i = 0; i < 20; ++i) recs.push_back({i, Rec(i, {i + 1}, "x", "Node")});
  recs.push_back({20, Rec(20, {}, "x", "Node")});
  recs.push_back({21, Rec(21, {22}, "x", "Node")});
  recs.push_back({22, Rec(22, {}, "x", "Node")});
  Commit(s.get(), recs);

  // The collector takes 21 then 22 (2 per second); the status file is
  // rewritten every second.  Wait until stat shows both collected.
  const std::string pid = std::to_string(getpid());
  ToolRun r;
  for (int i = 0; i < 100; ++i) {
    r = RunTool("stat --json " + home);
    if (r.out.find("\"collected_total\": 2,") != std::string::npos) break;
    usleep(100 * 1000);
  }
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"object_count\": 21,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"pending_garbage\": 0,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"collected_total\": 2,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"live\": {\"pid\": " + pid + ","), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"trace_running\": false"), std::string::npos) << r.out;

  // A trace at 2 records per second over 21 objects runs for ~10 s.
  ASSERT_TRUE(s->StartPack().ok());
  for (int i = 0; i < 100; ++i) {
    r = RunTool("stat " + home);
    if (r.out.find("mark phase") != std::string::npos) break;
    usleep(100 * 1000);
  }
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("in use by         process " + pid + " (live figures"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("cycle trace       mark phase: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("collected         2 since the holder opened the home"), std::string::npos)
      << r.out;
  // --census needs every record: refused on a home in use, one line.
  r = RunTool("stat --census " + home);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(Lines(r.out), 1u) << r.out;

  // Closing removes the file; the home is then opened directly again.
  ASSERT_TRUE(s->Close().ok());
  EXPECT_NE(access((home + "/durus-bdb.status").c_str(), F_OK), 0);
  r = RunTool("stat --json " + home);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("\"live\""), std::string::npos) << r.out;
  // The interrupted trace resumes at the next open; stat shows it.
  EXPECT_NE(r.out.find("\"trace_running\": true, \"trace_phase\": \"mark\""), std::string::npos)
      << r.out;
}

// Issue 15, the command line: the top-level help names --version, and no
// command is a usage error (exit 2, the usage on stderr).
TEST(CliTest, TopLevelHelpListsVersionAndNoCommandIsAUsageError) {
  const struct {
    const char* args;
    int status;
    const char* shows;
  } cases[] = {{"--help", 0, "--version"},
               {"--version", 0, "durus-bdb 0."},
               {"", 2, "usage: durus-bdb COMMAND"}};
  for (const auto& c : cases) {
    ToolRun r = RunTool(c.args);
    EXPECT_EQ(r.status, c.status) << c.args << ": " << r.out;
    EXPECT_NE(r.out.find(c.shows), std::string::npos) << c.args << ": " << r.out;
  }
}

// Every usage error of every command: one line naming the command, exit 2.
TEST(CliTest, EveryUsageErrorIsOneLineAndExitTwo) {
  const char* cases[] = {"stop --bogus",
                         "stop --port",
                         "stop --port abc",
                         "stop --wait -1",
                         "stop stray",
                         "serve --bogus",
                         "serve --threads 0",
                         "serve --durability maybe",
                         "serve stray",
                         "serve --socket-mode 999",
                         "serve --log-archive-max-age 3x",
                         "serve --allow-stop whoever",
                         "migrate a",
                         "migrate a b --cache-mb x",
                         "migrate a b --format nope",
                         "migrate --bogus a b",
                         "migrate a b c",
                         "export a b --level 10",
                         "export a b --cache-mb",
                         "export a b --format x",
                         "salvage a",
                         "salvage a b --level",
                         "salvage a b --max-problems x",
                         "restore a b --to yesterday",
                         "restore a b --logs",
                         "restore a",
                         "backup a",
                         "backup a b c",
                         "backup a b --bogus",
                         "serve --home h --http nope:port",
                         "serve --home h --log-format yaml",
                         "gc",
                         "gc h --cache-mb 0",
                         "gc h --cache-mb",
                         "verify",
                         "verify h --max-problems x",
                         "verify a b",
                         "stat --bogus h",
                         "stat a b",
                         "stat",
                         "stat --json=1 h",
                         "config",
                         "config h --bogus",
                         "config h durabilty=sync",
                         "config h durability=fast",
                         "config h cache_mb=0",
                         "config h cache_mb",
                         "--bogus"};
  for (const char* args : cases) {
    ToolRun r = RunTool(args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.out;
    EXPECT_EQ(Lines(r.out), 1u) << args << ": " << r.out;
    std::string cmd = std::string(args).substr(0, std::string(args).find(' '));
    if (cmd[0] != '-') {
      EXPECT_EQ(r.out.rfind("durus-bdb " + cmd + ": ", 0), 0u) << args << ": " << r.out;
    }
  }
}

// Every command takes "--name=value" as well as "--name value" (before,
// only serve and stop did).
TEST(CliTest, EveryCommandTakesNameEqualsValue) {
  TempDir dir;
  for (const std::string& args :
       {"gc " + dir.Sub("none") + " --cache-mb=8", "verify " + dir.Sub("none") + " --cache-mb=8",
        "migrate " + dir.Sub("none") + " " + dir.Sub("home") + " --format=shelf"}) {
    ToolRun r = RunTool(args);
    EXPECT_EQ(r.status, 1) << args << ": " << r.out;  // not a usage error: the path is missing
    EXPECT_EQ(r.out.find("see --help"), std::string::npos) << args << ": " << r.out;
  }
}

// `stop --help` lists what stop takes, not serve's listening options.
TEST(CliTest, StopHelpListsOnlyStopFlags) {
  ToolRun r = RunTool("stop --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--wait"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--port"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("--socket-mode"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("--socket-group"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("any free port"), std::string::npos) << r.out;
  r = RunTool("serve --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--socket-mode"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("any free port"), std::string::npos) << r.out;
}

// Each command's help goes to stdout, exit 0, and names its flags.
TEST(CliTest, EveryCommandHasHelp) {
  const std::pair<const char*, const char*> cases[] = {{"migrate", "--sort-mb"},
                                                       {"export", "--level"},
                                                       {"salvage", "--aggressive"},
                                                       {"restore", "--no-verify"},
                                                       {"backup", "--no-restore-base"},
                                                       {"gc", "--cycles"},
                                                       {"verify", "--repair"},
                                                       {"stat", "--census"},
                                                       {"serve", "--max-clients"},
                                                       {"stop", "--wait"},
                                                       {"config", "--json"}};
  for (auto [cmd, flag] : cases) {
    ToolRun r = RunTool(std::string(cmd) + " --help");
    EXPECT_EQ(r.status, 0) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find(flag), std::string::npos) << cmd << ": " << r.out;
    r = RunTool(std::string(cmd) + " -h");
    EXPECT_EQ(r.status, 0) << cmd << ": " << r.out;
  }
}

// `durus-bdb config`: every option with its source; key=value keeps them;
// a home in use is refused (doc/options.md).
TEST(CliTest, ConfigShowsAndSetsTheHomesOptions) {
  TempDir dir;
  const std::string home = dir.Sub("home");
  MakeHome(home, {});
  ToolRun r = RunTool("config " + home);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(Lines(r.out), 9u) << r.out;
  EXPECT_NE(r.out.find("cache_mb                64            default"), std::string::npos)
      << r.out;
  r = RunTool("config " + home + " durability=write_nosync cache_mb=128 gc_background=no");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("durability              write_nosync  home"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gc_background           false         home"), std::string::npos) << r.out;
  r = RunCommandLine("DURUS_BDB_CACHE_MB=256 " + std::string(DURUS_BDB_BINARY) + " config --json " +
                     home);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"cache_mb\": {\"value\": \"256\", \"source\": \"env\""), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"durability\": {\"value\": \"write_nosync\", \"source\": \"home\""),
            std::string::npos)
      << r.out;
  // A bad setting among good ones changes nothing.
  r = RunTool("config " + home + " cache_mb=512 durability=fast");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("durability=fast is not valid"), std::string::npos) << r.out;
  r = RunTool("config " + home);
  EXPECT_NE(r.out.find("cache_mb                128           home"), std::string::npos) << r.out;
  // Not a home; a home in use.
  r = RunTool("config " + dir.Sub("none"));
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("is not a durus-bdb home"), std::string::npos) << r.out;
  auto held = OpenBdb(home);
  ASSERT_TRUE(held);
  EXPECT_EQ(held->options().cache_mb, 128u);
  r = RunTool("config " + home + " cache_mb=512");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_EQ(Lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("is in use by process"), std::string::npos) << r.out;
  r = RunTool("config " + home);  // showing works on a home in use
  EXPECT_EQ(r.status, 0) << r.out;
}

// A status file left by a process that is gone is not taken as live.
TEST(CliTest, LiveFiguresOfADeadHolderAreIgnored) {
  TempDir dir;
  std::string home = dir.Sub("home");
  ASSERT_NE(OpenBdb(home), nullptr);
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  int st;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  FILE* f = fopen((home + "/durus-bdb.status").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fprintf(f, "durus-bdb-status 1\npid %d\nwritten_ms 1\nobjects 7\n", static_cast<int>(child));
  fclose(f);
  LiveStats live;
  Status s = ReadLiveStats(home, &live);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.ToString().find("which is gone"), std::string::npos) << s.ToString();
  // Malformed: a clear error.
  f = fopen((home + "/durus-bdb.status").c_str(), "w");
  fprintf(f, "something else\n");
  fclose(f);
  EXPECT_TRUE(ReadLiveStats(home, &live).IsInvalidArgument());
}

}  // namespace
}  // namespace durus::test
