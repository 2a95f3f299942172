#include "fcgi/http/multipart.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace devserver {
namespace {

using namespace std::string_literals;

// curl's boundary shape; the delimiter lines carry two more dashes.
const std::string kCurlBoundary = "------------------------d74496d66958873e";

// A request body served in chunks of `chunk` bytes, so reads are split the way a socket
// splits them; `reads` tells whether the body was touched at all.
class FakeBody : public RequestBody {
 public:
  FakeBody(std::string data, size_t chunk) : data_(std::move(data)), chunk_(chunk) {}
  Status Read(char* buf, size_t n, size_t* got) override {
    ++reads;
    size_t k = std::min({n, chunk_, data_.size() - pos_});
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    *got = k;
    return Status::Ok();
  }
  size_t delivered() const { return pos_; }
  size_t reads = 0;

 private:
  std::string data_;
  size_t chunk_;
  size_t pos_ = 0;
};

class FailingBody : public RequestBody {
 public:
  Status Read(char*, size_t, size_t*) override {
    return Status::InvalidArgument("request body ended early");
  }
};

// Minidump-like bytes: every byte value, and things that start like a delimiter but are not.
std::string BinaryPayload(const std::string& boundary) {
  std::string data = "MDMP\0\0\r\n\n\r"s;
  for (int i = 0; i < 256; ++i) data.push_back(static_cast<char>(i));
  data += "\r\n--" + boundary.substr(0, boundary.size() / 2) + "\r\n";  // half a boundary
  data += "\r\n--" + boundary + "X\r\n";  // the boundary, continued: still data
  data += "y--" + boundary + "\r\n";      // no CRLF before it: still data
  data += "\r\n-\r\n--\r\n\0tail\r\n"s;   // ends in CRLF, which is data too
  return data;
}

std::string CurlBody(const std::string& dump, const std::string& archive_url) {
  return "--" + kCurlBoundary + "\r\n" +
         "Content-Disposition: form-data; name=\"minidump\"; filename=\"upload.dmp\"\r\n" +
         "Content-Type: application/octet-stream\r\n" + "\r\n" + dump + "\r\n" + "--" +
         kCurlBoundary + "\r\n" + "Content-Disposition: form-data; name=\"archive_url\"\r\n" +
         "\r\n" + archive_url + "\r\n" + "--" + kCurlBoundary + "--\r\n";
}

Request MultipartRequest(const std::string& boundary, size_t length, RequestBody* body) {
  Request request;
  request.method = "POST";
  request.content_type = "multipart/form-data; boundary=" + boundary;
  request.content_length = length;
  request.body = body;
  return request;
}

std::string ParseError(const std::string& body, const std::string& boundary = "b") {
  std::vector<FormPart> parts;
  Status s = ParseMultipart(body, boundary, &parts);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
  return s.message();
}

std::string BoundaryOf(const std::string& content_type) {
  std::string boundary;
  Status s = MultipartBoundary(content_type, &boundary);
  return s.ok() ? boundary : "error: " + s.message();
}

std::string Part(const std::string& name, const std::string& data) {
  return "--b\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + data + "\r\n";
}

TEST(MultipartTest, CurlUploadWithBinaryMinidump) {
  const std::string dump = BinaryPayload(kCurlBoundary);
  const std::string url = "gs://chromeos-image-archive/x86-alex-release/R19-2003.0.0-a1-b1819";
  const std::string body = CurlBody(dump, url);
  FakeBody fake(body, 7);
  Request request = MultipartRequest(kCurlBoundary, body.size(), &fake);
  std::vector<FormPart> parts;
  Status s = ReadMultipartForm(request, 1 << 20, &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "minidump");
  EXPECT_EQ(parts[0].filename, "upload.dmp");
  EXPECT_EQ(parts[0].content_type, "application/octet-stream");
  EXPECT_EQ(parts[0].data, dump);
  EXPECT_EQ(parts[1].name, "archive_url");
  EXPECT_EQ(parts[1].filename, "");
  EXPECT_EQ(parts[1].content_type, "");
  EXPECT_EQ(parts[1].data, url);
}

TEST(MultipartTest, BoundaryFromContentType) {
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=" + kCurlBoundary), kCurlBoundary);
  EXPECT_EQ(BoundaryOf("Multipart/Form-Data;charset=utf-8;BOUNDARY=abc ; x=y"), "abc");
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=\"a b;c=d\"; charset=\"utf-8\""), "a b;c=d");
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=\"q\\\"q\""), "q\"q");
  EXPECT_EQ(BoundaryOf(""), "error: no Content-Type; multipart/form-data expected");
  EXPECT_EQ(BoundaryOf("application/x-www-form-urlencoded; boundary=x"),
            "error: Content-Type application/x-www-form-urlencoded is not multipart/form-data");
  EXPECT_EQ(BoundaryOf("multipart/mixed; boundary=x"),
            "error: Content-Type multipart/mixed is not multipart/form-data");
  EXPECT_EQ(BoundaryOf("multipart/form-data"), "error: multipart/form-data without a boundary");
  EXPECT_EQ(BoundaryOf("multipart/form-data; charset=utf-8"),
            "error: multipart/form-data without a boundary");
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=\"\""), "error: multipart boundary is empty");
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary="), "error: multipart boundary is empty");
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=" + std::string(70, 'x')),
            std::string(70, 'x'));
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=" + std::string(71, 'x')),
            "error: multipart boundary is longer than 70 bytes");
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=\"a\rb\""),
            "error: multipart boundary contains a control character");
  // Poco's splitParameters ends an unterminated quoted string at the end of the value.
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=\"abc"), "abc");
}

