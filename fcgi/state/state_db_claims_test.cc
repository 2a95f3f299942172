// The claim protocol's newer rules: attempts run out, heartbeats of many claims in one
// transaction, publication fenced by the token, files shared by overlapping artifacts, and
// forgetting that never takes another artifact's files.
#include <gtest/gtest.h>

#include "fcgi/state/state_db_test_fixture.h"

namespace devserver::state {
namespace {

class ClaimsTest : public StateDbTest {
 protected:
  void Want(const std::vector<std::string>& artifacts) {
    std::vector<ArtifactStatus> statuses;
    ASSERT_TRUE(db_->Request(kBuild, kUrl, artifacts, 0, &statuses).ok());
  }
  std::vector<std::string> FilesOf(const std::string& artifact) {
    std::vector<StagedFile> files;
    EXPECT_TRUE(db_->Files(kBuild, artifact, &files).ok());
    std::vector<std::string> paths;
    paths.reserve(files.size());
    for (const StagedFile& f : files) paths.push_back(f.path + ":" + std::to_string(f.size));
    return paths;
  }
  // Publishes `claim` with `files`, returning the paths it was asked to place.
  std::vector<std::string> PublishPlacing(const Claim& claim, const std::vector<StagedFile>& files,
                                          Status* result = nullptr) {
    std::vector<std::string> placed;
    Status s = db_->Publish(claim, files, [&](const std::vector<StagedFile>& to_place) {
      for (const StagedFile& f : to_place) placed.push_back(f.path);
      return Status::Ok();
    });
    if (result != nullptr) {
      *result = s;
    } else {
      EXPECT_TRUE(s.ok()) << s.message();
    }
    return placed;
  }
};

TEST_F(ClaimsTest, LostAttemptsRunOutAndTheArtifactFailsWithTheLastCause) {
  options_.max_attempts = 2;
  db_ = Open();
  Want({"full_payload"});
  Claim first = MustClaim(alice_);
  EXPECT_EQ(first.attempts, 1);
  liveness_.SetAlive(alice_.lock_path, false);  // alice dies while staging
  Claim second = MustClaim(bob_);
  EXPECT_EQ(second.attempts, 2);
  // While it stages again, the row says why the first attempt ended.
  EXPECT_EQ(StatusOf("full_payload").error,
            "full_payload: attempt 1 was lost: worker pid 100 died");
  clock_.Advance(options_.lease_seconds + 1);  // bob hangs: his lease runs out
  std::optional<Claim> claim;
  std::vector<Abandoned> abandoned;
  ASSERT_TRUE(db_->ClaimNext(alice_, 100, &claim, &abandoned).ok());
  EXPECT_FALSE(claim.has_value());
  ASSERT_EQ(abandoned.size(), 1U);
  EXPECT_EQ(abandoned[0].artifact, "full_payload");
  ArtifactStatus status = StatusOf("full_payload");
  EXPECT_EQ(status.state, ArtifactState::kFailed);
  EXPECT_EQ(status.error,
            "full_payload: gave up after 2 attempts; the last: attempt 2 was lost: worker pid "
            "200 stopped renewing its lease");
  // Like any failure: kept for the retry delay, then a new round of attempts.
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kFailed);
  clock_.Advance(options_.retry_delay_seconds);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kQueued);
  EXPECT_EQ(statuses[0].attempts, 0);
  EXPECT_EQ(MustClaim(alice_).attempts, 1);
}

TEST_F(ClaimsTest, StartUpSweepFailsWhatRanOutOfAttemptsAndQueuesTheRest) {
  options_.max_attempts = 1;
  db_ = Open();
  Want({"full_payload", "stateful"});
  MustClaim(alice_);
  MustClaim(alice_);
  liveness_.SetAlive(alice_.lock_path, false);
  int requeued = -1;
  ASSERT_TRUE(db_->RequeueDeadOwners(&requeued).ok());
  EXPECT_EQ(requeued, 0);
  EXPECT_EQ(StatusOf("stateful").state, ArtifactState::kFailed);
  EXPECT_EQ(StatusOf("stateful").error,
            "stateful: gave up after 1 attempts; the last: attempt 1 was lost: worker pid 100 "
            "died");
}

TEST_F(ClaimsTest, ReleasedAttemptDoesNotCount) {
  options_.max_attempts = 1;
  db_ = Open();
  Want({"full_payload"});
  for (int i = 0; i < 3; ++i) {
    Claim claim = MustClaim(alice_);
    EXPECT_EQ(claim.attempts, 1);
    ASSERT_TRUE(db_->Release(claim).ok());
  }
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kQueued);
}

