#include "fcgi/http/query.h"

#include "fcgi/base/hex.h"
#include "fcgi/base/reason_text.h"

namespace devserver {
namespace {

bool HasControlCharacter(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

Status PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      int hi = i + 1 < in.size() ? HexDigitValue(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? HexDigitValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Status::InvalidArgument("invalid percent-escape '" + ReasonText(in.substr(i, 3)) +
                                       "'");
      }
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return Status::Ok();
}

Status QueryParams::Parse(std::string_view raw, QueryParams* out) {
  out->params_.clear();
  Status s = out->ParseInto(raw);
  // A refused query is refused whole: no half-parsed parameters for a caller to act on.
  if (!s.ok()) out->params_.clear();
  return s;
}

Status QueryParams::ParseInto(std::string_view raw) {
  if (raw.size() > kMaxQueryBytes) {
    return Status::InvalidArgument("query string longer than " + std::to_string(kMaxQueryBytes) +
                                   " bytes");
  }
  size_t pos = 0;
  while (pos <= raw.size()) {
    size_t amp = raw.find('&', pos);
    if (amp == std::string_view::npos) amp = raw.size();
    std::string_view pair = raw.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;  // "a=1&&b=2" and a trailing '&' are harmless
    size_t eq = pair.find('=');
    std::string_view raw_name = pair.substr(0, eq);
    std::string_view raw_value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    std::string name, value;
    Status s = PercentDecode(raw_name, &name);
    if (s.ok()) s = PercentDecode(raw_value, &value);
    if (!s.ok()) {
      return Status::InvalidArgument("parameter '" + ReasonText(raw_name) + "': " + s.message());
    }
    if (name.empty()) return Status::InvalidArgument("parameter with an empty name");
    if (HasControlCharacter(name) || HasControlCharacter(value)) {
      return Status::InvalidArgument("parameter '" + ReasonText(raw_name) +
                                     "' contains a control character");
    }
    if (Find(name) != nullptr) {
      return Status::InvalidArgument("parameter '" + ReasonText(name) + "' given more than once");
    }
    params_.emplace_back(std::move(name), std::move(value));
  }
  return Status::Ok();
}

const std::string* QueryParams::Find(std::string_view name) const {
  for (const auto& [key, value] : params_) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::string QueryParams::GetOr(std::string_view name, const std::string& fallback) const {
  const std::string* value = Find(name);
  return value != nullptr ? *value : fallback;
}

}  // namespace devserver
