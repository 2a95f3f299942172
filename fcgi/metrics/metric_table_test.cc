#include "fcgi/metrics/metric_table.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "fcgi/metrics/metrics.h"

namespace devserver::metrics {
namespace {

// Sums every live cell of `key` (one per owner) the way /metrics does.
double Sum(const MetricTable& table, const std::string& key, size_t slot = 0) {
  double sum = 0;
  table.ForEach([&](const CellSnapshot& cell) {
    if (cell.key != key) return;
    sum += SlotValue(cell.kind, cell.values[slot]);
  });
  return sum;
}

int LiveCells(const MetricTable& table) {
  int n = 0;
  table.ForEach([&](const CellSnapshot&) { ++n; });
  return n;
}

// Starts `body` in a child process.
pid_t StartChild(const std::function<void()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  return pid;
}

bool ExitedCleanly(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class MetricTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MetricTable::Create(64, &table_).ok());
    Install(table_.get());
  }
  void TearDown() override { Install(nullptr); }
  std::unique_ptr<MetricTable> table_;
};

TEST_F(MetricTableTest, ProcessesForkedAfterCreationAddToTheSameCounters) {
  const std::string series = Series("devserver_http_requests_total", {{"endpoint", "/x"}});
  std::vector<pid_t> children;
  children.reserve(4);
  for (int c = 0; c < 4; ++c) {
    // All four claim the same key at once: the sum must still be exact.
    children.push_back(StartChild([&] {
      for (int i = 0; i < 5000; ++i) Add(series);
    }));
  }
  for (pid_t pid : children) ASSERT_TRUE(ExitedCleanly(pid));
  Add(series, 7);
  EXPECT_EQ(Sum(*table_, series), 4 * 5000 + 7);
  EXPECT_EQ(LiveCells(*table_), 1);  // one key, one cell, whoever claimed it
}

TEST_F(MetricTableTest, ADeadProcesssGaugeShareGoesWhenItIsReleased) {
  const pid_t child = StartChild([] { GaugeAdd("devserver_waiters", 3); });
  ASSERT_TRUE(ExitedCleanly(child));
  GaugeAdd("devserver_waiters", 2);
  GaugeAdd("devserver_waiters", -1);
  EXPECT_EQ(Sum(*table_, "devserver_waiters"), 4);  // the child's 3 and this process's 1
  table_->ReleaseOwner(child);
  EXPECT_EQ(Sum(*table_, "devserver_waiters"), 1);
  EXPECT_EQ(LiveCells(*table_), 1);
}

TEST_F(MetricTableTest, AGaugeHandleUsedBeforeAForkGivesTheChildAShareOfItsOwn) {
  Gauge gauge("devserver_http_requests_in_flight");
  gauge.Add(1);  // caches this process's cell
  const pid_t child = StartChild([&] { gauge.Add(5); });
  ASSERT_TRUE(ExitedCleanly(child));
  EXPECT_EQ(Sum(*table_, "devserver_http_requests_in_flight"), 6);
  table_->ReleaseOwner(child);
  EXPECT_EQ(Sum(*table_, "devserver_http_requests_in_flight"), 1);
  {
    GaugeScope scope(&gauge, 2);
    EXPECT_EQ(Sum(*table_, "devserver_http_requests_in_flight"), 3);
  }
  EXPECT_EQ(Sum(*table_, "devserver_http_requests_in_flight"), 1);
}

TEST_F(MetricTableTest, GaugeSumAddsEveryProcesssShareOfAGauge) {
  EXPECT_EQ(GaugeSum(kRequestsInFlight), 0);  // never written
  const std::string series(kRequestsInFlight);
  const pid_t a = StartChild([&] { GaugeAdd(series, 2); });
  const pid_t b = StartChild([&] { GaugeAdd(series, 3); });
  ASSERT_TRUE(ExitedCleanly(a));
  ASSERT_TRUE(ExitedCleanly(b));
  Gauge mine(series);
  mine.Add(1);
  EXPECT_EQ(GaugeSum(kRequestsInFlight), 6);
  EXPECT_EQ(table_->Sum(series), 6);
  table_->ReleaseOwner(a);
  EXPECT_EQ(GaugeSum(kRequestsInFlight), 4);
  mine.Add(-3);  // shares are signed: only their sum means anything
  EXPECT_EQ(GaugeSum(kRequestsInFlight), 1);
  // Counters read the same way; another key with the same prefix is not summed in.
  Add("devserver_x_total", 5);
  Add("devserver_x_total_2", 7);
  EXPECT_EQ(GaugeSum("devserver_x_total"), 5);
}