TEST_F(ClaimsTest, HeartbeatsOfManyClaimsRenewEachAndReportTheLostOne) {
  Want({"full_payload", "stateful"});
  Claim kept = MustClaim(alice_);
  Claim taken = MustClaim(alice_);
  clock_.Advance(options_.lease_seconds + 1);
  ASSERT_TRUE(db_->Heartbeat(kept, 5, 10).ok());  // renewed in time
  Claim thief = MustClaim(bob_);                  // the other one's lease ran out
  EXPECT_EQ(thief.artifact, taken.artifact);
  std::vector<bool> lost;
  ASSERT_TRUE(db_->HeartbeatAll({{kept, 7, 10}, {taken, 1, std::nullopt}}, &lost).ok());
  EXPECT_EQ(lost, (std::vector<bool>{false, true}));
  EXPECT_EQ(StatusOf(kept.artifact).bytes_done, 7);
  bool live = false;
  ASSERT_TRUE(db_->IsLiveClaim(kept.token, &live).ok());
  EXPECT_TRUE(live);
  ASSERT_TRUE(db_->IsLiveClaim(taken.token, &live).ok());
  EXPECT_FALSE(live);
  liveness_.SetAlive(alice_.lock_path, false);
  ASSERT_TRUE(db_->IsLiveClaim(kept.token, &live).ok());
  EXPECT_FALSE(live);
  // A claim its own stager just published is finished, not lost (the keeper may beat once
  // more before its stager lets go of it).
  liveness_.SetAlive(alice_.lock_path, true);
  ASSERT_TRUE(db_->Publish(kept, {{"update.gz", 3, "", ""}}).ok());
  ASSERT_TRUE(db_->HeartbeatAll({{kept, 7, 10}}, &lost).ok());
  EXPECT_EQ(lost, std::vector<bool>{false});
  EXPECT_EQ(StatusOf(kept.artifact).state, ArtifactState::kStaged);
}

TEST_F(ClaimsTest, LostClaimPlacesNothing) {
  Want({"full_payload"});
  Claim stale = MustClaim(alice_);
  liveness_.SetAlive(alice_.lock_path, false);
  Claim current = MustClaim(bob_);
  Status s;
  EXPECT_TRUE(PublishPlacing(stale, {{"update.gz", 3, "", ""}}, &s).empty());
  EXPECT_NE(s.message().find("lost to another owner"), std::string::npos) << s.message();
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaging);
  EXPECT_EQ(PublishPlacing(current, {{"update.gz", 3, "", ""}}),
            (std::vector<std::string>{"update.gz"}));
}

TEST_F(ClaimsTest, FailedPlacementRecordsNothing) {
  Want({"full_payload"});
  Claim claim = MustClaim(alice_);
  Status s = db_->Publish(claim, {{"update.gz", 3, "", ""}}, [](const std::vector<StagedFile>&) {
    return Status::IOError("rename x to y", EXDEV);
  });
  EXPECT_EQ(s.message(), "rename x to y: Invalid cross-device link");
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaging);
  EXPECT_TRUE(FilesOf("full_payload").empty());
}

