#include "fcgi/staging/failure_kind.h"

#include <cctype>
#include <string_view>

namespace devserver {
namespace {

bool Has(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// "HTTP 503" anywhere in the cause (the storage layer's wording for an answer it gave up
// on) -> "503"; "" when there is none.
std::string HttpStatusIn(std::string_view text) {
  for (size_t at = text.find("HTTP "); at != std::string_view::npos;
       at = text.find("HTTP ", at + 1)) {
    std::string_view code = text.substr(at + 5, 3);
    if (code.size() == 3 && std::isdigit(static_cast<unsigned char>(code[0])) &&
        std::isdigit(static_cast<unsigned char>(code[1])) &&
        std::isdigit(static_cast<unsigned char>(code[2])) &&
        (at + 8 == text.size() || !std::isdigit(static_cast<unsigned char>(text[at + 8])))) {
      return std::string(code);
    }
  }
  return "";
}

}  // namespace

std::string FailureKind(const Status& failure) {
  if (failure.code() == Status::Code::kNotFound) return "not_found";
  const std::string_view cause = failure.message();
  // Most specific first: a checksum or disk error's text may quote an HTTP status too.
  if (Has(cause, "checksum mismatch")) return "checksum";
  if (Has(cause, "No space left on device") || Has(cause, "Disk quota exceeded")) {
    return "disk_full";
  }
  if (Has(cause, "stalled after")) return "stall";
  // The extractor's refusals: an unsafe member, or an archive over a budget.
  if (Has(cause, ": member ") || Has(cause, " budget: ")) return "archive_refused";
  if (std::string code = HttpStatusIn(cause); !code.empty()) return "upstream_http_" + code;
  if (Has(cause, "connect") || Has(cause, "connection")) return "upstream_connection";
  return "other";
}

}  // namespace devserver
