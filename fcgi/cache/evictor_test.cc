// The Evictor against a real state file and real directories, on a manual clock and a
// declared disk size.
#include "fcgi/cache/evictor.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fcgi/base/fs.h"
#include "fcgi/cache/janitor.h"
#include "fcgi/state/test_support.h"
#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

namespace fs = std::filesystem;
using state::ArtifactStatus;

// The manual clock, on a file system whose size and free space the test declares.
class DeclaredDiskEnv : public state::ManualClockEnv {
 public:
  Status Disk(const std::string&, DiskSpace* space) override {
    *space = disk;
    return Status::Ok();
  }
  DiskSpace disk{/*available=*/1 << 30, /*total=*/int64_t{1} << 31};
};

class EvictorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state::StateOptions options;
    options.env = &env_;
    options.liveness = &liveness_;
    ASSERT_TRUE(state::StateDb::Open(dir_.Sub("state.db"), options, &db_).ok());
    liveness_.SetAlive(owner_.lock_path, true);
    fs::create_directories(root_);
    evictor_ = std::make_unique<Evictor>(db_.get(), &env_, root_);
  }

  // Stages one artifact of `build` with a file of `size` bytes, on disk and in the state.
  void Stage(const std::string& build, int64_t size) {
    std::vector<ArtifactStatus> statuses;
    ASSERT_TRUE(db_->Request(build, "gs://b/" + build, {"full_payload"}, 0, &statuses).ok());
    std::optional<state::Claim> claim;
    ASSERT_TRUE(db_->ClaimNext(owner_, 10, &claim).ok());
    ASSERT_TRUE(claim.has_value());
    fs::create_directories(root_ + "/" + build + "/au");
    std::ofstream(root_ + "/" + build + "/au/update.gz") << std::string(size, 'x');
    ASSERT_TRUE(db_->Publish(*claim, {{"au/update.gz", size, "", ""}}).ok());
  }
  bool OnDisk(const std::string& build) {
    return fs::exists(root_ + "/" + build + "/au/update.gz");
  }
  state::ArtifactState StateOf(const std::string& build) {
    std::vector<ArtifactStatus> statuses;
    EXPECT_TRUE(db_->Get(build, {"full_payload"}, &statuses).ok());
    return statuses.at(0).state;
  }
  std::vector<std::string> Hidden() {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(root_)) {
      std::string name = entry.path().filename().string();
      if (name[0] == '.') names.push_back(name);
    }
    return names;
  }
  EvictionReport MustRun(const EvictionBudget& budget, bool dry_run = false) {
    EvictionReport report;
    Status s = evictor_->Run(budget, dry_run, &report);
    EXPECT_TRUE(s.ok()) << s.message();
    return report;
  }
  // Three builds staged 100 s apart: a (100 bytes, oldest), b (200), c (300).
  void StageThree() {
    Stage("board/a", 100);
    env_.Advance(100);
    Stage("board/b", 200);
    env_.Advance(100);
    Stage("board/c", 300);
    env_.Advance(10'000);
  }

  testing::TempDir dir_{"devserver-evictor"};
  std::string root_ = dir_.Sub("static");
  DeclaredDiskEnv env_;
  state::DeclaredLiveness liveness_;
  state::Owner owner_{100, 1, dir_.Sub("owner.lock")};
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<Evictor> evictor_;
};

TEST_F(EvictorTest, WithinBudgetNothingGoes) {
  StageThree();
  EvictionBudget budget;
  budget.max_staged_bytes = 600;
  budget.min_free_percent = 10;  // 1 GiB of 2 GiB free
  EvictionReport report = MustRun(budget);
  EXPECT_EQ(report.staged_bytes, 600);
  EXPECT_EQ(report.bytes_to_free, 0);
  EXPECT_TRUE(report.evicted.empty());
  EXPECT_TRUE(OnDisk("board/a") && OnDisk("board/b") && OnDisk("board/c"));
}

TEST_F(EvictorTest, OverTheSizeLimitTheLeastRecentlyUsedGoFirst) {
  StageThree();
  // b is used again (a request naming it): now a is oldest, then c.
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request("board/b", "gs://b/board/b", {"full_payload"}, 0, &statuses).ok());
  env_.Advance(10'000);
  EvictionBudget budget;
  budget.max_staged_bytes = 250;  // 350 to free: a (100) is not enough, a + c (400) is
  EvictionReport report = MustRun(budget);
  EXPECT_EQ(report.bytes_to_free, 350);
  ASSERT_EQ(report.evicted.size(), 2u);
  EXPECT_EQ(report.evicted[0].build, "board/a");
  EXPECT_EQ(report.evicted[1].build, "board/c");
  EXPECT_EQ(report.bytes_freed, 400);
  EXPECT_FALSE(report.ShortOfBudget());
  EXPECT_FALSE(fs::exists(root_ + "/board/a"));
  EXPECT_FALSE(fs::exists(root_ + "/board/c"));
  EXPECT_TRUE(OnDisk("board/b"));
  EXPECT_EQ(StateOf("board/a"), state::ArtifactState::kMissing);
  EXPECT_EQ(StateOf("board/b"), state::ArtifactState::kStaged);
  EXPECT_TRUE(Hidden().empty());                    // the detached trees were removed
  EXPECT_TRUE(fs::is_directory(root_ + "/board"));  // parents stay for the builds to come
}

