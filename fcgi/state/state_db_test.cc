#include "fcgi/state/state_db.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "fcgi/state/state_db_test_fixture.h"
#include "tests/support/temp_dir.h"

namespace devserver::state {
namespace {

TEST_F(StateDbTest, RequestQueuesWhatIsMissingAndReportsEachState) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload", "stateful"}, 0, &statuses).ok());
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[0].artifact, "full_payload");
  EXPECT_EQ(statuses[0].state, ArtifactState::kQueued);
  EXPECT_EQ(statuses[1].state, ArtifactState::kQueued);
  EXPECT_EQ(StatusOf("autotest").state, ArtifactState::kMissing);
  // Asking again changes nothing.
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kQueued);
  EXPECT_EQ(statuses[0].attempts, 0);
}

TEST_F(StateDbTest, ClaimsForegroundFirstThenOldestAndNeverTwice) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"autotest"}, 1, &statuses).ok());
  clock_.Advance(1);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  clock_.Advance(1);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"stateful"}, 0, &statuses).ok());

  Claim first = MustClaim(alice_);
  EXPECT_EQ(first.artifact, "full_payload");
  EXPECT_EQ(first.archive_url, kUrl);
  EXPECT_EQ(first.attempts, 1);
  Claim second = MustClaim(bob_);
  EXPECT_EQ(second.artifact, "stateful");
  Claim third = MustClaim(bob_);
  EXPECT_EQ(third.artifact, "autotest");
  EXPECT_LT(first.token, second.token);
  EXPECT_LT(second.token, third.token);
  EXPECT_TRUE(NothingToClaim(alice_));
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaging);
}

TEST_F(StateDbTest, PublishRecordsFilesAndProgressShowsInHeartbeats) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  Claim claim = MustClaim(alice_);
  ASSERT_TRUE(db_->Heartbeat(claim, 512, 2048).ok());
  ArtifactStatus during = StatusOf("full_payload");
  EXPECT_EQ(during.bytes_done, 512);
  EXPECT_EQ(during.bytes_total, 2048);
  ASSERT_TRUE(db_->Publish(claim, {{"update.gz", 2000, "c2hhMQ==", "c2hhMjU2"}}).ok());
  ArtifactStatus after = StatusOf("full_payload");
  EXPECT_EQ(after.state, ArtifactState::kStaged);
  EXPECT_EQ(after.bytes_total, 2000);
  std::vector<StagedFile> files;
  ASSERT_TRUE(db_->Files(kBuild, "full_payload", &files).ok());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].path, "update.gz");
  EXPECT_EQ(files[0].size, 2000);
  EXPECT_EQ(files[0].sha1, "c2hhMQ==");
  // A staged artifact is not claimable and stays staged when asked for again.
  EXPECT_TRUE(NothingToClaim(bob_));
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kStaged);
}

