// One HTTP request as the handlers see it, independent of FastCGI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "fcgi/base/status.h"
#include "fcgi/http/query.h"

namespace devserver {

// The request body, read on demand so a handler can stream it to disk or refuse it.
class RequestBody {
 public:
  virtual ~RequestBody() = default;
  // Reads up to `n` bytes into `buf`; `*got` = 0 at the end of the body.
  virtual Status Read(char* buf, size_t n, size_t* got) = 0;
};

struct Request {
  std::string method;          // "GET", "POST", ...
  std::string path;            // decoded, normalised by nginx: "/check_health"
  std::string raw_query;       // as sent, before decoding
  QueryParams query;           // decoded parameters
  std::string remote_addr;     // client IP as nginx saw it
  std::string host;            // Host header
  std::string forwarded_host;  // X-Forwarded-Host header, if any
  std::string content_type;
  size_t content_length = 0;
  int64_t start_unix_ms = 0;    // when nginx passed the request on (DEVSERVER_START); 0: unknown
  RequestBody* body = nullptr;  // never null while a handler runs
};

}  // namespace devserver
