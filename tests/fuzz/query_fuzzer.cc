// QueryParams::Parse on arbitrary query strings (what nginx passes as QUERY_STRING).
//
// Invariants: a refusal is a one-line reason; an accepted query has non-empty, distinct names
// and no control bytes anywhere, and percent-encoding what it parsed gives a query that parses
// back to the same parameters in the same order. PercentDecode inverts percent-encoding for
// every byte string.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fcgi/http/query.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using devserver::QueryParams;
using devserver::Status;
using devserver::fuzz::Escaped;

// Everything but RFC 3986's unreserved characters, as a strict client would send it.
std::string Encode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

void CheckParse(std::string_view raw) {
  QueryParams q;
  const Status s = QueryParams::Parse(raw, &q);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Status::Code::kInvalidArgument, s.message());
    FUZZ_CHECK(devserver::fuzz::IsOneLineReason(s.message(), 512), Escaped(s.message()));
    FUZZ_CHECK(q.all().empty(), "a refused query leaves no parameters behind");
    return;
  }
  FUZZ_CHECK(raw.size() <= QueryParams::kMaxQueryBytes, "accepted an over-long query");
  std::set<std::string> names;
  std::string again;
  for (const auto& [name, value] : q.all()) {
    FUZZ_CHECK(!name.empty(), Escaped(raw));
    FUZZ_CHECK(names.insert(name).second, "duplicate " + Escaped(name));
    FUZZ_CHECK(!devserver::fuzz::HasControlByte(name), Escaped(name));
    FUZZ_CHECK(!devserver::fuzz::HasControlByte(value), Escaped(value));
    FUZZ_CHECK(q.Find(name) != nullptr && *q.Find(name) == value, Escaped(name));
    if (!again.empty()) again += '&';
    again += Encode(name) + "=" + Encode(value);
  }
  if (again.size() > QueryParams::kMaxQueryBytes) return;  // encoding can triple the size
  QueryParams round;
  const Status rs = QueryParams::Parse(again, &round);
  FUZZ_CHECK(rs.ok(), Escaped(again) + ": " + rs.message());
  FUZZ_CHECK(round.all() == q.all(), Escaped(raw) + " vs " + Escaped(again));
}

void CheckDecode(std::string_view bytes) {
  std::string decoded;
  const Status s = devserver::PercentDecode(Encode(bytes), &decoded);
  FUZZ_CHECK(s.ok(), s.message());
  FUZZ_CHECK(decoded == bytes, Escaped(bytes) + " decoded as " + Escaped(decoded));
  // Whatever the input, decoding never grows it.
  if (devserver::PercentDecode(bytes, &decoded).ok()) {
    FUZZ_CHECK(decoded.size() <= bytes.size(), Escaped(bytes));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  CheckParse(raw);
  CheckDecode(raw.substr(0, 1024));
  return 0;
}