TEST_F(StateDbTest, GetWithFilesGivesEachStateAsAskedAndTheFilesOfStagedOnes) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload", "stateful", "delta_payloads", "autotest"},
                           0, &statuses)
                  .ok());
  Claim payload = MustClaim(alice_);
  ASSERT_TRUE(db_->Publish(payload, {{"update.gz", 2000, "c2hhMQ==", "c2hhMjU2"},
                                     {"au/x_nton/update.gz", 10, "", ""}})
                  .ok());
  Claim stateful = MustClaim(alice_);
  ASSERT_TRUE(db_->Publish(stateful, {{"stateful.tgz", 30, "", ""}}).ok());
  Claim delta = MustClaim(alice_);
  ASSERT_TRUE(db_->Publish(delta, {}).ok());  // staged with no files: none in the build
  Claim autotest = MustClaim(alice_);
  ASSERT_TRUE(db_->Heartbeat(autotest, 5, 50).ok());
  // Another build's files with the same names must not leak in.
  ASSERT_TRUE(db_->Request("other/1", "gs://x/other/1", {"full_payload"}, 0, &statuses).ok());
  ASSERT_TRUE(db_->Publish(MustClaim(alice_), {{"update.gz", 1, "", ""}}).ok());

  std::vector<std::vector<StagedFile>> files;
  const std::vector<std::string> asked = {"stateful",     "autotest",       "file:nope",
                                          "full_payload", "delta_payloads", "stateful"};
  ASSERT_TRUE(db_->GetWithFiles(kBuild, asked, &statuses, &files).ok());
  ASSERT_EQ(statuses.size(), asked.size());
  ASSERT_EQ(files.size(), asked.size());
  for (size_t i = 0; i < asked.size(); ++i) EXPECT_EQ(statuses[i].artifact, asked[i]);
  EXPECT_EQ(statuses[0].state, ArtifactState::kStaged);
  ASSERT_EQ(files[0].size(), 1u);
  EXPECT_EQ(files[0][0].path, "stateful.tgz");
  EXPECT_EQ(files[0][0].size, 30);
  EXPECT_EQ(statuses[1].state, ArtifactState::kStaging);
  EXPECT_EQ(statuses[1].bytes_done, 5);
  EXPECT_EQ(statuses[1].bytes_total, 50);
  EXPECT_TRUE(files[1].empty());
  EXPECT_EQ(statuses[2].state, ArtifactState::kMissing);
  EXPECT_TRUE(files[2].empty());
  EXPECT_EQ(statuses[3].state, ArtifactState::kStaged);
  EXPECT_EQ(statuses[3].bytes_total, 2010);
  ASSERT_EQ(files[3].size(), 2u);  // in path order, with their sums
  EXPECT_EQ(files[3][0].path, "au/x_nton/update.gz");
  EXPECT_EQ(files[3][0].sha1, "");
  EXPECT_EQ(files[3][1].path, "update.gz");
  EXPECT_EQ(files[3][1].size, 2000);
  EXPECT_EQ(files[3][1].sha1, "c2hhMQ==");
  EXPECT_EQ(files[3][1].sha256, "c2hhMjU2");
  EXPECT_EQ(statuses[4].state, ArtifactState::kStaged);
  EXPECT_TRUE(files[4].empty());
  EXPECT_EQ(statuses[5].state, ArtifactState::kStaged);  // asked twice, answered twice
  EXPECT_EQ(files[5].size(), 1u);

  // The same answers as Get and Files, one artifact at a time.
  std::vector<ArtifactStatus> one_by_one;
  ASSERT_TRUE(db_->Get(kBuild, asked, &one_by_one).ok());
  for (size_t i = 0; i < asked.size(); ++i) {
    EXPECT_EQ(one_by_one[i].state, statuses[i].state) << asked[i];
    std::vector<StagedFile> expected;
    ASSERT_TRUE(db_->Files(kBuild, asked[i], &expected).ok());
    ASSERT_EQ(expected.size(), files[i].size()) << asked[i];
    for (size_t f = 0; f < expected.size(); ++f) EXPECT_EQ(expected[f].path, files[i][f].path);
  }
}

