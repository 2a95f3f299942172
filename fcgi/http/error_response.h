// The one place that turns a failed Status into an HTTP status line and body.
#pragma once

#include "fcgi/base/status.h"
#include "fcgi/http/response.h"

namespace devserver {

int HttpStatusFor(Status::Code code);
const char* HttpReasonPhrase(int status);

// A response whose body is the status message as one line.
Response ErrorResponse(const Status& status);

}  // namespace devserver
