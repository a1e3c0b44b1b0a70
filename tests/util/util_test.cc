// util/: the utility layer on its own (no storage, no engine).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "util/file.h"
#include "util/flags.h"
#include "util/format.h"
#include "util/progress.h"

namespace durus::util {
namespace {

std::string Contents(FILE* f) {
  std::string s(static_cast<size_t>(ftell(f)), '\0');
  rewind(f);
  size_t n = fread(s.data(), 1, s.size(), f);
  s.resize(n);
  return s;
}

TEST(File, WriteReadExistsAndDirName) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  EXPECT_TRUE(IsDirectory(dir.path()));
  std::string f = dir.Sub("f");
  EXPECT_FALSE(PathExists(f));
  ASSERT_TRUE(WriteFile(f, std::string("a\0b", 3)));
  EXPECT_TRUE(PathExists(f));
  EXPECT_FALSE(IsDirectory(f));
  std::string back, error;
  ASSERT_TRUE(ReadFile(f, &back));
  EXPECT_EQ(back, std::string("a\0b", 3));
  EXPECT_FALSE(ReadFile(dir.Sub("missing"), &back, &error));
  EXPECT_NE(error.find(dir.Sub("missing")), std::string::npos) << error;
  ASSERT_TRUE(WriteFile(dir.Sub("log.1"), "12345"));
  ASSERT_EQ(mkdir(dir.Sub("sub").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(dir.Sub("sub/x"), "not counted: below"));
  EXPECT_EQ(DirectoryBytes(dir.path()), 3u + 5u);
  EXPECT_EQ(DirectoryBytes(dir.path(), [](const std::string& n) { return n[0] == 'l'; }), 5u);
  EXPECT_EQ(DirectoryBytes(dir.Sub("missing")), 0u);
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
}

// RemoveTree is `rm -rf` without a shell: nested directories, read-only
// files, odd names; a symbolic link is removed, never followed.
TEST(File, RemoveTreeRemovesEverythingAndFollowsNoLink) {
  TempDir outside;
  ASSERT_TRUE(WriteFile(outside.Sub("keep"), "x"));
  std::string root;
  {
    TempDir dir("durus-util-test");
    root = dir.path();
    ASSERT_EQ(mkdir(dir.Sub("a").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(dir.Sub("a/b c'd").c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(dir.Sub("a/b c'd/f"), "y"));
    ASSERT_EQ(chmod(dir.Sub("a/b c'd/f").c_str(), 0400), 0);
    ASSERT_EQ(symlink(outside.path().c_str(), dir.Sub("a/link").c_str()), 0);
  }
  EXPECT_FALSE(PathExists(root));
  EXPECT_TRUE(PathExists(outside.Sub("keep")));
  EXPECT_TRUE(RemoveTree(root));  // missing: not an error
  std::string kept;
  {
    TempDir dir;
    kept = dir.path();
    dir.Keep();
  }
  EXPECT_TRUE(IsDirectory(kept));
  EXPECT_TRUE(RemoveTree(kept));
  EXPECT_FALSE(PathExists(kept));
}

TEST(Format, BytesDigitsDurations) {
  EXPECT_EQ(HumanBytes(512), "512 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(GroupDigits(1234567), "1,234,567");
  EXPECT_EQ(GroupDigits(12), "12");
  EXPECT_EQ(FormatDuration(62), "1:02");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-1), "?");
}

TEST(ProgressBar, RenderShowsPercentRateAndEta) {
  std::string line = ProgressBar::Render("verify: recount", 500, 1000, 2.0, 10);
  EXPECT_EQ(line, "verify: recount [#####.....]  50%  500 rec  250 rec/s  ETA 0:02");
  EXPECT_EQ(ProgressBar::Render("x", 1234567, 0, 1.0, 10), "x:  1,234,567 rec  1,234,567 rec/s");
}

// Issue 15: verify and gc drew "0 rec/s" at the start of every phase.
TEST(ProgressBar, NoRateBeforeThereIsOne) {
  const char kStart[] = "gc: collect [..........]   0%  0 rec";
  EXPECT_EQ(ProgressBar::Render("gc: collect", 0, 100, 0.0, 10), kStart);
  EXPECT_EQ(ProgressBar::Render("gc: collect", 0, 100, 3.0, 10), kStart);
}

// Migrate's reports: bytes of a known total drive the bar and the ETA.
TEST(ProgressBar, RenderWithBytes) {
  Progress p;
  p.phase = "load";
  p.records = 1000;
  p.bytes = 1 << 20;
  p.total_bytes = 4 << 20;
  EXPECT_EQ(ProgressBar::Render(p, 2.0, 4, "records"),
            "load: [#...]  25%  1,000 records  1.0 MiB of 4.0 MiB  500 records/s  ETA 0:06");
  p.phase_done = true;
  p.bytes = p.total_bytes;
  EXPECT_EQ(ProgressBar::Render(p, 8.0, 0, "rec"),
            "load: 100%  1,000 rec  4.0 MiB of 4.0 MiB  125 rec/s  done in 0:08");
}

// Backup's reports: bytes copied of a total, no records.
TEST(ProgressBar, RenderBytesOnly) {
  Progress p;
  p.phase = "backup: copy";
  p.bytes = 3 << 20;
  p.total_bytes = 4 << 20;
  EXPECT_EQ(ProgressBar::Render(p, 3.0, 4, "rec"),
            "backup: copy [###.]  75%  3.0 MiB of 4.0 MiB  1.0 MiB/s  ETA 0:01");
}

TEST(ProgressBar, OffPrintsNothingBarRedrawsInPlace) {
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressBar bar(f, false);
    bar.Update("phase", 1, 2);
    bar.Finish();
    EXPECT_FALSE(bar.Callback());
  }
  EXPECT_EQ(ftell(f), 0);
  {
    ProgressBar bar(f, true);
    bar.Update("phase", 1, 2);
  }
  std::string out = Contents(f);
  EXPECT_EQ(out.rfind("\rphase: [", 0), 0u) << out;
  EXPECT_EQ(out.find('\n'), std::string::npos) << out;  // cleared, not scrolled
  fclose(f);
}

// Piped: plain lines (no '\r'), none at all for a phase shorter than the
// interval, and a closing line for a phase that printed any.
TEST(ProgressBar, LinesWhenPiped) {
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressBar bar(f, ProgressBar::Mode::kLines, std::chrono::hours(1));
    bar.Update("short", 1, 2);
    bar.Update("short", 2, 2);
  }
  EXPECT_EQ(ftell(f), 0);
  {
    ProgressBar bar(f, ProgressBar::Mode::kLines, std::chrono::seconds(0));
    ProgressFn fn = bar.Callback();
    Progress p;
    p.phase = "export";
    p.records = 5;
    p.total_records = 10;
    fn(p);
    p.records = 10;
    p.phase_done = true;
    fn(p);
  }
  std::string out = Contents(f);
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  EXPECT_EQ(out.rfind("export:  50%  5 rec", 0), 0u) << out;
  EXPECT_NE(out.find("\nexport: 100%  10 rec"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  fclose(f);
}

TEST(Flags, ConventionsAndUsageErrors) {
  int n = 1;
  bool b = false;
  std::string pos;
  CLI::App app{"test", "durus-util-test"};
  UseConventions(&app);
  app.add_option("--n", n)->check(CLI::Range(0, 9));
  app.add_flag("--b", b);
  app.add_option("POS", pos)->required();
  EXPECT_FALSE(ParseArgs(&app, {"--n=3", "x", "--b", "--n", "4"}).has_value());
  EXPECT_EQ(n, 4);  // the last one counts
  EXPECT_TRUE(b);
  EXPECT_EQ(pos, "x");
  testing::internal::CaptureStderr();
  EXPECT_EQ(ParseArgs(&app, {"x", "--n", "12"}), std::optional<int>(2));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.rfind("durus-util-test: --n: ", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

}  // namespace
}  // namespace durus::util
