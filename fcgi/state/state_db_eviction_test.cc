// StateDb's part in eviction: which builds may go, forgetting one whole, recording use.
#include <gtest/gtest.h>

#include "fcgi/state/state_db_test_fixture.h"

namespace devserver::state {
namespace {

class EvictionStateTest : public StateDbTest {
 protected:
  // Requests `artifact` of `build` now and stages it with files of these sizes.
  void Stage(const std::string& build, const std::string& artifact,
             const std::vector<int64_t>& sizes) {
    std::vector<ArtifactStatus> statuses;
    ASSERT_TRUE(db_->Request(build, "gs://b/" + build, {artifact}, 0, &statuses).ok());
    std::vector<StagedFile> files;
    for (size_t i = 0; i < sizes.size(); ++i) {
      files.push_back({artifact + std::to_string(i), sizes[i], "", ""});
    }
    ASSERT_TRUE(db_->Publish(MustClaim(alice_), files).ok());
  }
  std::vector<std::string> Evictable(int64_t used_before) {
    std::vector<EvictableBuild> builds;
    Status s = db_->EvictableBuilds(used_before, &builds);
    EXPECT_TRUE(s.ok()) << s.message();
    std::vector<std::string> names;
    names.reserve(builds.size());
    for (const EvictableBuild& b : builds) names.push_back(b.build);
    return names;
  }
  int64_t LastUsed(const std::string& build) {
    std::vector<BuildOverview> builds;
    EXPECT_TRUE(db_->RecentBuilds(100, &builds).ok());
    for (const BuildOverview& b : builds) {
      if (b.build == build) return b.last_used_at;
    }
    return -1;
  }
  // Evicts with a detach that counts its calls and answers `detach_result`.
  bool Evict(const std::string& build, int64_t used_before, int* detached,
             const Status& detach_result = Status::Ok()) {
    bool evicted = false;
    Status s = db_->Evict(
        build, used_before,
        [&]() {
          ++*detached;
          return detach_result;
        },
        &evicted);
    EXPECT_EQ(s.ok(), detach_result.ok()) << s.message();
    return evicted;
  }
};

TEST_F(EvictionStateTest, EvictableBuildsAreLeastRecentlyUsedFirstWithTheirBytes) {
  const int64_t start = clock_.WallSeconds();
  Stage("board/old", "full_payload", {100, 200});
  clock_.Advance(10);
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request("board/failed", "gs://b/board/failed", {"stateful"}, 0, &statuses).ok());
  ASSERT_TRUE(db_->MarkFailed(MustClaim(alice_), "404").ok());
  clock_.Advance(10);
  Stage("board/newer", "full_payload", {50});
  clock_.Advance(10);
  // Unfinished work keeps a build, however old: a queued artifact, and one being staged.
  ASSERT_TRUE(db_->Request("board/queued", "gs://b/board/queued", {"autotest"}, 1, &statuses).ok());
  Stage("board/staging", "full_payload", {7});
  ASSERT_TRUE(
      db_->Request("board/staging", "gs://b/board/staging", {"stateful"}, 0, &statuses).ok());
  Claim staging = MustClaim(alice_);
  ASSERT_EQ(staging.build, "board/staging");
  clock_.Advance(1000);

  std::vector<EvictableBuild> builds;
  ASSERT_TRUE(db_->EvictableBuilds(clock_.WallSeconds(), &builds).ok());
  ASSERT_EQ(builds.size(), 3u);
  EXPECT_EQ(builds[0].build, "board/old");
  EXPECT_EQ(builds[0].bytes, 300);
  EXPECT_EQ(builds[0].last_used_at, start);
  EXPECT_EQ(builds[1].build, "board/failed");
  EXPECT_EQ(builds[1].bytes, 0);
  EXPECT_EQ(builds[2].build, "board/newer");
  EXPECT_EQ(builds[2].bytes, 50);
  // The grace period: only builds used before the cut-off.
  EXPECT_EQ(Evictable(start + 15), (std::vector<std::string>{"board/old", "board/failed"}));
  EXPECT_TRUE(Evictable(start).empty());
}

TEST_F(EvictionStateTest, EvictForgetsTheWholeBuildAfterDetachingIt) {
  Stage(kBuild, "full_payload", {100, 200});
  Stage(kBuild, "stateful", {30});
  Stage("board/other", "full_payload", {5});
  clock_.Advance(100);
  int detached = 0;
  ASSERT_TRUE(Evict(kBuild, clock_.WallSeconds(), &detached));
  EXPECT_EQ(detached, 1);
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kMissing);
  EXPECT_EQ(StatusOf("stateful").state, ArtifactState::kMissing);
  std::vector<StagedFile> files;
  ASSERT_TRUE(db_->Files(kBuild, "full_payload", &files).ok());
  EXPECT_TRUE(files.empty());
  EXPECT_EQ(LastUsed(kBuild), -1);  // the build row went too
  StateSummary summary;
  ASSERT_TRUE(db_->Summary(&summary).ok());
  EXPECT_EQ(summary.staged_bytes, 5);  // only the other build's file is left
  EXPECT_EQ(Evictable(clock_.WallSeconds()), std::vector<std::string>{"board/other"});
}

