// One staging's walk, with a real state file, the built plugins, a local directory for
// storage and injected file-system faults.
#include "fcgi/staging/stage_job.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include "fcgi/staging/staging_test_fixture.h"

namespace devserver {
namespace {

using state::ArtifactState;
using testing::TestFile;

// Storage whose downloads a test scripts: the listing and metadata of the local directory, the
// bytes of a download written into its file in the steps the script takes.
class ScriptedStore : public storage::ArchiveStore {
 public:
  using Script = std::function<Status(const storage::ObjectInfo& object, const std::string& dest,
                                      storage::FetchObserver* observer)>;
  explicit ScriptedStore(storage::ArchiveStore* local) : local_(local) {}
  Status List(const std::string& bucket, const std::string& prefix,
              std::vector<storage::ObjectInfo>* objects) override {
    return local_->List(bucket, prefix, objects);
  }
  Status Stat(const std::string& bucket, const std::string& name,
              storage::ObjectInfo* info) override {
    return local_->Stat(bucket, name, info);
  }
  Status ReadSmall(const std::string& bucket, const std::string& name, size_t max_bytes,
                   std::string* contents) override {
    return local_->ReadSmall(bucket, name, max_bytes, contents);
  }
  Status FetchObject(const storage::ObjectInfo& object, const std::string& dest,
                     storage::FetchObserver* observer, bool resume) override {
    if (script) return script(object, dest, observer);
    return local_->FetchObject(object, dest, observer, resume);
  }
  // Writes `bytes` at `offset` of `dest` and tells `observer` the prefix is that long.
  static void Put(const std::string& dest, uint64_t offset, const std::string& bytes,
                  storage::FetchObserver* observer) {
    std::fstream out(dest, std::ios::in | std::ios::out | std::ios::binary);
    if (!out) out.open(dest, std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(offset));
    out << bytes;
    out.close();
    observer->OnContiguous(dest, offset + bytes.size());
  }

  Script script;

 private:
  storage::ArchiveStore* const local_;
};

// The files a staging has unpacked so far into its private output directory.
std::vector<std::string> Unpacked(const std::string& build_dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(build_dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string path = it->path().string();
    const size_t out = path.find("/out/");
    if (path.find("/.staging-") != std::string::npos && out != std::string::npos &&
        it->is_regular_file()) {
      found.push_back(path.substr(out + 5));
    }
  }
  return found;
}

class StageJobTest : public StagingUnitTest {
 protected:
  // Polls for a staging's private output to hold `relative`: whether it did within 10 s.
  bool UnpackedWithin10s(const std::string& relative) const {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      const std::vector<std::string> files = Unpacked(BuildDir());
      if (std::find(files.begin(), files.end(), relative) != files.end()) return true;
      if (std::chrono::steady_clock::now() > give_up) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  const std::string kPayloadName = "chromeos_R1-1.0.0_board_full_dev.bin";
  const std::string kPayload = std::string(300 << 10, 'p');

  void PutPayload() { PutObject(kPayloadName, kPayload); }
  FaultRule Rule(FaultOp op, const std::string& path, int err) {
    FaultRule rule;
    rule.op = op;
    rule.path = path;
    rule.err = err;
    return rule;
  }
};

TEST_F(StageJobTest, StagesAndLeavesNothingButTheArtifact) {
  PutPayload();
  Want({"full_payload"});
  Status s = RunStageJob(deps_, MustClaim(alice_));
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaged);
  EXPECT_EQ(Read("update.gz"), kPayload);
  EXPECT_EQ(Entries(), std::vector<std::string>{"update.gz"});
}

// The payloads an update check will offer are recorded with their facts when published: the
// full payload as full, the deltas as deltas, each with its header's metadata size.
TEST_F(StageJobTest, PayloadsAreRecordedWithWhatAnUpdateCheckTells) {
  // The protocol's fixture P: "CrAU", version 2, a 100-byte manifest, no signature.
  std::string p = "CrAU";
  p += std::string(7, '\0') + '\x02' + std::string(7, '\0') + 'd' + std::string(4, '\0');
  p += std::string(100, '\0');
  PutObject(kPayloadName, p);
  PutObject("chromeos_R1-1.0.0_R1-1.0.0_board_delta_dev.bin", "not a payload header");
  PutObject("stateful.tgz", "stateful");
  Want({"full_payload", "delta_payloads", "stateful"});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RunStageJob(deps_, MustClaim(alice_)).ok());

