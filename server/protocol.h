// Durus storage-server protocol 1: constants and frame codecs
// (../shared/DESIGN.md §2, durus/storage_server.py, durus/client_storage.py).
//
// The wire: a request is one command byte followed by its arguments;
// integers are u32 big-endian ("int4"); oids are 8 raw bytes.  Replies come
// in request order.  These helpers are pure functions over byte strings so
// the framing can be tested without sockets.
#ifndef DURUS_BDB_SERVER_PROTOCOL_H_
#define DURUS_BDB_SERVER_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/commit_batch.h"
#include "engine/oid.h"
#include "engine/status.h"

namespace durus::server {

inline constexpr uint32_t kProtocolVersion = 1;

// Command bytes.
inline constexpr char kCmdVersion = 'V';   // int4 protocol -> int4 protocol
inline constexpr char kCmdNewOid = 'N';    // -> oid
inline constexpr char kCmdNewOids = 'M';   // byte n -> n oids
inline constexpr char kCmdLoad = 'L';      // oid -> load reply
inline constexpr char kCmdBulkLoad = 'B';  // int4 n + n oids -> n load replies
inline constexpr char kCmdCommit = 'C';    // see server.cc
inline constexpr char kCmdSync = 'S';      // -> int4 n + n oids
inline constexpr char kCmdPack = 'P';      // -> 'O'
inline constexpr char kCmdQuit = 'Q';      // -> nothing; the server stops
inline constexpr char kCmdHangUp = '.';    // what ClientStorage.close() sends
// durus-bdb's own: the info request (server/info_request.h).  No Durus
// server knows it: an unmodified one drops the client, which is how a
// client tells a durus-bdb server from another.
inline constexpr char kCmdInfo = 'R';  // int4 len + JSON -> int4 len + JSON

// Status bytes.
inline constexpr char kStatusOkay = 'O';
inline constexpr char kStatusKeyError = 'K';
inline constexpr char kStatusInvalid = 'I';

// Appends int4 n + the n oids (an invalidation list, S and C replies).
void AppendOidList(const std::vector<Oid>& oids, std::string* out);

// Appends 'O' + int4 len + record.
void AppendLoadOkay(std::string_view record, std::string* out);

// Decodes a commit's transaction data: a sequence of
// int4(8 + len(record)) + oid[8] + record.  Every record must carry the
// oid it is stored under (CommitBatch::Add).  On error `batch` is
// unspecified and nothing should be stored: InvalidArgument names the
// offset of the bad frame.
Status ParseCommitData(std::string_view tdata, CommitBatch* batch);

// Splits n*8 bytes into n oids.
std::vector<Oid> SplitOids(std::string_view bytes);

}  // namespace durus::server

#endif  // DURUS_BDB_SERVER_PROTOCOL_H_
