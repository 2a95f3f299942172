#include "fcgi/http/read_body.h"

#include <algorithm>

namespace devserver {
namespace {

Status OverLimit(const std::string& what, size_t max_bytes) {
  return Status::TooLarge(what + " is over the " + std::to_string(max_bytes) + "-byte limit");
}

}  // namespace

Status ReadWholeBody(const Request& request, size_t max_bytes, std::string* body) {
  body->clear();
  if (request.content_length > max_bytes) {
    return OverLimit("request body of " + std::to_string(request.content_length) + " bytes",
                     max_bytes);
  }
  // Read in small chunks into a string sized by Content-Length: a buffer of the whole limit
  // per request (zeroed, from the heap) cost /update more than parsing its XML did.
  body->reserve(request.content_length);
  char chunk[8192];
  for (;;) {
    // One byte more than the limit allows shows a body longer than it said.
    const size_t want = std::min(sizeof chunk, max_bytes + 1 - body->size());
    size_t got = 0;
    Status s = request.body->Read(chunk, want, &got);
    if (!s.ok()) {
      body->clear();
      return s;
    }
    if (got == 0) break;
    body->append(chunk, got);
    if (body->size() > max_bytes) {
      body->clear();
      return OverLimit("request body", max_bytes);
    }
  }
  return Status::Ok();
}

}  // namespace devserver
