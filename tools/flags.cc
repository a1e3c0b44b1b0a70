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

}  // namespace durus::tools
