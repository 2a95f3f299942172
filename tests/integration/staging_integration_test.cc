// The staging core end to end: real nginx, the real pool with several workers, and the fake
// GCS server standing in for Google, with its request counters and fault injection.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <random>
#include <thread>

#include "tests/integration/staging_fixture.h"

namespace devserver::testing {
namespace {

// Many callers, one download: 64 concurrent /download of one cold build, spread over four
// workers, all get Success while the fake counts exactly one media GET per object. Repeated
// on fresh builds, since a coalescing race would show only sometimes.
TEST_F(StagingTest, ConcurrentDownloadsFetchEachObjectExactlyOnce) {
  constexpr int kClients = 64;
  constexpr int kRounds = 20;
  double worst_spread_ms = 0;
  for (int round = 0; round < kRounds; ++round) {
    FakeBuild b = PutBuild("R99-" + std::to_string(round) + ".0.0");
    std::vector<std::future<std::pair<HttpResult, std::chrono::steady_clock::time_point>>> calls;
    calls.reserve(kClients);
    for (int i = 0; i < kClients; ++i) {
      calls.push_back(std::async(std::launch::async, [&] {
        HttpResult r = Get("/download?archive_url=" + b.Url());
        return std::make_pair(r, std::chrono::steady_clock::now());
      }));
    }
    std::chrono::steady_clock::time_point first{}, last{};
    for (auto& call : calls) {
      auto [r, at] = call.get();
      ASSERT_EQ(r.status, 200) << "round " << round << ": " << r.error << r.body;
      ASSERT_EQ(r.body, "Success");
      if (first == std::chrono::steady_clock::time_point{} || at < first) first = at;
      if (at > last) last = at;
    }
    worst_spread_ms =
        std::max(worst_spread_ms, std::chrono::duration<double, std::milli>(last - first).count());
    HttpResult wait = Get("/wait_for_status?archive_url=" + b.Url());
    ASSERT_EQ(wait.status, 200) << wait.body;
    ASSERT_EQ(wait.body, "Success");

    auto counters = fake_->Counters();
    EXPECT_EQ(counters.Of(b.Key(b.FullName())).media, 1u) << "round " << round;
    EXPECT_EQ(counters.Of(b.Key("stateful.tgz")).media, 1u) << "round " << round;
    EXPECT_EQ(
        counters.Of(b.Key("chromeos_" + b.build + "_" + b.build + "_" + kBoard + "_delta_dev.bin"))
            .media,
        1u);
    ASSERT_EQ(Static(b, "update.gz"), b.full) << "round " << round;
    ASSERT_EQ(Static(b, "stateful.tgz"), b.stateful);
    ASSERT_EQ(Static(b, "au/" + b.build + "_nton/update.gz"), b.delta_nton);
    ASSERT_EQ(Static(b, "au/" + b.build + "_mton/update.gz"), b.delta_mton);
    ASSERT_EQ(Static(b, "au/" + b.build + "_nton/stateful.tgz"), b.stateful);
    // test_suites (foreground) and autotest (background): one GET, unpacked, and autotest's
    // copy of the suites left out.
    EXPECT_EQ(counters.Of(b.Key("test_suites.tar.bz2")).media, 1u) << "round " << round;
    EXPECT_EQ(counters.Of(b.Key("autotest.tar")).media, 1u) << "round " << round;
    ASSERT_EQ(Static(b, "autotest/test_suites/control.bvt"), b.suite_control);
    ASSERT_EQ(Static(b, "autotest/server/site_tests/dummy/control"), b.autotest_control);
    EXPECT_TRUE(TempEntries(b).empty());
  }
  std::printf("[ measure  ] %d clients x %d rounds: first-to-last response spread, worst %.1f ms\n",
              kClients, kRounds, worst_spread_ms);
}

TEST_F(StagingTest, WaitForStatusSurvivesARestartWithoutNewDownloads) {
  FakeBuild b = PutBuild("R99-100.0.0");
  HttpResult never = Get("/wait_for_status?archive_url=" + b.Url());
  EXPECT_EQ(never.status, 500);
  EXPECT_EQ(never.body, "No download for the given archive_url found.");
  // Staged in part through /stage: still no /download to wait for (it once waited for
  // delta_payloads and then answered that autotest "was removed while staging").
  ASSERT_EQ(Get("/stage?archive_url=" + b.Url() + "&artifacts=delta_payloads").body, "Success");
  HttpResult partial = Get("/wait_for_status?archive_url=" + b.Url());
  EXPECT_EQ(partial.status, 500);
  EXPECT_EQ(partial.body, "No download for the given archive_url found.");

  ASSERT_EQ(Get("/download?archive_url=" + b.Url()).body, "Success");
  ASSERT_EQ(Get("/wait_for_status?archive_url=" + b.Url()).body, "Success");
  uint64_t media_before = fake_->Counters().media_bytes;
  std::string index = Get("/").body;
  EXPECT_NE(index.find("<a href=\"/static/" + b.folder + "/\">" + b.folder + "</a>"),
            std::string::npos);
  const size_t row = index.find("<tr data-artifact=\"" + b.folder + "/full_payload\">");
  ASSERT_NE(row, std::string::npos) << index;
  EXPECT_NE(index.substr(row, index.find("</tr>", row) - row)
                .find("<td class=\"state staged\">staged</td>"),
            std::string::npos)
      << index;

  ASSERT_TRUE(service_.Restart().ok()) << service_.Log();
  HttpResult again = Get("/wait_for_status?archive_url=" + b.Url());
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, "Success");
  EXPECT_EQ(Get("/download?archive_url=" + b.Url()).body, "Success");
  EXPECT_EQ(
      Get("/is_staged?archive_url=" + b.Url() + "&artifacts=full_payload,stateful,delta_payloads")
          .body,
      "True");
  EXPECT_EQ(fake_->Counters().media_bytes, media_before);  // nothing downloaded again
}

TEST_F(StagingTest, KilledStagerIsTakenOverByAnotherWorker) {
  FakeBuild b = PutBuild("R99-101.0.0", 4 << 20);
  // The first download of the payload stalls half way, so the test can act mid-staging.
  fake_->AddFault(b.Key(b.FullName()), Fault().StallAt(2 << 20).Count(1));
  auto first =
      std::async(std::launch::async, [&] { return Get("/download?archive_url=" + b.Url()); });
  std::string owner;
  ASSERT_TRUE(PollUntil(
      [&] {
        owner =
            Sql("SELECT owner_pid FROM artifacts WHERE artifact = 'full_payload' AND "
                "state = 'staging'");
        return !owner.empty() && fake_->Counters().Of(b.Key(b.FullName())).media == 1;
      },
      10000))
      << service_.Log();
  ASSERT_EQ(owner.find_first_not_of("0123456789"), std::string::npos) << owner;
  ASSERT_EQ(kill(std::stoi(owner), SIGKILL), 0);
  (void)first.get();  // 502 if its request ran in the killed worker; Success otherwise

  HttpResult again = Get("/download?archive_url=" + b.Url());
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, "Success");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_LE(fake_->Counters().Of(b.Key(b.FullName())).media, 2u);
  EXPECT_TRUE(TempEntries(b, "full_payload").empty());
  EXPECT_EQ(Sql("SELECT attempts FROM artifacts WHERE artifact = 'full_payload'"), "2");
}

