// The foundation end to end: real nginx in front of the real pool, driven over HTTP.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <optional>
#include <thread>

#include "fcgi/base/fs.h"
#include "fcgi/pool/host_sampler.h"
#include "tests/integration/http_client.h"
#include "tests/integration/service_fixture.h"
#include "tests/support/temp_dir.h"

namespace devserver::testing {
namespace {

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status s = service_.Start(options_);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  HttpResult Get(const std::string& target) { return HttpGet(service_.port(), target); }
  // /check_health's JSON; null when it did not answer 200.
  Poco::JSON::Object::Ptr Health() {
    HttpResult r = Get("/check_health");
    if (r.status != 200) return nullptr;
    return Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>();
  }

  ServiceProcess::Options options_;
  ServiceProcess service_;
};

TEST_F(PoolTest, IndexListsEveryEndpointAndDocServesIt) {
  HttpResult index = Get("/");
  ASSERT_EQ(index.status, 200) << index.error;
  EXPECT_EQ(index.headers["Content-Type"], "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<a href=\"/doc/check_health\">/check_health</a>"), std::string::npos);
  HttpResult doc = Get("/doc/check_health");
  ASSERT_EQ(doc.status, 200);
  EXPECT_EQ(doc.headers["Content-Type"], "text/plain; charset=utf-8");
  EXPECT_NE(doc.body.find("free_disk"), std::string::npos);
  HttpResult missing = Get("/doc/no_such_endpoint");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "no endpoint named 'no_such_endpoint'");
}

TEST_F(PoolTest, CheckHealthReportsDiskWorkersUptimeAndVersion) {
  HttpResult r = Get("/check_health");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.headers["Content-Type"], "application/json");
  auto health = Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>();
  struct statvfs st {};
  ASSERT_EQ(statvfs((service_.state_dir() + "/static").c_str(), &st), 0);
  uint64_t free_now = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  uint64_t reported = health->getValue<uint64_t>("free_disk_bytes");
  // Other processes write to this disk too; the figure is the same statvfs within 1 GiB.
  EXPECT_LT(std::max(free_now, reported) - std::min(free_now, reported), uint64_t{1} << 30);
  EXPECT_EQ(health->getValue<uint64_t>("free_disk"), reported >> 30);
  EXPECT_EQ(health->getValue<int>("workers"), 2);
  EXPECT_EQ(health->getValue<int>("threads_per_worker"), 4);
  EXPECT_EQ(health->getValue<int>("staging_thread_count"), 0);
  EXPECT_GE(health->getValue<int>("uptime_seconds"), 0);
  EXPECT_EQ(health->getValue<std::string>("version"), DEVSERVER_VERSION);
  std::vector<pid_t> workers = service_.WorkerPids();
  EXPECT_NE(std::find(workers.begin(), workers.end(), health->getValue<int>("pid")), workers.end());
}

// The fields the old lab client reads to choose and skip hosts, with its types.
TEST_F(PoolTest, CheckHealthCarriesTheLabClientsLoadFields) {
  Poco::JSON::Object::Ptr health = Health();
  ASSERT_TRUE(health);
  for (const char* field : {"free_disk", "staging_thread_count", "apache_client_count",
                            "network_total_bytes_per_second", "disk_total_bytes_per_second"}) {
    ASSERT_TRUE(health->has(field)) << field;
    EXPECT_TRUE(health->get(field).isInteger()) << field << ": " << health->get(field).toString();
    EXPECT_GE(health->getValue<int64_t>(field), 0) << field;
  }
  ASSERT_TRUE(health->has("cpu_percent"));
  EXPECT_TRUE(health->get("cpu_percent").isNumeric());
  EXPECT_GE(health->getValue<double>("cpu_percent"), 0);
  EXPECT_LE(health->getValue<double>("cpu_percent"), 100);
  // Nothing else is in flight: this request counts itself.
  EXPECT_EQ(health->getValue<int64_t>("apache_client_count"), 1);
}