TEST_F(StateDbTest, ReadsOfManyArtifactsAnswerEveryOne) {
  // More names than one statement takes: answered in chunks, from one snapshot.
  std::vector<std::string> asked;
  asked.reserve(150);
  for (int i = 0; i < 150; ++i) asked.push_back("file:f" + std::to_string(i));
  std::vector<ArtifactStatus> statuses;
  std::vector<std::string> requested(asked.begin(), asked.begin() + 100);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, requested, 0, &statuses).ok());
  for (int i = 0; i < 3; ++i) {  // three of them staged, each with its one file
    Claim claim = MustClaim(alice_);
    ASSERT_TRUE(db_->Publish(claim, {{claim.artifact.substr(5), 1, "", ""}}).ok());
  }
  std::vector<std::vector<StagedFile>> files;
  ASSERT_TRUE(db_->GetWithFiles(kBuild, asked, &statuses, &files).ok());
  ASSERT_EQ(statuses.size(), asked.size());
  std::vector<ArtifactStatus> plain;
  ASSERT_TRUE(db_->Get(kBuild, asked, &plain).ok());
  ASSERT_EQ(plain.size(), asked.size());
  int staged = 0, queued = 0, missing = 0;
  for (size_t i = 0; i < asked.size(); ++i) {
    EXPECT_EQ(statuses[i].artifact, asked[i]);
    EXPECT_EQ(plain[i].artifact, asked[i]);
    EXPECT_EQ(plain[i].state, statuses[i].state) << asked[i];
    const ArtifactState want = i < 100 ? statuses[i].state : ArtifactState::kMissing;
    EXPECT_EQ(statuses[i].state, want) << asked[i];
    staged += statuses[i].state == ArtifactState::kStaged ? 1 : 0;
    queued += statuses[i].state == ArtifactState::kQueued ? 1 : 0;
    missing += statuses[i].state == ArtifactState::kMissing ? 1 : 0;
    if (statuses[i].state == ArtifactState::kStaged) {
      ASSERT_EQ(files[i].size(), 1u);
      EXPECT_EQ("file:" + files[i][0].path, asked[i]);
    } else {
      EXPECT_TRUE(files[i].empty());
    }
  }
  EXPECT_EQ(staged, 3);
  EXPECT_EQ(queued, 97);
  EXPECT_EQ(missing, 50);
}

TEST_F(StateDbTest, StagedBuildsAreThoseOfTheFolderWithSomethingStaged) {
  std::vector<ArtifactStatus> statuses;
  const std::string staged = "x86-alex-release/R19-1.0.0";
  for (const std::string& build : {staged, std::string("x86-alex-release/R19-2.0.0"),
                                   std::string("x86-alex-release-x/R19-3.0.0"),
                                   std::string("x86-alex-release/sub/R19-4.0.0")}) {
    ASSERT_TRUE(db_->Request(build, "gs://b/" + build, {"stateful"}, 0, &statuses).ok());
  }
  // Stage everything but R19-2.0.0, which stays queued.
  for (int i = 0; i < 4; ++i) {
    Claim claim = MustClaim(alice_);
    if (claim.build == "x86-alex-release/R19-2.0.0") continue;
    ASSERT_TRUE(db_->Publish(claim, {{"stateful.tgz", 1, "", ""}}).ok());
  }
  std::vector<std::string> names;
  ASSERT_TRUE(db_->StagedBuilds("x86-alex-release", &names).ok());
  // Not the queued build, not a sibling folder sharing the prefix, not a deeper folder.
  EXPECT_EQ(names, std::vector<std::string>{"R19-1.0.0"});
  ASSERT_TRUE(db_->StagedBuilds("x86-alex-release/sub", &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{"R19-4.0.0"});
}

// Peer fill finds a staged file by the object it is, only once its artifact is staged.
TEST_F(StateDbTest, AFileStagedUnchangedIsFoundByItsObject) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload", "stateful"}, 0, &statuses).ok());
  StagedFile found;
  EXPECT_EQ(db_->FindVerbatimFile(kBuild, "full.bin", &found).code(), Status::Code::kNotFound);
  Claim first = MustClaim(alice_);
  Claim second = MustClaim(alice_);
  Claim payload = first.artifact == "full_payload" ? first : second;
  StagedFile update{"update.gz", 10, "", "", std::nullopt, "full.bin", 1234};
  StagedFile extra{"readme.txt", 3, "", ""};
  ASSERT_TRUE(db_->Publish(payload, {update, extra}).ok());
  ASSERT_TRUE(db_->FindVerbatimFile(kBuild, "full.bin", &found).ok());
  EXPECT_EQ(found.path, "update.gz");
  EXPECT_EQ(found.size, 10);
  EXPECT_EQ(found.source_generation, 1234);
  // A file that is no object, an object nothing staged is, another build: none.
  EXPECT_EQ(db_->FindVerbatimFile(kBuild, "readme.txt", &found).code(), Status::Code::kNotFound);
  EXPECT_EQ(db_->FindVerbatimFile(kBuild, "stateful.tgz", &found).code(), Status::Code::kNotFound);
  EXPECT_EQ(db_->FindVerbatimFile(kBuild + "x", "full.bin", &found).code(),
            Status::Code::kNotFound);
}