TEST_F(EvictorTest, BelowTheFreeSpaceFloorBuildsGoUntilItIsMet) {
  StageThree();
  env_.disk = {/*available=*/50, /*total=*/1000};
  EvictionBudget budget;
  budget.min_free_percent = 20;  // 200 of 1000 wanted free: 150 to free, a and b
  EvictionReport report = MustRun(budget);
  EXPECT_EQ(report.bytes_to_free, 150);
  ASSERT_EQ(report.evicted.size(), 2u);
  EXPECT_FALSE(OnDisk("board/a"));
  EXPECT_FALSE(OnDisk("board/b"));
  EXPECT_TRUE(OnDisk("board/c"));
}

TEST_F(EvictorTest, BuildsUsedWithinTheGracePeriodOrStillStagingStay) {
  StageThree();
  // c is used now; a new artifact of a is queued (a stager will write into its directory).
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request("board/c", "gs://b/board/c", {"full_payload"}, 0, &statuses).ok());
  ASSERT_TRUE(db_->Request("board/a", "gs://b/board/a", {"stateful"}, 1, &statuses).ok());
  EvictionBudget budget;
  budget.max_staged_bytes = 1;
  budget.grace_seconds = 3600;
  EvictionReport report = MustRun(budget);
  ASSERT_EQ(report.evicted.size(), 1u);
  EXPECT_EQ(report.evicted[0].build, "board/b");
  EXPECT_TRUE(report.ShortOfBudget());
  EXPECT_TRUE(OnDisk("board/a"));
  EXPECT_TRUE(OnDisk("board/c"));
}

TEST_F(EvictorTest, ADryRunReportsAndRemovesNothing) {
  StageThree();
  EvictionBudget budget;
  budget.all_unused = true;
  budget.grace_seconds = 5000;
  EvictionReport report = MustRun(budget, /*dry_run=*/true);
  ASSERT_EQ(report.evicted.size(), 3u);
  EXPECT_EQ(report.bytes_freed, 600);
  EXPECT_TRUE(OnDisk("board/a") && OnDisk("board/b") && OnDisk("board/c"));
  EXPECT_EQ(StateOf("board/a"), state::ArtifactState::kStaged);
}

TEST_F(EvictorTest, AllUnusedEvictsEveryBuildPastTheGraceWhateverTheBudget) {
  StageThree();
  env_.Advance(-9'950);  // a and b were used more than 100 s ago, c 50 s ago
  EvictionBudget budget;
  budget.all_unused = true;
  budget.grace_seconds = 100;
  EvictionReport report = MustRun(budget);
  EXPECT_EQ(report.bytes_to_free, 0);
  ASSERT_EQ(report.evicted.size(), 2u);
  EXPECT_FALSE(OnDisk("board/a"));
  EXPECT_FALSE(OnDisk("board/b"));
  EXPECT_TRUE(OnDisk("board/c"));
}

TEST_F(EvictorTest, ABuildWithoutADirectoryIsForgottenAllTheSame) {
  StageThree();
  fs::remove_all(root_ + "/board/a");  // removed by hand
  EvictionBudget budget;
  budget.max_staged_bytes = 550;
  EvictionReport report = MustRun(budget);
  ASSERT_EQ(report.evicted.size(), 1u);
  EXPECT_EQ(StateOf("board/a"), state::ArtifactState::kMissing);
  EXPECT_TRUE(OnDisk("board/b"));
}

TEST_F(EvictorTest, ARowNamingADirectoryOutsideTheStaticRootIsRefused) {
  Stage("board/../../outside", 10);  // lands in the test's temp dir, beside the static root
  env_.Advance(10'000);
  EvictionBudget budget;
  budget.all_unused = true;
  EvictionReport report;
  Status s = evictor_->Run(budget, /*dry_run=*/false, &report);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("refusing to evict"), std::string::npos) << s.message();
  EXPECT_TRUE(fs::exists(dir_.Sub("outside/au/update.gz")));
}

TEST_F(EvictorTest, LeftoversOfInterruptedEvictionsAreRemovedAndNothingElse) {
  StageThree();
  fs::create_directories(root_ + "/.evicting-1-2-3/board/x");
  std::ofstream(root_ + "/.evicting-1-2-3/board/x/f") << "data";
  fs::create_directories(root_ + "/.partial-upload");  // not ours to remove
  EXPECT_EQ(evictor_->RemoveLeftovers(), 1);
  EXPECT_EQ(Hidden(), std::vector<std::string>{".partial-upload"});
  EXPECT_TRUE(OnDisk("board/a") && OnDisk("board/b") && OnDisk("board/c"));
}

TEST_F(EvictorTest, JanitorEvictsOnItsFirstRoundAndSkipsWhileTheLockIsHeld) {
  StageThree();
  EvictionBudget budget;
  budget.max_staged_bytes = 500;
  const std::string lock_path = dir_.Sub("evict.lock");
  {
    // Held elsewhere (devserverctl gc): the janitor's rounds pass without evicting.
    ExclusiveFileLock other;
    bool held = false;
    ASSERT_TRUE(other.Lock(lock_path, /*wait=*/false, &held).ok());
    ASSERT_TRUE(held);
    Janitor janitor(evictor_.get(), budget, lock_path, std::chrono::milliseconds(1));
    for (int i = 0; i < 2000 && janitor.rounds() < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    janitor.Stop();
    ASSERT_GE(janitor.rounds(), 3);
    EXPECT_TRUE(OnDisk("board/a"));
  }
  Janitor janitor(evictor_.get(), budget, lock_path, std::chrono::milliseconds(5));
  for (int i = 0; i < 2000 && OnDisk("board/a"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  janitor.Stop();
  EXPECT_FALSE(OnDisk("board/a"));
  EXPECT_TRUE(OnDisk("board/b"));
}

}  // namespace
}  // namespace devserver
