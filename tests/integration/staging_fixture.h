// The staging tests' shared fixture: the fake GCS, the service started against it, and
// synthetic builds with every object the default artifact sets need.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fakegcs/fakegcs_process.h"
#include "tests/integration/http_client.h"
#include "tests/integration/service_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_archive.h"

namespace devserver::testing {

using fakegcs::FakeGcsProcess;
using fakegcs::Fault;

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

// The bytes of an archive of `entries`.
inline std::string ArchiveBytes(const std::vector<TestEntry>& entries,
                                Compression compression = Compression::kNone,
                                ArchiveFormat format = ArchiveFormat::kPax) {
  TempDir dir("devserver-archive");
  ArchiveOptions options;
  options.format = format;
  options.compression = compression;
  std::string error = WriteTestArchive(dir.Sub("a"), entries, options);
  EXPECT_EQ(error, "");
  std::ifstream in(dir.Sub("a"), std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline const std::string kBucket = "chromeos-image-archive";
inline const std::string kBoard = "x86-alex";

// One synthetic build in the fake GCS: its objects and their bytes.
struct FakeBuild {
  std::string build;   // "R99-1.0.0"
  std::string folder;  // "x86-alex-release/R99-1.0.0"
  std::string full, stateful, delta_nton, delta_mton;
  std::string suite_control;     // autotest/test_suites/control.bvt
  std::string autotest_control;  // autotest/server/site_tests/dummy/control

  std::string Url() const { return "gs://" + kBucket + "/" + folder; }
  std::string FullName() const { return "chromeos_" + build + "_" + kBoard + "_full_dev.bin"; }
  std::string Key(const std::string& name) const { return kBucket + "/" + folder + "/" + name; }
};

// Puts a synthetic build into the fake GCS: every object the default artifact sets need.
// The value of `series` (exactly as rendered, labels included) in an exposition; -1 when
// it is not there.
inline double ValueOf(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

inline FakeBuild PutFakeBuild(FakeGcsProcess* fake, const std::string& build,
                              size_t full_size = 2 << 20, bool with_full = true) {
  FakeBuild b;
  b.build = build;
  b.folder = kBoard + "-release/" + build;
  uint32_t seed = static_cast<uint32_t>(std::hash<std::string>()(build));
  b.full = RandomBytes(full_size, seed);
  b.stateful = RandomBytes(300 << 10, seed + 1);
  b.delta_nton = RandomBytes(200 << 10, seed + 2);
  b.delta_mton = RandomBytes(100 << 10, seed + 3);
  if (with_full) fake->PutObject(kBucket, b.folder + "/" + b.FullName(), b.full);
  fake->PutObject(kBucket, b.folder + "/stateful.tgz", b.stateful);
  fake->PutObject(kBucket,
                  b.folder + "/chromeos_" + build + "_" + build + "_" + kBoard + "_delta_dev.bin",
                  b.delta_nton);
  fake->PutObject(kBucket,
                  b.folder + "/chromeos_R98-1.0.0_" + build + "_" + kBoard + "_delta_dev.bin",
                  b.delta_mton);
  b.suite_control = "NAME = 'bvt'\n# " + build + "\n";
  b.autotest_control = "NAME = 'dummy'\nSUITE = 'bvt'\n# " + build + "\n";
  fake->PutObject(kBucket, b.folder + "/test_suites.tar.bz2",
                  ArchiveBytes({TestFile("autotest/test_suites/control.bvt", b.suite_control)},
                               Compression::kBzip2));
  fake->PutObject(
      kBucket, b.folder + "/autotest.tar",
      ArchiveBytes({TestFile("autotest/server/site_tests/dummy/control", b.autotest_control),
                    TestFile("autotest/test_suites/control.bvt", "autotest's own copy\n")}));
  return b;
}

class StagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeGcsProcess::Options fake_options;
    fake_options.binary = FAKEGCS_BIN;
    fake_ = std::make_unique<FakeGcsProcess>(fake_options);
    options_.workers = 4;
    options_.threads = 32;
    options_.extra_flags = {"--gs-endpoint=" + fake_->endpoint(), "--stall-timeout=2",
                            "--object-wait=0", "--max-attempts=3", "--max-wait=60"};
    ConfigureService(&options_);
    Status s = service_.Start(options_);
    ASSERT_TRUE(s.ok()) << s.message();
  }

  // A fixture's own worker counts and flags, applied before the service starts (a flag
  // appended later wins over the same flag earlier).
  virtual void ConfigureService(ServiceProcess::Options* /*options*/) {}

  FakeBuild PutBuild(const std::string& build, size_t full_size = 2 << 20, bool with_full = true) {
    return PutFakeBuild(fake_.get(), build, full_size, with_full);
  }

  HttpResult Get(const std::string& target, int timeout_ms = 60000) {
    return HttpGet(service_.port(), target, timeout_ms);
  }
  std::string Static(const FakeBuild& b, const std::string& path) {
    HttpResult r = Get("/static/" + b.folder + "/" + path);
    return r.status == 200 ? r.body : "<HTTP " + std::to_string(r.status) + ">";
  }
  std::string BuildDir(const FakeBuild& b) { return service_.state_dir() + "/static/" + b.folder; }
  // Staging temp directories in the build directory: every one, or one artifact's. Other
  // artifacts of the build may legitimately still be staging when one has settled.
  std::vector<std::string> TempEntries(const FakeBuild& b, const std::string& artifact = "") {
    std::vector<std::string> found;
    std::error_code ec;
    const std::string prefix = artifact.empty() ? "." : ".staging-" + artifact + "-";
    for (const auto& e : std::filesystem::directory_iterator(BuildDir(b), ec)) {
      if (e.path().filename().string().rfind(prefix, 0) == 0) found.push_back(e.path().filename());
    }
    return found;
  }
  std::string Sql(const std::string& query) {
    std::string out;
    RunProgram({"/usr/bin/sqlite3", "-readonly", "-cmd", ".timeout 5000",
                service_.state_dir() + "/state.db", query},
               &out);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  std::unique_ptr<FakeGcsProcess> fake_;
  ServiceProcess::Options options_;
  ServiceProcess service_;
};

}  // namespace devserver::testing
