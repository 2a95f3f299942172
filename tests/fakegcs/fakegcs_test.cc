// End-to-end tests of the fakegcs binary, driven through fakegcs_client like the devserver
// integration tests will drive it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <Poco/Environment.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/MD5Engine.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/TemporaryFile.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fcgi/storage/crc32c.h"
#include "tests/fakegcs/fakegcs_process.h"

namespace devserver::fakegcs {
namespace {

using Clock = std::chrono::steady_clock;

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // Lower-case names.
  std::string body;
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Base64(const std::vector<unsigned char>& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = bytes[i] << 16;
    if (i + 1 < bytes.size()) v |= bytes[i + 1] << 8;
    if (i + 2 < bytes.size()) v |= bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string Md5Base64(const std::string& data) {
  Poco::MD5Engine md5;
  md5.update(data);
  return Base64(md5.digest());
}

// "2024-05-01T12:00:00.123Z". (std::regex trips a GCC 12 warning in sanitizer builds.)
bool IsRfc3339Millis(const std::string& s) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != shape.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != shape[i]) {
      return false;
    }
  }
  return true;
}

Poco::JSON::Object::Ptr ParseObject(const std::string& body) {
  return Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
}

std::vector<std::string> Strings(const Poco::JSON::Object::Ptr& o, const std::string& key,
                                 const std::string& field = "") {
  std::vector<std::string> out;
  const auto array = o->getArray(key);
  if (!array) return out;
  for (size_t i = 0; i < array->size(); ++i) {
    out.push_back(field.empty()
                      ? array->getElement<std::string>(static_cast<unsigned>(i))
                      : array->getObject(static_cast<unsigned>(i))->getValue<std::string>(field));
  }
  return out;
}

class FakeGcsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeGcsProcess::Options options;
    options.binary = FAKEGCS_BIN;
    gcs_ = std::make_unique<FakeGcsProcess>(options);
  }

  void TearDown() override { gcs_.reset(); }

  Response Request(const std::string& method, const std::string& uri,
                   const std::map<std::string, std::string>& headers = {}) {
    Poco::Net::HTTPClientSession session("127.0.0.1", gcs_->port());
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest request(method, uri, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : headers) request.set(k, v);
    session.sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    Response r;
    r.status = response.getStatus();
    for (const auto& [k, v] : response) r.headers[Lower(k)] = v;
    Poco::StreamCopier::copyToString(in, r.body);
    return r;
  }

  Response Get(const std::string& uri, const std::map<std::string, std::string>& headers = {}) {
    return Request("GET", uri, headers);
  }

  // A bare socket client, for faults that break HTTP framing: returns whatever arrived before
  // the connection closed or went quiet for `receive_timeout`.
  struct RawResult {
    std::string head;
    std::string body;
    bool timed_out = false;
  };
  RawResult RawGet(const std::string& uri, const Poco::Timespan& receive_timeout) {
    Poco::Net::StreamSocket socket;
    socket.connect(Poco::Net::SocketAddress("127.0.0.1", gcs_->port()));
    socket.setReceiveTimeout(receive_timeout);
    const std::string request = "GET " + uri + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    socket.sendBytes(request.data(), static_cast<int>(request.size()));
    std::string all;
    RawResult result;
    char buf[65536];
    try {
      for (;;) {
        const int n = socket.receiveBytes(buf, sizeof buf);
        if (n <= 0) break;
        all.append(buf, static_cast<size_t>(n));
      }
    } catch (const Poco::TimeoutException&) {
      result.timed_out = true;
    }
    const size_t end = all.find("\r\n\r\n");
    if (end == std::string::npos) {
      result.head = all;
    } else {
      result.head = all.substr(0, end);
      result.body = all.substr(end + 4);
    }
    return result;
  }

  std::unique_ptr<FakeGcsProcess> gcs_;
};

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST_F(FakeGcsTest, ListsWithPrefixDelimiterAndPaging) {
  for (const char* name : {"a/1", "a/2", "a/b/3", "b", "c/4", "d"}) {
    gcs_->PutObject("bkt", name, name);
  }

  auto all = ParseObject(Get("/storage/v1/b/bkt/o").body);
  EXPECT_EQ(all->getValue<std::string>("kind"), "storage#objects");
  EXPECT_EQ(Strings(all, "items", "name"),
            (std::vector<std::string>{"a/1", "a/2", "a/b/3", "b", "c/4", "d"}));
  EXPECT_TRUE(Strings(all, "prefixes").empty());
  EXPECT_FALSE(all->has("nextPageToken"));

  auto top = ParseObject(Get("/storage/v1/b/bkt/o?delimiter=%2F").body);
  EXPECT_EQ(Strings(top, "items", "name"), (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ(Strings(top, "prefixes"), (std::vector<std::string>{"a/", "c/"}));

  auto under_a = ParseObject(Get("/storage/v1/b/bkt/o?prefix=a%2F&delimiter=%2F").body);
  EXPECT_EQ(Strings(under_a, "items", "name"), (std::vector<std::string>{"a/1", "a/2"}));
  EXPECT_EQ(Strings(under_a, "prefixes"), (std::vector<std::string>{"a/b/"}));

  // Items and prefixes share the page size and one ordering: a/, b | c/, d.
  auto page1 = ParseObject(Get("/storage/v1/b/bkt/o?delimiter=%2F&maxResults=2").body);
  EXPECT_EQ(Strings(page1, "prefixes"), (std::vector<std::string>{"a/"}));
  EXPECT_EQ(Strings(page1, "items", "name"), (std::vector<std::string>{"b"}));
  const std::string token = page1->getValue<std::string>("nextPageToken");
  ASSERT_FALSE(token.empty());
  auto page2 =
      ParseObject(Get("/storage/v1/b/bkt/o?delimiter=%2F&maxResults=2&pageToken=" + token).body);
  EXPECT_EQ(Strings(page2, "prefixes"), (std::vector<std::string>{"c/"}));
  EXPECT_EQ(Strings(page2, "items", "name"), (std::vector<std::string>{"d"}));
  EXPECT_FALSE(page2->has("nextPageToken"));

  EXPECT_EQ(Get("/storage/v1/b/bkt/o?pageToken=bogus!").status, 400);

  const Response missing = Get("/storage/v1/b/nope/o");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(ParseObject(missing.body)->getObject("error")->getValue<int>("code"), 404);
  EXPECT_EQ(gcs_->Counters().list, 7u);
}

TEST_F(FakeGcsTest, PagesThroughThousandsWithDefaultPageSize) {
  for (int i = 0; i < 2500; ++i) {
    std::string digits = std::to_string(i);
    digits.insert(0, 5 - digits.size(), '0');
    gcs_->PutObject("bkt", "many/" + digits, "");
  }
  std::vector<std::string> names;
  std::vector<size_t> page_sizes;
  std::string token;
  do {
    auto page = ParseObject(
        Get("/storage/v1/b/bkt/o?prefix=many%2F" + (token.empty() ? "" : "&pageToken=" + token))
            .body);
    const auto items = Strings(page, "items", "name");
    page_sizes.push_back(items.size());
    names.insert(names.end(), items.begin(), items.end());
    token = page->has("nextPageToken") ? page->getValue<std::string>("nextPageToken") : "";
  } while (!token.empty());
  EXPECT_EQ(page_sizes, (std::vector<size_t>{1000, 1000, 500}));
  ASSERT_EQ(names.size(), 2500u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.front(), "many/00000");
  EXPECT_EQ(names.back(), "many/02499");
}

TEST_F(FakeGcsTest, ObjectMetadataMatchesIndependentChecksums) {
  const int64_t generation = gcs_->PutObject("bkt", "dir/hello.txt", "hello world");
  const Response r = Get("/storage/v1/b/bkt/o/dir%2Fhello.txt");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto o = ParseObject(r.body);
  EXPECT_EQ(o->getValue<std::string>("kind"), "storage#object");
  EXPECT_EQ(o->getValue<std::string>("name"), "dir/hello.txt");
  EXPECT_EQ(o->getValue<std::string>("bucket"), "bkt");
  EXPECT_EQ(o->getValue<std::string>("size"), "11");
  // Published values for "hello world": MD5 5eb63bbb..., CRC32C 0xc99465aa.
  EXPECT_EQ(o->getValue<std::string>("md5Hash"), "XrY7u+Ae7tCTyyK7j1rNww==");
  EXPECT_EQ(o->getValue<std::string>("crc32c"), "yZRlqg==");
  EXPECT_EQ(o->getValue<std::string>("generation"), std::to_string(generation));
  EXPECT_EQ(o->getValue<std::string>("metageneration"), "1");
  EXPECT_EQ(o->getValue<std::string>("contentType"), "application/octet-stream");
  EXPECT_EQ(o->getValue<std::string>("id"), "bkt/dir/hello.txt/" + std::to_string(generation));
  EXPECT_TRUE(IsRfc3339Millis(o->getValue<std::string>("updated")));
  EXPECT_TRUE(IsRfc3339Millis(o->getValue<std::string>("timeCreated")));
  EXPECT_EQ(o->getValue<std::string>("selfLink"),
            gcs_->endpoint() + "/storage/v1/b/bkt/o/dir%2Fhello.txt");
  EXPECT_EQ(o->getValue<std::string>("mediaLink"),
            gcs_->endpoint() + "/download/storage/v1/b/bkt/o/dir%2Fhello.txt?generation=" +
                std::to_string(generation) + "&alt=media");

  const std::string big = RandomBytes(3 * 1024 * 1024 + 7, 42);
  gcs_->PutObject("bkt", "big.bin", big);
  const auto b = ParseObject(Get("/storage/v1/b/bkt/o/big.bin").body);
  EXPECT_EQ(b->getValue<std::string>("size"), std::to_string(big.size()));
  EXPECT_EQ(b->getValue<std::string>("md5Hash"), Md5Base64(big));
  EXPECT_EQ(b->getValue<std::string>("crc32c"),
            storage::Crc32cBase64(storage::Crc32c(big.data(), big.size())));

  EXPECT_EQ(Get("/storage/v1/b/bkt/o/nope").status, 404);
  EXPECT_EQ(Get("/storage/v1/b/bkt").status, 200);
  EXPECT_EQ(Get("/storage/v1/b/nope").status, 404);
}

TEST_F(FakeGcsTest, ServesMediaOnBothRoutesWithGcsHeaders) {
  const std::string data = RandomBytes(1024 * 1024 + 3, 7);
  const int64_t generation = gcs_->PutObject("bkt", "a/b/c.bin", data);
  for (const char* uri : {"/storage/v1/b/bkt/o/a%2Fb%2Fc.bin?alt=media",
                          "/download/storage/v1/b/bkt/o/a%2Fb%2Fc.bin?alt=media"}) {
    const Response r = Get(uri);
    ASSERT_EQ(r.status, 200) << uri;
    EXPECT_TRUE(r.body == data) << uri;
    EXPECT_EQ(r.headers.at("content-length"), std::to_string(data.size()));
    EXPECT_EQ(r.headers.at("x-goog-generation"), std::to_string(generation));
    EXPECT_EQ(r.headers.at("x-goog-stored-content-length"), std::to_string(data.size()));
    EXPECT_EQ(r.headers.at("x-goog-hash"),
              "crc32c=" + storage::Crc32cBase64(storage::Crc32c(data.data(), data.size())) +
                  ",md5=" + Md5Base64(data));
  }
  const Response head = Request("HEAD", "/storage/v1/b/bkt/o/a%2Fb%2Fc.bin?alt=media");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.at("content-length"), std::to_string(data.size()));
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/missing?alt=media").status, 404);
}

TEST_F(FakeGcsTest, RangeRequests) {
  const std::string data = RandomBytes(1000, 3);
  gcs_->PutObject("bkt", "r", data);
  const std::string uri = "/storage/v1/b/bkt/o/r?alt=media";

  Response r = Get(uri, {{"Range", "bytes=10-19"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.headers["content-range"], "bytes 10-19/1000");
  EXPECT_EQ(r.body, data.substr(10, 10));

  r = Get(uri, {{"Range", "bytes=995-"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.headers["content-range"], "bytes 995-999/1000");
  EXPECT_EQ(r.body, data.substr(995));

  r = Get(uri, {{"Range", "bytes=990-5000"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, data.substr(990));

  r = Get(uri, {{"Range", "bytes=1000-"}});
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.headers["content-range"], "bytes */1000");
}

TEST_F(FakeGcsTest, GenerationMustMatch) {
  const int64_t generation = gcs_->PutObject("bkt", "g", "v1");
  const std::string uri = "/storage/v1/b/bkt/o/g?alt=media&generation=";
  EXPECT_EQ(Get(uri + std::to_string(generation)).body, "v1");
  EXPECT_EQ(Get(uri + std::to_string(generation + 1)).status, 404);
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/g?generation=" + std::to_string(generation + 1)).status, 404);

  // A replaced object gets a new generation even within the same file-system clock tick.
  const int64_t next = gcs_->PutObject("bkt", "g", "v2");
  EXPECT_GT(next, generation);
  EXPECT_EQ(Get(uri + std::to_string(generation)).status, 404);
  EXPECT_EQ(Get(uri + std::to_string(next)).body, "v2");
}

TEST_F(FakeGcsTest, CountersCountExactly) {
  gcs_->PutObject("bkt", "x/y", "12345");
  gcs_->PutObject("bkt", "z", "abc");
  Get("/storage/v1/b/bkt/o/x%2Fy");
  Get("/storage/v1/b/bkt/o/x%2Fy");
  Get("/storage/v1/b/bkt/o/x%2Fy?alt=media");
  Get("/download/storage/v1/b/bkt/o/z?alt=media");
  Get("/download/storage/v1/b/bkt/o/z?alt=media", {{"Range", "bytes=1-"}});
  Get("/storage/v1/b/bkt/o?prefix=x");

  CounterSnapshot c = gcs_->Counters();
  EXPECT_EQ(c.list, 1u);
  EXPECT_EQ(c.media_bytes, 5u + 3u + 2u);
  EXPECT_EQ(c.Of("bkt/x/y").metadata, 2u);
  EXPECT_EQ(c.Of("bkt/x/y").media, 1u);
  EXPECT_EQ(c.Of("bkt/z").metadata, 0u);
  EXPECT_EQ(c.Of("bkt/z").media, 2u);
  EXPECT_EQ(c.Of("bkt/x/y").media_bytes, 5u);
  EXPECT_EQ(c.Of("bkt/z").media_bytes, 3u + 2u);  // the whole object, then a range of it
  EXPECT_EQ(c.objects.size(), 2u);

  gcs_->Reset();
  c = gcs_->Counters();
  EXPECT_EQ(c.list, 0u);
  EXPECT_EQ(c.media_bytes, 0u);
  EXPECT_TRUE(c.objects.empty());
}

TEST_F(FakeGcsTest, StatusFaultAnswersExactlyCountRequests) {
  gcs_->PutObject("bkt", "f", "payload");
  gcs_->AddFault("bkt/f", Fault().Status(503).Count(2));
  const std::string uri = "/storage/v1/b/bkt/o/f?alt=media";
  const Response first = Get(uri);
  EXPECT_EQ(first.status, 503);
  EXPECT_EQ(ParseObject(first.body)->getObject("error")->getValue<int>("code"), 503);
  EXPECT_EQ(Get(uri).status, 503);
  const Response third = Get(uri);
  EXPECT_EQ(third.status, 200);
  EXPECT_EQ(third.body, "payload");
  // Media-only by default: metadata was never affected.
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/f").status, 200);
  EXPECT_EQ(gcs_->Counters().Of("bkt/f").media, 3u);
}

TEST_F(FakeGcsTest, StatusFaultWithScopeAllHitsMetadataAndList) {
  gcs_->PutObject("bkt", "d/f", "payload");
  gcs_->AddFault("bkt/d/f", Fault().Status(429).Count(3).AllScopes());
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/d%2Ff").status, 429);
  EXPECT_EQ(Get("/storage/v1/b/bkt/o?prefix=d%2F").status, 429);
  EXPECT_EQ(Get("/storage/v1/b/bkt/o?prefix=other").status, 200);  // Does not cover d/f.
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/d%2Ff?alt=media").status, 429);
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/d%2Ff").status, 200);
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/d%2Ff?alt=media").status, 200);
}

TEST_F(FakeGcsTest, TruncateClosesShortOfContentLength) {
  const std::string data = RandomBytes(10000, 5);
  gcs_->PutObject("bkt", "t", data);
  gcs_->AddFault("bkt/t", Fault().TruncateAt(1000));
  const RawResult r = RawGet("/storage/v1/b/bkt/o/t?alt=media", Poco::Timespan(5, 0));
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.head.find("Content-Length: 10000"), std::string::npos) << r.head;
  EXPECT_EQ(r.body, data.substr(0, 1000));
  EXPECT_EQ(gcs_->Counters().media_bytes, 1000u);
}

TEST_F(FakeGcsTest, CorruptFlipsExactlyOneByte) {
  const std::string data = RandomBytes(300000, 9);
  gcs_->PutObject("bkt", "c", data);
  gcs_->AddFault("bkt/c", Fault().CorruptAt(123456).Count(1));
  const Response bad = Get("/storage/v1/b/bkt/o/c?alt=media");
  ASSERT_EQ(bad.body.size(), data.size());
  std::vector<size_t> diffs;
  for (size_t i = 0; i < data.size(); ++i) {
    if (bad.body[i] != data[i]) diffs.push_back(i);
  }
  EXPECT_EQ(diffs, std::vector<size_t>{123456});
  // The offset is in object coordinates, so a range starting past it is clean...
  gcs_->AddFault("bkt/c", Fault().CorruptAt(100).Count(2));
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/c?alt=media", {{"Range", "bytes=101-"}}).body,
            data.substr(101));
  // ...and one covering it is corrupted at the matching position.
  const Response ranged = Get("/storage/v1/b/bkt/o/c?alt=media", {{"Range", "bytes=90-109"}});
  EXPECT_EQ(ranged.body.substr(0, 10), data.substr(90, 10));
  EXPECT_NE(ranged.body[10], data[100]);
  EXPECT_EQ(ranged.body.substr(11), data.substr(101, 9));
  EXPECT_TRUE(Get("/storage/v1/b/bkt/o/c?alt=media").body == data);
}

TEST_F(FakeGcsTest, StallSendsPrefixThenGoesSilent) {
  const std::string data = RandomBytes(50000, 11);
  gcs_->PutObject("bkt", "s", data);
  gcs_->AddFault("bkt/s", Fault().StallAt(5000));
  const auto start = Clock::now();
  const RawResult r = RawGet("/storage/v1/b/bkt/o/s?alt=media", Poco::Timespan(1, 0));
  EXPECT_TRUE(r.timed_out);
  EXPECT_GE(SecondsSince(start), 0.95);
  EXPECT_EQ(r.body, data.substr(0, 5000));
}

TEST_F(FakeGcsTest, PaceThrottlesAndCombinesWithStall) {
  const std::string data = RandomBytes(200000, 13);
  gcs_->PutObject("bkt", "p", data);
  gcs_->AddFault("bkt/p", Fault().PaceBps(400000).Count(1));
  auto start = Clock::now();
  const Response paced = Get("/storage/v1/b/bkt/o/p?alt=media");
  const double paced_seconds = SecondsSince(start);
  EXPECT_TRUE(paced.body == data);
  EXPECT_GE(paced_seconds, 0.45);
  EXPECT_LT(paced_seconds, 3.0);

  // Two independent faults on one object act together: paced up to the stall point.
  gcs_->AddFault("bkt/p", Fault().StallAt(100000).Count(1));
  gcs_->AddFault("bkt/p", Fault().PaceBps(400000).Count(1));
  start = Clock::now();
  const RawResult r = RawGet("/storage/v1/b/bkt/o/p?alt=media", Poco::Timespan(0, 300'000));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.body, data.substr(0, 100000));
  EXPECT_GE(SecondsSince(start), 0.25 + 0.28);
}

TEST_F(FakeGcsTest, DelayHoldsTheFirstByte) {
  gcs_->PutObject("bkt", "slow", "x");
  gcs_->AddFault("bkt/slow", Fault().DelayMs(300).Count(1));
  auto start = Clock::now();
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/slow?alt=media").body, "x");
  EXPECT_GE(SecondsSince(start), 0.3);
  start = Clock::now();
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/slow?alt=media").body, "x");
  EXPECT_LT(SecondsSince(start), 0.3);
}

TEST_F(FakeGcsTest, ServesManyConcurrentConnections) {
  gcs_->PutObject("bkt", "stuck", RandomBytes(10000, 17));
  gcs_->PutObject("bkt", "free", "ok");
  gcs_->AddFault("bkt/stuck", Fault().StallAt(10));
  // 130 connections parked in a stall must not starve a new client.
  constexpr int kStuck = 130;
  std::vector<Poco::Net::StreamSocket> sockets(kStuck);
  const std::string request = "GET /storage/v1/b/bkt/o/stuck?alt=media HTTP/1.1\r\nHost: x\r\n\r\n";
  for (auto& s : sockets) {
    s.connect(Poco::Net::SocketAddress("127.0.0.1", gcs_->port()));
    s.sendBytes(request.data(), static_cast<int>(request.size()));
  }
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (gcs_->Counters().Of("bkt/stuck").media < kStuck && Clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(gcs_->Counters().Of("bkt/stuck").media, static_cast<uint64_t>(kStuck));
  EXPECT_EQ(Get("/storage/v1/b/bkt/o/free?alt=media").body, "ok");
  for (auto& s : sockets) s.close();
}

// --- Google's own client -------------------------------------------------------------------

std::string FindOnPath(const std::string& program) {
  std::stringstream dirs(Poco::Environment::get("PATH", ""));
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = dir;
    candidate.append("/").append(program);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together.
};

// Runs gcloud against the fake with no credentials and a throwaway config, so nothing is read
// from or sent beyond loopback.
CommandResult RunGcloud(const std::string& gcloud, const FakeGcsProcess& gcs,
                        const std::string& config_dir, const std::string& args) {
  const std::string command =
      "env CLOUDSDK_CONFIG=" + config_dir +
      " CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=" + gcs.endpoint() + "/storage/v1/" +
      " CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true CLOUDSDK_CORE_PROJECT=fakegcs-test"
      " CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true CLOUDSDK_CORE_DISABLE_PROMPTS=true"
      " CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true " +
      gcloud + " " + args + " 2>&1";
  CommandResult run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) run.output.append(buf, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_F(FakeGcsTest, GcloudListsAndDownloadsThroughTheFake) {
  const std::string gcloud = FindOnPath("gcloud");
  if (gcloud.empty()) GTEST_SKIP() << "gcloud (google-cloud-cli) is not installed";

  const std::string data = RandomBytes(300000, 21);
  gcs_->PutObject("interop", "dir/a.bin", data);
  gcs_->PutObject("interop", "top.txt", "top");
  Poco::TemporaryFile scratch;
  scratch.createDirectories();
  const std::string config = scratch.path() + "/config";

  const CommandResult ls = RunGcloud(gcloud, *gcs_, config, "storage ls gs://interop/");
  ASSERT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_NE(ls.output.find("gs://interop/dir/\n"), std::string::npos) << ls.output;
  EXPECT_NE(ls.output.find("gs://interop/top.txt\n"), std::string::npos) << ls.output;

  const std::string dest = scratch.path() + "/a.bin";
  const CommandResult cp =
      RunGcloud(gcloud, *gcs_, config, "storage cp gs://interop/dir/a.bin " + dest);
  ASSERT_EQ(cp.exit_code, 0) << cp.output;
  EXPECT_TRUE(ReadFile(dest) == data);
  EXPECT_EQ(gcs_->Counters().Of("interop/dir/a.bin").media, 1u);

  // gcloud validates the download against our md5Hash/crc32c, so a flipped byte must fail it.
  gcs_->AddFault("interop/dir/a.bin", Fault().CorruptAt(1000).Count(1));
  const std::string bad_dest = scratch.path() + "/bad.bin";
  const CommandResult bad =
      RunGcloud(gcloud, *gcs_, config, "storage cp gs://interop/dir/a.bin " + bad_dest);
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  EXPECT_NE(bad.output.find("does not match"), std::string::npos) << bad.output;
  EXPECT_NE(::access(bad_dest.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace devserver::fakegcs
