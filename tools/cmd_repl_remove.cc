// durus-bdb repl-remove --home HOME HOST:RPORT
//
// Removes a site from a running replication group (Berkeley DB's
// DB_SITE->remove), through the running server of another site of the
// group: only a process in which repmgr runs may call it, and that server
// holds its home, so the request goes through files in that home
// (bdb/repl_admin.h).  The removed site, if it runs, gets
// DB_EVENT_REP_LOCAL_SITE_REMOVED and its server exits with a message.
#include "bdb/repl_admin.h"
#include "tools/command.h"
#include "tools/flags.h"

namespace {

const char kDescription[] =
    "Remove the replication site HOST:RPORT from its group, through the running\n"
    "server whose home is --home (any other site of the group: a replica\n"
    "forwards the change to the master).  The removed site's server, if it runs,\n"
    "exits with a message.  The master itself cannot be removed: stop it first,\n"
    "and once another site is master, remove it through one of the others.  To\n"
    "add a site, start it with the group's sites as --repl-peer\n"
    "(doc/replication.md).";
const char kFooter[] =
    "Exit status: 0 removed; 1 on error (no server running on HOME, the master,\n"
    "not acknowledged by the group, no answer within --wait); 2 on a usage error.";

int ReplRemove(const std::vector<std::string>& args) {
  std::string home, site;
  double wait_s = 30;
  CLI::App app{"", "durus-bdb repl-remove"};
  durus::tools::SetUp(&app, kDescription, kFooter);
  app.add_option("--home", home, "the home of a running site of the group")->required();
  app.add_option("SITE", site, "the site to remove, HOST:RPORT (its --repl-listen)")->required();
  app.add_option("--wait", wait_s, "give up waiting for the server's answer after S seconds")
      ->type_name("S")
      ->check(durus::util::NonNegative());
  if (auto rc = durus::util::ParseArgs(&app, args)) return *rc;
  durus::Status s = durus::RequestSiteRemoval(home, site, static_cast<uint32_t>(wait_s * 1000));
  if (!s.ok()) return durus::tools::FailStatus("repl-remove", s);
  fprintf(stderr, "durus-bdb repl-remove: %s removed from the group\n", site.c_str());
  return 0;
}

const durus::tools::CommandRegistration kReg{
    "repl-remove", "remove a site from a running replication group", &ReplRemove};

}  // namespace