// A stager killed while the slices of a big object are in flight: the next stager takes the
// claim over and downloads the object again, whole (slices are not resumed across stagers: what
// reached disk of each slice is not recorded). So GCS sends at most the killed stager's part
// plus the object once more, and the file served is the object.
class SlicedStagingTest : public StagingTest {
  void ConfigureService(ServiceProcess::Options* options) override {
    options->extra_flags.insert(options->extra_flags.end(),
                                {"--slice-threshold=1M", "--slice-size=1M", "--max-slices=4"});
  }
};

TEST_F(SlicedStagingTest, AStagerKilledMidSlicesIsTakenOverAndTheObjectFetchedWholeAgain) {
  const uint64_t size = 8 << 20;
  FakeBuild b = PutBuild("R99-102.0.0", size);
  fake_->SetPace(1 << 20);  // 1 MiB/s per connection: 2 s for the whole object on 4 slices
  auto first =
      std::async(std::launch::async, [&] { return Get("/download?archive_url=" + b.Url()); });
  std::string owner;
  uint64_t sent_before_kill = 0;
  ASSERT_TRUE(PollUntil(
      [&] {
        owner =
            Sql("SELECT owner_pid FROM artifacts WHERE artifact = 'full_payload' AND state = "
                "'staging'");
        const fakegcs::ObjectCounters c = fake_->Counters().Of(b.Key(b.FullName()));
        sent_before_kill = c.media_bytes;
        return !owner.empty() && c.media >= 4 && c.media_bytes >= (2u << 20);
      },
      10000))
      << service_.Log();
  ASSERT_EQ(owner.find_first_not_of("0123456789"), std::string::npos) << owner;
  ASSERT_EQ(kill(std::stoi(owner), SIGKILL), 0);
  (void)first.get();  // 502 if its request ran in the killed worker; Success otherwise
  fake_->SetPace(0);

  HttpResult again = Get("/download?archive_url=" + b.Url());
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, "Success");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  const fakegcs::ObjectCounters c = fake_->Counters().Of(b.Key(b.FullName()));
  EXPECT_LT(sent_before_kill, size);  // the kill came mid-object
  // The killed stager's slices were cut by the kill, so the fake counted at most what it had
  // begun to send then plus a slice per connection in flight; then the object once more.
  EXPECT_GE(c.media_bytes, size);
  EXPECT_LE(c.media_bytes, sent_before_kill + (uint64_t{4} << 20) + size);
  EXPECT_EQ(Sql("SELECT attempts FROM artifacts WHERE artifact = 'full_payload'"), "2");
  EXPECT_TRUE(TempEntries(b, "full_payload").empty());
}

