// Hostile HTTP input against the real service (nginx in front of the pool): malformed and
// over-long queries, control bytes, huge bodies, slow clients. Every refusal must be a 4xx
// with one line of text, and none may cost the pool its memory or its threads.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_client.h"
#include "tests/integration/service_fixture.h"

namespace devserver::testing {
namespace {

const std::string kArchiveUrl =
    "gs://chromeos-image-archive/x86-alex-release/R19-2003.0.0-a1-b1819";

// A refusal as clients expect it: one line of plain text.
void ExpectOneLineText(const HttpResult& r) {
  EXPECT_EQ(r.headers.count("Content-Type"), 1u);
  EXPECT_EQ(r.headers.at("Content-Type").rfind("text/plain", 0), 0u) << r.body;
  EXPECT_FALSE(r.body.empty());
  EXPECT_EQ(r.body.find_first_of("\r\n"), std::string::npos) << r.body;
}

// Peak resident memory (VmHWM) of a process in KiB; -1 when it cannot be read.
long PeakRssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmHWM:") {
      long kib = -1;
      in >> kib;
      return kib;
    }
    in.ignore(4096, '\n');
  }
  return -1;
}

class HostileHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status s = service_.Start(ServiceProcess::Options{});
    ASSERT_TRUE(s.ok()) << s.message();
  }
  int port() const { return service_.port(); }
  HttpResult Get(const std::string& target) { return HttpGet(port(), target); }
  HttpResult Raw(const std::string& request) { return RawHttpCall(port(), request); }

  ServiceProcess service_;
};

TEST_F(HostileHttpTest, OverLongQueryStringIsRefusedWithOneLineReason) {
  // Past the pool's limit but inside nginx's header buffer: the pool's 400.
  HttpResult r = Get("/download?archive_url=" + std::string(9000, 'a'));
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_EQ(r.body, "query string longer than 8192 bytes");
  ExpectOneLineText(r);
  // Past nginx's buffer (large_client_header_buffers 16k): nginx's 414, as one line too.
  r = Get("/download?archive_url=" + std::string(20000, 'a'));
  EXPECT_EQ(r.status, 414) << r.error;
  EXPECT_EQ(r.body, "request line longer than 16 KiB");
  ExpectOneLineText(r);
  // And a header over it.
  r = Raw("GET /check_health HTTP/1.0\r\nX-Big: " + std::string(20000, 'h') + "\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_EQ(r.body, "request headers longer than 16 KiB");
  ExpectOneLineText(r);
}

TEST_F(HostileHttpTest, RepeatedParameterIsRefusedNamingIt) {
  // Which of two archive_urls counts would be a guess: the rule is that none does.
  HttpResult r = Get("/download?archive_url=" + kArchiveUrl + "&archive_url=gs://other/a/b");
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_EQ(r.body, "parameter 'archive_url' given more than once");
  ExpectOneLineText(r);
  // Spelled differently, decoded the same: still twice.
  r = Get("/is_staged?archive_url=" + kArchiveUrl + "&archive%5Furl=" + kArchiveUrl);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "parameter 'archive_url' given more than once");
}

