#include "fcgi/http/multipart.h"

#include <algorithm>
#include <utility>

#include "fcgi/base/reason_text.h"

namespace devserver {
namespace {

constexpr size_t kMaxBoundaryBytes = 70;  // RFC 2046 section 5.1.1
constexpr size_t kMaxHeaderBytes = 8 << 10;
constexpr size_t kMaxParts = 64;

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

struct Parameter {
  std::string_view name;
  std::string value;
};

// Splits a header value such as `form-data; name="a"; filename="b"` into its leading token
// and its parameters, unquoting quoted-string values. `what` names the header in errors.
Status ParseHeaderValue(std::string_view value, std::string_view what, std::string_view* token,
                        std::vector<Parameter>* params) {
  params->clear();
  size_t semi = value.find(';');
  *token = Trim(value.substr(0, semi));
  size_t pos = semi == std::string_view::npos ? value.size() : semi + 1;
  while (pos < value.size()) {
    size_t end = value.find_first_of("=;", pos);
    if (end == std::string_view::npos || value[end] == ';') {
      // A parameter without a value means nothing to either header; skip it.
      pos = end == std::string_view::npos ? value.size() : end + 1;
      continue;
    }
    Parameter param;
    param.name = Trim(value.substr(pos, end - pos));
    pos = end + 1;
    while (pos < value.size() && IsSpace(value[pos])) ++pos;
    if (pos < value.size() && value[pos] == '"') {
      bool closed = false;
      for (++pos; pos < value.size(); ++pos) {
        char c = value[pos];
        if (c == '"') {
          closed = true;
          ++pos;
          break;
        }
        // Only \" and \\ are escapes: browsers and Python send Windows paths with bare
        // backslashes (and %22 for a quote), which must survive unchanged.
        if (c == '\\' && pos + 1 < value.size() &&
            (value[pos + 1] == '"' || value[pos + 1] == '\\')) {
          c = value[++pos];
        }
        param.value.push_back(c);
      }
      if (!closed) {
        return Status::InvalidArgument(std::string(what) + " has an unterminated quoted string");
      }
      size_t next = value.find(';', pos);
      pos = next == std::string_view::npos ? value.size() : next + 1;
    } else {
      size_t next = value.find(';', pos);
      param.value = Trim(value.substr(pos, next - pos));
      pos = next == std::string_view::npos ? value.size() : next + 1;
    }
    params->push_back(std::move(param));
  }
  return Status::Ok();
}

const std::string* FindParameter(const std::vector<Parameter>& params, std::string_view name) {
  for (const Parameter& p : params) {
    if (EqualsIgnoreCase(p.name, name)) return &p.value;
  }
  return nullptr;
}

struct Delimiter {
  size_t data_end = 0;  // where the previous part's data ends (the CRLF before "--boundary")
  size_t next = 0;      // just past the delimiter line
  bool close = false;   // "--boundary--": no part follows
};

// Whether "--boundary" ending at `after` is a delimiter: followed by "--" (the close) or by
// optional whitespace and CRLF. Anything else is data that merely starts like a delimiter.
bool MatchDelimiterEnd(std::string_view body, size_t after, Delimiter* d) {
  std::string_view rest = body.substr(after);
  if (rest.starts_with("--")) {
    d->close = true;
    d->next = body.size();  // the epilogue is ignored, and so is a missing final CRLF
    return true;
  }
  size_t i = after;
  while (i < body.size() && IsSpace(body[i])) ++i;
  if (body.substr(i).starts_with("\r\n")) {
    d->close = false;
    d->next = i + 2;
    return true;
  }
  return false;
}

// Finds the first "CRLF--boundary" delimiter at or after `from`.
bool FindDelimiter(std::string_view body, std::string_view crlf_dash_boundary, size_t from,
                   Delimiter* d) {
  for (;;) {
    size_t at = body.find(crlf_dash_boundary, from);
    if (at == std::string_view::npos) return false;
    if (MatchDelimiterEnd(body, at + crlf_dash_boundary.size(), d)) {
      d->data_end = at;
      return true;
    }
    from = at + 1;
  }
}

Status ParsePartHeaders(std::string_view block, size_t number, FormPart* part) {
  const std::string where = "multipart part " + std::to_string(number);
  bool form_data = false;
  std::vector<Parameter> params;
  size_t pos = 0;
  while (pos < block.size()) {
    size_t eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = block.size();
    std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Status::InvalidArgument(where + " has a malformed header line");
    }
    std::string_view name = Trim(line.substr(0, colon));
    std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "Content-Disposition") && !form_data) {
      std::string_view type;
      Status s = ParseHeaderValue(value, where + " Content-Disposition", &type, &params);
      if (!s.ok()) return s;
      if (!EqualsIgnoreCase(type, "form-data")) continue;
      form_data = true;
      const std::string* field = FindParameter(params, "name");
      if (field == nullptr || field->empty())
        return Status::InvalidArgument(where + " has no name");
      part->name = *field;
      const std::string* filename = FindParameter(params, "filename");
      if (filename != nullptr) part->filename = *filename;
    } else if (EqualsIgnoreCase(name, "Content-Type")) {
      part->content_type = value;
    }
  }
  if (!form_data) {
    return Status::InvalidArgument(where + " has no Content-Disposition: form-data header");
  }
  return Status::Ok();
}