TEST_F(StateDbTest, ExpiredLeaseIsTakenOverAndTheOldTokenCanNoLongerPublish) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  Claim old_claim = MustClaim(alice_);
  clock_.Advance(29);
  EXPECT_TRUE(NothingToClaim(bob_));  // the lease still holds
  ASSERT_TRUE(db_->Heartbeat(old_claim, 10, std::nullopt).ok());
  clock_.Advance(29);
  EXPECT_TRUE(NothingToClaim(bob_));  // renewed by the heartbeat
  clock_.Advance(2);                  // 31 s after the last heartbeat: alice is paused
  Claim new_claim = MustClaim(bob_);
  EXPECT_EQ(new_claim.attempts, 2);
  EXPECT_GT(new_claim.token, old_claim.token);

  Status late = db_->Publish(old_claim, {{"update.gz", 1, "", ""}});
  EXPECT_EQ(late.code(), Status::Code::kFailed);
  EXPECT_NE(late.message().find("lost to another owner"), std::string::npos) << late.message();
  EXPECT_FALSE(db_->Heartbeat(old_claim, 11, std::nullopt).ok());
  EXPECT_FALSE(db_->MarkFailed(old_claim, "too late").ok());
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaging);
  ASSERT_TRUE(db_->Publish(new_claim, {{"update.gz", 7, "", ""}}).ok());
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaged);
}

TEST_F(StateDbTest, DeadOwnerIsTakenOverWithoutWaitingForTheLease) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  Claim old_claim = MustClaim(alice_);
  EXPECT_TRUE(NothingToClaim(bob_));
  liveness_.SetAlive(alice_.lock_path, false);
  Claim taken = MustClaim(bob_);
  EXPECT_EQ(taken.artifact, "full_payload");
  EXPECT_GT(taken.token, old_claim.token);
}

TEST_F(StateDbTest, FailureKeepsItsCauseUntilTheRetryDelayPasses) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  Claim claim = MustClaim(alice_);
  ASSERT_TRUE(db_->MarkFailed(claim, "full_payload: no object matches chromeos_*_full_*.bin").ok());
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kFailed);
  EXPECT_EQ(statuses[0].error, "full_payload: no object matches chromeos_*_full_*.bin");
  EXPECT_EQ(statuses[0].attempts, 1);
  EXPECT_TRUE(NothingToClaim(bob_));  // failed rows are not retried on their own
  clock_.Advance(60);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kQueued);
  Claim retry = MustClaim(bob_);
  EXPECT_EQ(retry.attempts, 1);  // a new round of attempts
  EXPECT_EQ(StatusOf("full_payload").error, "");
}

TEST_F(StateDbTest, RepeatedRequestsRecordUseOncePerResolution) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  ASSERT_TRUE(db_->Publish(MustClaim(alice_), {{"update.gz", 1, "", ""}}).ok());
  const int64_t first_use = clock_.WallSeconds();
  auto last_used = [&] {
    std::vector<BuildOverview> builds;
    EXPECT_TRUE(db_->RecentBuilds(1, &builds).ok());
    return builds.empty() ? int64_t{-1} : builds[0].last_used_at;
  };
  clock_.Advance(StateDb::kLastUsedResolutionSeconds);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kStaged);
  EXPECT_EQ(last_used(), first_use);  // within the resolution: a read, no write
  clock_.Advance(1);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kStaged);
  EXPECT_EQ(last_used(), clock_.WallSeconds());
}

TEST_F(StateDbTest, MoreUrgentRequestRaisesAQueuedArtifactsPriority) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"autotest"}, 1, &statuses).ok());
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"stateful"}, 1, &statuses).ok());
  // The same second, so only the priority makes this request a write.
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"stateful"}, 0, &statuses).ok());
  EXPECT_EQ(MustClaim(alice_).artifact, "stateful");
  EXPECT_EQ(MustClaim(alice_).artifact, "autotest");
}

