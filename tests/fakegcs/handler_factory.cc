#include "tests/fakegcs/handler_factory.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <iostream>

#include "tests/fakegcs/control_handler.h"
#include "tests/fakegcs/gcs_handler.h"
#include "tests/fakegcs/http_util.h"

namespace devserver::fakegcs {
namespace {

class NotFoundHandler : public Poco::Net::HTTPRequestHandler {
 public:
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    SendGcsError(response, 404, "fakegcs has no route for " + request.getURI());
  }
};

}  // namespace

Poco::Net::HTTPRequestHandler* HandlerFactory::createRequestHandler(
    const Poco::Net::HTTPServerRequest& request) {
  const std::string& uri = request.getURI();
  const std::string raw_path = uri.substr(0, uri.find('?'));
  if (state_.verbose) std::cerr << "fakegcs: " << request.getMethod() << " " << uri << std::endl;
  if (raw_path.starts_with("/_fake/")) return new ControlHandler(state_);
  if (auto route = ParseGcsPath(raw_path)) return new GcsHandler(state_, std::move(*route));
  // Always logged: an unrouted request usually means a client needs a route the fake lacks.
  std::cerr << "fakegcs: no route for " << request.getMethod() << " " << uri << std::endl;
  return new NotFoundHandler;
}

}  // namespace devserver::fakegcs