TEST(MultipartTest, QuotedBoundaryAndCaseInsensitiveHeaders) {
  const std::string boundary = "a'()+_,-./:=? z";
  const std::string body = "--" + boundary + "\r\n" +
                           "content-type: text/plain; charset=utf-8\r\n" +
                           "CONTENT-DISPOSITION: Form-Data; NAME=\"field\"\r\n" + "\r\n" +
                           "value\r\n" + "--" + boundary + "--";
  FakeBody fake(body, 1 << 20);
  Request request = MultipartRequest("x", body.size(), &fake);
  request.content_type = "MULTIPART/FORM-DATA; Boundary=\"" + boundary + "\"";
  std::vector<FormPart> parts;
  Status s = ReadMultipartForm(request, 1 << 20, &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].name, "field");
  EXPECT_EQ(parts[0].content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(parts[0].data, "value");
}

// Parameters are unquoted as Poco's MessageHeader::splitParameters does: a backslash escapes
// any character, so a bare one (a Windows path from an old client) is dropped. Nothing reads
// the filename; names are plain words.
TEST(MultipartTest, FilenameEscapes) {
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"f\\\"1\"; "
      "filename=\"C:\\temp\\a \\\"q\\\" \\\\ %22.dmp\"\r\n\r\nx\r\n--b--\r\n";
  std::vector<FormPart> parts;
  Status s = ParseMultipart(body, "b", &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].name, "f\"1");
  EXPECT_EQ(parts[0].filename, "C:tempa \"q\" \\ %22.dmp");
}

TEST(MultipartTest, PreambleAndEpilogueAreIgnored) {
  const std::string body = "This is a preamble.\r\n--b not a delimiter\r\n" + Part("a", "1") +
                           "--b--  \r\nThis is the epilogue.\r\n--b\r\n";
  std::vector<FormPart> parts;
  Status s = ParseMultipart(body, "b", &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].data, "1");
}

TEST(MultipartTest, EmptyDataDuplicatesAndPaddingAfterBoundary) {
  // Transport padding (spaces or tabs) may follow a delimiter.
  const std::string body = "--b \t\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n" +
                           Part("x", "\r\n") + Part("y", "2") + "--b--";
  std::vector<FormPart> parts;
  Status s = ParseMultipart(body, "b", &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].name, "x");
  EXPECT_EQ(parts[0].data, "");
  EXPECT_EQ(parts[1].name, "x");
  EXPECT_EQ(parts[1].data, "\r\n");
  EXPECT_EQ(parts[2].name, "y");
  EXPECT_EQ(parts[2].data, "2");
}

