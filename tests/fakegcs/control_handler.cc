#include "tests/fakegcs/control_handler.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>

#include "tests/fakegcs/http_util.h"

namespace devserver::fakegcs {

using Poco::Net::HTTPResponse;

void ControlHandler::handleRequest(Poco::Net::HTTPServerRequest& request,
                                   Poco::Net::HTTPServerResponse& response) {
  const Poco::URI uri(request.getURI());
  const std::string& path = uri.getPath();
  const std::string& method = request.getMethod();

  if (path == "/_fake/counters" && method == "GET") {
    SendJson(response, HTTPResponse::HTTP_OK, state_.counters.ToJson());
  } else if (path == "/_fake/reset" && method == "POST") {
    state_.counters.Reset();
    state_.faults.Reset();
    SendJson(response, HTTPResponse::HTTP_OK, "{}");
  } else if (path == "/_fake/fault" && method == "POST") {
    const QueryParams query = uri.getQueryParameters();
    const std::string object = QueryValue(query, "object");
    if (object.find('/') == std::string::npos) {
      SendGcsError(response, 400, "fault needs object=<bucket>/<object>");
      return;
    }
    std::string error;
    const auto spec = ParseFaultSpec(query, &error);
    if (!spec) {
      SendGcsError(response, 400, error);
      return;
    }
    state_.faults.Add(object, *spec);
    SendJson(response, HTTPResponse::HTTP_OK, "{}");
  } else {
    SendGcsError(response, 404, "unknown control route " + method + " " + path);
  }
}

}  // namespace devserver::fakegcs
