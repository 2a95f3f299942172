#include "fcgi/staging/wait_hub.h"

#include <gtest/gtest.h>

#include <future>

#include "fcgi/state/test_support.h"
#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

using state::ArtifactState;
using state::ArtifactStatus;

class WaitHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state::StateOptions options;
    options.liveness = &liveness_;
    ASSERT_TRUE(state::StateDb::Open(dir_.Sub("state.db"), options, &db_).ok());
    owner_ = {1, 1, dir_.Sub("owner.lock")};
    liveness_.SetAlive(owner_.lock_path, true);
    std::vector<ArtifactStatus> statuses;
    ASSERT_TRUE(db_->Request("b/1", "gs://x/b/1", {"full_payload", "stateful"}, 0, &statuses).ok());
  }
  state::Claim Claim() {
    std::optional<state::Claim> claim;
    EXPECT_TRUE(db_->ClaimNext(owner_, 10, &claim).ok());
    return claim.value_or(state::Claim{});
  }
  static std::chrono::steady_clock::time_point In(int seconds) {
    return std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  }

  testing::TempDir dir_{"devserver-waithub"};
  state::DeclaredLiveness liveness_;
  std::unique_ptr<state::StateDb> db_;
  state::Owner owner_;
};

TEST_F(WaitHubTest, ManyWaitersAllSeeThePublication) {
  WaitHub hub(db_.get(), std::chrono::milliseconds(20));
  std::vector<std::future<std::pair<Status, std::vector<ArtifactStatus>>>> waiters;
  waiters.reserve(32);
  for (int i = 0; i < 32; ++i) {
    waiters.push_back(std::async(std::launch::async, [&] {
      std::vector<ArtifactStatus> statuses;
      Status s = hub.WaitSettled("b/1", {"full_payload"}, In(30), &statuses);
      return std::make_pair(s, statuses);
    }));
  }
  state::Claim claim = Claim();
  ASSERT_TRUE(db_->Publish(claim, {{"update.gz", 1, "", ""}}).ok());
  hub.Poke();
  for (auto& w : waiters) {
    auto [s, statuses] = w.get();
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_EQ(statuses[0].state, ArtifactState::kStaged);
  }
}

TEST_F(WaitHubTest, AFailureSettlesTheWaitWithItsCause) {
  WaitHub hub(db_.get(), std::chrono::milliseconds(20));
  state::Claim claim = Claim();  // full_payload
  auto waiter = std::async(std::launch::async, [&] {
    std::vector<ArtifactStatus> statuses;
    Status s = hub.WaitSettled("b/1", {"full_payload"}, In(30), &statuses);
    return std::make_pair(s, statuses);
  });
  ASSERT_TRUE(db_->MarkFailed(claim, "full_payload: boom").ok());
  auto [s, statuses] = waiter.get();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kFailed);
  EXPECT_EQ(statuses[0].error, "full_payload: boom");
}

TEST_F(WaitHubTest, AlreadySettledReturnsAtOnceAndUnsettledTimesOut) {
  WaitHub hub(db_.get(), std::chrono::milliseconds(20));
  state::Claim claim = Claim();
  ASSERT_TRUE(db_->Publish(claim, {}).ok());
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(hub.WaitSettled("b/1", {claim.artifact}, In(30), &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kStaged);
  Status s =
      hub.WaitSettled("b/1", {"stateful"},
                      std::chrono::steady_clock::now() + std::chrono::milliseconds(100), &statuses);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_EQ(s.message(), "timed out waiting for b/1");
  EXPECT_EQ(statuses[0].state, ArtifactState::kQueued);
}

TEST_F(WaitHubTest, ShutdownReleasesWaiters) {
  WaitHub hub(db_.get(), std::chrono::milliseconds(20));
  auto waiter = std::async(std::launch::async, [&] {
    std::vector<ArtifactStatus> statuses;
    return hub.WaitSettled("b/1", {"stateful"}, In(60), &statuses);
  });
  hub.Shutdown();
  Status s = waiter.get();
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_EQ(s.message(), "devserver is shutting down; ask again");
}

}  // namespace
}  // namespace devserver
