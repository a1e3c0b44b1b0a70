#include "bdb/gc/report.h"

#include <cinttypes>
#include <cstdio>

namespace durus::gc {

namespace {

struct KindInfo {
  const char* name;
  const char* description;
};

constexpr KindInfo kKinds[] = {
    {"count_mismatch", "stored count differs from the number of referrers"},
    {"missing_count", "record has no count entry"},
    {"orphan_count", "count entry for an oid that has no record"},
    {"dangling_ref", "referenced oid does not exist"},
    {"queued_nonzero", "queued as garbage but referenced (or the root)"},
    {"queued_missing", "queued as garbage but does not exist"},
    {"missing_queue_entry", "unreferenced but not queued as garbage"},
    {"leaked", "unreachable and never freed by counting (cycle)"},
    {"malformed_record", "record does not parse"},
    {"meta_mismatch", "metadata counter is wrong"},
    {"damaged_page", "a page of a table file is damaged"},
    {"unreadable_record", "a record cannot be read (damaged page)"},
    {"read_error", "verify could not read everything"},
};
static_assert(sizeof(kKinds) / sizeof(kKinds[0]) == static_cast<int>(ProblemKind::kNumKinds));

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string U(uint64_t v) { return std::to_string(v); }

std::string ProblemText(const Problem& p) {
  std::string s = std::string(ProblemKindName(p.kind)) + ": ";
  switch (p.kind) {
    case ProblemKind::kCountMismatch:
      return s + "oid " + U(p.oid) + " count " + U(p.stored) + ", referrers " + U(p.expected);
    case ProblemKind::kMissingCount:
      return s + "oid " + U(p.oid) + " has no count entry (referrers " + U(p.expected) + ")";
    case ProblemKind::kOrphanCount:
      return s + "oid " + U(p.oid) + " has a count (" + U(p.stored) + ") but no record";
    case ProblemKind::kDanglingRef:
      return s + "oid " + U(p.oid) + " is referenced by " + U(p.expected) +
             " record(s) (e.g. oid " + U(p.other) + ") but does not exist";
    case ProblemKind::kQueuedNonZero:
      return s + "oid " + U(p.oid) + " is queued but has " + U(p.expected) + " referrer(s)";
    case ProblemKind::kQueuedMissing:
      return s + "oid " + U(p.oid) + " is queued but does not exist";
    case ProblemKind::kMissingQueueEntry:
      return s + "oid " + U(p.oid) + " has no referrers but is not queued";
    case ProblemKind::kLeaked:
      return s + "oid " + U(p.oid) + " is unreachable and kept alive by a cycle";
    case ProblemKind::kMalformedRecord: return s + "oid " + U(p.oid) + ": " + p.detail;
    case ProblemKind::kMetaMismatch:
      return s + p.detail + " is " + U(p.stored) + ", should be " + U(p.expected);
    case ProblemKind::kDamagedPage: return s + p.detail;
    case ProblemKind::kUnreadableRecord: return s + "oid " + U(p.oid) + ": " + p.detail;
    case ProblemKind::kReadError: return s + p.detail;
    case ProblemKind::kNumKinds: break;
  }
  return s;
}

}  // namespace

const char* ProblemKindName(ProblemKind kind) {
  int i = static_cast<int>(kind);
  return i >= 0 && i < static_cast<int>(ProblemKind::kNumKinds) ? kKinds[i].name : "?";
}

const char* ProblemKindDescription(ProblemKind kind) {
  int i = static_cast<int>(kind);
  return i >= 0 && i < static_cast<int>(ProblemKind::kNumKinds) ? kKinds[i].description : "?";
}

std::string FormatVerifyText(const VerifyReport& r) {
  char line[256];
  std::string out;
  if (r.damaged) {
    // The figures would count only what was read before the damage.
    snprintf(line, sizeof(line), "table files verified page by page: %" PRIu64 "\n",
             r.files_verified);
    out += line;
  } else {
    snprintf(line, sizeof(line),
             "records %" PRIu64 " (%" PRIu64 " bytes), references %" PRIu64
             ", count entries %" PRIu64 ", queued %" PRIu64 "\n",
             r.records, r.record_bytes, r.refs, r.count_entries, r.queued);
    out += line;
    snprintf(line, sizeof(line),
             "reachable %" PRIu64 ", unreachable %" PRIu64 " (%" PRIu64
             " freed by counting, %" PRIu64 " leaked in cycles)\n",
             r.reachable, r.unreachable, r.collectable, r.leaked);
    out += line;
  }
  if (r.trace_running) {
    snprintf(line, sizeof(line),
             "a trace (pack) is in progress: it will free %" PRIu64 " unreachable objects; %" PRIu64
             " references inside garbage it is deleting\n",
             r.trace_will_free, r.trace_swept_refs);
    out += line;
  }
  if (r.clean()) {
    out += "no problems found\n";
  } else if (r.total_problems() > 0) {
    snprintf(line, sizeof(line), "%" PRIu64 " problem(s):\n", r.total_problems());
    out += line;
    for (int k = 0; k < static_cast<int>(ProblemKind::kNumKinds); ++k) {
      if (r.problems[k] == 0) continue;
      snprintf(line, sizeof(line), "  %-20s %10" PRIu64 "  %s\n", kKinds[k].name, r.problems[k],
               kKinds[k].description);
      out += line;
    }
    for (const Problem& p : r.samples) out += "  - " + ProblemText(p) + "\n";
    if (r.samples.size() < r.total_problems()) {
      out += "  (" + U(r.total_problems() - r.samples.size()) + " more not listed)\n";
    }
  }
  if (!r.complete) out += "verification incomplete: " + r.incomplete + "\n";
  if (r.damaged) {
    out +=
        "the home is damaged: it needs salvage or a backup (its other figures cover only "
        "what could be read)\n";
  }
  if (!r.repair_refused.empty()) {
    out += "not repaired (nothing was changed): " + r.repair_refused + "\n";
  } else if (r.repair_requested && !r.clean()) {
    const RepairSummary& s = r.repaired;
    snprintf(line, sizeof(line),
             "repaired: %" PRIu64 " count(s) set, %" PRIu64 " removed; queue +%" PRIu64 " -%" PRIu64
             "; %" PRIu64 " dangling ref(s) dropped; %" PRIu64
             " unreachable object(s) deleted; %" PRIu64 " counter(s) fixed\n",
             s.counts_set, s.counts_removed, s.queue_added, s.queue_removed, s.refs_dropped,
             s.unreachable_deleted, s.meta_fixed);
    out += line;
  }
  snprintf(line, sizeof(line), "verified in %.1f s\n", r.seconds);
  out += line;
  return out;
}

std::string FormatVerifyJson(const VerifyReport& r) {
  std::string o = "{";
  auto field = [&](const char* name, const std::string& v) {
    if (o.size() > 1) o += ", ";
    o += "\"";
    o += name;
    o += "\": " + v;
  };
  field("clean", r.clean() ? "true" : "false");
  field("complete", r.complete ? "true" : "false");
  field("incomplete", JsonString(r.incomplete));
  field("damaged", r.damaged ? "true" : "false");
  field("files_verified", U(r.files_verified));
  field("records", U(r.records));
  field("record_bytes", U(r.record_bytes));
  field("refs", U(r.refs));
  field("count_entries", U(r.count_entries));
  field("queued", U(r.queued));
  field("reachable", U(r.reachable));
  field("unreachable", U(r.unreachable));
  field("collectable", U(r.collectable));
  field("leaked", U(r.leaked));
  field("trace_running", r.trace_running ? "true" : "false");
  field("trace_will_free", U(r.trace_will_free));
  field("trace_swept_refs", U(r.trace_swept_refs));
  field("total_problems", U(r.total_problems()));
  std::string kinds = "{";
  for (int k = 0; k < static_cast<int>(ProblemKind::kNumKinds); ++k) {
    if (k) kinds += ", ";
    kinds += "\"" + std::string(kKinds[k].name) + "\": " + U(r.problems[k]);
  }
  field("problems", kinds + "}");
  std::string samples = "[";
  for (size_t i = 0; i < r.samples.size(); ++i) {
    const Problem& p = r.samples[i];
    if (i) samples += ", ";
    samples += "{\"kind\": \"" + std::string(ProblemKindName(p.kind)) + "\", \"oid\": " + U(p.oid) +
               ", \"stored\": " + U(p.stored) + ", \"expected\": " + U(p.expected) +
               ", \"other\": " + U(p.other) + ", \"detail\": " + JsonString(p.detail) +
               ", \"message\": " + JsonString(ProblemText(p)) + "}";
  }
  field("samples", samples + "]");
  field("repair", r.repair_requested ? "true" : "false");
  field("repair_refused", JsonString(r.repair_refused));
  if (r.repair_requested) {
    const RepairSummary& s = r.repaired;
    field("repaired", "{\"counts_set\": " + U(s.counts_set) + ", \"counts_removed\": " +
                          U(s.counts_removed) + ", \"queue_added\": " + U(s.queue_added) +
                          ", \"queue_removed\": " + U(s.queue_removed) +
                          ", \"refs_dropped\": " + U(s.refs_dropped) +
                          ", \"unreachable_deleted\": " + U(s.unreachable_deleted) +
                          ", \"meta_fixed\": " + U(s.meta_fixed) + "}");
  }
  char secs[32];
  snprintf(secs, sizeof(secs), "%.3f", r.seconds);
  field("seconds", secs);
  return o + "}";
}

}  // namespace durus::gc