// Requests in flight on every worker, whichever worker answers.
TEST_F(PoolTest, CheckHealthCountsTheRequestsInFlightOnAllWorkers) {
  constexpr int kSlow = 3;
  std::vector<std::future<HttpResult>> slow;
  slow.reserve(kSlow);
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::async(std::launch::async,
                              [&] { return HttpGet(service_.port(), "/debug/sleep?ms=5000"); }));
  }
  int64_t seen = -1;
  // Well within the 5 s the slow requests take, so they are all still running.
  EXPECT_TRUE(PollUntil(
      [&] {
        Poco::JSON::Object::Ptr health = Health();
        if (health) seen = health->getValue<int64_t>("apache_client_count");
        return seen >= kSlow + 1;
      },
      3000))
      << "apache_client_count " << seen;
  EXPECT_EQ(seen, kSlow + 1);
  for (auto& request : slow) EXPECT_EQ(request.get().status, 200);
  // Counted out when answered, not only ever counted up.
  EXPECT_TRUE(PollUntil(
      [&] {
        Poco::JSON::Object::Ptr health = Health();
        if (health) seen = health->getValue<int64_t>("apache_client_count");
        return seen == 1;
      },
      5000))
      << "apache_client_count " << seen;
}

// Runs `work` on a thread until the object goes, so that a failed assertion stops it too.
class Background {
 public:
  explicit Background(const std::function<void(const std::atomic<bool>& stop)>& work)
      : thread_([this, work] { work(stop_); }) {}
  ~Background() {
    stop_ = true;
    thread_.join();
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

double CpuPercent(const Poco::JSON::Object::Ptr& health) {
  return health ? health->getValue<double>("cpu_percent") : -1;
}

TEST_F(PoolTest, CheckHealthCpuPercentIsMeasured) {
  double cpu = -1;
  {
    const Background spin([](const std::atomic<bool>& stop) {
      volatile uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) n = n + 1;
    });
    EXPECT_TRUE(PollUntil(
        [&] {
          cpu = CpuPercent(Health());
          return cpu > 0;
        },
        10000))
        << "cpu_percent " << cpu << " while a thread spins";
  }
  EXPECT_LE(cpu, 100);
}

// What the master's sampler counts as the host's disk I/O so far; nullopt without
// /proc/diskstats.
std::optional<uint64_t> WholeDiskBytes() {
  std::string text;
  DeviceBytes disks;
  if (!ReadFile("/proc/diskstats", &text).ok() || !ParseDiskStats(text, &disks)) {
    return std::nullopt;
  }
  uint64_t sum = 0;
  for (const auto& [name, bytes] : disks) sum += bytes;
  return sum;
}

TEST_F(PoolTest, CheckHealthDiskRateIsMeasured) {
  const std::optional<uint64_t> disk_before = WholeDiskBytes();
  if (!disk_before) GTEST_SKIP() << "no /proc/diskstats on this host";
  const std::string path = service_.state_dir() + "/disk-load.bin";
  Status written = Status::Ok();
  uint64_t rate = 0;
  bool measured = false;
  {
    // 64 MiB, fsynced 8 MiB at a time and rewritten until the rate shows, so that writing
    // still goes on whichever second's sample /check_health happens to read.
    const Background writer([&](const std::atomic<bool>& stop) {
      const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) {
        written = Status::IOError("open " + path, errno);
        return;
      }
      const std::string chunk(8 << 20, 'd');
      for (uint64_t offset = 0; !stop.load() && written.ok();
           offset = (offset + chunk.size()) % (64 << 20)) {
        if (pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(offset)) !=
                static_cast<ssize_t>(chunk.size()) ||
            fsync(fd) != 0) {
          written = Status::IOError("write " + path, errno);
        }
      }
      close(fd);
    });
    measured = PollUntil(
        [&] {
          Poco::JSON::Object::Ptr health = Health();
          if (health) rate = health->getValue<uint64_t>("disk_total_bytes_per_second");
          return rate > 0;
        },
        10000);
  }
  ASSERT_TRUE(written.ok()) << written.message();
  if (measured) return;
  const std::optional<uint64_t> disk_after = WholeDiskBytes();
  if (disk_after && *disk_after == *disk_before) {
    GTEST_SKIP() << "/proc/diskstats's whole disks did not move while 64 MiB were written and "
                    "fsynced to "
                 << path << " (a container that does not see its disk): no rate to measure";
  }
  ADD_FAILURE() << "disk_total_bytes_per_second stayed 0 for 10 s while the disks counted "
                << (disk_after ? *disk_after - *disk_before : 0) << " bytes";
}

TEST_F(PoolTest, UnknownEndpointIs404AndWrongMethodIs405) {
  HttpResult r = Get("/no/such/thing?x=1");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no endpoint /no/such/thing");
  HttpResult post = HttpCall(service_.port(), "POST", "/check_health", {}, "x");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["Allow"], "GET");
}

