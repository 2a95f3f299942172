// A staging that takes longer than nginx's fastcgi_read_timeout: /download callers must get
// devserver's own answer (503 "still staging", Retry-After) before nginx would give up with a
// 504. serve derives the read timeout from [timeouts] max_wait and refuses one not above it;
// here both are turned down (max_wait 2 s, read timeout 4 s) so the case plays out in seconds.
#include <gtest/gtest.h>

#include <cstdio>
#include <future>

#include "fcgi/base/fs.h"
#include "tests/reliability/reliability_fixture.h"

namespace devserver::testing {
namespace {

constexpr int kMaxWaitS = 2;
constexpr int kReadTimeoutS = 4;

class NginxTimeoutTest : public ReliabilityTest {
 protected:
  std::vector<std::string> ExtraFlags() override {
    return {"--max-wait=" + std::to_string(kMaxWaitS),
            "--nginx-read-timeout=" + std::to_string(kReadTimeoutS)};
  }
};

TEST_F(NginxTimeoutTest, SlowStagingAnswersStillStagingBeforeNginxGivesUp) {
  std::string conf;
  ASSERT_TRUE(ReadFile(service_.state_dir() + "/nginx/devserver-server.conf", &conf).ok());
  EXPECT_NE(conf.find("fastcgi_read_timeout " + std::to_string(kReadTimeoutS) + "s;"),
            std::string::npos);

  // The timeout is real: a request that answers after it gets nginx's 504. (Run alongside
  // the staging below, which it does not disturb, to keep the test short.)
  auto late = std::async(std::launch::async, [&] {
    const auto start = std::chrono::steady_clock::now();
    HttpResult r = Get("/debug/sleep?ms=" + std::to_string((kReadTimeoutS + 2) * 1000));
    return std::make_pair(r, MsSince(start));
  });

  // About 8 s of download: twice nginx's read timeout.
  FakeBuild b = PutBuild("R99-7.1.0", 2 << 20);
  const std::string payload = b.FullName();
  fake_->AddFault(b.Key(payload), Fault().PaceBps(256 << 10));
  const auto start = std::chrono::steady_clock::now();
  HttpResult first = Get("/download?archive_url=" + b.Url());
  const double first_ms = MsSince(start);
  EXPECT_EQ(first.status, 503) << first.body;
  EXPECT_EQ(first.body, b.Url() + ": still staging full_payload after " +
                            std::to_string(kMaxWaitS) + " s; ask again");
  EXPECT_EQ(first.headers["Retry-After"], "5");
  EXPECT_GE(first_ms, kMaxWaitS * 1000 - 100);
  EXPECT_LT(first_ms, kReadTimeoutS * 1000);

  // Callers that ask again keep getting the same answer, never a 504, until it is staged.
  int still_staging = 1;
  std::string unexpected;
  ASSERT_TRUE(PollUntil(
      [&] {
        HttpResult r = Get("/download?archive_url=" + b.Url());
        if (r.status == 503 && r.body == first.body) {
          ++still_staging;
          return false;
        }
        if (!(r.status == 200 && r.body == "Success")) {
          unexpected = "HTTP " + std::to_string(r.status) + ": " + r.body;
        }
        return true;
      },
      30000));
  const double staged_ms = MsSince(start);
  EXPECT_EQ(unexpected, "");
  EXPECT_GT(staged_ms, kReadTimeoutS * 1000);  // the staging did outlast nginx's timeout
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_EQ(Upstream(b, payload).media, 1u);  // asking again never restarts the download

  auto [timed_out, timed_out_ms] = late.get();
  EXPECT_EQ(timed_out.status, 504);
  EXPECT_GE(timed_out_ms, kReadTimeoutS * 1000 - 100);
  std::printf(
      "[ measure  ] nginx read timeout %d s, max_wait %d s: first /download answered "
      "503 after %.0f ms, %d 'still staging' answers, staged after %.0f ms; a 6 s "
      "request got %d after %.0f ms\n",
      kReadTimeoutS, kMaxWaitS, first_ms, still_staging, staged_ms, timed_out.status, timed_out_ms);
}

// More waiting callers than request threads: the ones left in the socket's backlog get a
// thread only when an earlier wait ends, and nginx's read timeout has been running for them
// all along. max_wait counts from when nginx passed the request on, not from when a thread
// picked it up, so they too get "still staging" in time instead of a 504.
class QueuedCallersTest : public NginxTimeoutTest {
 protected:
  std::vector<std::string> ExtraFlags() override {
    std::vector<std::string> flags = NginxTimeoutTest::ExtraFlags();
    flags.insert(flags.end(), {"--workers=1", "--threads=" + std::to_string(kThreads)});
    return flags;
  }
  static constexpr int kThreads = 2;
};

TEST_F(QueuedCallersTest, CallersQueuedBehindBusyThreadsStillGetAnAnswerInTime) {
  FakeBuild b = PutBuild("R99-7.2.0", 2 << 20);
  fake_->AddFault(b.Key(b.FullName()), Fault().PaceBps(256 << 10));  // about 8 s
  constexpr int kCallers = 3 * kThreads;  // three rounds of max_wait: past the read timeout
  std::vector<std::future<std::pair<HttpResult, double>>> calls;
  calls.reserve(kCallers);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCallers; ++i) {
    calls.push_back(std::async(std::launch::async, [&] {
      HttpResult r = Get("/download?archive_url=" + b.Url());
      return std::make_pair(r, MsSince(start));
    }));
  }
  double slowest_ms = 0;
  for (auto& call : calls) {
    auto [r, ms] = call.get();
    EXPECT_EQ(r.status, 503) << "after " << ms << " ms: " << r.body;
    EXPECT_EQ(r.body, b.Url() + ": still staging full_payload after " + std::to_string(kMaxWaitS) +
                          " s; ask again");
    slowest_ms = std::max(slowest_ms, ms);
  }
  std::printf("[ measure  ] %d callers on %d threads: the last answered after %.0f ms\n", kCallers,
              kThreads, slowest_ms);
  EXPECT_LT(slowest_ms, kReadTimeoutS * 1000);
}

TEST(NginxReadTimeoutTest, ServeRefusesAReadTimeoutNotAboveMaxWait) {
  TempDir dir("devserver-serve");
  std::string out;
  int rc =
      RunProgram({DEVSERVERCTL_BIN, "serve", "--port=" + std::to_string(FreePort()),
                  "--state-dir=" + dir.Sub("state"), "--max-wait=10", "--nginx-read-timeout=10"},
                 &out);
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(out,
            "devserverctl serve: --nginx-read-timeout (10 s) must be longer than [timeouts] "
            "max_wait (10 s), or callers waiting for a slow staging get nginx's 504\n");
}

}  // namespace
}  // namespace devserver::testing