TEST_F(HostileHttpTest, ControlBytesInValuesAreRefused) {
  for (const char* escaped : {"%00", "%0a", "%0D", "%7f", "%1b"}) {
    HttpResult r = Get("/download?archive_url=" + kArchiveUrl + escaped);
    EXPECT_EQ(r.status, 400) << escaped << " " << r.error;
    EXPECT_EQ(r.body, "parameter 'archive_url' contains a control character") << escaped;
    ExpectOneLineText(r);
  }
  // Raw control bytes never get past nginx's request-line parser; its refusal is one line.
  for (const std::string& raw :
       {std::string("\x01", 1), std::string("\0", 1), std::string("\x7f"), std::string("\t")}) {
    HttpResult r = Raw("GET /download?archive_url=" + kArchiveUrl + raw + " HTTP/1.0\r\n\r\n");
    EXPECT_EQ(r.status, 400) << r.error;
    EXPECT_EQ(r.body, "malformed request: nginx refused the request line or a header");
    ExpectOneLineText(r);
  }
  // Raw non-ASCII bytes do reach the pool; its reason quotes them escaped, not as sent.
  HttpResult r = Raw("GET /download?n\xff%zz=1 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.error;
  EXPECT_EQ(r.body, "parameter 'n\\xff%zz': invalid percent-escape '%zz'");
  // A decoded control byte in a parameter name is quoted the same way.
  r = Get("/download?a%0Ab=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "parameter 'a%0Ab' contains a control character");
}

TEST_F(HostileHttpTest, InvalidPercentEscapesAreRefused) {
  const struct {
    std::string query;
    std::string reason;
  } cases[] = {
      {"archive_url=%zz", "parameter 'archive_url': invalid percent-escape '%zz'"},
      {"archive_url=gs%3A%2F%2Fb%", "parameter 'archive_url': invalid percent-escape '%'"},
      {"archive_url=a%4", "parameter 'archive_url': invalid percent-escape '%4'"},
      {"archive_url=a%4g", "parameter 'archive_url': invalid percent-escape '%4g'"},
      {"arch%ive_url=x", "parameter 'arch%ive_url': invalid percent-escape '%iv'"},
  };
  for (const auto& c : cases) {
    HttpResult r = Get("/download?" + c.query);
    EXPECT_EQ(r.status, 400) << c.query << " " << r.error;
    EXPECT_EQ(r.body, c.reason);
    ExpectOneLineText(r);
  }
}

TEST_F(HostileHttpTest, HugeDumpsAre413AndWorkerMemoryStaysBounded) {
  const std::string form_type = "multipart/form-data; boundary=b";
  // Over [symbolicate] max_dump_mib (32) but under nginx's 64 MiB: the pool refuses it by its
  // Content-Length, unread.
  const std::string body(40 << 20, 'd');
  HttpResult r =
      HttpCall(port(), "POST", "/symbolicate_dump", {{"Content-Type", form_type}}, body, 60000);
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(r.body, "request body of 41943040 bytes is over the 33554432-byte limit");
  ExpectOneLineText(r);
  // Chunked, so no length is announced: nginx counts it and the pool refuses it the same way.
  r = Raw("POST /symbolicate_dump HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: " +
          form_type + "\r\nTransfer-Encoding: chunked\r\n\r\n" + "2800000\r\n" + body +
          "\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(r.body, "request body of 41943040 bytes is over the 33554432-byte limit");
  // Over nginx's limit: refused on the announcement, before a byte of the body is sent.
  r = Raw("POST /symbolicate_dump HTTP/1.0\r\nContent-Type: " + form_type +
          "\r\nContent-Length: 1073741824\r\n\r\n");
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(r.body, "request body larger than nginx's client_max_body_size of 64 MiB");
  ExpectOneLineText(r);

  // None of that reached a worker's memory: its peak is what an idle worker uses.
  std::vector<pid_t> workers = service_.WorkerPids();
  ASSERT_FALSE(workers.empty());
  for (pid_t pid : workers) {
    long kib = PeakRssKib(pid);
    ASSERT_GT(kib, 0) << pid;
    EXPECT_LT(kib, 64 << 10) << "worker " << pid << " peaked at " << kib << " KiB";
  }
}

TEST_F(HostileHttpTest, DumpWithinTheLimitIsHeldInMemoryOnce) {
  std::map<pid_t, long> before;
  for (pid_t pid : service_.WorkerPids()) before[pid] = PeakRssKib(pid);
  // 30 MiB, under max_dump_mib: read whole, handed to minidump_stackwalk (which refuses junk).
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"minidump\"; filename=\"big.dmp\"\r\n\r\n" +
      std::string(30 << 20, 'd') + "\r\n--b--\r\n";
  HttpResult r = HttpCall(port(), "POST", "/symbolicate_dump",
                          {{"Content-Type", "multipart/form-data; boundary=b"}}, body, 60000);
  EXPECT_EQ(r.status, 500) << r.error;
  EXPECT_EQ(r.body.rfind("Can't generate stack trace: ", 0), 0u) << r.body;
  ExpectOneLineText(r);
  // The body and the dump are one buffer, not two: the worker that read it grew by about
  // 30 MiB, not 60. (Growth, not the peak itself: a sanitizer build idles at 35 MiB.)
  long grown = 0;
  for (const auto& [pid, kib] : before) {
    long after = PeakRssKib(pid);
    ASSERT_GT(after, 0) << pid;
    grown = std::max(grown, after - kib);
  }
  EXPECT_GT(grown, 20 << 10) << "no worker read the dump";
  EXPECT_LT(grown, 45 << 10) << "a worker's peak grew by " << grown << " KiB";
  std::cout << "worker peak RSS growth for a 30 MiB dump: " << grown << " KiB\n";
}

TEST_F(HostileHttpTest, SlowLorisClientsDoNotStarveOthers) {
  // Clients that trickle their headers a byte at a time, and clients that announce a body and
  // stop sending it, each holding a connection open.
  const std::string header = "GET /check_health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  std::vector<std::unique_ptr<RawConnection>> tricklers, stalled;
  for (int i = 0; i < 100; ++i) {
    tricklers.push_back(std::make_unique<RawConnection>(port()));
    ASSERT_TRUE(tricklers.back()->ok());
    stalled.push_back(std::make_unique<RawConnection>(port()));
    ASSERT_TRUE(stalled.back()->Send(
        "POST /symbolicate_dump HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
        "boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"));
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (size_t at = 0; !stop; ++at) {
      for (auto& c : tricklers) c->Send(std::string(1, header[std::min(at, header.size() - 1)]));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the attack's own pace
    }
  });

  // Meanwhile every other client is served, promptly.
  std::chrono::milliseconds slowest{0};
  for (int i = 0; i < 20; ++i) {
    auto start = std::chrono::steady_clock::now();
    HttpResult r = Get("/check_health");
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    slowest = std::max(slowest, took);
    ASSERT_EQ(r.status, 200) << r.error;
  }
  EXPECT_LT(slowest.count(), 1000) << "slowest /check_health took " << slowest.count() << " ms";
  std::cout << "slowest of 20 /check_health beside 200 slow clients: " << slowest.count()
            << " ms\n";

  // nginx drops the tricklers after client_header_timeout (10 s) however steadily they send.
  auto start = std::chrono::steady_clock::now();
  bool all_closed = PollUntil(
      [&] {
        return std::all_of(tricklers.begin(), tricklers.end(),
                           [](const auto& c) { return c->ClosedByPeer(0); });
      },
      20000);
  stop = true;
  trickle.join();
  auto waited =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
  EXPECT_TRUE(all_closed) << "trickling clients still connected after " << waited.count() << " s";
  // The stalled bodies never reached the pool: it still has every thread for others.
  HttpResult r = Get("/check_health");
  EXPECT_EQ(r.status, 200) << r.error;
}

}  // namespace
}  // namespace devserver::testing