TEST_F(PoolTest, AnswersGivenBeforeTheBodyIsReadStillReachTheCaller) {
  // 404 and 405 are answered without reading the body. 8 MiB is far more than a socket
  // buffer, so nginx is still sending it when the answer is written: a worker that closed the
  // connection then would make nginx's write fail and the caller get 502.
  const std::string body(8 << 20, 'x');
  for (int i = 0; i < 3; ++i) {
    HttpResult wrong_method = HttpCall(service_.port(), "POST", "/check_health", {}, body);
    EXPECT_EQ(wrong_method.status, 405) << wrong_method.error;
    HttpResult unknown = HttpCall(service_.port(), "POST", "/no/such/thing", {}, body);
    EXPECT_EQ(unknown.status, 404) << unknown.error;
    EXPECT_EQ(unknown.body, "no endpoint /no/such/thing");
  }
}

TEST_F(PoolTest, RawAndEncodedQueryValuesParseTheSame) {
  const std::string want =
      "archive_url=gs://chromeos-image-archive/x86-alex-release/"
      "R19-2003.0.0-a1-b1819\nartifacts=full_payload,stateful\n";
  HttpResult raw =
      Get("/debug/echo?archive_url=gs://chromeos-image-archive/x86-alex-release/"
          "R19-2003.0.0-a1-b1819&artifacts=full_payload,stateful");
  HttpResult encoded =
      Get("/debug/echo?archive_url=gs%3A%2F%2Fchromeos-image-archive%2F"
          "x86-alex-release%2FR19-2003.0.0-a1-b1819&artifacts=full_payload%2Cstateful");
  ASSERT_EQ(raw.status, 200) << raw.error;
  EXPECT_EQ(raw.body, want);
  ASSERT_EQ(encoded.status, 200);
  EXPECT_EQ(encoded.body, want);
  HttpResult bad = Get("/debug/echo?archive_url=%G1");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, "parameter 'archive_url': invalid percent-escape '%G1'");
  HttpResult twice = Get("/debug/echo?a=1&a=2");
  EXPECT_EQ(twice.status, 400);
  EXPECT_EQ(twice.body, "parameter 'a' given more than once");
}

TEST_F(PoolTest, NginxServesStaticFilesWithRangeAndHidesTempNames) {
  std::string build = service_.state_dir() + "/static/board-release/R1-1.0.0";
  ASSERT_TRUE(MakeDirectories(build + "/.staging-tmp", 0755).ok());
  ASSERT_TRUE(WriteFileAtomically(build + "/update.gz", "0123456789").ok());
  ASSERT_TRUE(WriteFileAtomically(build + "/.update.gz.partial", "half").ok());
  ASSERT_TRUE(WriteFileAtomically(build + "/.staging-tmp/x", "half").ok());

  HttpResult whole = Get("/static/board-release/R1-1.0.0/update.gz");
  ASSERT_EQ(whole.status, 200) << whole.error;
  EXPECT_EQ(whole.body, "0123456789");
  HttpResult range = HttpCall(service_.port(), "GET", "/static/board-release/R1-1.0.0/update.gz",
                              {{"Range", "bytes=2-5"}});
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, "2345");
  EXPECT_EQ(Get("/static/archive/board-release/R1-1.0.0/update.gz").body, "0123456789");
  EXPECT_EQ(Get("/static/board-release/R1-1.0.0/.update.gz.partial").status, 404);
  EXPECT_EQ(Get("/static/board-release/R1-1.0.0/.staging-tmp/x").status, 404);
  EXPECT_EQ(Get("/static/archive/board-release/R1-1.0.0/.staging-tmp/x").status, 404);
  EXPECT_EQ(Get("/static/board-release/R1-1.0.0/").status, 403);  // no directory listing
  // nginx resolves the dot-dot before routing: the request reaches the API, not the disk.
  HttpResult escape = Get("/static/../run/fcgi.sock");
  EXPECT_EQ(escape.status, 404);
  EXPECT_EQ(escape.body, "no endpoint /run/fcgi.sock");
}

TEST_F(PoolTest, KilledWorkerIsReplacedAndRequestsKeepSucceeding) {
  std::vector<pid_t> before = service_.WorkerPids();
  ASSERT_EQ(before.size(), 2u);
  ASSERT_EQ(kill(before[0], SIGKILL), 0);
  // The surviving worker answers while the master replaces the dead one.
  for (int i = 0; i < 50; ++i) {
    HttpResult r = Get("/check_health");
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.error << r.body;
  }
  ASSERT_TRUE(PollUntil(
      [&] {
        std::vector<pid_t> now = service_.WorkerPids();
        return now.size() == 2 && std::find(now.begin(), now.end(), before[0]) == now.end();
      },
      10000))
      << service_.Log();
  EXPECT_NE(service_.Log().find("killed by SIGKILL"), std::string::npos);
  std::vector<pid_t> after = service_.WorkerPids();
  EXPECT_NE(std::find(after.begin(), after.end(), before[1]), after.end());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Get("/check_health").status, 200);
}

