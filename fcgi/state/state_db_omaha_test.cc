// The Omaha clients' state: logs bounded per client and in all, attributes from the last
// request, and a forced label taken exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "fcgi/state/state_db_test_fixture.h"

namespace devserver::state {
namespace {

OmahaLogEntry Entry(const std::string& ip, std::optional<int64_t> event_type,
                    const std::string& version = "15474.0.0") {
  OmahaLogEntry e;
  e.ip = ip;
  e.at_us = 1700000000000000;
  e.version = version;
  e.track = "testimage-channel";
  e.board = "eve";
  e.event_type = event_type;
  if (event_type) e.event_result = 1;
  return e;
}

TEST_F(StateDbTest, AClientsLogAndAttributesFollowItsRequests) {
  OmahaLogEntry failed = Entry("10.0.0.5", 3);
  failed.event_result = 0;
  failed.error_code = -2147483590;
  failed.previous_version = "15437.0.0";
  ASSERT_TRUE(db_->RecordOmahaEntries({Entry("10.0.0.5", std::nullopt), failed}).ok());
  ASSERT_TRUE(db_->RecordOmahaEntries({Entry("10.0.0.5", std::nullopt, "15475.0.0")}).ok());

  OmahaClient client;
  bool found = false;
  ASSERT_TRUE(db_->GetOmahaClient("10.0.0.5", &client, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(client.last_known_version, "15475.0.0");
  EXPECT_EQ(client.last_event_type, 3);  // an update check keeps the last event
  EXPECT_EQ(client.last_event_status, 0);
  std::vector<OmahaLogEntry> log;
  ASSERT_TRUE(db_->GetOmahaLog("10.0.0.5", &log).ok());
  ASSERT_EQ(log.size(), 3U);
  EXPECT_FALSE(log[0].event_type.has_value());
  EXPECT_EQ(log[1].error_code, -2147483590);
  EXPECT_EQ(log[1].previous_version, "15437.0.0");
  EXPECT_EQ(log[2].version, "15475.0.0");

  ASSERT_TRUE(db_->GetOmahaClient("10.0.0.6", &client, &found).ok());
  EXPECT_FALSE(found);
}

// Batches of different workers arrive out of order: the log and what the client last
// reported go by the requests' times.
TEST_F(StateDbTest, LateBatchesTakeTheirPlaceByTime) {
  OmahaLogEntry later = Entry("10.0.0.5", 54, "15475.0.0");
  later.at_us += 10;
  ASSERT_TRUE(db_->RecordOmahaEntries({later}).ok());
  ASSERT_TRUE(db_->RecordOmahaEntries({Entry("10.0.0.5", 3, "15474.0.0")}).ok());
  OmahaClient client;
  bool found = false;
  ASSERT_TRUE(db_->GetOmahaClient("10.0.0.5", &client, &found).ok());
  EXPECT_EQ(client.last_known_version, "15475.0.0");
  EXPECT_EQ(client.last_event_type, 54);
  std::vector<OmahaLogEntry> log;
  ASSERT_TRUE(db_->GetOmahaLog("10.0.0.5", &log).ok());
  ASSERT_EQ(log.size(), 2U);
  EXPECT_EQ(log[0].version, "15474.0.0");
}

TEST_F(StateDbTest, LogsKeepTheNewestEntriesPerClientAndInAll) {
  std::vector<OmahaLogEntry> many;
  for (int i = 0; i < StateDb::kOmahaLogPerClient + 20; ++i) {
    many.push_back(Entry("10.0.0.7", 13, std::to_string(i)));
    many.back().at_us += i;
  }
  many.push_back(Entry("10.0.0.8", 14));
  ASSERT_TRUE(db_->RecordOmahaEntries(many).ok());
  std::vector<OmahaLogEntry> log;
  ASSERT_TRUE(db_->GetOmahaLog("10.0.0.7", &log).ok());
  ASSERT_EQ(log.size(), static_cast<size_t>(StateDb::kOmahaLogPerClient));
  EXPECT_EQ(log.front().version, "20");  // the oldest 20 went
  EXPECT_EQ(log.back().version, std::to_string(StateDb::kOmahaLogPerClient + 19));
  ASSERT_TRUE(db_->GetOmahaLog("", &log).ok());
  EXPECT_EQ(log.size(), static_cast<size_t>(StateDb::kOmahaLogPerClient) + 1);
}

TEST_F(StateDbTest, AForcedLabelIsTakenOnceAmongManyTakers) {
  std::string label = "x";
  ASSERT_TRUE(db_->TakeForcedLabel("10.0.0.9", &label).ok());
  EXPECT_EQ(label, "");
  ASSERT_TRUE(db_->SetForcedLabel("10.0.0.9", "eve-release/R119-15633.0.0").ok());
  OmahaClient client;
  bool found = false;
  ASSERT_TRUE(db_->GetOmahaClient("10.0.0.9", &client, &found).ok());
  EXPECT_EQ(client.forced_update_label, "eve-release/R119-15633.0.0");

  // Sixteen connections of this process, as many workers would be.
  constexpr int kTakers = 16;
  std::vector<std::unique_ptr<StateDb>> dbs;
  dbs.reserve(kTakers);
  for (int i = 0; i < kTakers; ++i) dbs.push_back(Open());
  std::atomic<int> taken{0};
  std::vector<std::thread> takers;
  takers.reserve(kTakers);
  for (auto& db : dbs) {
    takers.emplace_back([&db, &taken] {
      std::string got;
      Status s = db->TakeForcedLabel("10.0.0.9", &got);
      EXPECT_TRUE(s.ok()) << s.message();
      if (got == "eve-release/R119-15633.0.0") ++taken;
    });
  }
  for (std::thread& t : takers) t.join();
  EXPECT_EQ(taken.load(), 1);
  ASSERT_TRUE(db_->GetOmahaClient("10.0.0.9", &client, &found).ok());
  EXPECT_EQ(client.forced_update_label, "");
}

}  // namespace
}  // namespace devserver::state