// symbols and symbols_only unpack the same paths: the second publisher leaves the first's
// files alone and lists them too; cleaning either keeps what the other lists.
TEST_F(ClaimsTest, OverlappingArtifactsShareFilesAndCleaningOneKeepsTheOthers) {
  Want({"symbols", "symbols_only"});
  Claim symbols = MustClaim(alice_);
  Claim only = MustClaim(alice_);
  EXPECT_EQ(PublishPlacing(symbols, {{"a.sym", 10, "", ""}, {"b.sym", 20, "", ""}}),
            (std::vector<std::string>{"a.sym", "b.sym"}));
  // Its own copy of b.sym is 21 bytes; the one in place (20) stays and is what it lists.
  EXPECT_EQ(PublishPlacing(only, {{"b.sym", 21, "", ""}, {"c.sym", 30, "", ""}}),
            (std::vector<std::string>{"c.sym"}));
  EXPECT_EQ(FilesOf("symbols_only"), (std::vector<std::string>{"b.sym:20", "c.sym:30"}));
  StateSummary summary;
  ASSERT_TRUE(db_->Summary(&summary).ok());
  EXPECT_EQ(summary.staged_bytes, 60);  // b.sym once

  std::vector<std::string> detached;
  ASSERT_TRUE(db_->Forget(kBuild, {"symbols"},
                          [&](const std::vector<std::string>& paths) {
                            detached = paths;
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(detached, (std::vector<std::string>{"a.sym"}));
  EXPECT_EQ(StatusOf("symbols_only").state, ArtifactState::kStaged);
  EXPECT_EQ(FilesOf("symbols_only"), (std::vector<std::string>{"b.sym:20", "c.sym:30"}));
  ASSERT_TRUE(db_->Forget(kBuild, {"symbols_only"},
                          [&](const std::vector<std::string>& paths) {
                            detached = paths;
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(detached, (std::vector<std::string>{"b.sym", "c.sym"}));
}

TEST_F(ClaimsTest, FailedDetachForgetsNothing) {
  Want({"full_payload"});
  ASSERT_TRUE(db_->Publish(MustClaim(alice_), {{"update.gz", 3, "", ""}}).ok());
  Status s = db_->Forget(kBuild, {"full_payload"}, [](const std::vector<std::string>&) {
    return Status::IOError("rename", EACCES);
  });
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaged);
  EXPECT_EQ(FilesOf("full_payload"), (std::vector<std::string>{"update.gz:3"}));
}

// /is_staged found a file missing, but by the time it forgets the artifact a new staging has
// published it again: the fresh row stays.
TEST_F(ClaimsTest, ForgettingAStaleSnapshotLeavesAFreshStagingAlone) {
  Want({"full_payload"});
  Claim first = MustClaim(alice_);
  ASSERT_TRUE(db_->Publish(first, {{"update.gz", 3, "", ""}}).ok());
  const int64_t seen = StatusOf("full_payload").token;
  EXPECT_EQ(seen, first.token);
  ASSERT_TRUE(db_->ForgetStaged(kBuild, "full_payload", seen).ok());
  Want({"full_payload"});
  Claim second = MustClaim(alice_);
  ASSERT_TRUE(db_->Publish(second, {{"update.gz", 3, "", ""}}).ok());
  ASSERT_TRUE(db_->ForgetStaged(kBuild, "full_payload", seen).ok());  // a late, stale one
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaged);
}

TEST_F(ClaimsTest, ReadsCountAsUseOnceAMinute) {
  Want({"full_payload"});
  ASSERT_TRUE(db_->Publish(MustClaim(alice_), {{"update.gz", 3, "", ""}}).ok());
  const int64_t staged_at = clock_.WallSeconds();
  auto last_used = [&] {
    std::vector<BuildOverview> builds;
    EXPECT_TRUE(db_->RecentBuilds(10, &builds).ok());
    return builds.at(0).last_used_at;
  };
  std::vector<ArtifactStatus> statuses;
  std::vector<std::vector<StagedFile>> files;
  clock_.Advance(30);
  ASSERT_TRUE(db_->GetWithFiles(kBuild, {"full_payload"}, &statuses, &files).ok());
  EXPECT_EQ(last_used(), staged_at);  // recorded less than a minute ago: no write
  clock_.Advance(StateDb::kLastUsedResolutionSeconds);
  ASSERT_TRUE(db_->GetWithFiles(kBuild, {"full_payload"}, &statuses, &files).ok());
  EXPECT_EQ(last_used(), clock_.WallSeconds());
  clock_.Advance(StateDb::kLastUsedResolutionSeconds + 1);
  ASSERT_TRUE(db_->MarkBuildUsed(kBuild).ok());
  EXPECT_EQ(last_used(), clock_.WallSeconds());
}

TEST_F(ClaimsTest, ListingIsSharedWithinARoundAndDroppedByNewWork) {
  Want({"full_payload", "stateful"});
  Listing listing;
  bool found = true;
  ASSERT_TRUE(db_->GetListing(kBuild, &listing, &found).ok());
  EXPECT_FALSE(found);
  Listing read;
  read.from_manifest = true;
  read.objects = {{"stateful.tgz", std::nullopt, 0, "", ""}, {"update.bin", 5, 77, "crc", ""}};
  ASSERT_TRUE(db_->PutListing(kBuild, &read).ok());
  EXPECT_GT(read.round, 0);
  ASSERT_TRUE(db_->UpdateListedObject(kBuild, {"stateful.tgz", 9, 78, "c2", "m2"}).ok());
  ASSERT_TRUE(db_->GetListing(kBuild, &listing, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(listing.round, read.round);
  EXPECT_TRUE(listing.from_manifest);
  ASSERT_EQ(listing.objects.size(), 2U);
  EXPECT_EQ(listing.objects[0].size, std::optional<int64_t>(9));
  EXPECT_EQ(listing.objects[0].md5, "m2");
  EXPECT_EQ(listing.objects[1].generation, 77);
  // Asking again for what is already queued is the same round.
  Want({"full_payload"});
  ASSERT_TRUE(db_->GetListing(kBuild, &listing, &found).ok());
  EXPECT_TRUE(found);
  // New work starts a new round: the folder is read again.
  Want({"autotest"});
  ASSERT_TRUE(db_->GetListing(kBuild, &listing, &found).ok());
  EXPECT_FALSE(found);
  Listing again;
  ASSERT_TRUE(db_->PutListing(kBuild, &again).ok());
  EXPECT_GT(again.round, read.round);
}

}  // namespace
}  // namespace devserver::state
