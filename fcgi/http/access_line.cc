#include "fcgi/http/access_line.h"

#include <cstdio>

namespace devserver {
namespace {

void AppendVisible(const std::string& text, std::string* out) {
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c > 0x20 && c < 0x7f && c != '\\') {
      out->push_back(ch);
    } else {
      char escaped[5];
      (void)std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out->append(escaped);
    }
  }
}

}  // namespace

std::string AccessLine(const Request& request, const Response& response,
                       std::chrono::steady_clock::duration elapsed) {
  std::string line = "access ";
  line.reserve(64 + request.path.size() + request.raw_query.size());
  AppendVisible(request.remote_addr.empty() ? "-" : request.remote_addr, &line);
  line.push_back(' ');
  AppendVisible(request.method.empty() ? "-" : request.method, &line);
  line.push_back(' ');
  AppendVisible(request.path, &line);
  if (!request.raw_query.empty()) {
    line.push_back('?');
    AppendVisible(request.raw_query, &line);
  }
  const double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  char tail[64];
  (void)std::snprintf(tail, sizeof tail, " %d %zu B %.1f ms", response.status, response.body.size(),
                      ms);
  line.append(tail);
  return line;
}

}  // namespace devserver