// A worker dying of a fatal signal leaves one line with its stack in the log (the journal),
// and still dies of that signal. (A sanitizer build reports through its own handler.)
TEST_F(PoolTest, AWorkerDyingOfAFatalSignalLeavesItsStackInTheLog) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's own handler reports fatal signals in this build";
#endif
  const pid_t worker = service_.WorkerPids().at(0);
  ASSERT_EQ(kill(worker, SIGSEGV), 0);
  const std::string report = "fatal signal 11 (SEGV) in pid " + std::to_string(worker) +
                             " sent by pid " + std::to_string(getpid()) + "; stack: ";
  const std::string death = "(pid " + std::to_string(worker) + ") killed by SIGSEGV";
  ASSERT_TRUE(PollUntil(
      [&] {
        const std::string log = service_.Log();
        return log.find(report) != std::string::npos && log.find(death) != std::string::npos;
      },
      10000))
      << service_.Log();
  const std::string log = service_.Log();
  const size_t at = log.find(report);
  const std::string line = log.substr(at, log.find('\n', at) - at);
  EXPECT_NE(line.find(" devserver-fcgi+0x"), std::string::npos) << line;  // its own frames
  EXPECT_LT(at, log.find(death));                                         // reported before it died
  EXPECT_EQ(Get("/check_health").status, 200);
}

// The lock files of the owners directory, as the pids they name.
std::vector<pid_t> OwnerLockPids(const std::string& state_dir) {
  std::vector<pid_t> pids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state_dir + "/owners", ec)) {
    pids.push_back(static_cast<pid_t>(std::atoi(entry.path().filename().c_str())));
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

TEST_F(PoolTest, WorkersShareOneStateDatabaseThatOperatorsCanQuery) {
  std::string out;
  // With a busy timeout, as the README tells operators: a reader can meet a worker's commit
  // (workers write at start, requeuing dead owners' rows) in the rollback journal's file.
  int rc = RunProgram(
      {"/usr/bin/sqlite3", "-readonly", "-cmd", ".timeout 5000", service_.state_dir() + "/state.db",
       "PRAGMA user_version; SELECT count(*) FROM staging;"},
      &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "4\n0\n");  // schema/004_*.sql is the newest migration
  std::vector<pid_t> workers = service_.WorkerPids();
  std::sort(workers.begin(), workers.end());
  ASSERT_TRUE(PollUntil([&] { return OwnerLockPids(service_.state_dir()) == workers; }, 10000));

  // A killed worker's liveness lock is swept by its replacement.
  ASSERT_EQ(kill(workers[0], SIGKILL), 0);
  ASSERT_TRUE(PollUntil(
      [&] {
        std::vector<pid_t> now = service_.WorkerPids();
        std::sort(now.begin(), now.end());
        return now.size() == 2 && now != workers && OwnerLockPids(service_.state_dir()) == now;
      },
      10000))
      << service_.Log();
}

TEST_F(PoolTest, SigtermLetsTheInFlightRequestFinishThenExitsCleanly) {
  auto slow = std::async(std::launch::async,
                         [&] { return HttpGet(service_.port(), "/debug/sleep?ms=1500"); });
  ASSERT_TRUE(PollUntil(
      [&] { return service_.Log().find("debug/sleep: sleeping 1500 ms") != std::string::npos; },
      10000));
  pid_t master = service_.master_pid();
  std::vector<pid_t> workers = service_.WorkerPids();
  service_.Signal(SIGTERM);
  HttpResult r = slow.get();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "slept 1500");
  EXPECT_EQ(service_.Wait(20000), 0) << service_.Log();
  EXPECT_NE(kill(master, 0), 0);
  for (pid_t w : workers) EXPECT_NE(kill(w, 0), 0);
  struct stat st {};
  EXPECT_NE(stat((service_.state_dir() + "/run/fcgi.sock").c_str(), &st), 0);
}

