// Flags the durus-bdb subcommands share, on util/flags.h (CLI11): a
// subcommand's App, options whose value a Status-returning parser checks
// (durability, formats, log levels...), and the address flags of serve and
// stop.
//
// Threading: an App has one owner.  Errors: a parser's Status becomes a
// usage error (exit 2, one line naming the flag) through util::ParseArgs.
#ifndef DURUS_BDB_TOOLS_FLAGS_H_
#define DURUS_BDB_TOOLS_FLAGS_H_

#include <string>

#include "bdb/replication_options.h"
#include "engine/status.h"
#include "server/listener.h"
#include "util/flags.h"

namespace durus::tools {

// The App of `durus-bdb CMD` with the conventions of util/flags.h;
// `description` heads its --help, `footer` ends it.
void SetUp(CLI::App* app, const std::string& description, const std::string& footer = "");

// --flag VALUE, handed to `parse(value, out)`; its error is a usage error.
template <typename T>
CLI::Option* AddParsed(CLI::App* app, const std::string& flag, T* out,
                       Status (*parse)(const std::string&, T*), const std::string& help) {
  return app->add_option_function<std::string>(
      flag,
      [flag, out, parse](const std::string& v) {
        Status s = parse(v, out);
        if (!s.ok()) throw CLI::ValidationError(flag, s.message());
      },
      help);
}

// --host, --port, --address, --socket-mode, --socket-group into *o.  Only
// `serve` listens: `stop` gets the flags that name where to connect
// (--host, --port, --address) with help that speaks of connecting.
enum class AddressUse { kListen, kConnect };
void AddAddressFlags(CLI::App* app, server::ListenOptions* o, AddressUse use);

// serve's replication flags (doc/replication.md): --repl-listen,
// --repl-peer (repeated), --repl-priority, --repl-ack, --repl-create,
// --repl-advertise, --repl-journal-keep[-s], and the timeouts --repl-ack-timeout-ms,
// --repl-heartbeat-ms, --repl-election-timeout-ms.
void AddReplicationFlags(CLI::App* app, ReplicationOptions* o);

}  // namespace durus::tools

#endif  // DURUS_BDB_TOOLS_FLAGS_H_