// Poco's reader takes the first line that starts with "--boundary" as the opening delimiter,
// so a body that is only the closing delimiter is a first part cut short.
TEST(MultipartTest, NoPartsAtAll) {
  EXPECT_EQ(ParseError("--b--\r\n"), "multipart body has no closing boundary");
}

// Poco also takes a bare LF for CRLF, in delimiters and in headers.
TEST(MultipartTest, BareLineFeeds) {
  std::vector<FormPart> parts;
  Status s = ParseMultipart(
      "--b\nContent-Disposition: form-data; name=\"a\"\n\n1\r\n2\n--b\n"
      "Content-Disposition: form-data; name=\"c\"\r\n\r\n3\n--b--",
      "b", &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].data, "1\r\n2");
  EXPECT_EQ(parts[1].data, "3");
}

TEST(MultipartTest, RejectsMalformedBodies) {
  EXPECT_EQ(ParseError(""), "multipart body has no opening boundary");
  EXPECT_EQ(ParseError("hello\r\n--cb\r\n"), "multipart body has no opening boundary");
  // A line that only starts like the delimiter opens the body, as in Poco.
  EXPECT_EQ(ParseError("hello\r\n--bb\r\n"), "multipart body has no closing boundary");
  EXPECT_EQ(ParseError("x--b\r\n" + Part("a", "1")), "multipart body has no closing boundary");
  EXPECT_EQ(ParseError(Part("a", "1")), "multipart body has no closing boundary");
  EXPECT_EQ(ParseError(Part("a", "1") + "--b"), "multipart body has no closing boundary");
  EXPECT_EQ(ParseError(Part("a", "1") + "--b-"), "multipart body has no closing boundary");
  EXPECT_EQ(ParseError("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n"),
            "multipart body has no closing boundary");
  EXPECT_EQ(ParseError("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunfinished"),
            "multipart body has no closing boundary");
  EXPECT_EQ(ParseError("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"),
            "multipart part 1 has no Content-Disposition: form-data header");
  EXPECT_EQ(ParseError("--b\r\n\r\nx\r\n--b--"),
            "multipart part 1 has no Content-Disposition: form-data header");
  EXPECT_EQ(ParseError(Part("a", "1") +
                       "--b\r\nContent-Disposition: attachment; name=\"c\"\r\n\r\nx\r\n--b--"),
            "multipart part 2 has no Content-Disposition: form-data header");
  EXPECT_EQ(ParseError(Part("a", "1") +
                       "--b\r\nContent-Disposition: form-data; filename=\"c\"\r\n\r\nx\r\n--b--"),
            "multipart part 2 has no name");
  EXPECT_EQ(ParseError("--b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n--b--"),
            "multipart part 1 has no name");
  EXPECT_EQ(ParseError("--b\r\n: x\r\n\r\nx\r\n--b--"),
            "multipart part 1 has no Content-Disposition: form-data header");
  EXPECT_EQ(ParseError("--b\r\nContent-Disposition: form-data; name=a\rX: 1\r\n\r\nx\r\n--b--"),
            "multipart part 1 has a malformed header: Field value too long/no CRLF found");
  EXPECT_EQ(ParseError("--b\r\n" + std::string(300, 'h') + ": x\r\n\r\nx\r\n--b--"),
            "multipart part 1 has a malformed header: Field name too long/no colon found");
  EXPECT_EQ(ParseError("--b\r\nX: " + std::string(9000, 'v') + "\r\n\r\nx\r\n--b--"),
            "multipart part 1 has a malformed header: Field value too long/no CRLF found");
  std::string many_fields = "--b\r\n";
  for (int i = 0; i < 101; ++i) many_fields += "X: " + std::to_string(i) + "\r\n";
  EXPECT_EQ(ParseError(many_fields + "\r\nx\r\n--b--"),
            "multipart part 1 has a malformed header: Too many header fields");
}

