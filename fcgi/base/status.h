// Status: the outcome of an operation, with a one-line reason when it failed.
//
// Errors travel as values from where they happen to where they are reported (an HTTP body,
// a `failed` row, a log line), so the reason a caller sees is the one the failing code wrote.
// The code says what kind of failure it was; only http/ maps codes to HTTP status lines.
#pragma once

#include <string.h>

#include <string>
#include <utility>

namespace devserver {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,   // the caller's input is wrong (HTTP 400)
    kPermissionDenied,  // the caller may not do this (HTTP 403)
    kNotFound,          // no such endpoint or resource (HTTP 404)
    kMethodNotAllowed,  // the endpoint exists but not for this HTTP method (HTTP 405)
    kTooLarge,          // the request body is over its limit (HTTP 413)
    kFailed,            // the work was attempted and failed; message is the cause (HTTP 500)
    kUnavailable,       // overloaded or shutting down; try again later (HTTP 503)
    kIOError,           // an operating-system call failed (HTTP 500)
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status MethodNotAllowed(std::string msg) {
    return {Code::kMethodNotAllowed, std::move(msg)};
  }
  static Status TooLarge(std::string msg) { return {Code::kTooLarge, std::move(msg)}; }
  static Status Failed(std::string msg) { return {Code::kFailed, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  // An OS call failed: "<context>: <strerror(err)>".
  static Status IOError(const std::string& context, int err);  // defined below

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "OK" or the message; what a log line or an error body shows.
  std::string ToString() const { return ok() ? "OK" : message_; }
  // The same failure, its message prefixed ("archive.tgz: " + message).
  Status Prefixed(const std::string& prefix) const {
    return ok() ? *this : Status(code_, prefix + message_);
  }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// strerror(err), thread-safe.
inline std::string ErrnoText(int err) {
  char buf[256];
  // The GNU strerror_r returns the message, in buf or in static storage.
  return strerror_r(err, buf, sizeof buf);
}

// Header-only on purpose: plugins (shared objects) use Status without linking the core.
inline Status Status::IOError(const std::string& context, int err) {
  return {Code::kIOError, context + ": " + ErrnoText(err)};
}

}  // namespace devserver
