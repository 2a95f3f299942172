// The staging core where real lab work tests it, against the real service: a job longer than
// its lease keeps its claim, claims are fenced on disk, artifacts that unpack the same paths
// share them, a build's bucket is part of its identity, a build's folder is read once per
// round, reads count as use, a reload loses no request, and each file-system step failing
// once fails the artifact with its cause and nothing else.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <future>

#include "tests/reliability/reliability_fixture.h"

namespace devserver::testing {
namespace {

namespace fs = std::filesystem;

std::string RowOf(const FakeBuild& b, const std::string& artifact) {
  return " FROM artifacts WHERE build = '" + b.folder + "' AND artifact = '" + artifact + "'";
}

// A service whose workers inject the file-system faults of a rules file (see
// fcgi/base/fault_env.h), with a short lease.
class CoreTest : public ReliabilityTest {
 protected:
  static constexpr int kLeaseS = 3;

  std::vector<std::string> ExtraFlags() override {
    return {"--lease=" + std::to_string(kLeaseS), "--test-faults=" + FaultsPath()};
  }
  std::string FaultsPath() const { return faults_dir_.Sub("faults"); }
  void SetFaults(const std::string& rules) {
    // Written whole and renamed: a worker never reads half a file.
    const std::string temp = FaultsPath() + ".new";
    std::ofstream(temp) << rules;
    fs::rename(temp, FaultsPath());
  }
  // Fault lines the workers logged.
  int FaultsFired() {
    std::ifstream in(FaultsPath() + ".log");
    int lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    return lines;
  }
  // `n` callers of `target` at once.
  std::vector<std::future<HttpResult>> GetConcurrently(const std::string& target, int n) {
    std::vector<std::future<HttpResult>> calls;
    calls.reserve(n);
    for (int i = 0; i < n; ++i) {
      calls.push_back(std::async(std::launch::async, [this, target] { return Get(target); }));
    }
    return calls;
  }
  int LogCount(const std::string& text) {
    const std::string log = service_.Log();
    int n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  }
  // Names in the build directory a device could be served (not hidden).
  std::vector<std::string> Visible(const FakeBuild& b) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(BuildDir(b), ec)) {
      const std::string rel = fs::relative(e.path(), BuildDir(b)).string();
      if (rel[0] != '.' && !e.is_directory()) names.push_back(rel);
    }
    return names;
  }

  TempDir faults_dir_{"devserver-faults"};
};

// Unpacking that takes longer than three leases: the worker's lease keeper renews the claim
// throughout, so nobody takes it over, and the archive is fetched and unpacked once.
TEST_F(CoreTest, ExtractionLongerThanTheLeaseKeepsItsClaim) {
  FakeBuild b = PutBuild("R99-300.0.0");
  std::vector<TestEntry> files;
  files.reserve(24);
  for (int i = 0; i < 24; ++i) {
    files.push_back(TestFile("autotest/client/t" + std::to_string(i) + "/control", "x"));
  }
  fake_->PutObject(kBucket, b.folder + "/autotest.tar", ArchiveBytes(files));
  // Every file the extractor writes takes half a second: 12 s in all, four leases.
  SetFaults("write /out/autotest/ none delay_ms=500 count=inf\n");
  const auto started = std::chrono::steady_clock::now();
  HttpResult r = Get(StagePath(b, "autotest"));
  const double ms = MsSince(started);
  ASSERT_EQ(r.status, 200) << r.body << service_.Log();
  EXPECT_EQ(r.body, "Success");
  std::printf("[ measure  ] autotest staged in %.0f ms with a %d s lease\n", ms, kLeaseS);
  EXPECT_GE(ms, 10000);  // it really was that slow
  EXPECT_EQ(Upstream(b, "autotest.tar").media, 1u);
  EXPECT_EQ(Sql("SELECT attempts" + RowOf(b, "autotest")), "1");
  EXPECT_EQ(LogCount("extracted autotest.tar:"), 1);
  EXPECT_EQ(LogCount("taken over"), 0) << service_.Log();
  EXPECT_EQ(Static(b, "autotest/client/t23/control"), "x");
}

