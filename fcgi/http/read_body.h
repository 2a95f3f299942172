// A whole request body read into memory, for endpoints whose bodies are small documents.
#pragma once

#include <cstddef>
#include <string>

#include "fcgi/base/status.h"
#include "fcgi/http/request.h"

namespace devserver {

// Reads the body into *body. TooLarge (413) when Content-Length, or what actually arrives,
// is over `max_bytes`; nothing beyond the limit is kept.
Status ReadWholeBody(const Request& request, size_t max_bytes, std::string* body);

}  // namespace devserver