TEST_F(StateDbTest, HostLimitCountsOnlyLiveClaims) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  clock_.Advance(1);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"stateful"}, 0, &statuses).ok());
  std::optional<Claim> first, second;
  ASSERT_TRUE(db_->ClaimNext(alice_, 1, &first).ok());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->artifact, "full_payload");
  ASSERT_TRUE(db_->ClaimNext(bob_, 1, &second).ok());
  EXPECT_FALSE(second.has_value());  // one staging at a time on this host
  liveness_.SetAlive(alice_.lock_path, false);
  ASSERT_TRUE(db_->ClaimNext(bob_, 1, &second).ok());
  ASSERT_TRUE(second.has_value());  // alice's dead claim no longer counts: bob takes it over
  EXPECT_EQ(second->artifact, "full_payload");
  ASSERT_TRUE(db_->Publish(*second, {}).ok());
  ASSERT_TRUE(db_->ClaimNext(bob_, 1, &second).ok());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->artifact, "stateful");
}

TEST_F(StateDbTest, ReleasedClaimIsQueuedForTheNextStager) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  Claim claim = MustClaim(alice_);
  ASSERT_TRUE(db_->Release(claim).ok());
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kQueued);
  Claim next = MustClaim(bob_);
  EXPECT_EQ(next.attempts, 1);             // handed back on purpose: not an attempt used up
  EXPECT_FALSE(db_->Release(claim).ok());  // the old token is void
}

TEST_F(StateDbTest, RequeueDeadOwnersAtStartUp) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload", "stateful"}, 0, &statuses).ok());
  MustClaim(alice_);
  MustClaim(bob_);
  liveness_.SetAlive(alice_.lock_path, false);
  int requeued = 0;
  ASSERT_TRUE(db_->RequeueDeadOwners(&requeued).ok());
  EXPECT_EQ(requeued, 1);
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kQueued);
  EXPECT_EQ(StatusOf("stateful").state, ArtifactState::kStaging);
}

TEST_F(StateDbTest, ForgetRefusesWhatIsBeingStaged) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload", "stateful"}, 0, &statuses).ok());
  Claim claim = MustClaim(alice_);
  ASSERT_TRUE(db_->Publish(claim, {{"update.gz", 3, "", ""}}).ok());
  MustClaim(alice_);  // stateful is staging now
  EXPECT_FALSE(db_->Forget(kBuild, {"full_payload", "stateful"}).ok());
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaged);  // rolled back
  ASSERT_TRUE(db_->Forget(kBuild, {"full_payload"}).ok());
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kMissing);
  std::vector<StagedFile> files;
  ASSERT_TRUE(db_->Files(kBuild, "full_payload", &files).ok());
  EXPECT_TRUE(files.empty());
}

// clean=True moves the files out of sight inside Forget's transaction: a stager publishing the
// same files again would need the write lock the detaching still holds.
TEST_F(StateDbTest, ForgetHandsOverTheFilesWhileHoldingTheWriteLock) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload", "stateful"}, 0, &statuses).ok());
  ASSERT_TRUE(
      db_->Publish(MustClaim(alice_), {{"update.gz", 3, "", ""}, {"au/x", 1, "", ""}}).ok());
  ASSERT_TRUE(db_->Publish(MustClaim(alice_), {{"stateful.tgz", 2, "", ""}}).ok());
  StateOptions impatient = options_;
  impatient.busy_timeout_ms = 50;
  std::unique_ptr<StateDb> other;
  ASSERT_TRUE(StateDb::Open(dir_.Sub("state.db"), impatient, &other).ok());
  std::vector<std::string> removed;
  Status other_write;
  ASSERT_TRUE(db_->Forget(kBuild, {"full_payload"},
                          [&](const std::vector<std::string>& paths) {
                            removed = paths;
                            std::vector<ArtifactStatus> st;
                            // A new artifact: a write, not answered from a read.
                            other_write = other->Request(kBuild, kUrl, {"autotest"}, 0, &st);
                            return Status::Ok();
                          })
                  .ok());
  EXPECT_EQ(removed, (std::vector<std::string>{"au/x", "update.gz"}));
  EXPECT_FALSE(other_write.ok()) << "another writer got in while the files were being removed";
  EXPECT_NE(other_write.message().find("locked"), std::string::npos) << other_write.message();
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kMissing);
  EXPECT_EQ(StatusOf("stateful").state, ArtifactState::kStaged);
}