// Where a part's data lies in the body.
struct Span {
  size_t begin = 0;
  size_t end = 0;
};

// Parses the parts' headers and finds their data without copying it; (*spans)[i] is where
// the data of (*parts)[i] lies in `body`.
Status ParseParts(std::string_view body, std::string_view boundary, std::vector<FormPart>* parts,
                  std::vector<Span>* spans) {
  parts->clear();
  spans->clear();
  if (boundary.empty()) return Status::InvalidArgument("multipart boundary is empty");
  const std::string crlf_dash_boundary = "\r\n--" + std::string(boundary);
  const std::string_view dash_boundary = std::string_view(crlf_dash_boundary).substr(2);

  // The first delimiter needs no CRLF before it when there is no preamble.
  Delimiter d;
  bool opened =
      body.starts_with(dash_boundary) && MatchDelimiterEnd(body, dash_boundary.size(), &d);
  if (!opened) opened = FindDelimiter(body, crlf_dash_boundary, 0, &d);
  if (!opened) return Status::InvalidArgument("multipart body has no opening boundary");

  while (!d.close) {
    if (parts->size() == kMaxParts) {
      return Status::InvalidArgument("multipart body has more than " + std::to_string(kMaxParts) +
                                     " parts");
    }
    const size_t number = parts->size() + 1;
    std::string_view rest = body.substr(d.next);
    std::string_view headers;
    size_t data_start = 0;
    if (rest.starts_with("\r\n")) {
      data_start = d.next + 2;
    } else {
      // Searching only a bounded window keeps a body without a blank line from being scanned
      // end to end once per part.
      size_t end = rest.substr(0, kMaxHeaderBytes + 4).find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (rest.size() >= kMaxHeaderBytes + 4) {
          return Status::InvalidArgument("multipart part " + std::to_string(number) +
                                         " has headers over " + std::to_string(kMaxHeaderBytes) +
                                         " bytes");
        }
        return Status::InvalidArgument("multipart body has no closing boundary");
      }
      headers = rest.substr(0, end);
      data_start = d.next + end + 4;
    }
    FormPart part;
    Status s = ParsePartHeaders(headers, number, &part);
    if (!s.ok()) return s;
    // The CRLF before the delimiter belongs to the delimiter, so data with no CRLF at its end
    // comes back byte for byte.
    Delimiter next;
    if (!FindDelimiter(body, crlf_dash_boundary, data_start, &next)) {
      return Status::InvalidArgument("multipart body has no closing boundary");
    }
    spans->push_back({data_start, next.data_end});
    parts->push_back(std::move(part));
    d = next;
  }
  return Status::Ok();
}

}  // namespace

