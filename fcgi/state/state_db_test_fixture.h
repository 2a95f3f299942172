// The StateDb test fixture shared by the state_db*_test.cc files: a database in a temp dir
// on a manual clock, and two live owners.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fcgi/state/state_db.h"
#include "fcgi/state/test_support.h"
#include "tests/support/temp_dir.h"

namespace devserver::state {

inline const std::string kBuild = "x86-alex-release/R19-2003.0.0-a1-b1819";
inline const std::string kUrl =
    "gs://chromeos-image-archive/x86-alex-release/R19-2003.0.0-a1-b1819";

class StateDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.env = &clock_;
    options_.liveness = &liveness_;
    options_.lease_seconds = 30;
    options_.retry_delay_seconds = 60;
    db_ = Open();
    alice_ = {100, 1, dir_.Sub("alice.lock")};
    bob_ = {200, 2, dir_.Sub("bob.lock")};
    liveness_.SetAlive(alice_.lock_path, true);
    liveness_.SetAlive(bob_.lock_path, true);
  }

  std::unique_ptr<StateDb> Open() {
    std::unique_ptr<StateDb> db;
    Status s = StateDb::Open(dir_.Sub("state.db"), options_, &db);
    EXPECT_TRUE(s.ok()) << s.message();
    return db;
  }
  ArtifactStatus StatusOf(const std::string& artifact) {
    std::vector<ArtifactStatus> statuses;
    EXPECT_TRUE(db_->Get(kBuild, {artifact}, &statuses).ok());
    return statuses.at(0);
  }
  Claim MustClaim(const Owner& owner) {
    std::optional<Claim> claim;
    Status s = db_->ClaimNext(owner, 100, &claim);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(claim.has_value());
    return claim.value_or(Claim{});
  }
  bool NothingToClaim(const Owner& owner) {
    std::optional<Claim> claim;
    EXPECT_TRUE(db_->ClaimNext(owner, 100, &claim).ok());
    return !claim.has_value();
  }

  testing::TempDir dir_{"devserver-statedb"};
  ManualClockEnv clock_;
  DeclaredLiveness liveness_;
  StateOptions options_;
  std::unique_ptr<StateDb> db_;
  Owner alice_, bob_;
};

}  // namespace devserver::state