TEST_F(StagingTest, StagingOutlivesTheClientThatAskedForIt) {
  FakeBuild b = PutBuild("R99-102.0.0");
  fake_->AddFault(b.Key(b.FullName()), Fault().PaceBps(4 << 20));  // about half a second
  HttpResult impatient = Get("/download?archive_url=" + b.Url(), 100);
  EXPECT_EQ(impatient.status, 0);  // the client gave up and hung up
  ASSERT_TRUE(PollUntil(
      [&] {
        return Get("/is_staged?archive_url=" + b.Url() + "&artifacts=full_payload").body == "True";
      },
      20000));
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_EQ(fake_->Counters().Of(b.Key(b.FullName())).media, 1u);
}

TEST_F(StagingTest, MissingPayloadFailsNamingTheArtifactAndPattern) {
  FakeBuild b = PutBuild("R99-103.0.0", 1 << 20, /*with_full=*/false);
  HttpResult r = Get("/download?archive_url=" + b.Url());
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "full_payload: no object matches chromeos_*_full_*.bin in " + b.Url());
  // The failure is recorded for every later caller and for SQL.
  HttpResult staged = Get("/is_staged?archive_url=" + b.Url() + "&artifacts=full_payload");
  EXPECT_EQ(staged.status, 500);
  EXPECT_EQ(staged.body, r.body);
  EXPECT_EQ(Sql("SELECT error FROM failed WHERE artifact = 'full_payload'"), r.body);
}

TEST_F(StagingTest, ABuildThatDoesNotExistFailsEveryArtifactAndWritesNothing) {
  const std::string url = "gs://" + kBucket + "/x86-alex-release/R1-0.0.0";
  fake_->CreateBucket(kBucket);
  HttpResult r = Get("/download?archive_url=" + url);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "full_payload: no objects in " + url + "; stateful: no objects in " + url +
                        "; test_suites: no objects in " + url);
  HttpResult background = Get("/wait_for_status?archive_url=" + url);
  EXPECT_EQ(background.status, 500);
  EXPECT_EQ(background.body,
            "autotest: no objects in " + url + "; delta_payloads: no objects in " + url);
  EXPECT_TRUE(std::filesystem::is_empty(service_.state_dir() + "/static"));
}

TEST_F(StagingTest, CorruptBytesFailTheChecksumAndPublishNothing) {
  FakeBuild b = PutBuild("R99-104.0.0");
  fake_->AddFault(b.Key(b.FullName()), Fault().CorruptAt(12345));
  HttpResult r = Get("/download?archive_url=" + b.Url());
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("full_payload: "), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("checksum mismatch"), std::string::npos) << r.body;
  EXPECT_EQ(Get("/static/" + b.folder + "/update.gz").status, 404);
  EXPECT_FALSE(std::filesystem::exists(BuildDir(b) + "/update.gz"));
  EXPECT_TRUE(TempEntries(b, "full_payload").empty());
}

TEST_F(StagingTest, TransientErrorsAreRetried) {
  FakeBuild b = PutBuild("R99-105.0.0");
  fake_->AddFault(b.Key(b.FullName()), Fault().Status(503).Count(2));
  HttpResult r = Get("/download?archive_url=" + b.Url());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "Success");
  EXPECT_EQ(fake_->Counters().Of(b.Key(b.FullName())).media, 3u);
  EXPECT_EQ(Static(b, "update.gz"), b.full);
}

