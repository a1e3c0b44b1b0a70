// durus-bdb backup HOME DEST
//
// A hot backup (bdb/backup.h): works while a server (or any process) uses
// HOME, by joining its Berkeley DB environment; DEST (new or empty) becomes
// a home of its own, recovered and checkpointed, holding every commit
// acknowledged before the backup began.  Restore = stop the server, move
// DEST into HOME's place (or serve DEST).
#include <cstdio>
#include <iostream>

#include "bdb/backup.h"
#include "tools/command.h"

namespace durus::tools {
namespace {

constexpr const char* kUsage =
    "usage: durus-bdb backup HOME DEST [--no-restore-base]\n"
    "\n"
    "Copy the durus-bdb home HOME into DEST (a new or empty directory), hot:\n"
    "HOME may be served meanwhile (`durus-bdb serve` keeps serving and\n"
    "committing).  DEST is then recovered into a home of its own that holds\n"
    "every commit acknowledged before the backup began; serve it or move it\n"
    "into place to restore.  Do not SIGKILL a running backup (it shares the\n"
    "server's Berkeley DB regions); Ctrl-C is fine.\n"
    "\n"
    "DEST/restore-base/ keeps the copy as taken, before that recovery: what\n"
    "`durus-bdb restore` rolls forward with the home's archived logs\n"
    "(point-in-time restore).  It doubles the size of the backup;\n"
    "--no-restore-base leaves it out (deleting it later is harmless too).\n"
    "Exit status: 0 ok; 1 on error; 2 on a usage error.\n";

int RunBackup(const std::vector<std::string>& args) {
  std::vector<std::string> pos;
  BackupOptions options;
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--no-restore-base") {
      options.restore_base = false;
      continue;
    } else if (!a.empty() && a[0] == '-') {
      return Fail("backup", "unknown option " + a + " (see durus-bdb backup --help)", 2);
    }
    pos.push_back(a);
  }
  if (pos.size() != 2) return Fail("backup", "expected HOME DEST (see durus-bdb backup --help)", 2);
  BackupReport r;
  Status s = BackupHome(pos[0], pos[1], options, &r);
  if (!s.ok()) return FailStatus("backup", s);
  printf("backed up %s to %s (%s%s): %llu objects, %llu record bytes; %llu files, %llu bytes "
         "copied; recovered and checked in %.1f s\n",
         pos[0].c_str(), pos[1].c_str(), r.online ? "hot, in use by " : "offline",
         r.online ? r.holder.c_str() : "", static_cast<unsigned long long>(r.objects),
         static_cast<unsigned long long>(r.record_bytes),
         static_cast<unsigned long long>(r.files_copied),
         static_cast<unsigned long long>(r.bytes_copied), r.seconds);
  return 0;
}

const CommandRegistration kReg{"backup", "hot backup of a home (while it is served) into DEST",
                               &RunBackup};

}  // namespace
}  // namespace durus::tools
