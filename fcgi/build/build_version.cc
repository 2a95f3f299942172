#include "fcgi/build/build_version.h"

#include <cctype>

namespace devserver {
namespace {

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The run of digits (or of non-digits) starting at `pos`.
std::string_view RunAt(const std::string& s, size_t pos) {
  size_t end = pos;
  bool digits = IsDigit(s[pos]);
  while (end < s.size() && IsDigit(s[end]) == digits) ++end;
  return std::string_view(s).substr(pos, end - pos);
}

int CompareNumbers(std::string_view a, std::string_view b) {
  // Leading zeros do not make a number bigger; beyond that, more digits is bigger.
  while (a.size() > 1 && a.front() == '0') a.remove_prefix(1);
  while (b.size() > 1 && b.front() == '0') b.remove_prefix(1);
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

int CompareBuildVersions(const std::string& a, const std::string& b) {
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    std::string_view ra = RunAt(a, i);
    std::string_view rb = RunAt(b, j);
    bool na = IsDigit(ra.front());
    bool nb = IsDigit(rb.front());
    int c = 0;
    if (na && nb) {
      c = CompareNumbers(ra, rb);
    } else {
      c = ra.compare(rb);
      c = c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (c != 0) return c;
    i += ra.size();
    j += rb.size();
  }
  if (i < a.size()) return 1;
  if (j < b.size()) return -1;
  return a.compare(b) < 0 ? -1 : (a.compare(b) > 0 ? 1 : 0);
}

std::string NewestBuild(const std::vector<std::string>& builds, const std::string& milestone) {
  std::string newest;
  const std::string prefix = milestone.empty() ? "" : milestone + "-";
  for (const std::string& build : builds) {
    if (build.compare(0, prefix.size(), prefix) != 0) continue;
    if (newest.empty() || CompareBuildVersions(build, newest) > 0) newest = build;
  }
  return newest;
}

std::string BuildOsVersion(const std::string& build) {
  size_t start = 0;
  if (build.size() > 1 && build[0] == 'R') {
    size_t digits = 1;
    while (digits < build.size() && IsDigit(build[digits])) {
      ++digits;
    }
    if (digits > 1 && digits < build.size() && build[digits] == '-') start = digits + 1;
  }
  const size_t end = build.find('-', start);
  return build.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace devserver