TEST_F(StateDbTest, RecentBuildsNewestFirstWithTheirArtifacts) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request("old/1", "gs://x/old/1", {"stateful"}, 1, &statuses).ok());
  clock_.Advance(5);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  clock_.Advance(1);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"stateful"}, 0, &statuses).ok());
  Claim claim = MustClaim(alice_);
  ASSERT_EQ(claim.artifact, "full_payload");
  ASSERT_TRUE(db_->Heartbeat(claim, 10, 40).ok());
  std::vector<BuildOverview> builds;
  ASSERT_TRUE(db_->RecentBuilds(10, &builds).ok());
  ASSERT_EQ(builds.size(), 2u);
  EXPECT_EQ(builds[0].build, kBuild);
  EXPECT_EQ(builds[0].archive_url, kUrl);
  ASSERT_EQ(builds[0].artifacts.size(), 2u);
  EXPECT_EQ(builds[0].artifacts[0].artifact, "full_payload");
  EXPECT_EQ(builds[0].artifacts[0].state, ArtifactState::kStaging);
  EXPECT_EQ(builds[0].artifacts[0].bytes_done, 10);
  EXPECT_EQ(builds[0].artifacts[0].bytes_total, 40);
  EXPECT_EQ(builds[1].build, "old/1");
  ASSERT_TRUE(db_->RecentBuilds(1, &builds).ok());
  EXPECT_EQ(builds.size(), 1u);
}

TEST_F(StateDbTest, StateSurvivesReopening) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  Claim claim = MustClaim(alice_);
  ASSERT_TRUE(db_->Publish(claim, {{"update.gz", 3, "", ""}}).ok());
  db_.reset();
  db_ = Open();
  EXPECT_EQ(StatusOf("full_payload").state, ArtifactState::kStaged);
}

TEST_F(StateDbTest, UseFromAnotherProcessAborts) {
  // The writer and the read-only connections alike.
  const std::vector<std::function<void()>> uses = {
      [&] {
        std::vector<ArtifactStatus> statuses;
        (void)db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses);
      },
      [&] {
        std::vector<ArtifactStatus> statuses;
        (void)db_->Get(kBuild, {"full_payload"}, &statuses);
      },
      [&] {
        std::vector<ArtifactStatus> statuses;
        std::vector<std::vector<StagedFile>> files;
        (void)db_->GetWithFiles(kBuild, {"full_payload"}, &statuses, &files);
      },
      [&] {
        StateSummary summary;
        (void)db_->Summary(&summary);
      },
  };
  for (size_t i = 0; i < uses.size(); ++i) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      uses[i]();
      _exit(0);  // not reached
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "use " << i;
    EXPECT_EQ(WTERMSIG(status), SIGABRT) << "use " << i;
  }
}

// Liveness that, once armed, holds whoever asks inside the writer's mutex (ClaimNext asks
// from SQL) until released: a write that takes its time.
class StallingLiveness : public Liveness {
 public:
  bool IsAlive(const std::string&) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!armed_) return true;
    stalled_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return released_; });
    return true;
  }
  void Arm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
  }
  void WaitUntilStalled() {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return stalled_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  bool armed_ = false;
  bool stalled_ = false;
  bool released_ = false;
};