  std::vector<state::StagedFile> files;
  ASSERT_TRUE(db_->Files(kFolder, "full_payload", &files).ok());
  ASSERT_EQ(files.size(), 1U);
  EXPECT_EQ(files[0].size, 124);
  EXPECT_EQ(files[0].sha1, "T/Jx1+AWJZMR5qSrYH01L1+y8Cc=");
  EXPECT_EQ(files[0].sha256, "qXNTRZAb3jnx019d+AldlESYy5OjyS1FFVfhL1eGHwU=");
  ASSERT_TRUE(files[0].payload.has_value());
  EXPECT_EQ(files[0].payload->sha256_hex,
            "a9735345901bde39f1d35f5df8095d944498cb93a3c92d451557e12f57861f05");
  EXPECT_EQ(files[0].payload->metadata_size, 124);
  EXPECT_FALSE(files[0].payload->is_delta);
  EXPECT_EQ(files[0].payload->version, "1.0.0");

  ASSERT_TRUE(db_->Files(kFolder, "delta_payloads", &files).ok());
  ASSERT_EQ(files.size(), 2U);  // the update and its stateful link
  EXPECT_EQ(files[1].path, "au/R1-1.0.0_nton/update.gz");
  ASSERT_TRUE(files[1].payload.has_value());
  EXPECT_TRUE(files[1].payload->is_delta);
  EXPECT_EQ(files[1].payload->metadata_size, -1);
  EXPECT_FALSE(files[0].payload.has_value()) << files[0].path;

  ASSERT_TRUE(db_->Files(kFolder, "stateful", &files).ok());
  ASSERT_EQ(files.size(), 1U);
  EXPECT_FALSE(files[0].payload.has_value());
  EXPECT_EQ(files[0].sha256, "");

