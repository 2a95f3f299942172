#include "fcgi/http/read_body.h"

namespace devserver {

Status ReadWholeBody(const Request& request, size_t max_bytes, std::string* body) {
  body->clear();
  const std::string limit = "the " + std::to_string(max_bytes) + "-byte limit";
  if (request.content_length > max_bytes) {
    return Status::TooLarge("request body of " + std::to_string(request.content_length) +
                            " bytes is over " + limit);
  }
  body->resize(max_bytes + 1);  // one byte more shows a body longer than it said
  size_t have = 0;
  for (;;) {
    size_t got = 0;
    Status s = request.body->Read(body->data() + have, body->size() - have, &got);
    if (!s.ok()) {
      body->clear();
      return s;
    }
    if (got == 0) break;
    have += got;
    if (have > max_bytes) {
      body->clear();
      return Status::TooLarge("request body is over " + limit);
    }
  }
  body->resize(have);
  return Status::Ok();
}

}  // namespace devserver
