#include "tests/fakegcs/list_page.h"

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>

#include <algorithm>
#include <sstream>

namespace devserver::fakegcs {
namespace {

// The token names the last entry of the previous page. The kind matters: resuming after the
// prefix "a/" must also skip every "a/..." object, resuming after the object "a" must not.
struct Cursor {
  bool is_prefix = false;
  std::string key;
};

std::string EncodeToken(const Cursor& c) {
  std::ostringstream out;
  Poco::Base64Encoder enc(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
  enc.rdbuf()->setLineLength(0);
  enc << (c.is_prefix ? 'p' : 'o') << c.key;
  enc.close();
  return out.str();
}

std::optional<Cursor> DecodeToken(const std::string& token) {
  try {
    std::istringstream in(token);
    Poco::Base64Decoder dec(in, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
    std::string raw((std::istreambuf_iterator<char>(dec)), std::istreambuf_iterator<char>());
    if (raw.empty() || (raw[0] != 'p' && raw[0] != 'o')) return std::nullopt;
    return Cursor{raw[0] == 'p', raw.substr(1)};
  } catch (...) {
    return std::nullopt;
  }
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::optional<ListPage> MakeListPage(const std::vector<std::string>& sorted_names,
                                     const ListRequest& request) {
  std::optional<Cursor> cursor;
  if (!request.page_token.empty()) {
    cursor = DecodeToken(request.page_token);
    if (!cursor) return std::nullopt;
  }
  const size_t limit = std::max<size_t>(request.max_results, 1);

  ListPage page;
  size_t emitted = 0;
  std::optional<Cursor> last;
  auto it = std::lower_bound(sorted_names.begin(), sorted_names.end(), request.prefix);
  if (cursor) it = std::upper_bound(it, sorted_names.end(), cursor->key);
  for (; it != sorted_names.end() && StartsWith(*it, request.prefix); ++it) {
    const std::string& name = *it;
    if (cursor && cursor->is_prefix && StartsWith(name, cursor->key)) continue;
    Cursor entry{false, name};
    if (!request.delimiter.empty()) {
      const size_t pos = name.find(request.delimiter, request.prefix.size());
      if (pos != std::string::npos) {
        entry = {true, name.substr(0, pos + request.delimiter.size())};
        // Names sharing a prefix are contiguous, so comparing with the last entry dedupes.
        if (last && last->is_prefix && last->key == entry.key) continue;
      }
    }
    if (emitted == limit) {
      page.next_page_token = EncodeToken(*last);
      break;
    }
    (entry.is_prefix ? page.prefixes : page.items).push_back(entry.key);
    last = entry;
    ++emitted;
  }
  return page;
}

}  // namespace devserver::fakegcs
