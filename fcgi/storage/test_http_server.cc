#include "fcgi/storage/test_http_server.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/String.h>

#include <iterator>
#include <sstream>

namespace devserver::storage {

class TestHttpServer::Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(TestHttpServer* server) : server_(server) {}

  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Handler(server_);
  }

 private:
  class Handler : public Poco::Net::HTTPRequestHandler {
   public:
    explicit Handler(TestHttpServer* server) : server_(server) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
      Request recorded;
      recorded.method = request.getMethod();
      recorded.uri = request.getURI();
      for (const auto& [name, value] : request) recorded.headers[Poco::toLower(name)] = value;
      recorded.body.assign(std::istreambuf_iterator<char>(request.stream()),
                           std::istreambuf_iterator<char>());
      const Reply reply = server_->Handle(recorded);
      response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
      response.setContentType(reply.content_type);
      for (const auto& [name, value] : reply.headers) response.set(name, value);
      if (reply.chunked) {
        response.setChunkedTransferEncoding(true);
        response.send().write(reply.body.data(), static_cast<std::streamsize>(reply.body.size()));
      } else {
        response.sendBuffer(reply.body.data(), reply.body.size());
      }
    }

   private:
    TestHttpServer* server_;
  };

  TestHttpServer* server_;
};

std::string TestHttpServer::Request::Header(const std::string& lower_case_name) const {
  const auto it = headers.find(lower_case_name);
  return it == headers.end() ? "" : it->second;
}

TestHttpServer::TestHttpServer(Handler handler, const Tls* tls)
    : handler_(std::move(handler)), https_(tls != nullptr) {
  const Poco::Net::SocketAddress address("127.0.0.1", 0);
  Poco::Net::ServerSocket socket;
  if (tls != nullptr) {
    Poco::Net::Context::Ptr context =
        new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, tls->key_file, tls->cert_file,
                               "", Poco::Net::Context::VERIFY_NONE);
    socket = Poco::Net::SecureServerSocket(address, 64, context);
  } else {
    socket = Poco::Net::ServerSocket(address);
  }
  port_ = socket.address().port();
  auto params = Poco::makeAuto<Poco::Net::HTTPServerParams>();
  params->setMaxThreads(8);
  server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(this), socket, params);
  server_->start();
}

TestHttpServer::~TestHttpServer() { server_->stopAll(true); }

std::string TestHttpServer::host_port() const { return "127.0.0.1:" + std::to_string(port_); }

std::string TestHttpServer::url() const { return (https_ ? "https://" : "http://") + host_port(); }

std::vector<TestHttpServer::Request> TestHttpServer::Requests(
    const std::string& path_prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Request> out;
  for (const Request& r : requests_) {
    if (r.uri.starts_with(path_prefix)) out.push_back(r);
  }
  return out;
}

TestHttpServer::Reply TestHttpServer::Handle(const Request& request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
  }
  return handler_(request);
}

}  // namespace devserver::storage
