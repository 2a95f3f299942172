// A strict INI reader: `[section]` headers, `key = value` lines, `#` or `;` comment lines.
//
// Strict because a typo in a production config must stop the service with the line number,
// not silently fall back to a default.
#pragma once

#include <string>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver {

struct IniEntry {
  std::string section;
  std::string key;
  std::string value;
  int line = 0;
};

// Parses `text`; `origin` (a file name) prefixes error messages: "<origin>:<line>: <reason>".
Status ParseIni(const std::string& text, const std::string& origin, std::vector<IniEntry>* out);

}  // namespace devserver