// Poco's header reader skips a line without a colon, ends an unterminated quoted string at the
// end of the value, and takes the first Content-Disposition.
TEST(MultipartTest, LenientHeaders) {
  std::vector<FormPart> parts;
  Status s = ParseMultipart(
      "--b\r\nContent-Disposition: form-data; name=\"a\r\nbogus\r\n"
      "Content-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--",
      "b", &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].name, "a");
  EXPECT_EQ(parts[0].data, "x");
}

TEST(MultipartTest, HeaderBlockLimit) {
  const std::string disposition = "Content-Disposition: form-data; name=\"a\"\r\n";
  const std::string pad_prefix = "X-Pad: ";
  // The header block, without its closing blank line, of exactly `size` bytes.
  auto body_with_headers = [&](size_t size) {
    std::string pad(size - disposition.size() - pad_prefix.size(), 'p');
    return "--b\r\n" + disposition + pad_prefix + pad + "\r\n\r\nx\r\n--b--\r\n";
  };
  std::vector<FormPart> parts;
  Status s = ParseMultipart(body_with_headers(8192), "b", &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(parts.size(), 1u);
  EXPECT_EQ(ParseError(body_with_headers(8193)), "multipart part 1 has headers over 8192 bytes");
  // Lines Poco takes one by one: the limit is on the block.
  std::string lines = "--b\r\n" + disposition;
  for (int i = 0; i < 90; ++i) lines += "X-Pad: " + std::string(100, 'p') + "\r\n";
  EXPECT_EQ(ParseError(lines + "\r\nx\r\n--b--\r\n"),
            "multipart part 1 has headers over 8192 bytes");
  // Every part has its own 8 KiB.
  std::string second = body_with_headers(8192);
  second.erase(second.size() - 7);  // "--b--\r\n"
  ASSERT_TRUE(ParseMultipart(second + body_with_headers(8192), "b", &parts).ok());
  EXPECT_EQ(parts.size(), 2u);
  EXPECT_EQ(ParseError(second + body_with_headers(8193)),
            "multipart part 2 has headers over 8192 bytes");
  // A preamble counts against part 1's headers; Poco reads its lines up to 1 KiB.
  std::string preamble;
  for (int i = 0; i < 75; ++i) preamble += std::string(100, 'x') + "\r\n";
  EXPECT_EQ(ParseError(preamble + body_with_headers(1000)),
            "multipart part 1 has headers over 8192 bytes");
  EXPECT_EQ(ParseError(preamble + preamble + body_with_headers(1000)),
            "multipart body has no opening boundary in its first 8201 bytes");
  EXPECT_EQ(ParseError(std::string(1100, 'x') + "\r\n" + body_with_headers(1000)),
            "multipart body has no opening boundary");
}

TEST(MultipartTest, PartCountLimit) {
  std::string body;
  for (int i = 0; i < 64; ++i) body += Part("p" + std::to_string(i), std::to_string(i));
  std::vector<FormPart> parts;
  Status s = ParseMultipart(body + "--b--\r\n", "b", &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 64u);
  EXPECT_EQ(parts[63].name, "p63");
  EXPECT_EQ(parts[63].data, "63");
  EXPECT_EQ(ParseError(body + Part("p64", "64") + "--b--\r\n"),
            "multipart body has more than 64 parts");
}

TEST(MultipartTest, LargeBinaryPart) {
  std::string dump(32 << 20, '\0');
  uint32_t x = 2463534242u;
  for (char& c : dump) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  const std::string body = CurlBody(dump, "gs://bucket/build");
  std::vector<FormPart> parts;
  Status s = ParseMultipart(body, kCurlBoundary, &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_TRUE(parts[0].data == dump);
  EXPECT_EQ(parts[1].data, "gs://bucket/build");
}

TEST(MultipartTest, TooLargeByContentLengthIsRefusedUnread) {
  FakeBody fake(CurlBody("x", "y"), 1 << 20);
  Request request = MultipartRequest(kCurlBoundary, 2000, &fake);
  std::vector<FormPart> parts;
  Status s = ReadMultipartForm(request, 1000, &parts);
  EXPECT_EQ(s.code(), Status::Code::kTooLarge);
  EXPECT_EQ(s.message(), "request body of 2000 bytes is over the 1000-byte limit");
  EXPECT_EQ(fake.reads, 0u);
}

TEST(MultipartTest, TooLargeWhenTheBodyOutrunsContentLength) {
  const std::string body = CurlBody("x", "y");
  FakeBody fake(body + std::string(1 << 20, 'z'), 4096);
  Request request = MultipartRequest(kCurlBoundary, body.size(), &fake);
  std::vector<FormPart> parts;
  Status s = ReadMultipartForm(request, 1 << 20, &parts);
  EXPECT_EQ(s.code(), Status::Code::kTooLarge);
  EXPECT_EQ(s.message(), "request body is longer than its Content-Length of " +
                             std::to_string(body.size()) + " bytes");
  EXPECT_TRUE(parts.empty());
}

TEST(MultipartTest, BodyShorterThanContentLength) {
  FakeBody fake(std::string(10, 'a'), 3);
  Request request = MultipartRequest("b", 20, &fake);
  std::vector<FormPart> parts;
  Status s = ReadMultipartForm(request, 100, &parts);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "request body ended after 10 of 20 bytes");
}

TEST(MultipartTest, ReadErrorsAndWrongContentType) {
  FailingBody failing;
  Request request = MultipartRequest("b", 20, &failing);
  std::vector<FormPart> parts;
  Status s = ReadMultipartForm(request, 100, &parts);
  EXPECT_EQ(s.message(), "request body ended early");

  FakeBody fake(Part("a", "1") + "--b--", 1 << 20);
  request = MultipartRequest("b", 20, &fake);
  request.content_type = "application/json";
  s = ReadMultipartForm(request, 100, &parts);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "Content-Type application/json is not multipart/form-data");
  EXPECT_EQ(fake.reads, 0u);
}

