#include "fcgi/base/status.h"

#include <cstring>

namespace devserver {

Status Status::IOError(const std::string& context, int err) {
  return {Code::kIOError, context + ": " + ErrnoText(err)};
}

std::string ErrnoText(int err) {
  char buf[256];
  // The GNU strerror_r returns the message, in buf or in static storage.
  return strerror_r(err, buf, sizeof buf);
}

}  // namespace devserver