TEST_F(EvictionStateTest, ABuildUsedOrQueuedSinceTheListingStays) {
  Stage(kBuild, "full_payload", {100});
  Stage("board/other", "full_payload", {5});
  clock_.Advance(1000);
  const int64_t cut_off = clock_.WallSeconds() - 10;
  ASSERT_EQ(Evictable(cut_off).size(), 2u);
  // Used again after the evictor listed it...
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  // ...or something new queued for it.
  ASSERT_TRUE(db_->Request("board/other", "gs://b/board/other", {"stateful"}, 1, &statuses).ok());
  int detached = 0;
  EXPECT_FALSE(Evict(kBuild, cut_off, &detached));
  EXPECT_FALSE(Evict("board/other", cut_off, &detached));
  EXPECT_EQ(detached, 0);  // its files were never touched
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaged);
}

TEST_F(EvictionStateTest, AFailedDetachForgetsNothing) {
  Stage(kBuild, "full_payload", {100});
  clock_.Advance(1000);
  int detached = 0;
  EXPECT_FALSE(Evict(kBuild, clock_.WallSeconds(), &detached, Status::IOError("rename", EACCES)));
  EXPECT_EQ(detached, 1);
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaged);
  EXPECT_EQ(Evictable(clock_.WallSeconds()), std::vector<std::string>{kBuild});
}

TEST_F(EvictionStateTest, ABuildGoesOnlyAfterTheBuildsInsideItsDirectory) {
  Stage("board/R1", "full_payload", {1});
  Stage("board/R1/inner", "full_payload", {2});
  Stage("board/R10", "full_payload", {3});  // a sibling whose name merely starts alike
  clock_.Advance(1000);
  const int64_t now = clock_.WallSeconds();
  EXPECT_EQ(Evictable(now), (std::vector<std::string>{"board/R1/inner", "board/R10"}));
  int detached = 0;
  EXPECT_FALSE(Evict("board/R1", now, &detached));
  EXPECT_TRUE(Evict("board/R1/inner", now, &detached));
  EXPECT_TRUE(Evict("board/R1", now, &detached));
  EXPECT_EQ(detached, 2);
}

TEST_F(EvictionStateTest, ReadsOfStaticFilesCountAsUseOfTheirBuild) {
  const int64_t start = clock_.WallSeconds();
  Stage(kBuild, "full_payload", {100});
  Stage("board/R1", "full_payload", {1});
  Stage("board/R1/inner", "full_payload", {1});
  clock_.Advance(1000);
  ASSERT_TRUE(
      db_->MarkUsed({kBuild + "/update.gz", "board/R1/inner/x/y.bin", "unknown/file", "board/R1"})
          .ok());
  const int64_t now = clock_.WallSeconds();
  EXPECT_EQ(LastUsed(kBuild), now);
  // A file under a build nested in another uses both directories' builds.
  EXPECT_EQ(LastUsed("board/R1/inner"), now);
  EXPECT_EQ(LastUsed("board/R1"), now);
  // A read again within the resolution changes nothing; later, it does.
  clock_.Advance(StateDb::kLastUsedResolutionSeconds - 1);
  ASSERT_TRUE(db_->MarkUsed({kBuild + "/update.gz"}).ok());
  EXPECT_EQ(LastUsed(kBuild), now);
  clock_.Advance(2);
  ASSERT_TRUE(db_->MarkUsed({kBuild + "/update.gz"}).ok());
  EXPECT_EQ(LastUsed(kBuild), clock_.WallSeconds());
  EXPECT_GT(LastUsed(kBuild), start);
}

}  // namespace
}  // namespace devserver::state