  // Found by the path a device fetches.
  state::StagedFile at;
  bool found = false;
  ASSERT_TRUE(db_->FileAt(std::string(kFolder) + "/update.gz", &at, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(at.payload->metadata_size, 124);
  ASSERT_TRUE(db_->FileAt(std::string(kFolder) + "/nothing.gz", &at, &found).ok());
  EXPECT_FALSE(found);
}

// Unpacking for several leases with no byte of progress to report: the lease keeper renews
// the claim all along, so another stager never gets it, and one attempt does it.
TEST_F(StageJobTest, LongExtractionKeepsTheClaim) {
  std::vector<testing::TestEntry> files;
  files.reserve(12);
  for (int i = 0; i < 12; ++i) {
    files.push_back(TestFile("autotest/t" + std::to_string(i) + "/control", "x"));
  }
  PutArchive("autotest.tar", files);
  Want({"autotest"});
  FaultRule slow = Rule(FaultOp::kWrite, "/out/autotest/", 0);
  slow.delay_ms = 500;  // 6 s of unpacking: three leases
  slow.count = FaultRule::kUnlimited;
  env_.Add(slow);
  std::atomic<bool> done{false};
  std::atomic<int> stolen{0};
  std::thread thief([&] {
    while (!done) {
      std::optional<state::Claim> claim;
      if (db_->ClaimNext(bob_, 100, &claim).ok() && claim) ++stolen;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const auto started = std::chrono::steady_clock::now();
  Status s = RunStageJob(deps_, MustClaim(alice_));
  done = true;
  thief.join();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::seconds(3 * 2));
  EXPECT_EQ(stolen, 0);
  EXPECT_EQ(StatusOf("autotest").attempts, 1);
  EXPECT_EQ(Read("autotest/t11/control"), "x");
}

// A cold staging is not its download followed by its unpacking: the archive is unpacked as its
// bytes arrive. The download here stops half-way until the first member is on disk.
TEST_F(StageJobTest, AnArchiveIsUnpackedWhileItsDownloadIsStillArriving) {
  std::string noise;  // incompressible, so the archive is as long as its members
  uint64_t x = 42;
  for (int i = 0; i < (3 << 20); ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    noise.push_back(static_cast<char>(x >> 56));
  }
  testing::ArchiveOptions bzip2;
  bzip2.compression = testing::Compression::kBzip2;
  const std::string archive = dir_.Sub("archive/bucket/") + kFolder + "/test_suites.tar.bz2";
  ASSERT_EQ(testing::WriteTestArchive(archive,
                                      {TestFile("autotest/test_suites/control.bvt", "suite"),
                                       TestFile("autotest/test_suites/padding", noise)},
                                      bzip2),
            "");
  std::ifstream in(archive, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  ASSERT_GT(bytes.size(), 2U << 20);

  ScriptedStore scripted(store_.get());
  bool unpacked_while_arriving = false;
  scripted.script = [&](const storage::ObjectInfo&, const std::string& dest,
                        storage::FetchObserver* observer) {
    const size_t half = bytes.size() / 2;  // past bzip2's first 900 kB block
    ScriptedStore::Put(dest, 0, bytes.substr(0, half), observer);
    unpacked_while_arriving = UnpackedWithin10s("autotest/test_suites/control.bvt");
    ScriptedStore::Put(dest, half, bytes.substr(half), observer);
    return Status::Ok();
  };
  deps_.store = &scripted;
  Want({"test_suites"});
  Status s = RunStageJob(deps_, MustClaim(alice_));
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(unpacked_while_arriving);
  EXPECT_EQ(Read("autotest/test_suites/control.bvt"), "suite");
  EXPECT_EQ(Read("autotest/test_suites/padding"), noise);
}

// Bytes a download throws away (a peer's copy that failed its checksum, a resumed file that did
// not add up) must not be published even when they were already unpacked: the artifact is
// installed again from the object as verified.
TEST_F(StageJobTest, AnArchiveUnpackedFromBytesItsDownloadThrewAwayIsUnpackedAgain) {
  const std::string object = dir_.Sub("archive/bucket/") + kFolder + "/autotest.tar";
  const std::string impostor = dir_.Sub("impostor.tar");
  ASSERT_EQ(testing::WriteTestArchive(impostor, {TestFile("autotest/wrong/control", "bad")},
                                      testing::ArchiveOptions()),
            "");
  PutArchive("autotest.tar", {TestFile("autotest/right/control", "ok!")});
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  };
  const std::string good = read(object);
  const std::string bad = read(impostor);
  ASSERT_EQ(good.size(), bad.size());

  ScriptedStore scripted(store_.get());
  bool bad_was_unpacked = false;
  scripted.script = [&](const storage::ObjectInfo&, const std::string& dest,
                        storage::FetchObserver* observer) {
    ScriptedStore::Put(dest, 0, bad, observer);
    bad_was_unpacked = UnpackedWithin10s("autotest/wrong/control");
    observer->OnRestart();
    ScriptedStore::Put(dest, 0, good, observer);
    return Status::Ok();
  };
  deps_.store = &scripted;
  Want({"autotest"});
  Status s = RunStageJob(deps_, MustClaim(alice_));
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(bad_was_unpacked);
  EXPECT_EQ(Read("autotest/right/control"), "ok!");
  EXPECT_EQ(Entries(), std::vector<std::string>{"autotest/right/control"});
}

// A download that fails while its archive is being unpacked fails the artifact with the
// download's cause, not the unpacking's.
TEST_F(StageJobTest, ADownloadFailingUnderAnExtractionIsTheCause) {
  PutArchive("autotest.tar", {TestFile("autotest/a/control", std::string(64 << 10, 'a'))});
  ScriptedStore scripted(store_.get());
  scripted.script = [&](const storage::ObjectInfo& info, const std::string& dest,
                        storage::FetchObserver* observer) {
    ScriptedStore::Put(dest, 0, std::string(4096, '\0'), observer);
    return Status::Failed(info.Url() + ": received 4096 bytes, GCS says the object has more");
  };
  deps_.store = &scripted;
  Want({"autotest"});
  Status s = RunStageJob(deps_, MustClaim(alice_));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(StatusOf("autotest").error.find("received 4096 bytes"), std::string::npos)
      << StatusOf("autotest").error;
  EXPECT_TRUE(HiddenEntries().empty());
}

// Publication renames inside the state's write transaction, which every worker's lease
// renewals wait for: an unpacked tree the build does not have yet moves in one rename, and a
// tree it has (test_suites first, then autotest) is merged without losing either's files.
TEST_F(StageJobTest, AnUnpackedTreeMovesIntoPlaceWithFewRenames) {
  std::vector<testing::TestEntry> files;
  files.reserve(200);
  for (int i = 0; i < 200; ++i) {
    files.push_back(TestFile("autotest/client/t" + std::to_string(i) + "/control", "x"));
  }
  files.push_back(TestFile("autotest/test_suites/control.bvt", "autotest's copy"));
  PutArchive("autotest.tar", files);
  testing::ArchiveOptions bzip2;
  bzip2.compression = testing::Compression::kBzip2;
  ASSERT_EQ(
      testing::WriteTestArchive(dir_.Sub("archive/bucket/") + kFolder + "/test_suites.tar.bz2",
                                {TestFile("autotest/test_suites/control.bvt", "suite")}, bzip2),
      "");
  FaultRule count_renames = Rule(FaultOp::kRename, "/out/autotest", 0);
  count_renames.delay_ms = 1;  // a fault that only counts
  count_renames.count = FaultRule::kUnlimited;
  env_.Add(count_renames);
  Want({"test_suites"});
  ASSERT_TRUE(RunStageJob(deps_, MustClaim(alice_)).ok());
  EXPECT_EQ(env_.Injected(FaultOp::kRename), 1);  // autotest/ did not exist: one rename
  Want({"autotest"});
  ASSERT_TRUE(RunStageJob(deps_, MustClaim(alice_)).ok());
  // autotest/ exists now: its client/ moves whole; test_suites/ is excluded from autotest.
  EXPECT_EQ(env_.Injected(FaultOp::kRename), 2);
  EXPECT_EQ(Read("autotest/client/t199/control"), "x");
  EXPECT_EQ(Read("autotest/test_suites/control.bvt"), "suite");
  EXPECT_EQ(StatusOf("autotest").state, ArtifactState::kStaged);
}

// A stager whose claim is taken over while it works (its worker was declared dead) places
// nothing and takes away only its own staging directory; the new owner stages the artifact.
TEST_F(StageJobTest, AStagerThatLostItsClaimPublishesNothing) {
  std::vector<testing::TestEntry> files;
  files.reserve(6);
  for (int i = 0; i < 6; ++i) {
    files.push_back(TestFile("autotest/t" + std::to_string(i) + "/control", "old"));
  }
  PutArchive("autotest.tar", files);
  Want({"autotest"});
  FaultRule slow = Rule(FaultOp::kWrite, "/out/autotest/", 0);
  slow.delay_ms = 300;
  slow.count = FaultRule::kUnlimited;
  env_.Add(slow);
  const state::Claim first = MustClaim(alice_);
  auto stale = std::async(std::launch::async, [&] { return RunStageJob(deps_, first); });
  // While alice unpacks, her worker "dies" as far as the state knows, and bob takes over.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  liveness_.SetAlive(alice_.lock_path, false);
  const state::Claim second = MustClaim(bob_);
  Status lost = stale.get();
  EXPECT_FALSE(lost.ok());
  EXPECT_TRUE(Entries().empty()) << "the stale stager placed files";
  env_.Clear();
  ASSERT_TRUE(RunStageJob(deps_, second).ok());
  EXPECT_EQ(StatusOf("autotest").state, ArtifactState::kStaged);
  EXPECT_EQ(Read("autotest/t5/control"), "old");
  EXPECT_TRUE(HiddenEntries().empty());
}

// Each file-system step failing once: the artifact fails with the step's cause, nothing is in
// the build directory, and the next attempt stages it.
struct StepFault {
  const char* name;
  FaultOp op;
  const char* path;
  int err;
  const char* cause;
};

// For test names and failure messages.
void PrintTo(const StepFault& fault, std::ostream* out) { *out << fault.name; }

class StepFaultTest : public StageJobTest, public ::testing::WithParamInterface<StepFault> {};

TEST_P(StepFaultTest, FailsWithTheCauseLeavesNothingAndTheNextAttemptSucceeds) {
  const StepFault& fault = GetParam();
  PutPayload();
  Want({"full_payload"});
  env_.Add(Rule(fault.op, fault.path, fault.err));
  Status s = RunStageJob(deps_, MustClaim(alice_));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind("full_payload: ", 0), 0u) << s.message();
  EXPECT_NE(s.message().find(fault.cause), std::string::npos) << s.message();
  EXPECT_EQ(env_.Injected(), 1);
  state::ArtifactStatus status = StatusOf("full_payload");
  EXPECT_EQ(status.state, ArtifactState::kFailed);
  EXPECT_EQ(status.error, s.message());
  EXPECT_EQ(status.error_kind, "");  // a failure of this host, not a missing build
  EXPECT_TRUE(Entries().empty()) << Entries().front();

  Want({"full_payload"});  // retry_delay is 0
  ASSERT_TRUE(RunStageJob(deps_, MustClaim(alice_)).ok());
  EXPECT_EQ(Read("update.gz"), kPayload);
  EXPECT_EQ(Entries(), std::vector<std::string>{"update.gz"});
}

INSTANTIATE_TEST_SUITE_P(
    Steps, StepFaultTest,
    ::testing::Values(StepFault{"WriteOfTheDownload", FaultOp::kWrite, "/fetch/", ENOSPC,
                                "No space left on device"},
                      StepFault{"FsyncOfTheDownload", FaultOp::kSync, "/fetch/", EIO,
                                "Input/output error"},
                      StepFault{"FsyncBeforePublishing", FaultOp::kSync, "/out/update.gz", EIO,
                                "Input/output error"},
                      StepFault{"RenameIntoPlace", FaultOp::kRename, "/update.gz", EXDEV,
                                "Invalid cross-device link"},
                      StepFault{"MkdirOfTheStagingDirectory", FaultOp::kMkdir, "/.staging-", EACCES,
                                "Permission denied"},
                      StepFault{"ReserveSpace", FaultOp::kAllocate, "/fetch/", ENOSPC,
                                "No space left on device"}),
    [](const ::testing::TestParamInfo<StepFault>& info) { return std::string(info.param.name); });

// A worker that stops fast gives its claim back without using up an attempt, and leaves its
// partial download for the next stager to adopt.
TEST_F(StageJobTest, StoppingHandsTheClaimBack) {
  PutPayload();
  Want({"full_payload"});
  stopping_ = true;
  Status s = RunStageJob(deps_, MustClaim(alice_));
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.message();
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kQueued);
  EXPECT_EQ(StatusOf("full_payload").attempts, 0);
  stopping_ = false;
  ASSERT_TRUE(RunStageJob(deps_, MustClaim(bob_)).ok());
  EXPECT_EQ(Read("update.gz"), kPayload);
  EXPECT_TRUE(HiddenEntries().empty());
}

TEST_F(StageJobTest, MissingObjectFailsNamingThePattern) {
  PutObject("stateful.tgz", "s");
  Want({"full_payload"});
  Status s = RunStageJob(deps_, MustClaim(alice_));
  EXPECT_EQ(s.message(),
            "full_payload: no object matches chromeos_*_full_*.bin in " + std::string(kUrl));
  EXPECT_EQ(StatusOf("full_payload").error_kind, "not_found");  // an update check: noupdate
  EXPECT_TRUE(HiddenEntries().empty());
}

}  // namespace
}  // namespace devserver