class SlowHeadTest : public CoreTest {
 protected:
  std::vector<std::string> ExtraFlags() override {
    std::vector<std::string> flags = CoreTest::ExtraFlags();
    flags.push_back("--stall-timeout=20");  // a head 12 s late is slow, not stalled
    return flags;
  }
};

// The response head comes after four leases (GCS under load): still one claim, one GET.
TEST_F(SlowHeadTest, SlowResponseHeadKeepsItsClaim) {
  FakeBuild b = PutBuild("R99-301.0.0");
  fake_->AddFault(b.Key(b.FullName()), Fault().DelayMs(12000).Count(1));
  HttpResult r = Get("/download?archive_url=" + b.Url());
  ASSERT_EQ(r.status, 200) << r.body << service_.Log();
  EXPECT_EQ(Upstream(b, b.FullName()).media, 1u);
  EXPECT_EQ(Sql("SELECT attempts" + RowOf(b, "full_payload")), "1");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
}

// /download answers when full_payload, stateful and test_suites are staged: they download at
// the same time (the fake sees three bodies in flight at once), not one after another.
TEST_F(CoreTest, DownloadFetchesItsForegroundArtifactsAtOnce) {
  FakeBuild b = PutBuild("R99-302.0.0", 512 << 10);
  for (const std::string& name :
       {b.FullName(), std::string("stateful.tgz"), std::string("test_suites.tar.bz2")}) {
    // Each body takes two seconds, so downloads started together overlap.
    const uint64_t size = fs::file_size(fake_->ObjectPath(kBucket, b.folder + "/" + name));
    fake_->AddFault(b.Key(name), Fault().PaceBps(std::max<uint64_t>(size / 2, 1)));
  }
  HttpResult r = Get("/download?archive_url=" + b.Url());
  ASSERT_EQ(r.status, 200) << r.body << service_.Log();
  EXPECT_EQ(r.body, "Success");
  EXPECT_GE(fake_->Counters().media_streams_max, 3u);
  EXPECT_EQ(Static(b, "update.gz"), b.full);
}

// Rows that say staged while the files are gone (what an eviction killed between hiding the
// build's directory and its commit leaves): /download must not answer Success from the rows.
// It finds the file missing, stages it again, and answers once the file is back.
TEST_F(CoreTest, DownloadNeverAnswersSuccessForFilesGoneFromDisk) {
  FakeBuild b = PutBuild("R99-303.0.0");
  ASSERT_EQ(Get("/download?archive_url=" + b.Url()).body, "Success");
  ASSERT_EQ(Upstream(b, b.FullName()).media, 1u);
  fs::remove(BuildDir(b) + "/update.gz");
  HttpResult r = Get("/download?archive_url=" + b.Url());
  ASSERT_EQ(r.status, 200) << r.body << service_.Log();
  EXPECT_EQ(r.body, "Success");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_EQ(Upstream(b, b.FullName()).media, 2u);
}

// files=foo while files=foo-bar downloads: the two stagings' directories must not be mistaken
// for one another (once, ".staging-file:foo-" was a prefix of foo-bar's directory).
TEST_F(CoreTest, StagingOneFileLeavesAnotherFilesLiveDirectoryAlone) {
  FakeBuild b = PutBuild("R99-302.0.0");
  const std::string bar = RandomBytes(4 << 20, 5);
  fake_->PutObject(kBucket, b.folder + "/foo", "foo bytes");
  fake_->PutObject(kBucket, b.folder + "/foo-bar", bar);
  fake_->AddFault(b.Key("foo-bar"), Fault().PaceBps(2 << 20));
  ASSERT_EQ(Get("/stage?archive_url=" + b.Url() + "&files=foo-bar&async=True").body, "Success");
  ASSERT_TRUE(PollUntil([&] { return Upstream(b, "foo-bar").media_bytes > (512 << 10); }, 10000));
  HttpResult foo = Get("/stage?archive_url=" + b.Url() + "&files=foo");
  ASSERT_EQ(foo.status, 200) << foo.body;
  HttpResult foo_bar = Get("/stage?archive_url=" + b.Url() + "&files=foo-bar");
  ASSERT_EQ(foo_bar.status, 200) << foo_bar.body << service_.Log();
  EXPECT_EQ(Upstream(b, "foo-bar").media, 1u);
  EXPECT_EQ(Static(b, "foo-bar"), bar);
  EXPECT_EQ(Static(b, "foo"), "foo bytes");
  EXPECT_TRUE(TempEntries(b).empty());
}

