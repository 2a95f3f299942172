// HTTP/1.1 client connections for the GCS store and its token sources, on Poco sessions.
//
// Poco's response streams read the body 4 KiB at a time; a multi-GiB download would spend its
// time in syscalls. HttpConnection therefore reads a Content-Length body straight from the
// socket into the caller's (large) buffer, and falls back to Poco's stream only for chunked or
// close-delimited bodies. Failures are classified here so the callers' retry loops never see a
// Poco exception.
#pragma once

#include <Poco/Buffer.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPResponse.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/metrics/metrics.h"

namespace devserver::storage {

// Where requests go: scheme, host, port and an optional path prefix every target starts with.
struct HttpEndpoint {
  bool https = false;
  std::string host;
  uint16_t port = 0;
  std::string base_path;  // "" or "/prefix", never a trailing slash

  std::string ToString() const;  // "https://storage.googleapis.com", "http://127.0.0.1:9000/x"
};

// Splits an absolute http(s) URL into its endpoint and "path?query" (at least "/").
Status ParseHttpUrl(const std::string& url, HttpEndpoint* endpoint, std::string* target);

struct HttpTimeouts {
  int connect_ms = 10000;
  // Longest wait for the response head, and for the next body byte when the body is not read
  // through ReadBody's own wait.
  int receive_ms = 30000;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query, already percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;  // with a body
  std::string body;
};

// Why a request got no (complete) response. Everything but a rejected certificate may succeed
// when tried again.
struct TransportError {
  enum class Kind {
    kNone,
    kConnect,      // refused, unreachable, name lookup failed
    kTimeout,      // connect or response head took too long
    kClosed,       // the peer reset or closed the connection
    kProtocol,     // not a valid HTTP response
    kCertificate,  // TLS peer verification failed: retrying cannot help
  };
  Kind kind = Kind::kNone;
  std::string message;

  bool ok() const { return kind == Kind::kNone; }
  bool transient() const { return kind != Kind::kNone && kind != Kind::kCertificate; }
};

enum class BodyRead {
  kData,     // `*got` > 0 bytes were stored
  kEnd,      // the body is complete
  kIdle,     // nothing arrived within the wait; call again
  kStalled,  // the connection's receive timeout expired (stream fallback only)
  kBroken,   // the connection failed or closed before the body was complete (see error())
};

// One keep-alive connection. Not thread-safe: one request at a time, from one thread.
class HttpConnection {
 public:
  // Requests and body bytes are counted in <counted_as>_requests_total{method,code} and
  // <counted_as>_bytes_total: GCS's by default, a peer host's by the peer fill.
  HttpConnection(const HttpEndpoint& endpoint, const HttpTimeouts& timeouts,
                 Poco::Net::Context::Ptr tls, const char* counted_as = "devserver_upstream");
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends `request` and reads the response head. A kept-alive connection the server has closed
  // meanwhile is reopened once without reporting an error, as browsers and curl do.
  TransportError Start(const HttpRequest& request);
  const Poco::Net::HTTPResponse& response() const { return response_; }

  // Reads the next body bytes into `buf`, waiting at most `wait_ms` for the first of them.
  BodyRead ReadBody(char* buf, size_t cap, int wait_ms, size_t* got);
  // Reads the rest of the body (small responses: JSON, errors, tokens). Bodies longer than
  // `max_bytes` set `*too_large` (when given) or fail; `*body` then holds the first max_bytes.
  TransportError ReadAll(size_t max_bytes, std::string* body, bool* too_large = nullptr);
  // The failure behind the last kBroken/kStalled.
  const TransportError& error() const { return error_; }

  // True once the body was read to its end and the server allows keep-alive.
  bool Reusable() const;
  // Drops the socket, e.g. after giving up on a body half way.
  void Close();

 private:
  TransportError StartOnce(const HttpRequest& request);
  BodyRead ReadFixed(char* buf, size_t cap, int wait_ms, size_t* got);
  BodyRead ReadStream(char* buf, size_t cap, size_t* got);
  BodyRead Broken(TransportError::Kind kind, std::string message);

  HttpEndpoint endpoint_;
  const std::string requests_family_;
  metrics::Counter bytes_counter_;
  std::unique_ptr<Poco::Net::HTTPClientSession> session_;
  Poco::Net::HTTPResponse response_;
  bool used_ = false;  // served a request before: the server may have closed it since

  // Body state of the current response.
  enum class Mode { kNone, kFixed, kStream } mode_ = Mode::kNone;
  uint64_t remaining_ = 0;          // kFixed: body bytes not yet returned
  Poco::Buffer<char> leftover_{0};  // kFixed: body bytes Poco read along with the head
  size_t leftover_pos_ = 0;
  std::istream* stream_ = nullptr;  // kStream: Poco's body stream
  bool body_done_ = false;
  TransportError error_;
};

// Idle connections to one endpoint, shared by threads: a thread takes one for a request and
// gives it back when the response was read whole, so TCP and TLS set-up is paid once.
class ConnectionPool {
 public:
  ConnectionPool(HttpEndpoint endpoint, HttpTimeouts timeouts, Poco::Net::Context::Ptr tls,
                 size_t max_idle = 16);

  std::unique_ptr<HttpConnection> Acquire();
  // Keeps `connection` for reuse if it is Reusable(), else closes it.
  void Release(std::unique_ptr<HttpConnection> connection);

  const HttpEndpoint& endpoint() const { return endpoint_; }

 private:
  const HttpEndpoint endpoint_;
  const HttpTimeouts timeouts_;
  const Poco::Net::Context::Ptr tls_;
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<HttpConnection>> idle_;
};

// A TLS client context that verifies peers against the system CA store. Null with *status set
// when OpenSSL cannot be set up.
Poco::Net::Context::Ptr MakeSystemTlsContext(Status* status);

// RFC 3986 percent-encoding of everything but unreserved characters and those in `keep`, so
// an object name's "/" becomes "%2F" as the JSON API requires in a path segment (and stays
// "/" in a path, with keep "/").
std::string PercentEncode(const std::string& s, std::string_view keep = {});

}  // namespace devserver::storage
