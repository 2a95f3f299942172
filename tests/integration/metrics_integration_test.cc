// /metrics end to end: counts summed over the pool's workers whatever happens to them, the
// stagings and upstream traffic they count, the exposition checked by Prometheus's own
// promtool, and a real Prometheus scraping it.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/staging_fixture.h"

namespace devserver::testing {
namespace {

// The sum of every series of `family` whose labels include each of `must_have`.
double SumOf(const std::string& exposition, const std::string& family,
             const std::vector<std::string>& must_have = {}) {
  double sum = 0;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(family + "{", 0) != 0 && line.rfind(family + " ", 0) != 0) continue;
    if (!std::all_of(must_have.begin(), must_have.end(),
                     [&](const std::string& l) { return line.find(l) != std::string::npos; })) {
      continue;
    }
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

const char kCheckHealthOk[] =
    "devserver_http_requests_total{endpoint=\"/check_health\",code=\"200\"}";

class MetricsTest : public StagingTest {
 protected:
  // Two request threads per worker: concurrent clients then have to spread over workers.
  void ConfigureService(ServiceProcess::Options* options) override { options->threads = 2; }

  std::string Metrics() {
    HttpResult r = Get("/metrics");
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
  }
  // Sends /check_health `n` times from 8 concurrent clients, each request on a new
  // connection; returns the workers that answered.
  std::set<int> CheckHealth(int n) {
    std::mutex mu;
    std::set<int> pids;
    std::atomic<int> next{0};
    std::vector<std::thread> clients;
    clients.reserve(8);
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&] {
        while (next.fetch_add(1) < n) {
          HttpResult r = Get("/check_health");
          EXPECT_EQ(r.status, 200) << r.error;
          if (r.status != 200) continue;
          const int pid =
              Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>()->getValue<int>(
                  "pid");
          std::lock_guard<std::mutex> lock(mu);
          pids.insert(pid);
        }
      });
    }
    for (std::thread& t : clients) t.join();
    return pids;
  }
  // Waits until no artifact is queued or staging: /download answers before the artifacts
  // it does not wait for are staged.
  void WaitUntilSettled() {
    ASSERT_TRUE(PollUntil(
        [&] {
          return Sql("SELECT count(*) FROM artifacts WHERE state IN ('queued', 'staging')") == "0";
        },
        60000));
  }
};

TEST_F(MetricsTest, CountsAreSummedOverWorkersAndSurviveAKilledWorkerAndAReload) {
  // The service's start-up probe asked /check_health already.
  const double before_test = std::max(0.0, ValueOf(Metrics(), kCheckHealthOk));
  constexpr int kRequests = 120;
  const std::set<int> answered = CheckHealth(kRequests);
  ASSERT_GE(answered.size(), 2u) << "the requests must spread over several workers";
  EXPECT_EQ(ValueOf(Metrics(), kCheckHealthOk), before_test + kRequests);

  // A worker that answered some of them dies; its counts must not die with it.
  const pid_t victim = *answered.begin();
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  ASSERT_TRUE(PollUntil(
      [&] {
        std::vector<pid_t> pids = service_.WorkerPids();
        return pids.size() == 4 && std::find(pids.begin(), pids.end(), victim) == pids.end();
      },
      20000));
  std::string text = Metrics();
  EXPECT_EQ(ValueOf(text, kCheckHealthOk), before_test + kRequests);
  EXPECT_EQ(ValueOf(text, "devserver_worker_restarts_total"), 1);
  // Only the scrape itself is in flight: the dead worker's share of the gauge went with it.
  EXPECT_EQ(ValueOf(text, "devserver_http_requests_in_flight"), 1);
  EXPECT_EQ(ValueOf(text, "devserver_waiters"), 0);

  // A reload replaces every worker; the counts stay, and a reload is no restart.
  const std::vector<pid_t> before = service_.WorkerPids();
  ASSERT_EQ(kill(service_.master_pid(), SIGHUP), 0);
  ASSERT_TRUE(PollUntil(
      [&] {
        std::vector<pid_t> pids = service_.WorkerPids();
        if (pids.size() != 4) return false;
        return std::none_of(pids.begin(), pids.end(), [&](pid_t p) {
          return std::find(before.begin(), before.end(), p) != before.end();
        });
      },
      20000));
  CheckHealth(5);
  text = Metrics();
  EXPECT_EQ(ValueOf(text, kCheckHealthOk), before_test + kRequests + 5);
  // (Once seen at 2 under a loaded CI-like run, not reproduced since: the log says which
  // worker of the new generation ended and how.)
  EXPECT_EQ(ValueOf(text, "devserver_worker_restarts_total"), 1) << service_.Log();
  // The three /metrics reads before this one were counted too, under their own endpoint (a
  // request is counted once answered).
  EXPECT_EQ(ValueOf(text, "devserver_http_requests_total{endpoint=\"/metrics\",code=\"200\"}"), 3);
  EXPECT_EQ(
      ValueOf(text, "devserver_http_request_duration_seconds_count{endpoint=\"/check_health\"}"),
      before_test + kRequests + 5);
}

