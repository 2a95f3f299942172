// A small HTTP server on 127.0.0.1 for tests: answers with a handler the test supplies and
// records every request, headers included, which the fake GCS server does not expose.
#pragma once

#include <Poco/Net/HTTPServer.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace devserver::storage {

class TestHttpServer {
 public:
  struct Request {
    std::string method;
    std::string uri;  // path and query as sent
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names

    // "" when absent.
    std::string Header(const std::string& lower_case_name) const;
  };
  struct Reply {
    Reply() = default;
    Reply(int status, std::string body, std::string content_type = "application/json")
        : status(status), body(std::move(body)), content_type(std::move(content_type)) {}

    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    bool chunked = false;  // Transfer-Encoding: chunked instead of Content-Length
  };
  using Handler = std::function<Reply(const Request&)>;
  // PEM files of the certificate and key to serve HTTPS with.
  struct Tls {
    std::string cert_file;
    std::string key_file;
  };

  // Listens on a free port, HTTPS when `tls` is given; `handler` runs on server threads.
  explicit TestHttpServer(Handler handler, const Tls* tls = nullptr);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  uint16_t port() const { return port_; }
  std::string host_port() const;  // "127.0.0.1:<port>"
  std::string url() const;        // "http://127.0.0.1:<port>" (https:// with TLS)

  // Recorded so far, in arrival order; only those whose path starts with `path_prefix`.
  std::vector<Request> Requests(const std::string& path_prefix = "") const;

 private:
  class Factory;
  friend class Factory;
  Reply Handle(const Request& request);

  Handler handler_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  uint16_t port_ = 0;
  bool https_ = false;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
};

}  // namespace devserver::storage
