// Verified publication and failures with their cause, against a misbehaving upstream: a stalled
// body, a cut body, a corrupted byte, a storm of 503s longer than the retry budget, and an object
// replaced by a new generation while it downloads. Each must end with every byte of one generation
// published, or failed with its cause; a short, corrupt or mixed file is never published.
#include <gtest/gtest.h>

#include <cstdio>
#include <future>

#include "tests/reliability/reliability_fixture.h"

namespace devserver::testing {
namespace {

using Clock = std::chrono::steady_clock;

class UpstreamFaultTest : public ReliabilityTest {
 protected:
  // The cause recorded when the payload of `b` fails with `what`.
  static std::string PayloadCause(const FakeBuild& b, const std::string& what) {
    return "full_payload: " + b.Url() + "/" + b.FullName() + ": " + what;
  }
  // Nothing of the payload is published or left behind.
  void ExpectNothingPublished(const FakeBuild& b) {
    EXPECT_EQ(Get("/static/" + b.folder + "/update.gz").status, 404);
    EXPECT_FALSE(std::filesystem::exists(BuildDir(b) + "/update.gz"));
    EXPECT_TRUE(TempEntries(b, "full_payload").empty());
  }
};

// Several callers wait on one download whose body goes silent after kStallAt bytes. Every one
// gets the stall, naming the byte count, once the stall window has passed (and not much
// later); the failure is kept for retry_delay, then a new request stages the build.
TEST_F(UpstreamFaultTest, StallFailsEveryWaiterAfterTheWindowThenARetrySucceeds) {
  constexpr uint64_t kStallAt = 300000;
  FakeBuild b = PutBuild("R99-3.1.0");
  const std::string payload = b.FullName();
  fake_->AddFault(b.Key(payload), Fault().StallAt(kStallAt).Count(1));
  const std::string cause =
      PayloadCause(b, "stalled after 300000 of " + std::to_string(b.full.size()) +
                          " bytes (no data for " + std::to_string(kStallTimeoutS) + " s)");
  constexpr uint64_t kDeltaStallAt = 100000;
  const std::string delta = "chromeos_" + b.build + "_" + b.build + "_" + kBoard + "_delta_dev.bin";
  fake_->AddFault(b.Key(delta), Fault().StallAt(kDeltaStallAt).Count(1));
  const std::string delta_cause = "delta_payloads: " + b.Url() + "/" + delta +
                                  ": stalled after 100000 of " +
                                  std::to_string(b.delta_nton.size()) + " bytes (no data for " +
                                  std::to_string(kStallTimeoutS) + " s)";
  constexpr int kWaitForStatus = 2;

  constexpr int kDownloads = 4;
  constexpr int kStages = 2;
  std::vector<std::future<std::pair<HttpResult, Clock::time_point>>> waiters;
  waiters.reserve(kDownloads + kStages);
  for (int i = 0; i < kDownloads + kStages; ++i) {
    const std::string target =
        i < kDownloads ? "/download?archive_url=" + b.Url() : StagePath(b, "full_payload");
    waiters.push_back(std::async(std::launch::async, [this, target] {
      HttpResult r = Get(target);
      return std::make_pair(r, Clock::now());
    }));
  }
  // The fake counts bytes just before it sends them: once it has counted kStallAt, the body
  // has gone silent.
  ASSERT_TRUE(PollUntil([&] { return Upstream(b, payload).media_bytes >= kStallAt; }, 10000));
  const Clock::time_point stalled = Clock::now();
  // /download also started the background set, whose N->N delta stalls too: callers of
  // /wait_for_status wait on that one.
  ASSERT_TRUE(PollUntil([&] { return Upstream(b, delta).media_bytes >= kDeltaStallAt; }, 10000));
  const Clock::time_point delta_stalled = Clock::now();
  std::vector<std::future<std::pair<HttpResult, Clock::time_point>>> background;
  background.reserve(kWaitForStatus);
  for (int i = 0; i < kWaitForStatus; ++i) {
    background.push_back(std::async(std::launch::async, [this, &b] {
      HttpResult r = Get("/wait_for_status?archive_url=" + b.Url());
      return std::make_pair(r, Clock::now());
    }));
  }

  double first_ms = 1e9;
  double last_ms = 0;
  Clock::time_point failed = Clock::time_point::max();  // when the first waiter heard of it
  for (auto& waiter : waiters) {
    auto [r, at] = waiter.get();
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_EQ(r.body, cause);
    const double ms = std::chrono::duration<double, std::milli>(at - stalled).count();
    first_ms = std::min(first_ms, ms);
    last_ms = std::max(last_ms, ms);
    failed = std::min(failed, at);
  }
  for (auto& waiter : background) {
    auto [r, at] = waiter.get();
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_EQ(r.body, delta_cause);
    const double ms = std::chrono::duration<double, std::milli>(at - delta_stalled).count();
    EXPECT_GE(ms, kStallTimeoutS * 1000 - 250);
    EXPECT_LE(ms, kStallTimeoutS * 1000 + 1000);
    std::printf(
        "[ measure  ] stall: a /wait_for_status got the delta's error %.0f ms after "
        "its stall\n",
        ms);
  }
  std::printf(
      "[ measure  ] stall: %d waiters got the error %.0f to %.0f ms after the stall "
      "(window %d s)\n",
      kDownloads + kStages, first_ms, last_ms, kStallTimeoutS);
  // Not before the window (less the test's own polling lag), and within a second after it.
  EXPECT_GE(first_ms, kStallTimeoutS * 1000 - 250);
  EXPECT_LE(last_ms, kStallTimeoutS * 1000 + 1000);
  EXPECT_EQ(Sql("SELECT error FROM failed WHERE artifact = 'full_payload'"), cause);
  EXPECT_EQ(Upstream(b, payload).media, 1u);  // a stall is not retried
  ExpectNothingPublished(b);
  EXPECT_EQ(Static(b, "stateful.tgz"), b.stateful);  // the other artifacts are unharmed

  EXPECT_EQ(RetryUntilSuccess("/download?archive_url=" + b.Url(), cause), "Success");
  const double retry_ms = MsSince(failed);
  std::printf("[ measure  ] stall: the retry succeeded %.0f ms after the failure (delay %d s)\n",
              retry_ms, kRetryDelayS);
  // retry_after has whole-second resolution.
  EXPECT_GE(retry_ms, (kRetryDelayS - 1) * 1000);
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_EQ(Upstream(b, payload).media, 2u);
  EXPECT_TRUE(TempEntries(b, "full_payload").empty());
}

// A body cut once resumes with a Range request for exactly the rest.
TEST_F(UpstreamFaultTest, CutBodyResumesWithARangeForTheRest) {
  FakeBuild b = PutBuild("R99-5.1.0", 3 << 20);
  const std::string payload = b.FullName();
  fake_->AddFault(b.Key(payload), Fault().TruncateAt(1 << 20).Count(1));
  HttpResult r = Get(StagePath(b, "full_payload"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "Success");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_EQ(Upstream(b, payload).media, 2u);
  // The first 1 MiB once, then the remaining 2 MiB: no byte fetched twice.
  EXPECT_EQ(Upstream(b, payload).media_bytes, b.full.size());
  EXPECT_TRUE(TempEntries(b).empty());
}

// A body cut on every attempt, each moving it forward less than the 8 MiB that restores the
// budget, fails after max_attempts with the last cut as the cause.
TEST_F(UpstreamFaultTest, BodyCutOnEveryAttemptFailsAfterTheAttemptBudget) {
  constexpr uint64_t kCut = 256 << 10;
  FakeBuild b = PutBuild("R99-5.2.0", 3 << 20);
  const std::string payload = b.FullName();
  fake_->AddFault(b.Key(payload), Fault().TruncateAt(kCut));
  HttpResult r = Get(StagePath(b, "full_payload"));
  EXPECT_EQ(r.status, 500);
  // The cause is the last attempt's: three cuts of kCut bytes, each resuming the one before.
  EXPECT_EQ(r.body, PayloadCause(
                        b, "giving up after 3 attempts: connection lost after " +
                               std::to_string(3 * kCut) + " of " + std::to_string(b.full.size()) +
                               " bytes: " + fake_->endpoint() + ": connection closed with " +
                               std::to_string(b.full.size() - 3 * kCut) + " body bytes still due"));
  EXPECT_EQ(Upstream(b, payload).media, static_cast<uint64_t>(kMaxAttempts));
  EXPECT_EQ(Upstream(b, payload).media_bytes, kMaxAttempts * kCut);  // each resumed the last
  EXPECT_EQ(Sql("SELECT error FROM failed WHERE artifact = 'full_payload'"), r.body);
  ExpectNothingPublished(b);
}

// A byte flipped in the resumed part of a cut body: the checksum covers the whole object
// across the resume, so the download fails instead of publishing a corrupt file. Not retried
// at once; after retry_delay a clean download succeeds.
TEST_F(UpstreamFaultTest, CorruptByteInAResumedRangeFailsTheChecksum) {
  FakeBuild b = PutBuild("R99-5.3.0", 3 << 20);
  const std::string payload = b.FullName();
  fake_->AddFault(b.Key(payload), Fault().TruncateAt(1 << 20).Count(1));
  // Two uses: the first (cut) response ends before the offset, the resumed one covers it.
  fake_->AddFault(b.Key(payload), Fault().CorruptAt(2 << 20).Count(2));
  HttpResult r = Get(StagePath(b, "full_payload"));
  EXPECT_EQ(r.status, 500);
  // "checksum mismatch: downloaded crc32c <of the corrupt bytes>, GCS says <the object's>"
  EXPECT_EQ(r.body.rfind(PayloadCause(b, "checksum mismatch: downloaded crc32c "), 0), 0u)
      << r.body;
  EXPECT_NE(r.body.find(", GCS says "), std::string::npos) << r.body;
  std::printf("[ measure  ] corrupt byte: %s\n", r.body.c_str());
  EXPECT_EQ(Upstream(b, payload).media, 2u);
  ExpectNothingPublished(b);

  EXPECT_EQ(RetryUntilSuccess(StagePath(b, "full_payload"), r.body), "Success");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_EQ(Upstream(b, payload).media, 3u);
}

// More 503s than the attempt budget: exactly max_attempts GETs, then failed with the status.
TEST_F(UpstreamFaultTest, ServiceUnavailableStormLongerThanTheBudgetFails) {
  FakeBuild b = PutBuild("R99-5.4.0");
  const std::string payload = b.FullName();
  fake_->AddFault(b.Key(payload), Fault().Status(503).Count(kMaxAttempts + 5));
  HttpResult r = Get(StagePath(b, "full_payload"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body,
            PayloadCause(b, "giving up after 3 attempts: HTTP 503: Injected fault: status 503"));
  EXPECT_EQ(Upstream(b, payload).media, static_cast<uint64_t>(kMaxAttempts));
  EXPECT_EQ(Sql("SELECT attempts FROM failed WHERE artifact = 'full_payload'"), "1");
  ExpectNothingPublished(b);
}

// The object is replaced while a paced download runs, without a break in the body: the
// download keeps the generation it started with (GCS serves a pinned generation whole), so
// what is published is every byte of the old generation.
TEST_F(UpstreamFaultTest, ObjectReplacedDuringAnUnbrokenDownloadPublishesTheOldGeneration) {
  FakeBuild b = PutBuild("R99-5.5.0");
  const std::string payload = b.FullName();
  fake_->AddFault(b.Key(payload), Fault().PaceBps(2 << 20));  // about a second
  auto staged = std::async(std::launch::async, [&] { return Get(StagePath(b, "full_payload")); });
  ASSERT_TRUE(PollUntil([&] { return Upstream(b, payload).media_bytes >= 256 << 10; }, 10000));
  const std::string replacement = RandomBytes(b.full.size(), 4242);
  fake_->PutObject(kBucket, b.folder + "/" + payload, replacement);
  EXPECT_LT(Upstream(b, payload).media_bytes, b.full.size());  // replaced mid-download

  HttpResult r = staged.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "Success");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_EQ(Upstream(b, payload).media, 1u);
  EXPECT_TRUE(TempEntries(b).empty());
}

// The object is replaced, then the body breaks: the resume asks for the pinned generation,
// which is gone, and the download fails as replaced rather than finish with the new
// generation's bytes after the old one's. After retry_delay the new generation stages.
TEST_F(UpstreamFaultTest, ObjectReplacedBeforeAResumeFailsAsReplaced) {
  FakeBuild b = PutBuild("R99-5.6.0");
  const std::string payload = b.FullName();
  const int64_t old_generation = fake_->PutObject(kBucket, b.folder + "/" + payload, b.full);
  fake_->AddFault(b.Key(payload), Fault().PaceBps(1 << 20).TruncateAt(1 << 20).Count(1));
  auto staged = std::async(std::launch::async, [&] { return Get(StagePath(b, "full_payload")); });
  ASSERT_TRUE(PollUntil([&] { return Upstream(b, payload).media_bytes >= 128 << 10; }, 10000));
  const std::string replacement = RandomBytes(b.full.size(), 4243);
  const int64_t new_generation = fake_->PutObject(kBucket, b.folder + "/" + payload, replacement);
  ASSERT_LT(Upstream(b, payload).media_bytes, uint64_t{1} << 20);  // before the cut

  HttpResult r = staged.get();
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, PayloadCause(b, "object replaced during download (generation " +
                                        std::to_string(old_generation) + " is gone, now " +
                                        std::to_string(new_generation) + ")"));
  EXPECT_EQ(Upstream(b, payload).media, 2u);  // the cut one and the refused resume
  ExpectNothingPublished(b);

  EXPECT_EQ(RetryUntilSuccess(StagePath(b, "full_payload"), r.body), "Success");
  EXPECT_EQ(Static(b, "update.gz"), replacement);
  EXPECT_TRUE(TempEntries(b).empty());
}

}  // namespace
}  // namespace devserver::testing