// symbols and symbols_only unpack the same files. Staging one after the other, then cleaning
// the second, leaves the first staged with its files: /is_staged tells the truth for both.
TEST_F(CoreTest, CleaningOneOfTwoOverlappingArtifactsKeepsTheOthersFiles) {
  FakeBuild b = PutBuild("R99-303.0.0");
  const std::string sym = "MODULE Linux x86_64 ABC chrome\n";
  const std::string path = "debug/breakpad/chrome/ABC/chrome.sym";
  fake_->PutObject(kBucket, b.folder + "/debug.tgz",
                   ArchiveBytes({TestFile(path, sym)}, Compression::kGzip));
  fake_->PutObject(kBucket, b.folder + "/debug_breakpad.tar.xz",
                   ArchiveBytes({TestFile(path, sym)}, Compression::kXz));
  ASSERT_EQ(Get(StagePath(b, "symbols")).body, "Success");
  ASSERT_EQ(Get(StagePath(b, "symbols_only")).body, "Success");
  ASSERT_EQ(Get(StagePath(b, "symbols_only") + "&clean=True&async=True").body, "Success");
  EXPECT_EQ(IsStaged(b, "symbols"), "True");
  EXPECT_EQ(Static(b, path), sym);
  // And the other way round.
  ASSERT_TRUE(PollUntil([&] { return IsStaged(b, "symbols_only") == "True"; }, 20000));
  ASSERT_EQ(Get(StagePath(b, "symbols") + "&clean=True&async=True").body, "Success");
  EXPECT_EQ(IsStaged(b, "symbols_only"), "True");
  EXPECT_EQ(Static(b, path), sym);
  // One snapshot for both counts: symbols, cleaned with async=True, is being staged again
  // and may be published between two separate reads.
  const std::string counts =
      Sql("SELECT (SELECT count(*) FROM files WHERE build = '" + b.folder + "' AND path = '" +
          path + "') || ' ' || (SELECT count(*) FROM artifacts WHERE build = '" + b.folder +
          "' AND state = 'staged' AND artifact IN ('symbols', 'symbols_only'))");
  const size_t space = counts.find(' ');
  ASSERT_NE(space, std::string::npos) << counts;
  EXPECT_EQ(counts.substr(0, space), counts.substr(space + 1))
      << "rows of " << path << " vs staged artifacts listing it";
}

class TwoBucketsTest : public CoreTest {
 protected:
  std::vector<std::string> ExtraFlags() override {
    return {"--allowed-buckets=" + kBucket + "," + kOther};
  }
  const std::string kOther = "other-bucket";
};

// The same path in two buckets is two builds: each answers with its own bytes, at its own
// place under /static/ (the default bucket's where old clients look).
TEST_F(TwoBucketsTest, EachBucketsBuildServesItsOwnBytes) {
  const std::string folder = kBoard + "-release/R99-304.0.0";
  fake_->CreateBucket(kOther);
  fake_->PutObject(kBucket, folder + "/blob", "default bucket's bytes");
  fake_->PutObject(kOther, folder + "/blob", "other bucket's bytes");
  const std::string first = "gs://" + kBucket + "/" + folder;
  const std::string second = "gs://" + kOther + "/" + folder;
  ASSERT_EQ(Get("/stage?archive_url=" + first + "&files=blob").body, "Success");
  HttpResult r = Get("/stage?archive_url=" + second + "&files=blob");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Get("/static/" + folder + "/blob").body, "default bucket's bytes");
  EXPECT_EQ(Get("/static/gs/" + kOther + "/" + folder + "/blob").body, "other bucket's bytes");
  EXPECT_EQ(fake_->Counters().Of(kOther + "/" + folder + "/blob").media, 1u);
  const std::string listing = Get("/list_image_dir?archive_url=" + second).body;
  EXPECT_NE(listing.find("static/gs/" + kOther + "/" + folder + "/ (" + second + ")"),
            std::string::npos)
      << listing;
  EXPECT_EQ(Get("/is_staged?archive_url=" + second + "&files=blob").body, "True");
  // A default-bucket path may not reach into the other buckets' directory.
  HttpResult refused =
      Get("/stage?archive_url=gs://" + kBucket + "/gs/" + kOther + "/" + folder + "&files=blob");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body, "archive_url path of the default bucket may not start with 'gs/'");
}

