#include "fcgi/http/error_response.h"

namespace devserver {

int HttpStatusFor(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return 200;
    case Status::Code::kInvalidArgument:
      return 400;
    case Status::Code::kPermissionDenied:
      return 403;
    case Status::Code::kNotFound:
      return 404;
    case Status::Code::kMethodNotAllowed:
      return 405;
    case Status::Code::kTooLarge:
      return 413;
    case Status::Code::kUnavailable:
      return 503;
    case Status::Code::kFailed:
    case Status::Code::kIOError:
      return 500;
  }
  return 500;
}

const char* HttpReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

Response ErrorResponse(const Status& status) {
  Response r;
  r.status = HttpStatusFor(status.code());
  r.body = status.message();
  if (r.status == 503) r.headers.emplace_back("Retry-After", "5");
  return r;
}

}  // namespace devserver