TEST_F(StagingTest, StalledUpstreamFailsAfterTheWindow) {
  FakeBuild b = PutBuild("R99-106.0.0");
  fake_->AddFault(b.Key(b.FullName()), Fault().StallAt(1000));
  auto started = std::chrono::steady_clock::now();
  HttpResult r = Get("/download?archive_url=" + b.Url());
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("stalled after 1000"), std::string::npos) << r.body;
  EXPECT_LT(seconds, 2 + 5);  // the 2 s window, plus generous slack for a loaded machine
  EXPECT_TRUE(TempEntries(b, "full_payload").empty());
}

TEST_F(StagingTest, BadInputIsRefusedAndCreatesNothing) {
  struct Case {
    std::string target;
    int status;
    std::string body;
  } cases[] = {
      {"/download", 400, "archive_url is required"},
      {"/download?archive_url=", 400, "archive_url is empty"},
      {"/download?archive_url=gs://" + kBucket + "/a/../b", 400,
       "archive_url may not contain '.' or '..' segments"},
      {"/download?archive_url=gs://other-bucket/a/b", 403,
       "bucket 'other-bucket' is not allowed (allowed: chromeos-image-archive)"},
      {"/download?archive_url=gs://" + kBucket + "/a/" + std::string(1100, 'x'), 400,
       "archive_url is longer than 1024 bytes"},
      {"/stage?archive_url=gs://" + kBucket + "/a/b&artifacts=full_payload,no_such", 400, ""},
      {"/stage?archive_url=gs://" + kBucket + "/a/b", 400,
       "nothing to stage: give artifacts= and/or files="},
      {"/stage?archive_url=gs://" + kBucket + "/a/b&files=../x", 400,
       "files: '../x' is not a plain file name"},
      // The files plugin's own rule, asked before anything is queued (once a queued row that
      // failed with a 500).
      {"/stage?archive_url=gs://" + kBucket + "/a/b&files=a..b", 400,
       "files: 'a..b' is not a plain file name"},
      {"/is_staged?archive_url=gs://" + kBucket + "/a/b&files=.hidden", 400,
       "files: '.hidden' is not a plain file name"},
      {"/stage?archive_url=gs://" + kBucket + "/a/b&artifacts=stateful&async=maybe", 400,
       "async must be True or False, not 'maybe'"},
  };
  for (const Case& c : cases) {
    HttpResult r = Get(c.target);
    EXPECT_EQ(r.status, c.status) << c.target << ": " << r.body;
    if (!c.body.empty()) {
      EXPECT_EQ(r.body, c.body) << c.target;
    }
  }
  HttpResult unknown = Get("/stage?archive_url=gs://" + kBucket + "/a/b&artifacts=no_such");
  EXPECT_EQ(unknown.body.rfind("unknown artifact 'no_such'; known: ", 0), 0u) << unknown.body;
  EXPECT_EQ(Sql("SELECT count(*) FROM artifacts"), "0");  // nothing was queued
  EXPECT_TRUE(std::filesystem::is_empty(service_.state_dir() + "/static"));
  EXPECT_EQ(Sql("SELECT count(*) FROM builds"), "0");
}

TEST_F(StagingTest, StageNamedArtifactsAndFilesAsyncThenIsStaged) {
  FakeBuild b = PutBuild("R99-107.0.0");
  fake_->PutObject(kBucket, b.folder + "/metadata.json", "{\"board\": \"x86-alex\"}");
  std::string query = "archive_url=" + b.Url() + "&artifacts=stateful&files=metadata.json";
  EXPECT_EQ(Get("/is_staged?" + query).body, "False");
  EXPECT_EQ(Get("/stage?" + query + "&async=True").body, "Success");
  ASSERT_TRUE(PollUntil([&] { return Get("/is_staged?" + query).body == "True"; }, 20000));
  EXPECT_EQ(Static(b, "metadata.json"), "{\"board\": \"x86-alex\"}");
  EXPECT_EQ(Get("/static/" + b.folder + "/update.gz").status, 404);  // not asked for

  // Files removed behind the service's back: no longer staged, and staged again on request.
  std::filesystem::remove(BuildDir(b) + "/stateful.tgz");
  EXPECT_EQ(Get("/is_staged?" + query).body, "False");
  EXPECT_EQ(Get("/stage?" + query).body, "Success");
  EXPECT_EQ(Static(b, "stateful.tgz"), b.stateful);
  EXPECT_EQ(fake_->Counters().Of(b.Key("stateful.tgz")).media, 2u);
}

