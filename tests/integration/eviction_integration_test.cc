// Eviction end to end: real nginx logging /static/ reads to the real pool,
// `devserverctl gc` and the workers' janitors against the real state file.
#include <gtest/gtest.h>

#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/integration/staging_fixture.h"

namespace devserver::testing {
namespace {

class EvictionTest : public StagingTest {
 protected:
  // Only `gc` evicts here: the workers' janitors would act on their own on a nearly full disk.
  void ConfigureService(ServiceProcess::Options* options) override {
    options->extra_flags.push_back("--eviction-interval=0");
  }

  // Stages a build's default sets (foreground and background). Nothing is read under
  // /static/ here: a read counts as use, which the tests control.
  FakeBuild StageBuild(const std::string& build) {
    FakeBuild b = PutBuild(build, 1 << 20);
    HttpResult r = Get("/download?archive_url=" + b.Url());
    EXPECT_EQ(r.body, "Success") << r.status << " " << r.error;
    r = Get("/wait_for_status?archive_url=" + b.Url());
    EXPECT_EQ(r.body, "Success") << r.status << " " << r.error;
    EXPECT_TRUE(std::filesystem::exists(BuildDir(b) + "/update.gz"));
    return b;
  }
  // Writes to the state file as an operator's sqlite3 would (the service runs on).
  void SqlWrite(const std::string& statement) {
    std::string out;
    ASSERT_EQ(RunProgram({"/usr/bin/sqlite3", "-cmd", ".timeout 5000",
                          service_.state_dir() + "/state.db", statement},
                         &out),
              0)
        << out;
  }
  std::string IsStaged(const FakeBuild& b) {
    return Get("/is_staged?archive_url=" + b.Url() + "&artifacts=full_payload").body;
  }
  // Entries of the static root that nginx hides (evictions under way, staging temp files).
  std::vector<std::string> HiddenInStaticRoot() {
    std::vector<std::string> found;
    for (const auto& e : std::filesystem::directory_iterator(service_.state_dir() + "/static")) {
      if (e.path().filename().string()[0] == '.') found.push_back(e.path().filename());
    }
    return found;
  }
  int Gc(const std::vector<std::string>& flags, std::string* output) {
    return Ctl("gc", flags, output);
  }
  // devserverctl COMMAND against this service's state, on the embedded defaults (never an
  // installed /etc/devserver/devserver.ini).
  int Ctl(const std::string& command, const std::vector<std::string>& flags, std::string* output) {
    std::vector<std::string> argv = {DEVSERVERCTL_BIN, command, "--config=/dev/null",
                                     "--state-dir=" + service_.state_dir(),
                                     "--static-root=" + service_.state_dir() + "/static"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunProgram(argv, output);
  }
};

TEST_F(EvictionTest, GcEvictsUnusedBuildsButNotOneDevicesAreReading) {
  FakeBuild read = StageBuild("R1-1.0.0");
  FakeBuild idle = StageBuild("R2-1.0.0");
  FakeBuild other = StageBuild("R3-1.0.0");
  // Two hours pass without a request naming any of them...
  SqlWrite("UPDATE builds SET last_used_at = last_used_at - 7200");
  // ...but a device reads one build's payload straight from nginx.
  ASSERT_TRUE(Static(read, "update.gz") == read.full);
  ASSERT_TRUE(PollUntil(
      [&] {
        return Sql("SELECT last_used_at > unixepoch() - 60 FROM builds WHERE build = '" +
                   read.folder + "'") == "1";
      },
      10000))
      << "the read under /static/ was not recorded as use";

  std::string out;
  ASSERT_EQ(Gc({"--all", "--dry-run"}, &out), 0) << out;
  EXPECT_NE(out.find("would evict " + idle.folder), std::string::npos) << out;
  EXPECT_TRUE(Static(idle, "update.gz") == idle.full);  // a dry run removes nothing

  ASSERT_EQ(Gc({"--all"}, &out), 0) << out;
  EXPECT_NE(out.find("evicted " + idle.folder), std::string::npos) << out;
  EXPECT_NE(out.find("evicted " + other.folder), std::string::npos) << out;
  EXPECT_EQ(out.find(read.folder), std::string::npos) << out;
  EXPECT_EQ(Static(idle, "update.gz"), "<HTTP 404>");
  EXPECT_EQ(IsStaged(idle), "False");
  EXPECT_FALSE(std::filesystem::exists(BuildDir(idle)));
  EXPECT_TRUE(HiddenInStaticRoot().empty());
  EXPECT_EQ(Sql("SELECT count(*) FROM artifacts WHERE build = '" + idle.folder + "'"), "0");
  // The build read stays whole.
  EXPECT_EQ(IsStaged(read), "True");
  EXPECT_TRUE(Static(read, "stateful.tgz") == read.stateful);

  // Asked for again, an evicted build is staged again from storage.
  HttpResult again = Get("/download?archive_url=" + idle.Url());
  ASSERT_EQ(again.body, "Success") << again.status << " " << again.error;
  EXPECT_TRUE(Static(idle, "update.gz") == idle.full);
  EXPECT_EQ(fake_->Counters().Of(idle.Key(idle.FullName())).media, 2u);
}

TEST_F(EvictionTest, StatusShowsTheCacheTheBudgetAndWhatEvictionMayTake) {
  FakeBuild kept = StageBuild("R7-1.0.0");
  FakeBuild old = StageBuild("R8-1.0.0");
  SqlWrite("UPDATE builds SET last_used_at = last_used_at - 7200 WHERE build = '" + old.folder +
           "'");
  const std::string staged_mib = Sql("SELECT (sum(size) + 524288) / 1048576 FROM files");
  std::string out;
  ASSERT_EQ(Ctl("status", {"--max-cache-size=1G"}, &out), 0) << out;
  EXPECT_NE(out.find("staging    0 artifacts"), std::string::npos) << out;
  EXPECT_NE(out.find("cache      " + staged_mib + " MiB staged"), std::string::npos) << out;
  EXPECT_NE(out.find("budget     keep 10 % free, at most 1024 MiB staged; builds used within "
                     "3600 s stay"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("evictable  1 builds"), std::string::npos) << out;
  // Newest first, each with its artifacts.
  const size_t kept_at = out.find("  " + kept.folder + "  used ");
  const size_t old_at = out.find("  " + old.folder + "  used ");
  ASSERT_NE(kept_at, std::string::npos) << out;
  EXPECT_LT(kept_at, old_at) << out;
  EXPECT_NE(out.find("full_payload staged", kept_at), std::string::npos) << out;
  // --builds N shows the N most recent only.
  ASSERT_EQ(Ctl("status", {"--builds", "1"}, &out), 0) << out;
  EXPECT_NE(out.find("  " + kept.folder + "  used "), std::string::npos) << out;
  EXPECT_EQ(out.find(old.folder), std::string::npos) << out;
  EXPECT_EQ(Ctl("status", {"--builds=some"}, &out), 2);
  EXPECT_NE(out.find("--builds: 'some' is not 0..10000"), std::string::npos) << out;
  // A wrong state directory is named.
  std::vector<std::string> argv = {DEVSERVERCTL_BIN, "status", "--state-dir=/nonexistent"};
  EXPECT_EQ(RunProgram(argv, &out), 1);
  EXPECT_NE(out.find("no state database at /nonexistent/state.db"), std::string::npos) << out;
  // A bad value is named in one line; a malformed command line also gets the usage.
  EXPECT_EQ(Ctl("gc", {"--eviction-grace=soon"}, &out), 2);
  EXPECT_NE(out.find("devserverctl gc: --eviction-grace: 'soon' is not a whole number"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("usage:"), std::string::npos) << out;
  EXPECT_EQ(Ctl("status", {"stray"}, &out), 2);
  EXPECT_NE(out.find("usage: devserverctl status"), std::string::npos) << out;
}

TEST_F(EvictionTest, GcWithinTheGracePeriodEvictsNothing) {
  FakeBuild b = StageBuild("R4-1.0.0");
  std::string out;
  ASSERT_EQ(Gc({"--all"}, &out), 0) << out;
  EXPECT_NE(out.find("freed 0 MiB in 0 builds"), std::string::npos) << out;
  EXPECT_EQ(IsStaged(b), "True");
  EXPECT_TRUE(Static(b, "update.gz") == b.full);
}

// The janitors of the workers keep the cache under [cache] max_cache_size on their own.
class AutomaticEvictionTest : public EvictionTest {
 protected:
  void ConfigureService(ServiceProcess::Options* options) override {
    for (const char* flag : {"--eviction-interval=1", "--eviction-grace=0", "--min-free-percent=0",
                             "--max-cache-size=3M"}) {
      options->extra_flags.push_back(flag);
    }
  }
};

TEST_F(AutomaticEvictionTest, TheLeastRecentlyUsedBuildGoesWhenTheCacheOutgrowsItsSize) {
  FakeBuild first = StageBuild("R5-1.0.0");   // about 2 MiB staged: within the budget
  FakeBuild second = StageBuild("R6-1.0.0");  // about 4 MiB: over it
  // The janitor logs an eviction last, after the commit and the removal of the files.
  ASSERT_TRUE(PollUntil(
      [&] { return service_.Log().find("evicted " + first.folder) != std::string::npos; }, 15000))
      << "the first build was not evicted\n"
      << service_.Log();
  EXPECT_FALSE(std::filesystem::exists(BuildDir(first)));
  EXPECT_EQ(IsStaged(first), "False");
  EXPECT_EQ(IsStaged(second), "True");
  EXPECT_TRUE(Static(second, "update.gz") == second.full);
}

// An evictor killed after it hid a build's tree and before it removed it (a worker's SIGKILL,
// the OOM killer) leaves a hidden tree nobody removes; the next janitor round, of any worker,
// removes it.
class KilledEvictorTest : public EvictionTest {
 protected:
  void ConfigureService(ServiceProcess::Options* options) override {
    for (const char* flag :
         {"--eviction-interval=1", "--eviction-grace=0", "--max-cache-size=3M"}) {
      options->extra_flags.push_back(flag);
    }
    options->extra_flags.push_back("--test-faults=" + faults_.Sub("faults"));
  }
  std::string FaultsLog() {
    std::ifstream in(faults_.Sub("faults.log"));
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  TempDir faults_{"devserver-evictor-faults"};
};

TEST_F(KilledEvictorTest, AHiddenTreeWhoseEvictorDiedIsRemovedByAnotherWorker) {
  // The first removal of a hidden tree sleeps 60 s before it starts: its evictor dies there.
  std::ofstream(faults_.Sub("faults")) << "remove .evicting- none delay_ms=60000 count=1\n";
  FakeBuild first = StageBuild("R5-1.0.0");  // about 2 MiB staged: within the budget
  StageBuild("R6-1.0.0");                    // about 4 MiB: over it, so the first goes
  std::string hidden;
  ASSERT_TRUE(PollUntil(
      [&] {
        if (FaultsLog().find(".evicting-") == std::string::npos) return false;
        for (const std::string& name : HiddenInStaticRoot()) {
          if (name.rfind(".evicting-", 0) == 0) hidden = name;
        }
        return !hidden.empty();
      },
      15000))
      << service_.Log();
  const pid_t evictor = std::atoi(hidden.c_str() + std::strlen(".evicting-"));
  ASSERT_GT(evictor, 0) << hidden;
  ASSERT_EQ(kill(evictor, SIGKILL), 0);
  const std::string path = service_.state_dir() + "/static/" + hidden;
  EXPECT_TRUE(PollUntil([&] { return !std::filesystem::exists(path); }, 10000))
      << hidden << " is still there\n"
      << service_.Log();
  // Logged once the removal returned, so a moment after the tree is gone.
  EXPECT_TRUE(PollUntil(
      [&] { return service_.Log().find("trees of interrupted evictions") != std::string::npos; },
      5000))
      << service_.Log();
  EXPECT_FALSE(std::filesystem::exists(BuildDir(first)));
  EXPECT_EQ(IsStaged(first), "False");
}

}  // namespace
}  // namespace devserver::testing
