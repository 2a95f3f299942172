#include "fcgi/extract/member_path.h"

#include <cstdint>

#include "fcgi/base/reason_text.h"

namespace devserver::extract {
namespace {

bool IsControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

std::string_view StripLeadingDotSlash(std::string_view name) {
  while (name.starts_with("./")) {
    name.remove_prefix(2);
    while (name.starts_with('/')) name.remove_prefix(1);
  }
  return name;
}

}  // namespace

std::string_view NormalizeMemberName(std::string_view raw) {
  std::string_view name = StripLeadingDotSlash(raw);
  while (name.size() > 1 && name.ends_with('/')) name.remove_suffix(1);
  if (name == ".") return {};
  return name;
}

std::string CheckMemberName(std::string_view name) {
  if (name.starts_with('/')) return "has an absolute path";
  for (char c : name) {
    if (IsControl(c)) return "has a control character in its name";
  }
  if (name.find('\\') != std::string_view::npos) return "has a backslash in its name";
  if (name.size() > kMaxMemberNameBytes) {
    return "has a name longer than " + std::to_string(kMaxMemberNameBytes) + " bytes";
  }
  size_t start = 0;
  size_t depth = 0;
  while (true) {
    if (++depth > kMaxMemberDepth) {
      return "has more than " + std::to_string(kMaxMemberDepth) + " path components";
    }
    const size_t slash = name.find('/', start);
    const std::string_view part = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return "has an empty path component";
    if (part == "..") return "has a '..' path component";
    if (part == ".") return "has a '.' path component";
    if (slash == std::string_view::npos) return "";
    start = slash + 1;
  }
}

std::string CheckSymlinkTarget(std::string_view member, std::string_view target) {
  if (target.empty()) return "is a symbolic link with an empty target";
  if (target.starts_with('/')) {
    return "is a symbolic link to an absolute path (" + Printable(target) + ")";
  }
  int64_t depth = 0;  // directories between dest_dir and the link
  for (char c : member) depth += c == '/' ? 1 : 0;
  bool below_name = false;
  size_t start = 0;
  while (start <= target.size()) {
    size_t slash = target.find('/', start);
    if (slash == std::string_view::npos) slash = target.size();
    const std::string_view part = target.substr(start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part != "..") {
      below_name = true;
      continue;
    }
    if (below_name) {
      return "is a symbolic link whose target (" + Printable(target) + ") has '..' after a name";
    }
    if (--depth < 0) {
      return "is a symbolic link pointing outside the destination (" + Printable(target) + ")";
    }
  }
  return "";
}

std::string Printable(std::string_view name) {
  // Names can be as long as a pax header allows; an error line only needs to identify one.
  // Names are UTF-8 text: only control bytes are quoted.
  constexpr size_t kMaxShown = 300;
  return ReasonText(name, kMaxShown, true);
}

MemberSelector::MemberSelector(const MemberFilter& filter)
    : include_(Parse(filter.include)), exclude_(Parse(filter.exclude)) {}

std::vector<MemberSelector::Selector> MemberSelector::Parse(
    const std::vector<std::string>& selectors) {
  std::vector<Selector> parsed;
  parsed.reserve(selectors.size());
  for (const std::string& s : selectors) {
    Selector selector;
    selector.original = s;
    selector.directory = s.ends_with('/');
    std::string_view path = StripLeadingDotSlash(s);
    while (path.ends_with('/')) path.remove_suffix(1);
    if (path == ".") path = {};
    selector.path = std::string(path);
    parsed.push_back(std::move(selector));
  }
  return parsed;
}

bool MemberSelector::Matches(const Selector& selector, std::string_view name) {
  if (name == selector.path) return true;
  if (!selector.directory) return false;
  // "./" or "/" selects the whole archive.
  if (selector.path.empty()) return true;
  return name.size() > selector.path.size() && name.starts_with(selector.path) &&
         name[selector.path.size()] == '/';
}

bool MemberSelector::Selects(std::string_view name) {
  bool included = include_.empty();
  for (Selector& selector : include_) {
    if (Matches(selector, name)) {
      selector.matched = true;
      included = true;
    }
  }
  if (!included) return false;
  for (const Selector& selector : exclude_) {
    if (Matches(selector, name)) return false;
  }
  return true;
}

std::string MemberSelector::Unmatched() const {
  for (const Selector& selector : include_) {
    if (selector.matched) continue;
    return (selector.directory ? "no member under " : "no member matches ") +
           Printable(selector.original);
  }
  return "";
}

}  // namespace devserver::extract
