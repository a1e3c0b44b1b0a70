// The durus-bdb command as a user runs it: a real binary in a real process.
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/core/test_util.h"

namespace durus::test {
namespace {

struct ToolRun {
  int status = -1;
  std::string out;  // stdout and stderr together
};

ToolRun RunTool(const std::string& args) {
  ToolRun r;
  std::string cmd = std::string(DURUS_BDB_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
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
  EXPECT_NE(r.out.find("\"format_version\": 1,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"durability\": \"sync\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"census\": {\"Leaf\": 2, \"Orphan\": 1, \"PersistentDict\": 1}"),
            std::string::npos)
      << r.out;
  r = RunTool("stat " + home);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("objects           4"), std::string::npos) << r.out;
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
  auto held = OpenBdb(home);
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

}  // namespace
}  // namespace durus::test
