// The staging unit tests' fixture: a real state file, the built plugins, a local directory
// standing in for storage, and a fault-injecting Env, in one temp directory; two owners (alive
// until declared dead) and everything a StageJob needs.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "fcgi/base/fault_env.h"
#include "fcgi/staging/stage_job.h"
#include "fcgi/state/test_support.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_archive.h"

namespace devserver {

class StagingUnitTest : public ::testing::Test {
 protected:
  static constexpr const char* kFolder = "board-release/R1-1.0.0";
  static constexpr const char* kUrl = "gs://bucket/board-release/R1-1.0.0";

  void SetUp() override {
    std::filesystem::create_directories(dir_.Sub("archive/bucket/") + kFolder);
    std::filesystem::create_directories(dir_.Sub("static"));
    config_.static_root = dir_.Sub("static");
    config_.state_dir = dir_.path();
    config_.allowed_buckets = {"bucket"};
    config_.object_wait_s = 0;
    config_.max_concurrent = 4;
    config_.extract_max_gib = 1;
    config_.extract_max_entries = 1000;
    config_.extract_max_ratio = 1000;
    config_.extract_max_seconds = 600;
    options_.lease_seconds = 2;
    options_.retry_delay_seconds = 0;
    options_.liveness = &liveness_;
    alice_ = {100, 1, dir_.Sub("alice.lock")};
    bob_ = {200, 2, dir_.Sub("bob.lock")};
    liveness_.SetAlive(alice_.lock_path, true);
    liveness_.SetAlive(bob_.lock_path, true);
    Status s = state::StateDb::Open(dir_.Sub("state.db"), options_, &db_);
    ASSERT_TRUE(s.ok()) << s.message();
    s = ArtifactRegistry::Load(DEVSERVER_PLUGIN_DIR, &registry_);
    ASSERT_TRUE(s.ok()) << s.message();
    store_ = storage::MakeLocalDirStore(dir_.Sub("archive"), &env_);
    leases_ = std::make_unique<LeaseKeeper>(db_.get(), std::chrono::milliseconds(100));
    listings_ = std::make_unique<BuildListings>(db_.get(), store_.get(), dir_.Sub("listings.lock"));
    deps_.config = &config_;
    deps_.env = &env_;
    deps_.db = db_.get();
    deps_.store = store_.get();
    deps_.registry = registry_.get();
    deps_.leases = leases_.get();
    deps_.listings = listings_.get();
    deps_.stopping = &stopping_;
  }

  void PutObject(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_.Sub("archive/bucket/") + kFolder + "/" + name, std::ios::binary) << bytes;
  }
  void PutArchive(const std::string& name, const std::vector<testing::TestEntry>& entries) {
    std::string error = testing::WriteTestArchive(
        dir_.Sub("archive/bucket/") + kFolder + "/" + name, entries, testing::ArchiveOptions());
    ASSERT_EQ(error, "");
  }
  void Want(const std::vector<std::string>& artifacts) {
    std::vector<state::ArtifactStatus> statuses;
    ASSERT_TRUE(db_->Request(kFolder, kUrl, artifacts, 0, &statuses).ok());
  }
  state::Claim MustClaim(const state::Owner& owner) {
    std::optional<state::Claim> claim;
    Status s = db_->ClaimNext(owner, 100, &claim);
    EXPECT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(claim.has_value());
    return claim.value_or(state::Claim{});
  }
  state::ArtifactStatus StatusOf(const std::string& artifact) {
    std::vector<state::ArtifactStatus> statuses;
    EXPECT_TRUE(db_->Get(kFolder, {artifact}, &statuses).ok());
    return statuses.at(0);
  }
  std::string BuildDir() const { return config_.static_root + "/" + kFolder; }
  std::string Read(const std::string& relative) const {
    std::ifstream in(BuildDir() + "/" + relative, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  // Every entry of the build directory, hidden ones marked by their leading '.'.
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(BuildDir(), ec)) {
      if (!e.is_directory()) names.push_back(e.path().lexically_relative(BuildDir()).string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  std::vector<std::string> HiddenEntries() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(BuildDir(), ec)) {
      if (e.path().filename().string()[0] == '.') names.push_back(e.path().filename());
    }
    return names;
  }

  testing::TempDir dir_{"devserver-staging-unit"};
  Config config_;
  state::StateOptions options_;
  state::DeclaredLiveness liveness_;
  state::Owner alice_, bob_;
  FaultInjectionEnv env_{Env::Default()};
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<ArtifactRegistry> registry_;
  std::unique_ptr<storage::ArchiveStore> store_;
  std::unique_ptr<LeaseKeeper> leases_;
  std::unique_ptr<BuildListings> listings_;
  std::atomic<bool> stopping_{false};
  StagingDeps deps_;
};

}  // namespace devserver