TEST(MultipartTest, EmptyBodyIsNotAForm) {
  FakeBody fake("", 1);
  Request request = MultipartRequest("b", 0, &fake);
  std::vector<FormPart> parts;
  Status s = ReadMultipartForm(request, 100, &parts);
  EXPECT_EQ(s.message(), "multipart body has no opening boundary");
}

// Found by tests/fuzz/multipart_fuzzer (corpus/multipart/regress_parts_left_on_error): a body
// refused at its second part still returned the first.
TEST(MultipartTest, RefusedBodyLeavesNoParts) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\n1\r\n"
      "--XyZ\r\nContent-Disposition: attachment\r\n\r\n2\r\n--XyZ--\r\n";
  std::vector<FormPart> parts;
  Status s = ParseMultipart(body, "XyZ", &parts);
  EXPECT_EQ(s.message(), "multipart part 2 has no Content-Disposition: form-data header");
  EXPECT_TRUE(parts.empty());
}

TEST(MultipartTest, ContentTypeReasonIsOneLine) {
  std::string boundary;
  Status s = MultipartBoundary("text/plain\r\nX-Injected: 1", &boundary);
  EXPECT_EQ(s.message(),
            "Content-Type text/plain\\x0d\\x0aX-Injected: 1 is not multipart/form-data");
}

// The read moves the body into its largest part instead of copying it; wherever that part
// sits, every part must come back intact.
TEST(MultipartTest, ReadFormKeepsEveryPartWhereverTheLargestIs) {
  const std::string big = BinaryPayload("b") + std::string(5000, 'm');
  for (int at = 0; at < 3; ++at) {
    std::vector<std::string> data = {"first", "2nd", "third"};
    data[static_cast<size_t>(at)] = big;
    const std::string body = Part("a", data[0]) + Part("b", data[1]) + Part("c", data[2]) + "--b--";
    FakeBody fake(body, 1000);
    Request request = MultipartRequest("b", body.size(), &fake);
    std::vector<FormPart> parts;
    Status s = ReadMultipartForm(request, 1 << 20, &parts);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(parts.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(parts[i].data, data[i]) << at << " " << i;
    EXPECT_EQ(parts[2].name, "c");
  }
}

// Found by tests/fuzz/multipart_fuzzer (corpus/multipart/regress_rfc2047_*): Poco's header
// reader decodes RFC 2047 encoded words in every header value, after it skipped the value's
// leading spaces, and drops a "=?" that starts none; such a value written out again reads
// differently.
TEST(MultipartTest, HeaderValuesAreRfc2047Decoded) {
  std::vector<FormPart> parts;
  Status s = ParseMultipart(
      "--b\r\nContent-Disposition: form-data; name=\"=?utf-8?B?bWluaWR1bXA=?=\"\r\n\r\n1\r\n"
      "--b\r\nContent-Disposition: form-data; name=\"a=?b\"\r\nContent-Type:=? text/plain\r\n"
      "\r\n2\r\n--b--",
      "b", &parts);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "minidump");
  EXPECT_EQ(parts[1].name, "ab");
  EXPECT_EQ(parts[1].content_type, " text/plain");
}