// Each API request leaves one access line in the service's log (the journal under systemd),
// and none when access_log is off.
TEST_F(PoolTest, EachApiRequestLeavesOneAccessLine) {
  ASSERT_EQ(Get("/check_health?probe=1").status, 200);
  ASSERT_EQ(Get("/no_such_endpoint").status, 404);
  const std::string health = "]: access 127.0.0.1 GET /check_health?probe=1 200 ";
  const std::string missing = "]: access 127.0.0.1 GET /no_such_endpoint 404 ";
  // Lines are written in batches (0.1 s).
  ASSERT_TRUE(PollUntil(
      [&] {
        const std::string log = service_.Log();
        return log.find(health) != std::string::npos && log.find(missing) != std::string::npos;
      },
      5000))
      << service_.Log();
  const std::string log = service_.Log();
  EXPECT_EQ(log.find(health), log.rfind(health));  // once
}

TEST(PoolAccessLogTest, AccessLogFalseWritesNone) {
  ServiceProcess service;
  ServiceProcess::Options options;
  options.extra_flags = {"--access-log=false"};
  ASSERT_TRUE(service.Start(options).ok());
  ASSERT_EQ(HttpGet(service.port(), "/check_health").status, 200);
  service.Signal(SIGTERM);  // a stop flushes whatever access lines are waiting
  ASSERT_EQ(service.Wait(20000), 0) << service.Log();
  EXPECT_EQ(service.Log().find("]: access "), std::string::npos) << service.Log();
}

TEST(PoolReloadTest, SighupAppliesTheNewConfigWithoutDroppingRequests) {
  const TempDir dir("devserver-reload");
  std::string config = dir.Sub("devserver.ini");
  ASSERT_TRUE(WriteFileAtomically(config, "[server]\nworkers = 2\nthreads = 3\n").ok());
  ServiceProcess service;
  ServiceProcess::Options options;
  options.config_file = config;
  options.workers = 0;  // from the file, so the reload can change them
  options.threads = 0;
  ASSERT_TRUE(service.Start(options).ok());
  std::vector<pid_t> old_workers = service.WorkerPids();
  ASSERT_EQ(old_workers.size(), 2u);

  auto slow = std::async(std::launch::async,
                         [&] { return HttpGet(service.port(), "/debug/sleep?ms=1000"); });
  ASSERT_TRUE(PollUntil(
      [&] { return service.Log().find("debug/sleep: sleeping 1000 ms") != std::string::npos; },
      10000));
  ASSERT_TRUE(WriteFileAtomically(config, "[server]\nworkers = 3\nthreads = 5\n").ok());
  ASSERT_EQ(kill(service.master_pid(), SIGHUP), 0);
  // The old generation finishes what it accepted.
  HttpResult r = slow.get();
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "slept 1000");
  ASSERT_TRUE(PollUntil(
      [&] {
        std::vector<pid_t> now = service.WorkerPids();
        if (now.size() != 3) return false;
        for (pid_t p : now) {
          if (std::find(old_workers.begin(), old_workers.end(), p) != old_workers.end())
            return false;
        }
        return true;
      },
      20000))
      << service.Log();
  for (int i = 0; i < 20; ++i) {
    HttpResult health = HttpGet(service.port(), "/check_health");
    ASSERT_EQ(health.status, 200) << health.error;
    auto json = Poco::JSON::Parser().parse(health.body).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(json->getValue<int>("workers"), 3);
    EXPECT_EQ(json->getValue<int>("threads_per_worker"), 5);
  }
  EXPECT_NE(service.Log().find("starting generation 1"), std::string::npos);
}

TEST(PoolConfigTest, CorruptConfigIsAClearErrorNamingTheKey) {
  const TempDir dir("devserver-badconfig");
  std::string config = dir.Sub("devserver.ini");
  ASSERT_TRUE(WriteFileAtomically(config, "[server]\nthreads = 4\nworkers = many\n").ok());
  std::string out;
  int rc = RunProgram({DEVSERVER_FCGI_BIN, "--config", config}, &out);
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(out,
            "devserver-fcgi: " + config + ":3: [server] workers: 'many' is not a whole number\n");

  // serve checks the configuration before it starts anything.
  rc = RunProgram(
      {DEVSERVERCTL_BIN, "serve", "--port=1", "--state-dir=" + dir.Sub("s"), "--config=" + config},
      &out);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("[server] workers: 'many' is not a whole number"), std::string::npos) << out;
  struct stat st {};
  EXPECT_NE(stat(dir.Sub("s/run/devserver-fcgi.pid").c_str(), &st), 0);

  rc = RunProgram({DEVSERVER_FCGI_BIN, "--no-such-key=1"}, &out);
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(out, "devserver-fcgi: unknown option --no-such-key\n");
}

}  // namespace
}  // namespace devserver::testing