// clean=True removes the staged copies and stages them afresh; other artifacts stay.
TEST_F(StagingTest, CleanStagesAgainFromStorageAndKeepsOtherArtifacts) {
  FakeBuild b = PutBuild("R99-108.0.0");
  const std::string url = "/stage?archive_url=" + b.Url();
  ASSERT_EQ(Get(url + "&artifacts=stateful,full_payload").body, "Success");
  // The object changes in storage; only a clean staging fetches the new bytes.
  const std::string newer = RandomBytes(100 << 10, 7);
  fake_->PutObject(kBucket, b.folder + "/stateful.tgz", newer);
  ASSERT_EQ(Get(url + "&artifacts=stateful").body, "Success");
  EXPECT_TRUE(Static(b, "stateful.tgz") == b.stateful);
  ASSERT_EQ(Get(url + "&artifacts=stateful&clean=True").body, "Success");
  EXPECT_TRUE(Static(b, "stateful.tgz") == newer);
  EXPECT_EQ(fake_->Counters().Of(b.Key("stateful.tgz")).media, 2u);
  EXPECT_TRUE(Static(b, "update.gz") == b.full);
  EXPECT_EQ(fake_->Counters().Of(b.Key(b.FullName())).media, 1u);
  EXPECT_TRUE(TempEntries(b).empty());
}

}  // namespace
}  // namespace devserver::testing

namespace devserver::testing {
namespace {

// With the default sizing, 256 callers blocked on one cold build leave the pool free to
// answer everyone else.
TEST(StagingCapacityTest, BlockedDownloadsDoNotStarveOtherRequests) {
  FakeGcsProcess::Options fake_options;
  fake_options.binary = FAKEGCS_BIN;
  FakeGcsProcess fake(fake_options);
  ServiceProcess service;
  ServiceProcess::Options options;
  options.workers = 2;
  options.threads = 0;  // the default
  options.extra_flags = {"--gs-endpoint=" + fake.endpoint(), "--object-wait=0"};
  ASSERT_TRUE(service.Start(options).ok()) << service.Log();

  const std::string folder = "x86-alex-release/R99-300.0.0";
  const std::string url = "gs://" + kBucket + "/" + folder;
  const std::string payload = "chromeos_R99-300.0.0_x86-alex_full_dev.bin";
  fake.PutObject(kBucket, folder + "/" + payload, RandomBytes(3 << 20, 7));
  fake.PutObject(kBucket, folder + "/stateful.tgz", RandomBytes(1000, 8));
  fake.PutObject(
      kBucket, folder + "/test_suites.tar.bz2",
      ArchiveBytes({TestFile("autotest/test_suites/control.bvt", "bvt")}, Compression::kBzip2));
  // About 8 s: long enough that the download is surely still running after the checks below,
  // even on a loaded machine.
  fake.AddFault(kBucket + "/" + folder + "/" + payload, Fault().PaceBps(384 << 10));

  constexpr int kBlocked = 256;
  std::vector<std::future<HttpResult>> blocked;
  blocked.reserve(kBlocked);
  for (int i = 0; i < kBlocked; ++i) {
    blocked.push_back(std::async(std::launch::async, [&] {
      return HttpGet(service.port(), "/download?archive_url=" + url, 60000);
    }));
  }
  ASSERT_TRUE(PollUntil(
      [&] { return fake.Counters().Of(kBucket + "/" + folder + "/" + payload).media == 1; },
      10000));
  // Answered at all is the point: a starved pool would leave these queued behind the
  // blocked callers until the download ends. Latency is the benchmarks' business.
  for (int i = 0; i < 3; ++i) {
    HttpResult health = HttpGet(service.port(), "/check_health", 30000);
    ASSERT_EQ(health.status, 200) << health.error;
  }
  // The index page shows the download's progress.
  ASSERT_TRUE(PollUntil(
      [&] {
        return HttpGet(service.port(), "/")
                   .body.find(
                       "<td class=\"state staging\">staging</td><td class=\"progress\"><progress "
                       "data-artifact=\"" +
                       folder + "/full_payload\" max=") != std::string::npos;
      },
      5000));
  // The download was still under way while health answered.
  EXPECT_EQ(
      HttpGet(service.port(), "/is_staged?archive_url=" + url + "&artifacts=full_payload").body,
      "False");
  for (auto& call : blocked) {
    HttpResult r = call.get();
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_EQ(r.body, "Success");
  }
  EXPECT_EQ(fake.Counters().Of(kBucket + "/" + folder + "/" + payload).media, 1u);
}

}  // namespace
}  // namespace devserver::testing
