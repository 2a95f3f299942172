// The status page's read: builds with their artifacts' progress and times, the queue in the
// order stagers claim it, and the newest update client log entries.
#include <gtest/gtest.h>

#include <vector>

#include "fcgi/state/state_db_test_fixture.h"

namespace devserver::state {
namespace {

using Snapshot = StateDb::LiveStatusSnapshot;

Snapshot Read(StateDb* db, StateDb::LiveStatusLimits limits = {}) {
  Snapshot snapshot;
  Status s = db->LiveStatus(limits, &snapshot);
  EXPECT_TRUE(s.ok()) << s.message();
  return snapshot;
}

TEST_F(StateDbTest, LiveStatusTimesAStagingArtifactsProgressByItsLastHeartbeat) {
  std::vector<ArtifactStatus> statuses;
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"full_payload"}, 0, &statuses).ok());
  const int64_t requested = clock_.WallSeconds();
  clock_.Advance(1);
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"stateful"}, 0, &statuses).ok());
  clock_.Advance(1);
  Claim claim = MustClaim(alice_);
  ASSERT_EQ(claim.artifact, "full_payload");  // stateful stays queued
  clock_.Advance(3);
  ASSERT_TRUE(db_->Heartbeat(claim, 3000, 8000).ok());
  clock_.Advance(1);  // a read between heartbeats: the progress is the last beat's

  Snapshot snapshot = Read(db_.get());
  ASSERT_EQ(snapshot.builds.size(), 1U);
  EXPECT_EQ(snapshot.builds[0].build, kBuild);
  EXPECT_EQ(snapshot.builds[0].archive_url, kUrl);
  ASSERT_EQ(snapshot.builds[0].artifacts.size(), 2U);
  const StateDb::ArtifactProgress& full = snapshot.builds[0].artifacts[0];
  EXPECT_EQ(full.status.artifact, "full_payload");
  EXPECT_EQ(full.status.state, ArtifactState::kStaging);
  EXPECT_EQ(full.status.bytes_done, 3000);
  EXPECT_EQ(full.status.bytes_total, 8000);
  EXPECT_EQ(full.requested_at, requested);
  EXPECT_EQ(full.started_at, requested + 2);
  EXPECT_EQ(full.updated_at, requested + 5);
  EXPECT_EQ(full.finished_at, std::nullopt);
  const StateDb::ArtifactProgress& stateful = snapshot.builds[0].artifacts[1];
  EXPECT_EQ(stateful.status.state, ArtifactState::kQueued);
  EXPECT_EQ(stateful.started_at, std::nullopt);
  EXPECT_EQ(stateful.updated_at, std::nullopt);
  ASSERT_EQ(snapshot.queue.size(), 1U);
  EXPECT_EQ(snapshot.queue[0].artifact, "stateful");
  EXPECT_EQ(snapshot.queue[0].priority, 0);

  ASSERT_TRUE(db_->Publish(claim, {}).ok());
  snapshot = Read(db_.get());
  const StateDb::ArtifactProgress& staged = snapshot.builds[0].artifacts[0];
  EXPECT_EQ(staged.status.state, ArtifactState::kStaged);
  EXPECT_EQ(staged.finished_at, requested + 6);
  EXPECT_EQ(staged.updated_at, std::nullopt);  // only a staging row has progress to time
}

TEST_F(StateDbTest, LiveStatusListsTheQueueInClaimOrderAndKeepsItsLimits) {
  std::vector<ArtifactStatus> statuses;
  const std::string other = "x86-alex-release/R20-1.0.0";
  ASSERT_TRUE(db_->Request(kBuild, kUrl, {"autotest"}, 1, &statuses).ok());
  clock_.Advance(1);
  ASSERT_TRUE(db_->Request(other, "gs://b/" + other, {"stateful"}, 0, &statuses).ok());
  clock_.Advance(1);
  ASSERT_TRUE(db_->Request(other, "gs://b/" + other, {"full_payload"}, 0, &statuses).ok());
  Snapshot snapshot = Read(db_.get());
  ASSERT_EQ(snapshot.queue.size(), 3U);
  // Foreground first, then by request time.
  EXPECT_EQ(snapshot.queue[0].artifact, "stateful");
  EXPECT_EQ(snapshot.queue[1].artifact, "full_payload");
  EXPECT_EQ(snapshot.queue[2].build, kBuild);
  EXPECT_EQ(MustClaim(alice_).artifact, "stateful");
  // The build used last comes first.
  ASSERT_EQ(snapshot.builds.size(), 2U);
  EXPECT_EQ(snapshot.builds[0].build, other);

  snapshot = Read(db_.get(), {/*builds=*/1, /*queue=*/1, /*omaha_events=*/0});
  EXPECT_EQ(snapshot.builds.size(), 1U);
  EXPECT_EQ(snapshot.builds[0].artifacts.size(), 2U);  // a build's artifacts are not cut
  EXPECT_EQ(snapshot.queue.size(), 1U);
}

TEST_F(StateDbTest, LiveStatusShowsTheNewestOmahaEntriesFirst) {
  EXPECT_TRUE(Read(db_.get()).omaha_events.empty());
  std::vector<OmahaLogEntry> entries;
  for (int i = 0; i < 30; ++i) {
    OmahaLogEntry e;
    e.ip = "10.0.0." + std::to_string(i % 3);
    e.at_us = 1700000000000000 + i;
    e.version = "15474.0." + std::to_string(i);
    entries.push_back(e);
  }
  entries.back().event_type = 3;
  entries.back().event_result = 0;
  entries.back().error_code = 7;
  ASSERT_TRUE(db_->RecordOmahaEntries(entries).ok());
  Snapshot snapshot = Read(db_.get());
  ASSERT_EQ(snapshot.omaha_events.size(), 20U);
  EXPECT_EQ(snapshot.omaha_events[0].version, "15474.0.29");
  EXPECT_EQ(snapshot.omaha_events[0].event_type, 3);
  EXPECT_EQ(snapshot.omaha_events[0].error_code, 7);
  EXPECT_EQ(snapshot.omaha_events[19].version, "15474.0.10");
}

}  // namespace
}  // namespace devserver::state
