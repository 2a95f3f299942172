#include "tests/fakegcs/byte_range.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace devserver::fakegcs {
namespace {

std::optional<uint64_t> ParseU64(const std::string& s) {
  uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

ByteRange ParseByteRange(const std::string& header, uint64_t size) {
  static const std::string kUnit = "bytes=";
  ByteRange whole;
  if (header.compare(0, kUnit.size(), kUnit) != 0) return whole;
  const std::string spec = header.substr(kUnit.size());
  const size_t dash = spec.find('-');
  if (dash == std::string::npos || spec.find(',') != std::string::npos) return whole;
  const std::string a = spec.substr(0, dash);
  const std::string b = spec.substr(dash + 1);

  ByteRange r;
  r.kind = ByteRange::Kind::kPartial;
  if (a.empty()) {
    const auto n = ParseU64(b);
    if (!n) return whole;
    if (*n == 0 || size == 0) return {ByteRange::Kind::kUnsatisfiable, 0, 0};
    r.first = *n >= size ? 0 : size - *n;
    r.last = size - 1;
    return r;
  }
  const auto first = ParseU64(a);
  if (!first) return whole;
  std::optional<uint64_t> last = b.empty() ? std::optional<uint64_t>(UINT64_MAX) : ParseU64(b);
  if (!last || *last < *first) return whole;
  if (*first >= size) return {ByteRange::Kind::kUnsatisfiable, 0, 0};
  r.first = *first;
  r.last = std::min(*last, size - 1);
  return r;
}

}  // namespace devserver::fakegcs