// Room for the rest of the body is reserved before a part is read, so a dump never grows by
// copying (which would hold it twice for a moment) and a small part is trimmed after.
TEST(MultipartTest, ReadFormHoldsEachPartInABufferOfItsSize) {
  const std::string dump = BinaryPayload(kCurlBoundary) + std::string(4 << 20, 'm');
  const std::string url = "gs://bucket/build";
  for (bool dump_first : {true, false}) {
    const std::string body = dump_first
                                 ? CurlBody(dump, url)
                                 : Part("archive_url", url) + Part("minidump", dump) + "--b--\r\n";
    FakeBody fake(body, 4096);
    Request request = MultipartRequest(dump_first ? kCurlBoundary : "b", body.size(), &fake);
    std::vector<FormPart> parts;
    Status s = ReadMultipartForm(request, 8 << 20, &parts);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(parts.size(), 2u);
    const FormPart& d = parts[dump_first ? 0 : 1];
    const FormPart& u = parts[dump_first ? 1 : 0];
    EXPECT_TRUE(d.data == dump);
    EXPECT_EQ(u.data, url);
    EXPECT_LT(d.data.capacity(), dump.size() + 1024) << dump_first;
    EXPECT_LT(u.data.capacity(), size_t{64} << 10) << dump_first;
  }
}

// The body is read as it is parsed: a malformed form is refused where it goes wrong, and no
// read asks for more than Content-Length and the one byte that shows a body running on.
TEST(MultipartTest, ReadFormStopsAtTheFirstError) {
  const std::string body =
      "--b\r\nContent-Type: text/plain\r\n\r\n" + std::string(1 << 20, 'x') + "\r\n--b--\r\n";
  FakeBody fake(body, 4096);
  Request request = MultipartRequest("b", body.size(), &fake);
  std::vector<FormPart> parts;
  Status s = ReadMultipartForm(request, 2 << 20, &parts);
  EXPECT_EQ(s.message(), "multipart part 1 has no Content-Disposition: form-data header");
  EXPECT_LE(fake.delivered(), 4096u);

  const std::string form = CurlBody("dump", "url");
  FakeBody exact(form + "more", 1 << 20);
  request = MultipartRequest(kCurlBoundary, form.size(), &exact);
  s = ReadMultipartForm(request, 1 << 20, &parts);
  EXPECT_EQ(s.code(), Status::Code::kTooLarge);
  EXPECT_EQ(exact.delivered(), form.size() + 1);
}

// A body cut before its closing delimiter is refused: Poco's reader would end the last part at
// the end of input (with a stray 0xff byte from its end-of-input value) and go on to a phantom
// part.
TEST(MultipartTest, CutBodiesAreRefused) {
  for (const std::string cut : {"\r\n", "\r\n-", "\r\n--b", "\r\n--b-", "\r\n--b\r\n"}) {
    const std::string body = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1" + cut;
    EXPECT_EQ(ParseError(body), "multipart body has no closing boundary") << cut;
    FakeBody fake(body, 3);
    Request request = MultipartRequest("b", body.size(), &fake);
    std::vector<FormPart> parts;
    EXPECT_EQ(ReadMultipartForm(request, 1000, &parts).message(),
              "multipart body has no closing boundary");
  }
}

}  // namespace
}  // namespace devserver
