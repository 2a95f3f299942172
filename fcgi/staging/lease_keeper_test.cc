// The lease keeper renews every registered claim on its own schedule, whatever the stager
// does, and reports a claim another owner took.
#include "fcgi/staging/lease_keeper.h"

#include <gtest/gtest.h>

#include <thread>
#include "fcgi/state/state_db_test_fixture.h"

namespace devserver {
namespace {

using state::ArtifactState;
using state::Claim;

class LeaseKeeperTest : public state::StateDbTest {
 protected:
  void SetUp() override {
    StateDbTest::SetUp();
    std::vector<state::ArtifactStatus> statuses;
    ASSERT_TRUE(db_->Request(state::kBuild, state::kUrl, {"full_payload"}, 0, &statuses).ok());
  }
};

TEST_F(LeaseKeeperTest, RenewalsKeepAClaimPastItsLeaseWithoutAnyProgress) {
  // An interval longer than the test: only RenewNow() renews.
  LeaseKeeper keeper(db_.get(), std::chrono::hours(1));
  Claim claim = MustClaim(alice_);
  auto registration = keeper.Register(claim);
  for (int i = 0; i < 5; ++i) {  // five leases long, no byte of progress
    clock_.Advance(options_.lease_seconds - 1);
    keeper.RenewNow();
    EXPECT_TRUE(NothingToClaim(bob_)) << "renewal " << i;
  }
  EXPECT_FALSE(registration->ticket().lost());
  EXPECT_TRUE(db_->Publish(claim, {{"update.gz", 3, "", ""}}).ok());
}

TEST_F(LeaseKeeperTest, AnUnregisteredClaimIsNoLongerRenewed) {
  LeaseKeeper keeper(db_.get(), std::chrono::hours(1));
  Claim claim = MustClaim(alice_);
  keeper.Register(claim).reset();
  clock_.Advance(options_.lease_seconds + 1);
  keeper.RenewNow();
  EXPECT_EQ(MustClaim(bob_).attempts, 2);
}

TEST_F(LeaseKeeperTest, AClaimTakenOverIsReportedLost) {
  LeaseKeeper keeper(db_.get(), std::chrono::hours(1));
  auto registration = keeper.Register(MustClaim(alice_));
  clock_.Advance(options_.lease_seconds + 1);  // alice's worker could not renew in time
  MustClaim(bob_);
  EXPECT_FALSE(registration->ticket().lost());
  keeper.RenewNow();
  EXPECT_TRUE(registration->ticket().lost());
}

TEST_F(LeaseKeeperTest, TheThreadRenewsAndWritesTheLatestProgress) {
  LeaseKeeper keeper(db_.get(), std::chrono::milliseconds(10));
  auto registration = keeper.Register(MustClaim(alice_));
  registration->ticket().SetTotal(100);
  registration->ticket().SetProgress(42);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  state::ArtifactStatus status;
  while (std::chrono::steady_clock::now() < give_up) {
    status = StatusOf("full_payload");
    if (status.bytes_done == 42) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status.bytes_done, 42);
  EXPECT_EQ(status.bytes_total, std::optional<int64_t>(100));
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaging);
}

}  // namespace
}  // namespace devserver
