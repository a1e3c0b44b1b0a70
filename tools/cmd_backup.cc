// durus-bdb backup HOME DEST
//
// A hot backup (bdb/backup.h): works while a server (or any process) uses
// HOME, by joining its Berkeley DB environment; DEST (new or empty) becomes
// a home of its own, recovered and checkpointed, holding every commit
// acknowledged before the backup began.  Restore = stop the server, move
// DEST into HOME's place (or serve DEST).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <thread>

#include "bdb/backup.h"
#include "tools/command.h"
#include "tools/flags.h"
#include "util/file.h"
#include "util/mutex.h"
#include "util/progress.h"

namespace durus::tools {
namespace {

const char kDescription[] =
    "Copy the durus-bdb home HOME into DEST (a new or empty directory), hot:\n"
    "HOME may be served meanwhile (`durus-bdb serve` keeps serving and\n"
    "committing).  DEST is then recovered into a home of its own that holds\n"
    "every commit acknowledged before the backup began; serve it or move it\n"
    "into place to restore.  Do not SIGKILL a running backup (it shares the\n"
    "server's Berkeley DB regions); Ctrl-C is fine.";
const char kFooter[] =
    "DEST/restore-base/ keeps the copy as taken, before that recovery: what\n"
    "`durus-bdb restore` rolls forward with the home's archived logs\n"
    "(point-in-time restore).  It doubles the size of the backup;\n"
    "--no-restore-base leaves it out (deleting it later is harmless too).\n"
    "Progress is drawn on stderr: a bar on a terminal, a line every 10 s\n"
    "otherwise.\n"
    "Exit status: 0 ok; 1 on error; 2 on a usage error.";

// Berkeley DB's backup copies in one call: the progress of the copy is
// what has arrived in DEST (its database and log files) of what HOME holds,
// watched from a thread while the call runs; recovering the copy and
// reading its counters follow, unmeasured.
class CopyWatcher {
 public:
  CopyWatcher(const std::string& home, const std::string& dest, util::ProgressBar* bar)
      : dest_(dest), bar_(bar) {
    if (!bar_->enabled()) return;
    total_ = util::DirectoryBytes(home, &Copied);
    thread_ = std::thread([this] { Run(); });
  }
  ~CopyWatcher() {
    if (!thread_.joinable()) return;
    {
      util::MutexLock l(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    thread_.join();
    bar_->Finish();
  }

 private:
  static bool Copied(const std::string& name) {
    return name.compare(0, 4, "log.") == 0 ||
           (name.size() > 3 && name.compare(name.size() - 3, 3, ".db") == 0);
  }
  void Run() {
    util::MutexLock l(&mu_);
    while (!stop_) {
      util::Progress p;
      p.phase = "backup: copy";
      p.bytes = util::DirectoryBytes(dest_, &Copied);
      p.total_bytes = std::max(total_, p.bytes);  // the home grows while served
      p.phase_seconds = -1;
      bar_->Update(p);
      cv_.WaitFor(&mu_, std::chrono::milliseconds(200));
    }
  }

  const std::string dest_;
  util::ProgressBar* const bar_;  // only this thread draws while it runs
  uint64_t total_ = 0;
  util::Mutex mu_;
  util::CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

int RunBackup(const std::vector<std::string>& args) {
  std::vector<std::string> pos(2);
  BackupOptions options;
  bool no_restore_base = false;
  CLI::App app{"", "durus-bdb backup"};
  SetUp(&app, kDescription, kFooter);
  app.add_option("HOME", pos[0], "the home (served or not)")->required();
  app.add_option("DEST", pos[1], "a new or empty directory")->required();
  app.add_flag("--no-restore-base", no_restore_base, "leave out DEST/restore-base/");
  if (auto rc = util::ParseArgs(&app, args)) return *rc;
  options.restore_base = !no_restore_base;
  BackupReport r;
  Status s;
  {
    util::ProgressBar bar(stderr, util::ProgressBar::ModeFor(stderr, false));
    CopyWatcher watcher(pos[0], pos[1], &bar);
    s = BackupHome(pos[0], pos[1], options, &r);
  }
  if (!s.ok()) return FailStatus("backup", s);
  printf(
      "backed up %s to %s (%s%s): %llu objects, %llu record bytes; %llu files, %llu bytes "
      "copied; recovered and checked in %.1f s\n",
      pos[0].c_str(), pos[1].c_str(), r.online ? "hot, in use by " : "offline",
      r.online ? r.holder.c_str() : "", static_cast<unsigned long long>(r.objects),
      static_cast<unsigned long long>(r.record_bytes),
      static_cast<unsigned long long>(r.files_copied),
      static_cast<unsigned long long>(r.bytes_copied), r.seconds);
  if (r.from_replication_site) {
    printf(
        "%s is a site of a replication group: %s is a plain home, without the group's "
        "membership (doc/replication.md, \"Backup from a site\")\n",
        pos[0].c_str(), pos[1].c_str());
  }
  return 0;
}

const CommandRegistration kReg{"backup", "hot backup of a home (while it is served) into DEST",
                               &RunBackup};

}  // namespace
}  // namespace durus::tools
