// The FastCGI side of one request: builds a Request from libfcgi's parameters and writes a
// Response back. The only file of http/ that includes libfcgi.
#pragma once

#include <fcgiapp.h>

#include "fcgi/base/status.h"
#include "fcgi/http/request.h"
#include "fcgi/http/response.h"

namespace devserver {

class FcgiBody : public RequestBody {
 public:
  FcgiBody(FCGX_Stream* in, size_t content_length) : in_(in), left_(content_length) {}
  Status Read(char* buf, size_t n, size_t* got) override;
  // Whether every byte of the body has been read (always, for a request without one).
  bool consumed() const { return left_ == 0; }

 private:
  FCGX_Stream* in_;
  size_t left_;
};

// Fills `request` from the accepted FastCGI request. Fails (a 400 for the caller) when the
// query string cannot be parsed; the other fields are filled either way.
Status ReadFcgiRequest(FCGX_Request* fcgi, Request* request);

// Writes the status line, headers and body. HEAD requests get the headers only.
void WriteFcgiResponse(FCGX_Request* fcgi, const Request& request, const Response& response);

}  // namespace devserver