// 64 callers of /download for one cold build, on three workers: its UPLOADED manifest is read
// once for the five artifacts of the round, and each object once.
TEST_F(CoreTest, ManyCallersReadTheManifestOnceAndEachObjectOnce) {
  FakeBuild b = PutBuild("R99-305.0.0");
  std::string manifest;
  for (const std::string& name :
       {b.FullName(), std::string("stateful.tgz"), std::string("test_suites.tar.bz2"),
        std::string("autotest.tar"),
        "chromeos_" + b.build + "_" + b.build + "_" + kBoard + "_delta_dev.bin",
        "chromeos_R98-1.0.0_" + b.build + "_" + kBoard + "_delta_dev.bin"}) {
    manifest += name + "\n";
  }
  fake_->PutObject(kBucket, b.folder + "/UPLOADED", manifest);
  fake_->AddFault(b.Key(b.FullName()), Fault().PaceBps(4 << 20));  // callers pile up
  std::vector<std::future<HttpResult>> calls =
      GetConcurrently("/download?archive_url=" + b.Url(), 64);
  for (auto& call : calls) EXPECT_EQ(call.get().body, "Success");
  ASSERT_EQ(Get("/wait_for_status?archive_url=" + b.Url()).body, "Success");
  fakegcs::CounterSnapshot counters = fake_->Counters();
  EXPECT_EQ(counters.Of(b.Key("UPLOADED")).media, 1u);
  for (const auto& [key, c] : counters.objects) {
    if (key.rfind(kBucket + "/" + b.folder + "/", 0) != 0) continue;
    EXPECT_LE(c.media, 1u) << key;
    EXPECT_LE(c.metadata, 1u) << key;
  }
  EXPECT_EQ(counters.list, 0u);  // the manifest said it all
}

// Without a manifest the folder is listed, once per round.
TEST_F(CoreTest, WithoutAManifestTheFolderIsListedOnce) {
  FakeBuild b = PutBuild("R99-306.0.0");
  fake_->Reset();
  std::vector<std::future<HttpResult>> calls =
      GetConcurrently("/download?archive_url=" + b.Url(), 16);
  for (auto& call : calls) EXPECT_EQ(call.get().body, "Success");
  ASSERT_EQ(Get("/wait_for_status?archive_url=" + b.Url()).body, "Success");
  EXPECT_EQ(fake_->Counters().list, 1u);
}

// Lab clients that only poll a build keep it from eviction: /is_staged, /wait_for_status,
// /list_image_dir and /controlfiles count as use (at most one write a minute).
TEST_F(CoreTest, ReadsCountAsUse) {
  FakeBuild b = PutBuild("R99-307.0.0");
  ASSERT_EQ(Get("/download?archive_url=" + b.Url()).body, "Success");
  ASSERT_EQ(Get("/wait_for_status?archive_url=" + b.Url()).body, "Success");
  StateFile state(StateDbPath());
  const std::string used =
      "SELECT last_used_at > 1000 FROM builds WHERE build = '" + b.folder + "'";
  for (const std::string& read :
       {"/is_staged?archive_url=" + b.Url() + "&artifacts=full_payload",
        "/wait_for_status?archive_url=" + b.Url(), "/list_image_dir?archive_url=" + b.Url(),
        "/controlfiles?build=" + b.folder}) {
    // As if the build had not been used for a long time (the test's own write).
    ASSERT_EQ(state.Query("UPDATE builds SET last_used_at = 1 WHERE build = '" + b.folder + "'"),
              "");
    ASSERT_EQ(state.Query(used), "0");
    HttpResult r = Get(read);
    ASSERT_EQ(r.status, 200) << read << ": " << r.body;
    EXPECT_EQ(state.Query(used), "1") << read;
  }
}

