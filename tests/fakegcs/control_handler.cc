#include "tests/fakegcs/control_handler.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>

#include <charconv>

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
  } else if (path == "/_fake/pace" && method == "POST") {
    const std::string value = QueryValue(uri.getQueryParameters(), "bps");
    uint64_t bps = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), bps);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
      SendGcsError(response, 400, "pace needs bps=<bytes per second> (0: no cap)");
      return;
    }
    state_.pace_bps = bps;
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
