// A minimal HTTP client for tests: sends the target exactly as given (raw query values
// included), returns status, headers and body, never throws.
#pragma once

#include <map>
#include <string>

namespace devserver::testing {

struct HttpResult {
  int status = 0;  // 0 when no response arrived; see error
  std::string body;
  std::map<std::string, std::string> headers;
  std::string error;
};

HttpResult HttpCall(int port, const std::string& method, const std::string& target,
                    const std::map<std::string, std::string>& headers = {},
                    const std::string& body = "", int timeout_ms = 30000);

inline HttpResult HttpGet(int port, const std::string& target, int timeout_ms = 30000) {
  return HttpCall(port, "GET", target, {}, "", timeout_ms);
}

}  // namespace devserver::testing
