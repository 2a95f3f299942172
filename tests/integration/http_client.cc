#include "tests/integration/http_client.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <sstream>

namespace devserver::testing {

HttpResult HttpCall(int port, const std::string& method, const std::string& target,
                    const std::map<std::string, std::string>& headers, const std::string& body,
                    int timeout_ms) {
  HttpResult result;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(0, static_cast<long>(timeout_ms) * 1000));
    Poco::Net::HTTPRequest request(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [name, value] : headers) request.set(name, value);
    if (!body.empty() || method == "POST")
      request.setContentLength(static_cast<std::streamsize>(body.size()));
    std::ostream& out = session.sendRequest(request);
    out << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    std::ostringstream collected;
    Poco::StreamCopier::copyStream(in, collected);
    result.status = static_cast<int>(response.getStatus());
    result.body = collected.str();
    for (const auto& [name, value] : response) result.headers[name] = value;
  } catch (const Poco::Exception& e) {
    result.error = e.displayText();
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

}  // namespace devserver::testing
