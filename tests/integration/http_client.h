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

// A raw TCP connection to 127.0.0.1:port, for what no well-behaved client sends: control
// bytes in the request line, headers a byte at a time, bodies that never end.
class RawConnection {
 public:
  explicit RawConnection(int port);  // connects; see ok()
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  // Writes all of `bytes`; false once the peer has closed or reset the connection.
  bool Send(const std::string& bytes);
  // Whether the server has closed the connection (EOF or reset), waiting at most
  // `timeout_ms`; unread response bytes are consumed.
  bool ClosedByPeer(int timeout_ms);
  // Reads until the server closes the connection (send HTTP/1.0 or "Connection: close") and
  // parses the response; status 0 and `error` set when none arrived within `timeout_ms`.
  HttpResult ReadResponse(int timeout_ms);

 private:
  int fd_ = -1;
};

// Sends `request` (a whole HTTP/1.0 request, exactly these bytes) and reads the response.
HttpResult RawHttpCall(int port, const std::string& request, int timeout_ms = 30000);

}  // namespace devserver::testing