TEST_F(StateDbTest, ReadsDoNotWaitForTheWriter) {
  StallingLiveness stalling;
  options_.liveness = &stalling;
  db_ = Open();
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload", "stateful"}, 0, &statuses).ok());
  std::optional<Claim> claim;
  ASSERT_TRUE(db_->ClaimNext(alice_, 100, &claim).ok());
  ASSERT_TRUE(claim.has_value());
  ASSERT_TRUE(db_->Publish(*claim, {{"update.gz", 1, "", ""}}).ok());
  ASSERT_TRUE(db_->ClaimNext(alice_, 100, &claim).ok());
  ASSERT_TRUE(claim.has_value());  // stateful is staging now
  // Bob's look for work asks whether alice lives, and stalls there holding the writer.
  stalling.Arm();
  auto stalled_claim = std::async(std::launch::async, [&] {
    std::optional<Claim> taken;
    return db_->ClaimNext(bob_, 100, &taken);
  });
  stalling.WaitUntilStalled();

  auto reads = std::async(std::launch::async, [&] {
    std::vector<ArtifactStatus> got;
    std::vector<std::vector<StagedFile>> files;
    std::vector<StagedFile> one;
    StateSummary summary;
    std::vector<BuildOverview> builds;
    std::vector<std::string> names;
    bool ok = db_->GetWithFiles(kBuild, {"full_payload", "stateful"}, &got, &files).ok() &&
              got.at(0).state == ArtifactState::kStaged &&
              got.at(1).state == ArtifactState::kStaging;
    ok = ok && db_->Get(kBuild, {"full_payload"}, &got).ok();
    ok = ok && db_->Files(kBuild, "full_payload", &one).ok() && one.size() == 1;
    ok = ok && db_->Summary(&summary).ok() && summary.staging == 1;
    ok = ok && db_->RecentBuilds(5, &builds).ok() && builds.size() == 1;
    ok = ok && db_->StagedBuilds("x86-alex-release", &names).ok() && names.size() == 1;
    return ok;
  });
  const bool finished = reads.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  stalling.Release();
  EXPECT_TRUE(finished) << "reads queued behind the stalled writer";
  EXPECT_TRUE(reads.get());
  EXPECT_TRUE(stalled_claim.get().ok());
  db_.reset();  // before `stalling` goes
}

// The file keeps a rollback journal: while another connection commits, the file is locked
// and a reader must wait it out, never answer SQLITE_BUSY.
TEST_F(StateDbTest, ReadsWaitOutAnotherConnectionsCommit) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  Connection other;
  ASSERT_TRUE(Connection::Open(dir_.Sub("state.db"), 1000, &other).ok());
  ASSERT_TRUE(other.Exec("BEGIN EXCLUSIVE; UPDATE artifacts SET attempts = 7;").ok());
  auto committer = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return other.Exec("COMMIT;");
  });
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::vector<StagedFile>> files;
  Status s = db_->GetWithFiles(kBuild, {"full_payload"}, &statuses, &files);
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(committer.get().ok());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(statuses.at(0).attempts, 7);  // what the commit wrote
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  s = db_->Get(kBuild, {"full_payload"}, &statuses);
  EXPECT_TRUE(s.ok()) << s.message();
}

