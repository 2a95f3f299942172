// The multipart/form-data reader of POST /symbolicate_dump (Poco's MultipartReader and
// MessageHeader behind fcgi/http/multipart.cc's limits): MultipartBoundary on the
// Content-Type, ParseMultipart on the body, and ReadMultipartForm reading it from a request.
//
// Input: the first line is the Content-Type value, the rest the body; the body is also parsed
// with a fixed boundary so the fuzzer need not guess one. Invariants: refusals are one-line
// reasons; parts come back in order as pieces of the body (so never with a byte Poco made up
// at the end of input), none holds a delimiter, there are at most 64, each has a name;
// writing the parts out again and parsing that gives the same parts; a body over the limit is
// refused as too large without a byte of it being read, and no body is read past its
// Content-Length but for the one byte that shows it runs on; reading from a request gives
// the parts parsing gives.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fcgi/http/multipart.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using devserver::FormPart;
using devserver::Status;
using devserver::fuzz::Escaped;

constexpr size_t kMaxBodyBytes = 4096;

class FakeBody : public devserver::RequestBody {
 public:
  explicit FakeBody(std::string_view data) : data_(data) {}
  Status Read(char* buf, size_t n, size_t* got) override {
    ++reads;
    // Short reads, as a socket gives them.
    const size_t k = std::min({n, size_t{777}, data_.size() - pos_});
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    *got = k;
    return Status::Ok();
  }
  size_t delivered() const { return pos_; }
  size_t reads = 0;

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

void CheckReason(const Status& s) {
  FUZZ_CHECK(devserver::fuzz::IsOneLineReason(s.message(), 512), Escaped(s.message()));
}

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string Serialize(const std::vector<FormPart>& parts, const std::string& boundary) {
  std::string body;
  for (const FormPart& p : parts) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=" + Quoted(p.name);
    if (!p.filename.empty()) body += "; filename=" + Quoted(p.filename);
    body += "\r\n";
    if (!p.content_type.empty()) body += "Content-Type: " + p.content_type + "\r\n";
    body += "\r\n" + p.data + "\r\n";
  }
  return body + "--" + boundary + "--\r\n";
}

void CheckParts(std::string_view body, const std::string& boundary) {
  std::vector<FormPart> parts;
  const Status s = devserver::ParseMultipart(body, boundary, &parts);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Status::Code::kInvalidArgument, s.message());
    CheckReason(s);
    return;
  }
  FUZZ_CHECK(parts.size() <= 64, std::to_string(parts.size()));
  const std::string delimiter = "\r\n--" + boundary;
  size_t at = 0;
  for (const FormPart& p : parts) {
    FUZZ_CHECK(!p.name.empty(), "a part without a name");
    const size_t found = body.find(p.data, at);
    FUZZ_CHECK(found != std::string_view::npos,
               "data of part " + Escaped(p.name) + " is not the next piece of the body");
    at = found + p.data.size();
    FUZZ_CHECK(p.data.find(delimiter + "\r\n") == std::string::npos &&
                   p.data.find(delimiter + "--") == std::string::npos,
               "part " + Escaped(p.name) + " holds a delimiter");
  }
  const std::string again = Serialize(parts, boundary);
  // Written out again a header block can grow (quotes, spaces, a name spelled in full) past
  // the 8 KiB a part may have; and Poco decodes RFC 2047 words ("=?utf-8?B?...?=") in header
  // values after it skipped their leading spaces, which can leave spaces, line breaks or "=?"
  // to be read differently: nothing to compare.
  if (body.find("=?") != std::string_view::npos) return;
  for (const FormPart& p : parts) {
    if (p.name.size() + p.filename.size() + p.content_type.size() > 3000) return;
    // A quote between '=' and '?' (name="a="?b") is gone once unquoted.
    for (const std::string* field : {&p.name, &p.filename, &p.content_type}) {
      if (field->find("=?") != std::string::npos) return;
    }
  }
  std::vector<FormPart> reparsed;
  const Status rs = devserver::ParseMultipart(again, boundary, &reparsed);
  FUZZ_CHECK(rs.ok(), Escaped(again) + ": " + rs.message());
  FUZZ_CHECK(reparsed.size() == parts.size(), Escaped(again));
  for (size_t i = 0; i < parts.size(); ++i) {
    const FormPart& a = parts[i];
    const FormPart& b = reparsed[i];
    FUZZ_CHECK(a.name == b.name && a.filename == b.filename && a.content_type == b.content_type &&
                   a.data == b.data,
               "part " + std::to_string(i) + " of " + Escaped(again));
  }
}

void CheckReadForm(const std::string& content_type, std::string_view body) {
  // Announced exactly, announced short (the body runs on), and announced long (it ends early).
  for (size_t announced : {body.size(), body.size() / 2, body.size() + 1}) {
    FakeBody fake(body);
    devserver::Request request;
    request.method = "POST";
    request.content_type = content_type;
    request.content_length = announced;
    request.body = &fake;
    std::vector<FormPart> parts;
    const Status s = devserver::ReadMultipartForm(request, kMaxBodyBytes, &parts);
    if (announced > kMaxBodyBytes) {
      FUZZ_CHECK(s.code() == Status::Code::kTooLarge, s.message());
      FUZZ_CHECK(fake.reads == 0, "a body over the limit was read");
    }
    FUZZ_CHECK(fake.delivered() <= announced + 1,
               std::to_string(fake.delivered()) + " bytes read of " + std::to_string(announced));
    if (!s.ok()) {
      CheckReason(s);
      FUZZ_CHECK(parts.empty(), "a refused form leaves parts behind");
      continue;
    }
    FUZZ_CHECK(announced == body.size(), "accepted a body of the wrong length");
    size_t total = 0;
    for (const FormPart& p : parts) total += p.data.size();
    FUZZ_CHECK(total <= announced && announced <= kMaxBodyBytes, std::to_string(total));
    // Streamed from the request or parsed whole: the same parts.
    std::string boundary;
    FUZZ_CHECK(devserver::MultipartBoundary(content_type, &boundary).ok(), Escaped(content_type));
    std::vector<FormPart> parsed;
    FUZZ_CHECK(devserver::ParseMultipart(body, boundary, &parsed).ok(), Escaped(body));
    FUZZ_CHECK(parsed.size() == parts.size(), Escaped(body));
    for (size_t i = 0; i < parts.size(); ++i) {
      FUZZ_CHECK(parsed[i].name == parts[i].name && parsed[i].filename == parts[i].filename &&
                     parsed[i].content_type == parts[i].content_type &&
                     parsed[i].data == parts[i].data,
                 "part " + std::to_string(i) + " of " + Escaped(body));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t eol = input.find('\n');
  const std::string content_type(input.substr(0, eol));
  const std::string_view body = eol == std::string_view::npos ? "" : input.substr(eol + 1);

  std::string boundary;
  const Status s = devserver::MultipartBoundary(content_type, &boundary);
  if (s.ok()) {
    FUZZ_CHECK(!boundary.empty() && boundary.size() <= 70, Escaped(boundary));
    FUZZ_CHECK(!devserver::fuzz::HasControlByte(boundary), Escaped(boundary));
    CheckParts(body, boundary);
  } else {
    FUZZ_CHECK(boundary.empty(), Escaped(boundary));
    CheckReason(s);
  }
  CheckParts(body, "XyZ");
  CheckReadForm(content_type, body);
  return 0;
}
