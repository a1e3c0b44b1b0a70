// Salvage (bdb/salvage.h): reading Berkeley DB's salvage text (db_dump
// format) back into items, and items back into (oid, record) pairs.  No
// Berkeley DB here: the fuzz target feeds these arbitrary text.
#include <string>
#include <string_view>

#include "bdb/salvage.h"
#include "engine/record.h"

namespace durus {

// ---------------------------------------------------------------------------
// SalvageTextParser

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr size_t kMaxTextLine = 4096;

}  // namespace

void SalvageTextParser::Feed(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') {
      EndLine();
      continue;
    }
    if (line_ == Line::kStart) {
      if (c == ' ') {  // an item line: ' ' then the bytes
        line_ = Line::kItem;
        continue;
      }
      line_ = Line::kText;
    }
    if (line_ == Line::kText) {
      if (text_.size() < kMaxTextLine) text_.push_back(c);
      continue;
    }
    if (!item_ok_) continue;  // skip to the end of a bad line
    if (bytes_.size() >= kMaxItem) {
      item_ok_ = false;
      bytes_.clear();
      continue;
    }
    if (!printable_) {
      // Hex pairs (the common path).
      int v = HexValue(c);
      if (v < 0) {
        item_ok_ = false;
        continue;
      }
      if (nibble_ < 0) {
        nibble_ = v;
      } else {
        bytes_.push_back(static_cast<char>(nibble_ << 4 | v));
        nibble_ = -1;
      }
      continue;
    }
    // Printable: "\\" is a backslash, "\xy" a byte in hex, anything else
    // itself.
    if (escape_ == 0) {
      if (c == '\\') {
        escape_ = 1;
      } else {
        bytes_.push_back(c);
      }
    } else if (escape_ == 1) {
      if (c == '\\') {
        bytes_.push_back('\\');
        escape_ = 0;
      } else if (HexValue(c) >= 0) {
        escape_hi_ = HexValue(c);
        escape_ = 2;
      } else {
        item_ok_ = false;
      }
    } else {
      int v = HexValue(c);
      if (v < 0) {
        item_ok_ = false;
      } else {
        bytes_.push_back(static_cast<char>(escape_hi_ << 4 | v));
        escape_ = 0;
      }
    }
  }
}

void SalvageTextParser::EndLine() {
  if (line_ == Line::kItem) {
    bool ok = item_ok_ && nibble_ < 0 && escape_ == 0;
    ++items_;
    item_(std::string_view(ok ? bytes_ : std::string()), ok);
  } else if (line_ == Line::kText) {
    TextLineDone();
  } else {
    ++bad_lines_;  // an empty line
  }
  line_ = Line::kStart;
  text_.clear();
  bytes_.clear();
  if (bytes_.capacity() > (size_t{1} << 20)) bytes_.shrink_to_fit();
  nibble_ = -1;
  escape_ = 0;
  item_ok_ = true;
}

void SalvageTextParser::TextLineDone() {
  const std::string& t = text_;
  if (t.rfind("VERSION=", 0) == 0) {
    // A new header: whatever came before is a finished section.
    section_end_();
    ++sections_;
    printable_ = false;
  } else if (t == "DATA=END") {
    section_end_();
  } else if (t == "format=print") {
    printable_ = true;
  } else if (t == "format=bytevalue") {
    printable_ = false;
  } else if (t == "HEADER=END") {
  } else if (t.find('=') != std::string::npos && t.find('=') > 0 &&
             t.find_first_of(" \t") == std::string::npos) {
    // Other header fields (type=, database=, db_pagesize=, ...): not needed.
  } else {
    ++bad_lines_;
  }
}

void SalvageTextParser::Finish() {
  if (line_ != Line::kStart) EndLine();
  section_end_();
}

// ---------------------------------------------------------------------------
// SalvagePairer

namespace {

// Berkeley DB prints these where an item could not be read: "UNKNOWN" (7
// bytes, for overflow items whose key was lost) and "UNKNOWN\0" (8 bytes,
// for an unreadable item of a leaf page).  As a key, the 8-byte form would
// be oid 0x554E4B4E4F574E00, far beyond any oid Durus hands out.
bool IsPlaceholder(std::string_view b) {
  return b == std::string_view("UNKNOWN", 7) || b == std::string_view("UNKNOWN\0", 8);
}

std::string Describe(std::string_view b) {
  return "an item of " + std::to_string(b.size()) + " bytes";
}

}  // namespace

void SalvagePairer::Item(std::string_view bytes, bool ok) {
  if (have_key_) {
    have_key_ = false;
    if (!ok || IsPlaceholder(bytes)) {
      problem_(Problem::kLostKey, "oid " + OidToString(key_) + ": record unreadable");
      return;
    }
    if (bytes.size() == Oid::kSize) {
      // Another key: this key's record was skipped by Berkeley DB.
      problem_(Problem::kLostKey, "oid " + OidToString(key_) + ": no record after its key");
      have_key_ = true;
      key_ = Oid::FromBytes(bytes.data());
      return;
    }
    RecordView v;
    Status s = ValidateRecord(key_, bytes, &v);
    if (s.ok()) {
      record_(key_, bytes, false);
    } else {
      problem_(Problem::kMalformed, "oid " + OidToString(key_) + ": " + s.message());
    }
    return;
  }
  if (!ok || IsPlaceholder(bytes)) {
    problem_(Problem::kUnreadable,
             ok ? "a placeholder for an unreadable item" : "a line that is not valid hex");
    return;
  }
  if (bytes.size() == Oid::kSize) {
    have_key_ = true;
    key_ = Oid::FromBytes(bytes.data());
    return;
  }
  Unpaired(bytes);
}

// A data item without its key: a Durus record names its own oid.
void SalvagePairer::Unpaired(std::string_view bytes) {
  RecordView v;
  Status s = UnpackRecord(bytes, &v);
  if (s.ok()) {
    record_(v.oid, bytes, true);
  } else {
    problem_(Problem::kMalformed, Describe(bytes) + " without a key: " + s.message());
  }
}

void SalvagePairer::SectionEnd() {
  if (have_key_) {
    have_key_ = false;
    problem_(Problem::kLostKey, "oid " + OidToString(key_) + ": no record after its key");
  }
}

}  // namespace durus
