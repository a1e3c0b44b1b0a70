// The request and reply files of bdb/repl_admin.h.
#include "bdb/repl_admin.h"

#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "bdb/bdb_storage.h"
#include "bdb/log_archive.h"
#include "util/file.h"

namespace durus {

namespace bdb {

bool TakeReplRequest(const std::string& home, std::string* verb, std::string* arg,
                     std::string* id) {
  const std::string path = home + "/" + kReplRequestFile;
  std::string text;
  if (!util::ReadFile(path, &text)) return false;
  unlink(path.c_str());
  std::istringstream in(text);
  verb->clear();
  arg->clear();
  id->clear();
  in >> *verb >> *arg >> *id;
  if (verb->empty() || arg->empty() || id->empty()) {
    if (!id->empty()) WriteReplReply(home, *id, Status::InvalidArgument("malformed request"));
    return false;
  }
  return true;
}

void WriteReplReply(const std::string& home, const std::string& id, const Status& result) {
  std::string text = id + (result.ok() ? " ok" : " error " + result.ToString()) + "\n";
  // Informational for the waiting tool; a failure leaves it to time out.
  WriteFileAtomically(home + "/" + kReplReplyFile, text).IgnoreError();
}

}  // namespace bdb

Status RequestSiteRemoval(const std::string& home, const std::string& site, uint32_t timeout_ms) {
  ReplicationAddress address;
  DURUS_RETURN_IF_ERROR(ParseReplicationAddress(site, &address));
  LiveStats live;
  Status s = ReadLiveStats(home, &live);
  if (s.IsNotFound()) {
    return Status::NotFound(
        "no running server holds " + home +
        ": a site is removed through a running site of its group (Berkeley DB's "
        "DB_SITE->remove needs repmgr running); name the home of a running site (" +
        s.ToString() + ")");
  }
  DURUS_RETURN_IF_ERROR(s);
  if (live.stats.replication.role.empty()) {
    return Status::InvalidArgument("the server holding " + home +
                                   " is not a site of a replication group");
  }
  const std::string id = std::to_string(getpid()) + "-" +
                         std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  DURUS_RETURN_IF_ERROR(bdb::WriteFileAtomically(home + "/" + kReplRequestFile,
                                                 "remove " + address.ToString() + " " + id + "\n"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  const std::string reply_path = home + "/" + kReplReplyFile;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text;
    if (util::ReadFile(reply_path, &text) && text.compare(0, id.size() + 1, id + " ") == 0) {
      std::string rest = text.substr(id.size() + 1);
      while (!rest.empty() && rest.back() == '\n') rest.pop_back();
      if (rest == "ok") return Status::OK();
      if (rest.compare(0, 6, "error ") == 0) rest = rest.substr(6);
      return Status::IOError("the server of " + home + " could not remove " + address.ToString() +
                             ": " + rest);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Take the request back if the server never took it (not running any
  // more, or stuck): a later server must not act on it unasked.
  unlink((home + "/" + kReplRequestFile).c_str());
  return Status::Busy("the server of " + home + " did not answer within " +
                      std::to_string(timeout_ms / 1000) + " s; the removal may or may not " +
                      "have happened (`durus-bdb stat` on a running site lists the peers)");
}

}  // namespace durus
