#include "tools/flags.h"

#include <cstdlib>

namespace durus::tools {

void SetUp(CLI::App* app, const std::string& description, const std::string& footer) {
  util::UseConventions(app);
  app->description(description + "\n");
  if (!footer.empty()) app->footer(footer);
}

void AddAddressFlags(CLI::App* app, server::ListenOptions* o, AddressUse use) {
  const bool listen = use == AddressUse::kListen;
  app->add_option("--host", o->host,
                  listen ? "TCP host (default 127.0.0.1: loopback only)"
                         : "the server's TCP host (default 127.0.0.1)");
  app->add_option("--port", o->port,
                  listen ? "TCP port (default 2972, Durus's; 0: any free port)"
                         : "the server's TCP port (default 2972)")
      ->check(util::InRange(0, 65535));
  app->add_option("--address", o->address,
                  listen ? "unix-domain socket instead of TCP; '@name' is an\n"
                           "abstract socket (Linux)"
                         : "the server's unix-domain socket instead of TCP\n('@name': abstract)")
      ->check([](const std::string& v) { return v.empty() ? "--address is empty" : ""; });
  if (!listen) return;
  app->add_option_function<std::string>(
         "--socket-mode",
         [o](const std::string& v) {
           char* end = nullptr;
           unsigned long m = std::strtoul(v.c_str(), &end, 8);
           if (v.empty() || *end != '\0' || m > 0777) {
             throw CLI::ValidationError("--socket-mode",
                                        "'" + v + "' is not an octal mode like 0660");
           }
           o->socket_mode = static_cast<unsigned>(m);
         },
         "permissions of the socket file (default 0600)")
      ->type_name("OCTAL");
  app->add_option("--socket-group", o->socket_group, "group of the socket file (name or gid)");
}

void AddReplicationFlags(CLI::App* app, ReplicationOptions* o) {
  AddParsed(app, "--repl-listen", &o->listen, &ParseReplicationAddress,
            "make this server a site of a Berkeley DB replication\n"
            "group, listening for the other sites on HOST:RPORT\n"
            "(doc/replication.md); one site is elected master,\n"
            "the others serve loads")
      ->type_name("HOST:RPORT");
  app->add_option_function<std::string>(
         "--repl-peer",
         [o](const std::string& v) {
           ReplicationAddress a;
           Status s = ParseReplicationAddress(v, &a);
           if (!s.ok()) throw CLI::ValidationError("--repl-peer", s.message());
           o->peers.push_back(a);
         },
         "another site of the group to contact when joining\n(repeat for each)")
      ->type_name("HOST:RPORT")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->trigger_on_parse();
  app->add_option("--repl-priority", o->priority,
                  "election priority (default 100; 0: never master)")
      ->check(util::InRange(0u, 1000000u));
  AddParsed(app, "--repl-ack", &o->ack, &ParseReplicationAck,
            "which sites must acknowledge a commit before the\n"
            "master answers it: quorum (default), all, one, none\n"
            "(the same on every site; a commit not acknowledged\n"
            "in time fails for its client)")
      ->type_name("POLICY");
  app->add_flag("--repl-create", o->create_group,
                "this is the group's first site, started for the first\n"
                "time (ignored once the group exists)");
  app->add_option("--repl-advertise", o->advertise,
                  "the Durus address clients should use when this site is\n"
                  "master (default: the --repl-listen host and --port)")
      ->type_name("HOST:PORT");
  app->add_option("--repl-journal-keep", o->journal_keep_entries,
                  "the master keeps at least the newest N entries of the\n"
                  "commit journal (default 100000)")
      ->check(util::InRange(uint64_t{1}, uint64_t{1} << 40));
  app->add_option("--repl-journal-keep-s", o->journal_keep_s,
                  "... and every entry younger than S seconds (default\n"
                  "600); older entries beyond N are trimmed")
      ->check(util::InRange(0u, 100000000u));
  app->add_option("--repl-ack-timeout-ms", o->ack_timeout_ms,
                  "advanced: how long a commit waits for acknowledgements\n(default 1000)")
      ->check(util::InRange(1u, 3600000u));
  app->add_option("--repl-heartbeat-ms", o->heartbeat_monitor_ms,
                  "advanced: a master silent this long is presumed gone\n(default 2000)")
      ->check(util::InRange(100u, 3600000u));
  app->add_option(
         "--repl-election-timeout-ms", o->election_timeout_ms,
         "advanced: an election that does not complete is\nretried after this (default 300)")
      ->check(util::InRange(10u, 3600000u));
}

}  // namespace durus::tools
