// Query-string parsing that accepts what the old devserver's clients send.
//
// Old clients put values in the query unencoded (`archive_url=gs://bucket/a/b`), newer ones
// percent-encode them; both must yield the same value. Decoding follows HTML form rules
// (`%XX`, and `+` for a space). Anything ambiguous is refused rather than guessed: a bad
// escape, a control character, or the same parameter twice.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fcgi/base/status.h"

namespace devserver {

class QueryParams {
 public:
  // Longest query string accepted; nginx refuses longer request lines before us.
  static constexpr size_t kMaxQueryBytes = 8192;

  static Status Parse(std::string_view raw, QueryParams* out);

  // The decoded value, or nullptr when the parameter is absent.
  const std::string* Find(std::string_view name) const;
  std::string GetOr(std::string_view name, const std::string& fallback) const;
  const std::vector<std::pair<std::string, std::string>>& all() const { return params_; }

 private:
  Status ParseInto(std::string_view raw);

  std::vector<std::pair<std::string, std::string>> params_;
};

// Decodes %XX escapes and '+'; fails on a truncated or non-hex escape.
Status PercentDecode(std::string_view in, std::string* out);

}  // namespace devserver
