#include "tests/fakegcs/http_util.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/URI.h>

#include <sstream>

namespace devserver::fakegcs {
namespace {

std::string ReasonFor(int status) {
  switch (status) {
    case 400:
      return "invalid";
    case 401:
      return "required";
    case 403:
      return "forbidden";
    case 404:
      return "notFound";
    case 405:
      return "methodNotAllowed";
    case 412:
      return "conditionNotMet";
    case 416:
      return "requestedRangeNotSatisfiable";
    case 429:
      return "rateLimitExceeded";
    case 500:
      return "internalError";
    case 501:
      return "notImplemented";
    case 503:
      return "backendError";
    default:
      return "unknown";
  }
}

}  // namespace

std::string QueryValue(const QueryParams& params, const std::string& key,
                       const std::string& fallback) {
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return fallback;
}

bool HasQuery(const QueryParams& params, const std::string& key) {
  for (const auto& kv : params) {
    if (kv.first == key) return true;
  }
  return false;
}

std::string DecodePathPart(const std::string& raw) {
  std::string out;
  Poco::URI::decode(raw, out, /*plusAsSpace=*/false);
  return out;
}

void SendJson(Poco::Net::HTTPServerResponse& response, Poco::Net::HTTPResponse::HTTPStatus status,
              const std::string& body) {
  response.setStatusAndReason(status);
  response.setContentType("application/json; charset=UTF-8");
  response.sendBuffer(body.data(), body.size());
}

void SendGcsError(Poco::Net::HTTPServerResponse& response, int status, const std::string& message) {
  Poco::JSON::Object::Ptr detail = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
  detail->set("message", message);
  detail->set("domain", "global");
  detail->set("reason", ReasonFor(status));
  Poco::JSON::Array::Ptr errors = new Poco::JSON::Array;
  errors->add(detail);
  Poco::JSON::Object::Ptr error = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
  error->set("code", status);
  error->set("message", message);
  error->set("errors", errors);
  Poco::JSON::Object root;
  root.set("error", error);
  std::ostringstream out;
  root.stringify(out);
  SendJson(response, static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status), out.str());
}

}  // namespace devserver::fakegcs