TEST_F(MetricsTest, StagingsUpstreamTrafficAndPublishedBytesAreCounted) {
  const FakeBuild b = PutBuild("R99-7.0.0");
  ASSERT_EQ(Get("/download?archive_url=" + b.Url()).body, "Success");
  // A build that does not exist fails as not found.
  EXPECT_EQ(Get("/stage?archive_url=gs://" + kBucket + "/x86-alex-release/R99-0.0.404" +
                "&artifacts=full_payload")
                .status,
            500);
  WaitUntilSettled();
  const fakegcs::CounterSnapshot fake = fake_->Counters();
  const std::string text = Metrics();

  const double started = SumOf(text, "devserver_stagings_started_total");
  const double succeeded = SumOf(text, "devserver_stagings_succeeded_total");
  EXPECT_EQ(ValueOf(text, "devserver_stagings_succeeded_total{artifact=\"full_payload\"}"), 1);
  EXPECT_EQ(
      ValueOf(text,
              "devserver_stagings_failed_total{artifact=\"full_payload\",kind=\"not_found\"}"),
      1);
  EXPECT_EQ(started, succeeded + SumOf(text, "devserver_stagings_failed_total"));
  EXPECT_EQ(std::to_string(static_cast<int64_t>(succeeded)),
            Sql("SELECT count(*) FROM artifacts WHERE state = 'staged'"));
  EXPECT_EQ(ValueOf(text, "devserver_artifacts{state=\"failed\"}"), 1);
  EXPECT_EQ(ValueOf(text, "devserver_artifacts{state=\"queued\"}"), 0);

  // What GCS sent is what was counted as received: its media bytes plus the JSON of its
  // listings and metadata, which the fake does not count.
  const double upstream_bytes = ValueOf(text, "devserver_upstream_bytes_total");
  EXPECT_GE(upstream_bytes, static_cast<double>(fake.media_bytes));
  EXPECT_LT(upstream_bytes, static_cast<double>(fake.media_bytes) + (1 << 20));
  uint64_t fake_requests = fake.list;
  for (const auto& [name, object] : fake.objects) fake_requests += object.media + object.metadata;
  EXPECT_EQ(SumOf(text, "devserver_upstream_requests_total", {"method=\"GET\""}), fake_requests);

  EXPECT_EQ(std::to_string(static_cast<int64_t>(ValueOf(text, "devserver_published_bytes_total"))),
            Sql("SELECT sum(size) FROM files"));
  EXPECT_EQ(ValueOf(text, "devserver_cache_bytes"),
            ValueOf(text, "devserver_published_bytes_total"));
  EXPECT_GT(ValueOf(text, "devserver_staging_duration_seconds_count{artifact=\"full_payload\"}"),
            0);
}

TEST_F(MetricsTest, PromtoolAcceptsTheExposition) {
  if (access("/usr/bin/promtool", X_OK) != 0) {
    GTEST_SKIP() << "promtool not installed (apt-get install prometheus; .ci/dev test does)";
  }
  const FakeBuild b = PutBuild("R99-7.1.0");
  ASSERT_EQ(Get("/download?archive_url=" + b.Url()).body, "Success");
  TempDir dir("devserver-promtool");
  { std::ofstream(dir.Sub("metrics.txt")) << Metrics(); }
  std::string out;
  const int rc = RunProgram(
      {"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + dir.Sub("metrics.txt")}, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "promtool's complaints (it also lints names, units and help)";
}

// A child process with its output in a file, killed when the test ends.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log) : pid_(Spawn(argv, log)) {}
  ~Child() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

// The value Prometheus holds for an instant query; -1 while it has none.
double PrometheusValue(int port, const std::string& query) {
  std::string encoded;
  Poco::URI::encode(query, "", encoded);
  HttpResult r = HttpGet(port, "/api/v1/query?query=" + encoded, 5000);
  if (r.status != 200) return -1;
  try {
    auto result = Poco::JSON::Parser()
                      .parse(r.body)
                      .extract<Poco::JSON::Object::Ptr>()
                      ->getObject("data")
                      ->getArray("result");
    if (result->size() != 1) return -1;
    return std::stod(result->getObject(0)->getArray("value")->getElement<std::string>(1));
  } catch (const std::exception&) {
    return -1;
  }
}

TEST_F(MetricsTest, ARealPrometheusScrapesACounterThatMovesByTheRequestsMade) {
  if (access("/usr/bin/prometheus", X_OK) != 0) {
    GTEST_SKIP() << "prometheus not installed (apt-get install prometheus; .ci/dev test does)";
  }
  TempDir dir("devserver-prometheus");
  const int port = FreePort();
  {
    std::ofstream config(dir.Sub("prometheus.yml"));
    config << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
           << "scrape_configs:\n  - job_name: devserver\n    static_configs:\n"
           << "      - targets: ['127.0.0.1:" << service_.port() << "']\n";
  }
  Child prometheus({"/usr/bin/prometheus", "--config.file=" + dir.Sub("prometheus.yml"),
                    "--storage.tsdb.path=" + dir.Sub("data"),
                    "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                   dir.Sub("prometheus.log"));
  ASSERT_TRUE(prometheus.started());
  const std::string query = std::string("sum(") + kCheckHealthOk + ")";
  CheckHealth(1);
  double first = -1;
  ASSERT_TRUE(PollUntil(
      [&] {
        first = PrometheusValue(port, query);
        return first >= 1;
      },
      60000))
      << "Prometheus never scraped a value; its log is in " << dir.Sub("prometheus.log");
  constexpr int kRequests = 25;
  CheckHealth(kRequests);
  double last = -1;
  EXPECT_TRUE(PollUntil(
      [&] {
        last = PrometheusValue(port, query);
        return last >= first + kRequests;
      },
      30000));
  EXPECT_EQ(last, first + kRequests) << "scraped before: " << first;
  EXPECT_EQ(PrometheusValue(port, "up{job=\"devserver\"}"), 1);
}

}  // namespace
}  // namespace devserver::testing
