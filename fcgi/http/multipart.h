// multipart/form-data request bodies (RFC 7578), as /symbolicate_dump receives them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "fcgi/base/status.h"
#include "fcgi/http/request.h"

namespace devserver {

struct FormPart {
  std::string name;          // Content-Disposition name="..."
  std::string filename;      // Content-Disposition filename="...", if any
  std::string content_type;  // the part's Content-Type, if any
  std::string data;          // the part's bytes, exactly as sent
};

// The boundary parameter of a `multipart/form-data; boundary=...` Content-Type value
// (quoted or not; parameters split as Poco's MessageHeader::splitParameters does). InvalidArgument
// with a one-line reason for any other type or a missing, empty or over-long (> 70 bytes)
// boundary, or one with a control character.
Status MultipartBoundary(std::string_view content_type, std::string* boundary);

// Splits a complete body into its parts, in order (a name may repeat), with Poco's
// MultipartReader: delimiters are "--boundary" lines ending in CRLF (or a bare LF); the
// preamble and the epilogue are ignored. Header values are RFC 2047-decoded ("=?utf-8?B?...?="),
// and quoted parameter values lose their backslashes (`\x` is `x`). InvalidArgument, with the
// reason, for a body that does not follow the format (no opening boundary, no closing boundary, a
// part without a Content-Disposition form-data header or without a name, a malformed header line,
// headers over 8 KiB (a preamble counts against part 1's), more than 64 parts, ...); a refused body
// leaves no parts.
Status ParseMultipart(std::string_view body, std::string_view boundary,
                      std::vector<FormPart>* parts);

// Reads the request's body as multipart/form-data, part by part: never more than its
// Content-Length, at most `max_bytes` (a larger Content-Length, or more bytes than announced,
// is TooLarge without reading the rest), each part's data held once (the parts together hold
// at most the body). The Content-Type is checked first, so a request that is not a form is
// refused unread; a malformed body is refused where it goes wrong, the rest unread; a body
// that ends before Content-Length is InvalidArgument.
Status ReadMultipartForm(const Request& request, size_t max_bytes, std::vector<FormPart>* parts);

}  // namespace devserver
