// Text placed in HTML or XML, in element content or a quoted attribute value.
#pragma once

#include <string>

namespace devserver {

// `text` with &, <, >, " and ' replaced by references every HTML and XML reader knows
// (' as &#39;: HTML 4 has no &apos;).
inline std::string EscapeMarkup(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace devserver
