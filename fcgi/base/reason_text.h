// Outside bytes (a caller's parameter, an upstream's reply, a member name of an archive) quoted
// in an error reason. A reason is a one-line HTTP body and a log line, so control bytes (a NUL
// or LF sent in a parameter name or a header) become \xNN, and a long value is cut with "...".
// Bytes above 0x7e are quoted too unless `keep_utf8` (names that are UTF-8 text, such as file
// and member names, stay readable). The one quoting of the service and its plugins.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace devserver {

inline std::string ReasonText(std::string_view raw, size_t max_bytes = 64, bool keep_utf8 = false) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw.substr(0, max_bytes)) {
    if ((c >= 0x20 && c < 0x7f) || (keep_utf8 && c > 0x7f)) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (raw.size() > max_bytes) out += "...";
  return out;
}

}  // namespace devserver