// A reload while eight callers wait on a download: the old workers finish the download and
// answer every caller; nobody gets "shutting down", and the object is fetched once.
TEST_F(CoreTest, ReloadWhileCallersWaitLosesNothing) {
  FakeBuild b = PutBuild("R99-308.0.0", 4 << 20);
  fake_->AddFault(b.Key(b.FullName()), Fault().PaceBps(1 << 20));  // four seconds
  std::vector<std::future<HttpResult>> calls =
      GetConcurrently("/download?archive_url=" + b.Url(), 8);
  ASSERT_TRUE(
      PollUntil([&] { return Upstream(b, b.FullName()).media_bytes > (512 << 10); }, 10000));
  const std::vector<pid_t> old_workers = service_.WorkerPids();
  service_.Signal(SIGHUP);
  ASSERT_TRUE(PollUntil([&] { return service_.WorkerPids() != old_workers; }, 10000));
  for (auto& call : calls) {
    HttpResult r = call.get();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "Success");
  }
  EXPECT_EQ(Upstream(b, b.FullName()).media, 1u);
  EXPECT_EQ(Sql("SELECT attempts" + RowOf(b, "full_payload")), "1");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
}

// SIGHUP while the pool stops after SIGTERM (a request still running) must not start workers
// that nobody would stop: the master would never exit.
TEST_F(CoreTest, ReloadDuringStopIsIgnored) {
  auto slow = std::async(std::launch::async, [&] { return Get("/debug/sleep?ms=2000"); });
  ASSERT_TRUE(PollUntil([&] { return LogCount("debug/sleep: sleeping 2000 ms") == 1; }, 10000));
  const pid_t master = service_.master_pid();
  ASSERT_GT(master, 0);
  ASSERT_EQ(kill(master, SIGTERM), 0);
  ASSERT_TRUE(PollUntil([&] { return LogCount("stopping: ") == 1; }, 10000));
  ASSERT_EQ(kill(master, SIGHUP), 0);
  EXPECT_EQ(slow.get().body, "slept 2000");  // the request in flight still finishes
  // The pool exits, and with it serve (it stops nginx and reports the pool's end).
  EXPECT_NE(service_.Wait(15000), -1) << service_.Log();
  EXPECT_EQ(LogCount("ignoring SIGHUP: the pool is stopping"), 1) << service_.Log();
  EXPECT_EQ(LogCount("starting generation 1"), 0) << service_.Log();
}

// Each step of staging failing once: the artifact fails with that step's cause, nothing of it
// is visible under /static/, and the next request after the retry delay stages it.
struct FsFault {
  const char* name;
  const char* rule;
  const char* cause;  // a piece of the recorded cause
};

// For test names and failure messages.
void PrintTo(const FsFault& fault, std::ostream* out) { *out << fault.name; }

class FsFaultTest : public CoreTest, public ::testing::WithParamInterface<FsFault> {};

TEST_P(FsFaultTest, FailsWithTheCauseShowsNothingAndTheNextRequestSucceeds) {
  const FsFault& fault = GetParam();
  FakeBuild b = PutBuild(std::string("R99-310.0.0-") + fault.name);
  SetFaults(std::string(fault.rule) + " count=1\n");
  HttpResult failed = Get(StagePath(b, "full_payload"));
  EXPECT_EQ(failed.status, 500) << failed.body;
  EXPECT_NE(failed.body.find(fault.cause), std::string::npos) << failed.body;
  EXPECT_EQ(failed.body.rfind("full_payload: ", 0), 0u) << failed.body;
  EXPECT_EQ(FaultsFired(), 1);
  EXPECT_EQ(Get("/static/" + b.folder + "/update.gz").status, 404);
  EXPECT_TRUE(Visible(b).empty());
  EXPECT_TRUE(TempEntries(b).empty());
  EXPECT_EQ(RetryUntilSuccess(StagePath(b, "full_payload"), failed.body), "Success");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_EQ(IntegrityCheck(), "ok");
}

INSTANTIATE_TEST_SUITE_P(
    Steps, FsFaultTest,
    ::testing::Values(FsFault{"fsync", "sync /fetch/ EIO", "Input/output error"},
                      FsFault{"write", "write /fetch/ ENOSPC", "No space left on device"},
                      FsFault{"rename", "rename /update.gz EXDEV", "Invalid cross-device link"},
                      FsFault{"mkdir", "mkdir /.staging- EACCES", "Permission denied"}),
    [](const ::testing::TestParamInfo<FsFault>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace devserver::testing
