#include "fcgi/http/fcgi_exchange.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "fcgi/http/error_response.h"

namespace devserver {
namespace {

std::string Param(FCGX_Request* fcgi, const char* name) {
  const char* value = FCGX_GetParam(name, fcgi->envp);
  return value != nullptr ? value : "";
}

}  // namespace

Status FcgiBody::Read(char* buf, size_t n, size_t* got) {
  *got = 0;
  if (left_ == 0 || n == 0) return Status::Ok();
  int want = static_cast<int>(std::min({n, left_, size_t{1} << 20}));
  int read = FCGX_GetStr(buf, want, in_);
  if (read <= 0) return Status::InvalidArgument("request body ended early");
  *got = static_cast<size_t>(read);
  left_ -= *got;
  return Status::Ok();
}

Status ReadFcgiRequest(FCGX_Request* fcgi, Request* request) {
  request->method = Param(fcgi, "REQUEST_METHOD");
  // DOCUMENT_URI is nginx's normalised, decoded path (no query); SCRIPT_NAME is the fallback
  // for other FastCGI front ends.
  request->path = Param(fcgi, "DOCUMENT_URI");
  if (request->path.empty()) request->path = Param(fcgi, "SCRIPT_NAME");
  if (request->path.empty()) request->path = "/";
  request->raw_query = Param(fcgi, "QUERY_STRING");
  request->remote_addr = Param(fcgi, "REMOTE_ADDR");
  request->host = Param(fcgi, "HTTP_HOST");
  request->forwarded_host = Param(fcgi, "HTTP_X_FORWARDED_HOST");
  request->content_type = Param(fcgi, "CONTENT_TYPE");
  request->content_length = std::strtoull(Param(fcgi, "CONTENT_LENGTH").c_str(), nullptr, 10);
  // nginx's $msec, "1764330000.123"; waits for staging count from it.
  request->start_unix_ms =
      static_cast<int64_t>(std::strtod(Param(fcgi, "DEVSERVER_START").c_str(), nullptr) * 1000);
  return QueryParams::Parse(request->raw_query, &request->query);
}

void WriteFcgiResponse(FCGX_Request* fcgi, const Request& request, const Response& response) {
  std::string head = "Status: " + std::to_string(response.status) + " " +
                     HttpReasonPhrase(response.status) + "\r\n";
  head += "Content-Type: " + response.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
  head += "\r\n";
  FCGX_PutStr(head.data(), static_cast<int>(head.size()), fcgi->out);
  if (request.method != "HEAD" && !response.body.empty()) {
    FCGX_PutStr(response.body.data(), static_cast<int>(response.body.size()), fcgi->out);
  }
}

}  // namespace devserver
