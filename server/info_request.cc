// The info request R's JSON (server/info_request.h).  nlohmann's parser
// runs with exceptions off (a discarded value on bad input) and every
// field's type is checked before it is read: nothing here throws.
#include "server/info_request.h"

#include <nlohmann/json.hpp>

namespace durus::server {

namespace {

using Json = nlohmann::ordered_json;

Json AddressOrNull(const std::string& a) { return a.empty() ? Json(nullptr) : Json(a); }

Json OidArray(const std::vector<Oid>& oids) {
  Json a = Json::array();
  for (Oid oid : oids) a.push_back(oid.value());
  return a;
}

}  // namespace

Status ParseInfoRequest(std::string_view json, std::optional<JournalPosition>* since) {
  since->reset();
  const Json j = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("info request: not a JSON object");
  }
  auto it = j.find("since");
  if (it == j.end() || it->is_null()) return Status::OK();
  if (!it->is_number_unsigned()) {
    return Status::InvalidArgument("info request: \"since\" is not a journal seq");
  }
  JournalPosition pos;
  pos.seq = it->get<uint64_t>();
  auto t = j.find("since_time");
  if (t != j.end() && !t->is_null()) {
    if (!t->is_number_unsigned()) {
      return Status::InvalidArgument("info request: \"since_time\" is not a time in µs");
    }
    pos.time_us = t->get<uint64_t>();
  }
  *since = pos;
  return Status::OK();
}

std::string EncodeInfoReply(const ReplicationInfo& info, bool asked_since,
                            const std::vector<Oid>& in_flight) {
  Json j = Json::object();
  j["role"] = info.role;
  j["master"] = AddressOrNull(info.master);
  j["master_site"] = AddressOrNull(info.master_site);
  j["site"] = AddressOrNull(info.site);
  j["generation"] = info.generation;
  j["journal_seq"] = info.journal.seq;
  j["journal_time"] = info.journal.time_us;
  j["in_flight"] = OidArray(in_flight);
  if (asked_since) {
    j["changed_since"] = info.all_changed ? Json("all") : OidArray(info.changed);
  }
  return j.dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace);
}

}  // namespace durus::server