// Many processes race to claim the same rows: each row is claimed exactly once, every claim
// publishes, and no SQLITE_BUSY reaches a caller.
TEST(StateDbRaceTest, ProcessesClaimEachRowExactlyOnce) {
  const testing::TempDir dir("devserver-statedb-race");
  const std::string path = dir.Sub("state.db");
  constexpr int kRows = 300;
  constexpr int kProcesses = 8;
  {
    std::unique_ptr<StateDb> db;
    ASSERT_TRUE(StateDb::Open(path, StateOptions{}, &db).ok());
    std::vector<std::string> artifacts;
    artifacts.reserve(kRows);
    for (int i = 0; i < kRows; ++i) artifacts.push_back("a" + std::to_string(i));
    std::vector<ArtifactStatus> statuses;
    ASSERT_TRUE(db->Request("b/1", "gs://x/b/1", artifacts, 0, &statuses).ok());
  }
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      OwnerLock lock;
      std::unique_ptr<StateDb> db;
      if (!lock.Acquire(dir.Sub("owners")).ok() || !StateDb::Open(path, StateOptions{}, &db).ok()) {
        _exit(2);
      }
      std::ofstream log(dir.Sub("claims." + std::to_string(getpid())));
      for (;;) {
        std::optional<Claim> claim;
        Status s = db->ClaimNext(lock.owner(), 100, &claim);
        if (!s.ok()) {
          log << "ERROR " << s.message() << "\n";
          _exit(3);
        }
        if (!claim) break;
        s = db->Publish(*claim, {{claim->artifact + ".bin", 1, "", ""}});
        if (!s.ok()) {
          log << "ERROR " << s.message() << "\n";
          _exit(4);
        }
        log << claim->artifact << " " << claim->token << "\n";
      }
      log.close();
      _exit(0);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child exit " << status;
  }
  std::map<std::string, int> claims;
  std::set<int64_t> tokens;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind("claims.", 0) != 0) continue;
    std::ifstream in(entry.path());
    std::string artifact;
    int64_t token = 0;
    while (in >> artifact >> token) {
      ++claims[artifact];
      EXPECT_TRUE(tokens.insert(token).second) << "token " << token << " handed out twice";
    }
  }
  EXPECT_EQ(claims.size(), static_cast<size_t>(kRows));
  for (const auto& [artifact, count] : claims) EXPECT_EQ(count, 1) << artifact;

  std::unique_ptr<StateDb> db;
  ASSERT_TRUE(StateDb::Open(path, StateOptions{}, &db).ok());
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db->Get("b/1", {"a0", "a299"}, &statuses).ok());
  EXPECT_EQ(statuses[0].state, ArtifactState::kStaged);
  EXPECT_EQ(statuses[1].state, ArtifactState::kStaged);
  Connection raw;
  ASSERT_TRUE(Connection::Open(path, 1000, &raw).ok());
  Statement check;
  ASSERT_TRUE(raw.Prepare("PRAGMA integrity_check", &check).ok());
  bool row = false;
  ASSERT_TRUE(check.Step(&row).ok());
  EXPECT_EQ(check.Text(0), "ok");
}

// A worker killed mid-staging: its row is claimable at once by a live process, and the dead
// owner's token is void.
TEST(StateDbRaceTest, KilledOwnerIsTakenOverByAnotherProcess) {
  const testing::TempDir dir("devserver-statedb-kill");
  const std::string path = dir.Sub("state.db");
  std::unique_ptr<StateDb> db;
  ASSERT_TRUE(StateDb::Open(path, StateOptions{}, &db).ok());
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db->Request("b/1", "gs://x/b/1", {"full_payload"}, 0, &statuses).ok());

  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    OwnerLock lock;
    std::unique_ptr<StateDb> child_db;
    std::optional<Claim> claim;
    if (!lock.Acquire(dir.Sub("owners")).ok() ||
        !StateDb::Open(path, StateOptions{}, &child_db).ok() ||
        !child_db->ClaimNext(lock.owner(), 100, &claim).ok() || !claim) {
      _exit(2);
    }
    int64_t token = claim->token;
    (void)!write(pipe_fds[1], &token, sizeof token);
    pause();  // staging forever, until killed
    _exit(0);
  }
  int64_t dead_token = 0;
  ASSERT_EQ(read(pipe_fds[0], &dead_token, sizeof dead_token),
            static_cast<ssize_t>(sizeof dead_token));
  OwnerLock mine;
  ASSERT_TRUE(mine.Acquire(dir.Sub("owners")).ok());
  std::optional<Claim> claim;
  ASSERT_TRUE(db->ClaimNext(mine.owner(), 100, &claim).ok());
  EXPECT_FALSE(claim.has_value());  // the owner lives: hands off
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(db->ClaimNext(mine.owner(), 100, &claim).ok());
  ASSERT_TRUE(claim.has_value());
  EXPECT_EQ(claim->attempts, 2);
  EXPECT_GT(claim->token, dead_token);
  Claim dead{"b/1", "gs://x/b/1", "full_payload", dead_token, 1};
  EXPECT_FALSE(db->Publish(dead, {}).ok());
  EXPECT_TRUE(db->Publish(*claim, {{"update.gz", 1, "", ""}}).ok());
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace devserver::state
