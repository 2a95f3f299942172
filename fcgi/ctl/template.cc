#include "fcgi/ctl/template.h"

namespace devserver {

namespace {

bool IsNameChar(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

}  // namespace

Status RenderTemplate(const std::string& text, const std::map<std::string, std::string>& vars,
                      std::string* out) {
  out->clear();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t at = text.find('@', pos);
    if (at == std::string::npos) break;
    size_t end = at + 1;
    while (end < text.size() && IsNameChar(text[end])) ++end;
    if (end == at + 1 || end >= text.size() || text[end] != '@') {
      // A lone '@' is literal text.
      out->append(text, pos, at + 1 - pos);
      pos = at + 1;
      continue;
    }
    std::string name = text.substr(at + 1, end - at - 1);
    auto it = vars.find(name);
    if (it == vars.end())
      return Status::InvalidArgument("template variable @" + name + "@ has no value");
    out->append(text, pos, at - pos);
    out->append(it->second);
    pos = end + 1;
  }
  out->append(text, pos, std::string::npos);
  return Status::Ok();
}

}  // namespace devserver
