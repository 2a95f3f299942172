#include "fcgi/metrics/exposition.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "fcgi/metrics/metrics.h"

namespace devserver::metrics {
namespace {

bool HasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

class ExpositionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MetricTable::Create(128, &table_).ok());
    Install(table_.get());
  }
  void TearDown() override { Install(nullptr); }
  std::unique_ptr<MetricTable> table_;
};

TEST_F(ExpositionTest, CountersAndGaugesCarryTheirHelpTypeAndValue) {
  Add(Series("devserver_http_requests_total", {{"endpoint", "/is_staged"}, {"code", "200"}}), 3);
  GaugeAdd("devserver_waiters", 2);
  const std::string text =
      RenderExposition(table_.get(), {{Series("devserver_artifacts", {{"state", "queued"}}), 4}});
  EXPECT_TRUE(HasLine(text, "# TYPE devserver_http_requests_total counter")) << text;
  EXPECT_TRUE(
      HasLine(text, "devserver_http_requests_total{endpoint=\"/is_staged\",code=\"200\"} 3"))
      << text;
  EXPECT_TRUE(HasLine(text, "# TYPE devserver_waiters gauge")) << text;
  EXPECT_TRUE(HasLine(text, "devserver_waiters 2")) << text;
  EXPECT_TRUE(HasLine(text, "devserver_artifacts{state=\"queued\"} 4")) << text;
  EXPECT_NE(text.find("# HELP devserver_http_requests_total API requests answered"),
            std::string::npos);
}

TEST_F(ExpositionTest, ASetGaugeIsRenderedAsAGaugeWithItsValue) {
  GaugeSet(std::string(kHostCpuPercent), 42.5);
  GaugeSet(std::string(kHostDiskBytesPerSecond), 1048576);
  const std::string text = RenderExposition(table_.get(), {});
  EXPECT_TRUE(HasLine(text, "# TYPE devserver_host_cpu_percent gauge")) << text;
  EXPECT_TRUE(HasLine(text, "devserver_host_cpu_percent 42.5")) << text;
  EXPECT_TRUE(HasLine(text, "devserver_host_disk_bytes_per_second 1048576")) << text;
  // Not set yet: 0, as every unlabelled family.
  EXPECT_TRUE(HasLine(text, "devserver_host_network_bytes_per_second 0")) << text;
}

TEST_F(ExpositionTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  const std::string series =
      Series("devserver_http_request_duration_seconds", {{"endpoint", "/download"}});
  Observe(series, 0.003);
  Observe(series, 0.004);
  Observe(series, 90);
  Observe(series, 1000);
  const std::string text = RenderExposition(table_.get(), {});
  const std::string prefix =
      "devserver_http_request_duration_seconds_bucket{endpoint=\"/download\",";
  EXPECT_TRUE(HasLine(text, prefix + "le=\"0.0025\"} 0")) << text;
  EXPECT_TRUE(HasLine(text, prefix + "le=\"0.005\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, prefix + "le=\"60\"} 2")) << text;
  EXPECT_TRUE(HasLine(text, prefix + "le=\"300\"} 3")) << text;
  EXPECT_TRUE(HasLine(text, prefix + "le=\"+Inf\"} 4")) << text;
  EXPECT_TRUE(
      HasLine(text, "devserver_http_request_duration_seconds_sum{endpoint=\"/download\"} 1090.007"))
      << text;
  EXPECT_TRUE(
      HasLine(text, "devserver_http_request_duration_seconds_count{endpoint=\"/download\"} 4"))
      << text;
}

TEST_F(ExpositionTest, UnlabelledFamiliesReadZeroBeforeTheirFirstEvent) {
  const std::string text = RenderExposition(table_.get(), {});
  EXPECT_TRUE(HasLine(text, "devserver_worker_restarts_total 0")) << text;
  EXPECT_TRUE(HasLine(text, "devserver_upstream_bytes_total 0")) << text;
  EXPECT_TRUE(HasLine(text, "devserver_metrics_dropped_series_total 0")) << text;
  // A labelled family has no series to show until something is counted.
  EXPECT_EQ(text.find("devserver_stagings_failed_total{"), std::string::npos);
}

TEST_F(ExpositionTest, EveryFamilyIsDeclaredOnceWithAKnownType) {
  std::set<std::string> names;
  for (const Family& f : Catalogue()) {
    EXPECT_TRUE(names.insert(std::string(f.name)).second) << f.name;
    EXPECT_TRUE(f.type == "counter" || f.type == "gauge" || f.type == "histogram") << f.name;
    EXPECT_EQ(f.type == "counter",
              f.name.size() > 6 && f.name.substr(f.name.size() - 6) == "_total")
        << f.name << ": counters, and only they, end in _total";
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
}

TEST_F(ExpositionTest, ASeriesOutsideTheCatalogueIsShownUntyped) {
  Add("devserver_not_in_the_catalogue_total", 2);
  const std::string text = RenderExposition(table_.get(), {});
  EXPECT_TRUE(HasLine(text, "# TYPE devserver_not_in_the_catalogue_total untyped")) << text;
  EXPECT_TRUE(HasLine(text, "devserver_not_in_the_catalogue_total 2")) << text;
}

// The README is the operator's reference: every metric, with its type, must be in its table.
TEST(ExpositionReadmeTest, ReadmeDocumentsEveryMetric) {
  std::ifstream in(DEVSERVER_SOURCE_DIR "/README.md");
  const std::string readme{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  ASSERT_FALSE(readme.empty());
  for (const Family& f : Catalogue()) {
    const std::string row = "| `" + std::string(f.name) + "` | " + std::string(f.type) + " |";
    EXPECT_NE(readme.find(row), std::string::npos) << "README lacks a row starting " << row;
  }
}

}  // namespace
}  // namespace devserver::metrics