TEST_F(MetricTableTest, ASetGaugeIsReplacedSharedAndOutlivesItsWriter) {
  const std::string series(kHostCpuPercent);
  const pid_t writer = StartChild([&] {
    GaugeSet(series, 12.5);
    GaugeSet(series, 37.25);  // replaces, never adds
  });
  ASSERT_TRUE(ExitedCleanly(writer));
  EXPECT_DOUBLE_EQ(GaugeSum(kHostCpuPercent), 37.25);
  table_->ReleaseOwner(writer);  // shared: not the writer's share
  EXPECT_DOUBLE_EQ(GaugeSum(kHostCpuPercent), 37.25);
  GaugeSet(series, 0.1);
  EXPECT_DOUBLE_EQ(GaugeSum(kHostCpuPercent), 0.1);
  EXPECT_EQ(LiveCells(*table_), 1);
}

TEST_F(MetricTableTest, ReleasedCellsAreTakenAgainSoRestartsDoNotFillTheTable) {
  // More short-lived owners than the table has cells: each one's cell must come back.
  for (int round = 0; round < 3 * 64; ++round) {
    const pid_t child = StartChild([] { GaugeAdd("devserver_http_requests_in_flight", 1); });
    ASSERT_TRUE(ExitedCleanly(child));
    table_->ReleaseOwner(child);
  }
  EXPECT_EQ(table_->dropped(), 0u);
  EXPECT_EQ(LiveCells(*table_), 0);
}

TEST_F(MetricTableTest, AFullTableDropsNewSeriesAndCountsThem) {
  for (int i = 0; i < 64; ++i) Add(Series("devserver_fill_total", {{"i", std::to_string(i)}}));
  EXPECT_EQ(table_->dropped(), 0u);
  Add("devserver_one_too_many_total");
  EXPECT_EQ(table_->dropped(), 1u);
  // Series already in the table still count.
  Add(Series("devserver_fill_total", {{"i", "3"}}), 4);
  EXPECT_EQ(Sum(*table_, Series("devserver_fill_total", {{"i", "3"}})), 5);
  Add(std::string(kMaxKeyBytes + 1, 'x'));
  EXPECT_EQ(table_->dropped(), 2u);
}

TEST_F(MetricTableTest, ObservationsLandInTheirBucketWithTheirSum) {
  Observe("devserver_staging_duration_seconds", 0.0004);  // first bucket
  Observe("devserver_staging_duration_seconds", 0.0005);  // a bound is inclusive
  Observe("devserver_staging_duration_seconds", 2.0);     // le 2.5
  Observe("devserver_staging_duration_seconds", 301);     // above every bound
  const std::string key = "devserver_staging_duration_seconds";
  EXPECT_EQ(Sum(*table_, key, 0), 2);
  EXPECT_EQ(Sum(*table_, key, 11), 1);  // kBucketBounds[11] == 2.5
  EXPECT_EQ(Sum(*table_, key, kOverflowSlot), 1);
  EXPECT_EQ(Sum(*table_, key, kSumSlot), 400 + 500 + 2'000'000 + 301'000'000);  // microseconds
}

TEST(MetricsWithoutATableTest, EveryCallIsANoOp) {
  Install(nullptr);
  Add("devserver_x_total");
  Observe("devserver_y_seconds", 1);
  GaugeAdd("devserver_z", 1);
  GaugeSet("devserver_s", 1.5);
  EXPECT_EQ(GaugeSum("devserver_s"), 0);
  Counter counter("devserver_c_total");
  counter.Add(5);
  EXPECT_EQ(Installed(), nullptr);
}

TEST(SeriesTest, LabelValuesAreEscaped) {
  EXPECT_EQ(Series("f"), "f");
  EXPECT_EQ(Series("f", {{"a", "1"}, {"b", "x\"y\\z\nw"}}), "f{a=\"1\",b=\"x\\\"y\\\\z\\nw\"}");
}

}  // namespace
}  // namespace devserver::metrics