Status MultipartBoundary(std::string_view content_type, std::string* boundary) {
  boundary->clear();
  std::string_view type;
  std::vector<Parameter> params;
  Status s = ParseHeaderValue(content_type, "Content-Type", &type, &params);
  if (!s.ok()) return s;
  if (type.empty()) {
    return Status::InvalidArgument("no Content-Type; multipart/form-data expected");
  }
  if (!EqualsIgnoreCase(type, "multipart/form-data")) {
    return Status::InvalidArgument("Content-Type " + ReasonText(type) +
                                   " is not multipart/form-data");
  }
  const std::string* value = FindParameter(params, "boundary");
  if (value == nullptr) return Status::InvalidArgument("multipart/form-data without a boundary");
  if (value->empty()) return Status::InvalidArgument("multipart boundary is empty");
  if (value->size() > kMaxBoundaryBytes) {
    return Status::InvalidArgument("multipart boundary is longer than " +
                                   std::to_string(kMaxBoundaryBytes) + " bytes");
  }
  for (unsigned char c : *value) {
    // A CR or LF would let the boundary match across line structure; RFC 2046 allows neither.
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("multipart boundary contains a control character");
    }
  }
  *boundary = *value;
  return Status::Ok();
}

Status ParseMultipart(std::string_view body, std::string_view boundary,
                      std::vector<FormPart>* parts) {
  std::vector<Span> spans;
  Status s = ParseParts(body, boundary, parts, &spans);
  // A refused body is refused whole: no leading parts for a caller to act on.
  if (!s.ok()) {
    parts->clear();
    return s;
  }
  for (size_t i = 0; i < parts->size(); ++i) {
    (*parts)[i].data = body.substr(spans[i].begin, spans[i].end - spans[i].begin);
  }
  return s;
}

Status ReadMultipartForm(const Request& request, size_t max_bytes, std::vector<FormPart>* parts) {
  parts->clear();
  const size_t length = request.content_length;
  if (length > max_bytes) {
    return Status::TooLarge("request body of " + std::to_string(length) + " bytes is over the " +
                            std::to_string(max_bytes) + "-byte limit");
  }
  // Checked before reading so a wrong Content-Type costs nothing.
  std::string boundary;
  Status s = MultipartBoundary(request.content_type, &boundary);
  if (!s.ok()) return s;

  std::string body(length, '\0');
  size_t have = 0;
  while (have < length) {
    size_t got = 0;
    s = request.body->Read(body.data() + have, length - have, &got);
    if (!s.ok()) return s;
    if (got == 0) {
      return Status::InvalidArgument("request body ended after " + std::to_string(have) + " of " +
                                     std::to_string(length) + " bytes");
    }
    have += std::min(got, length - have);
  }
  // One byte more than announced is enough to refuse the body; the rest stays unread.
  char extra = 0;
  size_t got = 0;
  s = request.body->Read(&extra, 1, &got);
  if (!s.ok()) return s;
  if (got != 0) {
    return Status::TooLarge("request body is longer than its Content-Length of " +
                            std::to_string(length) + " bytes");
  }
  std::vector<Span> spans;
  s = ParseParts(body, boundary, parts, &spans);
  if (!s.ok()) {
    parts->clear();
    return s;
  }
  // The body becomes the largest part's data in place (the dump, up to max_bytes): a copy
  // would double a worker's memory for every upload. The others are copied; a dump's form has
  // only archive_url besides, and a form of many big parts is still bounded by twice max_bytes.
  size_t largest = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].end - spans[i].begin > spans[largest].end - spans[largest].begin) largest = i;
  }
  for (size_t i = 0; i < spans.size(); ++i) {
    if (i == largest) continue;
    (*parts)[i].data = std::string_view(body).substr(spans[i].begin, spans[i].end - spans[i].begin);
  }
  if (!parts->empty()) {
    body.resize(spans[largest].end);
    body.erase(0, spans[largest].begin);
    (*parts)[largest].data = std::move(body);
  }
  return Status::Ok();
}

}  // namespace devserver
