// A worker's stager threads: they take queued work, finish it when the worker drains, give it
// back when the worker stops, and sweep the staging directories a staging left behind.
#include "fcgi/staging/stager_pool.h"

#include <gtest/gtest.h>

#include <thread>

#include "fcgi/staging/staging_test_fixture.h"

namespace devserver {
namespace {

using state::ArtifactState;
using testing::TestFile;

class StagerPoolTest : public StagingUnitTest {
 protected:
  void SetUp() override {
    StagingUnitTest::SetUp();
    waiters_ = std::make_unique<WaitHub>(db_.get(), std::chrono::milliseconds(20));
  }
  void TearDown() override { pool_.reset(); }

  void StartPool(int threads) {
    pool_ = std::make_unique<StagerPool>(deps_, alice_, waiters_.get(), threads,
                                         std::chrono::milliseconds(20));
  }
  bool WaitFor(const std::string& artifact, ArtifactState state, int timeout_ms = 20000) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < give_up) {
      if (StatusOf(artifact).state == state) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // An autotest.tar whose unpacking takes `files` x `delay_ms`.
  void SlowAutotest(int files, int delay_ms) {
    std::vector<testing::TestEntry> entries;
    entries.reserve(files);
    for (int i = 0; i < files; ++i) {
      entries.push_back(TestFile("autotest/t" + std::to_string(i) + "/control", "x"));
    }
    PutArchive("autotest.tar", entries);
    FaultRule slow;
    slow.op = FaultOp::kWrite;
    slow.path = "/out/autotest/";
    slow.delay_ms = delay_ms;
    slow.count = FaultRule::kUnlimited;
    env_.Add(slow);
  }

  // Whether the build directory's hidden entries are all gone within `timeout_ms`.
  bool HiddenEntriesGo(int timeout_ms = 5000) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!HiddenEntries().empty() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return HiddenEntries().empty();
  }

  std::unique_ptr<WaitHub> waiters_;
  std::unique_ptr<StagerPool> pool_;
};

// The staged artifact's directory could not be removed (EIO, and again at the first sweep):
// it does not outlive the failing disk, though nothing else of the build is staged again.
TEST_F(StagerPoolTest, AStagingDirectoryThatCouldNotBeRemovedIsSweptWhenTheDiskAllows) {
  PutObject("stateful.tgz", "stateful");
  FaultRule remove;
  remove.op = FaultOp::kRemove;
  remove.path = "/.staging-";
  remove.err = EIO;
  remove.skip = 1;  // the downloads' removal before publication, which would fail the staging
  remove.count = 3;
  env_.Add(remove);
  StartPool(1);
  Want({"stateful"});
  pool_->Wake();
  ASSERT_TRUE(WaitFor("stateful", ArtifactState::kStaged));
  EXPECT_TRUE(HiddenEntriesGo()) << HiddenEntries().front();
  EXPECT_EQ(env_.Injected(), 3);
  EXPECT_EQ(Read("stateful.tgz"), "stateful");
}

// A dead stager's directory whose artifact's next attempt failed before it swept (the object
// is gone upstream) goes when that attempt ends, not at some later staging of the build.
TEST_F(StagerPoolTest, ADeadStagersDirectoryGoesWhenTheNextAttemptFailsEarly) {
  PutObject("other.bin", "not the artifact");  // the build exists, its artifact does not
  Want({"stateful"});
  const state::Claim dead = MustClaim(bob_);
  std::filesystem::create_directories(BuildDir() + "/.staging-" + std::to_string(dead.token));
  liveness_.SetAlive(bob_.lock_path, false);
  StartPool(1);
  pool_->Wake();
  ASSERT_TRUE(WaitFor("stateful", ArtifactState::kFailed));
  EXPECT_TRUE(HiddenEntriesGo()) << HiddenEntries().front();
}

TEST_F(StagerPoolTest, StagersTakeWhatIsQueued) {
  PutObject("stateful.tgz", "stateful");
  PutObject("chromeos_R1-1.0.0_board_full_dev.bin", "payload");
  StartPool(2);
  Want({"full_payload", "stateful"});
  pool_->Wake();
  EXPECT_TRUE(WaitFor("full_payload", ArtifactState::kStaged));
  EXPECT_TRUE(WaitFor("stateful", ArtifactState::kStaged));
  EXPECT_EQ(Read("stateful.tgz"), "stateful");
}

TEST_F(StagerPoolTest, DrainingFinishesWhatItStagesAndClaimsNothingNew) {
  SlowAutotest(6, 200);
  PutObject("stateful.tgz", "stateful");
  StartPool(2);
  Want({"autotest"});
  pool_->Wake();
  // Under way: claimed, and its stager at work (a claim that meets a drain is given back).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (pool_->busy() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(pool_->busy(), 1);
  pool_->Drain();
  Want({"stateful"});
  pool_->Wake();
  EXPECT_TRUE(WaitFor("autotest", ArtifactState::kStaged));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // several polls
  EXPECT_EQ(StatusOf("stateful").state, ArtifactState::kQueued);
  EXPECT_EQ(pool_->busy(), 0);
}

TEST_F(StagerPoolTest, StoppingGivesTheWorkBackWithItsPartialDownloads) {
  SlowAutotest(20, 200);
  StartPool(1);
  Want({"autotest"});
  pool_->Wake();
  ASSERT_TRUE(WaitFor("autotest", ArtifactState::kStaging));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // into the unpacking
  pool_->Stop();
  pool_.reset();  // joins
  state::ArtifactStatus status = StatusOf("autotest");
  EXPECT_EQ(status.state, ArtifactState::kQueued);
  EXPECT_EQ(status.attempts, 0);
  // Its staging directory stays for the next stager, with the download in it.
  ASSERT_EQ(HiddenEntries().size(), 1U);
  EXPECT_TRUE(
      std::filesystem::exists(BuildDir() + "/" + HiddenEntries()[0] + "/fetch/autotest.tar"));
  env_.Clear();
  StartPool(1);
  pool_->Wake();
  EXPECT_TRUE(WaitFor("autotest", ArtifactState::kStaged));
  EXPECT_TRUE(HiddenEntries().empty());
}

class OneAttemptPoolTest : public StagerPoolTest {
 protected:
  void SetUp() override {
    options_.max_attempts = 1;
    StagerPoolTest::SetUp();
  }
};

TEST_F(OneAttemptPoolTest, AnArtifactWhoseAttemptsRanOutIsFailedAndSweptUp) {
  PutObject("stateful.tgz", "stateful");
  Want({"stateful"});
  // Bob's worker claimed it, made its staging directory and died.
  const state::Claim dead = MustClaim(bob_);
  std::filesystem::create_directories(BuildDir() + "/.staging-" + std::to_string(dead.token));
  liveness_.SetAlive(bob_.lock_path, false);
  StartPool(1);
  pool_->Wake();
  EXPECT_TRUE(WaitFor("stateful", ArtifactState::kFailed));
  EXPECT_EQ(StatusOf("stateful").error,
            "stateful: gave up after 1 attempts; the last: attempt 1 was lost: worker pid 200 "
            "died");
  EXPECT_TRUE(HiddenEntriesGo());
}

}  // namespace
}  // namespace devserver
