#include "fcgi/config/ini.h"

#include <sstream>

namespace devserver {
namespace {

std::string Trim(const std::string& s) {
  const char* ws = " \t\r";
  size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  size_t end = s.find_last_not_of(ws);
  return s.substr(begin, end - begin + 1);
}

}  // namespace

Status ParseIni(const std::string& text, const std::string& origin, std::vector<IniEntry>* out) {
  std::istringstream in(text);
  std::string raw;
  std::string section;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    std::string line = Trim(raw);
    auto where = [&] { return origin + ":" + std::to_string(line_no) + ": "; };
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']' || line.size() < 3) {
        return Status::InvalidArgument(where() + "malformed section header '" + line + "'");
      }
      section = Trim(line.substr(1, line.size() - 2));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument(where() + "expected 'key = value', got '" + line + "'");
    }
    if (section.empty()) {
      return Status::InvalidArgument(where() + "key outside of any [section]");
    }
    std::string key = Trim(line.substr(0, eq));
    if (key.empty()) return Status::InvalidArgument(where() + "empty key");
    out->push_back({section, key, Trim(line.substr(eq + 1)), line_no});
  }
  return Status::Ok();
}

}  // namespace devserver
