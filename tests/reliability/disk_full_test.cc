// Verified publication and failures with their cause, with a full disk: the static root on a small
// tmpfs, a payload larger than what is left. The artifact fails with the system's own words, leaves
// nothing behind, and stages once there is room again. Needs root (mount); skipped otherwise.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <system_error>

#include "tests/reliability/reliability_fixture.h"

namespace devserver::testing {
namespace {

constexpr uint64_t kDiskBytes = 8 << 20;
constexpr size_t kPayloadSize = 6 << 20;
constexpr size_t kFillerSize = 4 << 20;  // leaves 4 MiB: less than the payload

uint64_t FreeBytes(const std::string& path) {
  struct statvfs st {};
  if (statvfs(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

class DiskFullTest : public ReliabilityTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
    if (mount("tmpfs", disk_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
              ("size=" + std::to_string(kDiskBytes)).c_str()) != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs on " << disk_.path() << ": "
                   << std::generic_category().message(errno);
    }
    mounted_ = true;
    ReliabilityTest::SetUp();
  }
  void TearDown() override {
    // The service first, so nothing holds the file system; then the mount.
    if (service_.serve_pid() > 0) {
      service_.Signal(SIGTERM);
      service_.Wait(30000);
    }
    if (mounted_ && umount(disk_.path().c_str()) != 0) {
      ADD_FAILURE() << "umount " << disk_.path() << ": " << std::generic_category().message(errno);
      umount2(disk_.path().c_str(), MNT_DETACH);
    }
  }
  // The static root is the tmpfs itself (a config key; serve's own value is overridden).
  std::vector<std::string> ExtraFlags() override { return {"--static-root=" + disk_.path()}; }

  TempDir disk_{"devserver-disk"};
  bool mounted_ = false;
};

TEST_F(DiskFullTest, PayloadLargerThanTheFreeSpaceFailsCleanlyThenStagesWhenThereIsRoom) {
  FakeBuild b = PutBuild("R99-4.1.0", kPayloadSize);
  const std::string payload = b.FullName();
  // StagingTest::BuildDir and TempEntries assume serve's own static root; this one is the disk.
  const std::string build_dir = disk_.path() + "/" + b.folder;
  // A hidden filler (nginx never serves dot names) takes half the disk.
  const std::string filler = disk_.Sub(".filler");
  {
    std::ofstream out(filler, std::ios::binary);
    out << RandomBytes(kFillerSize, 1);
  }
  const uint64_t free_before = FreeBytes(disk_.path());
  ASSERT_LT(free_before, kPayloadSize);

  HttpResult r = Get(StagePath(b, "full_payload"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.rfind("full_payload: ", 0), 0u) << r.body;
  EXPECT_NE(r.body.find("No space left on device"), std::string::npos) << r.body;
  std::printf("[ measure  ] disk full: %s\n", r.body.c_str());
  EXPECT_EQ(Sql("SELECT state FROM artifacts WHERE artifact = 'full_payload'"), "failed");
  EXPECT_EQ(Sql("SELECT error FROM failed WHERE artifact = 'full_payload'"), r.body);
  // Found before the transfer: nothing was fetched to be thrown away.
  EXPECT_EQ(Upstream(b, payload).media_bytes, 0u);
  EXPECT_FALSE(std::filesystem::exists(build_dir + "/update.gz"));
  EXPECT_EQ(Get("/static/" + b.folder + "/update.gz").status, 404);
  std::vector<std::string> leftovers;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(build_dir, ec)) {
    if (e.is_regular_file()) leftovers.push_back(e.path());
  }
  EXPECT_TRUE(leftovers.empty()) << leftovers.front();
  // Whatever the failed attempt reserved is given back (a directory's page at most stays).
  const uint64_t free_after = FreeBytes(disk_.path());
  std::printf("[ measure  ] disk full: free %llu bytes before, %llu after\n",
              static_cast<unsigned long long>(free_before),
              static_cast<unsigned long long>(free_after));
  EXPECT_GE(free_after + (64 << 10), free_before);

  // Room again: the next request after retry_delay stages the payload.
  ASSERT_TRUE(std::filesystem::remove(filler));
  EXPECT_EQ(RetryUntilSuccess(StagePath(b, "full_payload"), r.body), "Success");
  EXPECT_EQ(Static(b, "update.gz"), b.full);
  EXPECT_EQ(Upstream(b, payload).media, 1u);
  for (const auto& e : std::filesystem::directory_iterator(build_dir, ec)) {
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();  // no staging temp left
  }
}

// The download fits but what the archive unpacks to does not: the disk fills in the middle of
// writing a file (no reservation can foresee that), and the artifact still fails cleanly.
TEST_F(DiskFullTest, ArchiveThatUnpacksPastTheFreeSpaceFailsCleanlyThenStages) {
  FakeBuild b = PutBuild("R99-4.2.0");
  const std::string big = RandomBytes(3 << 20, 2);  // random: the tar is as big as its member
  fake_->PutObject(kBucket, b.folder + "/autotest.tar",
                   ArchiveBytes({TestFile("autotest/server/site_tests/dummy/control", big)}));
  const std::string build_dir = disk_.path() + "/" + b.folder;
  const std::string filler = disk_.Sub(".filler");
  {
    std::ofstream out(filler, std::ios::binary);
    out << RandomBytes((3 << 20) + (512 << 10), 3);  // leaves 4.5 MiB: the tar, not twice
  }
  const uint64_t free_before = FreeBytes(disk_.path());

  HttpResult r = Get(StagePath(b, "autotest"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.rfind("autotest: ", 0), 0u) << r.body;
  EXPECT_NE(r.body.find("No space left on device"), std::string::npos) << r.body;
  std::printf("[ measure  ] disk full while unpacking: %s\n", r.body.c_str());
  EXPECT_EQ(Upstream(b, "autotest.tar").media, 1u);
  EXPECT_EQ(Get("/static/" + b.folder + "/autotest/server/site_tests/dummy/control").status, 404);
  std::error_code ec;
  EXPECT_FALSE(std::filesystem::exists(build_dir + "/autotest", ec));
  for (const auto& e : std::filesystem::directory_iterator(build_dir, ec)) {
    ADD_FAILURE() << "left behind: " << e.path();
  }
  EXPECT_GE(FreeBytes(disk_.path()) + (64 << 10), free_before);

  ASSERT_TRUE(std::filesystem::remove(filler));
  EXPECT_EQ(RetryUntilSuccess(StagePath(b, "autotest"), r.body), "Success");
  EXPECT_EQ(Static(b, "autotest/server/site_tests/dummy/control"), big);
}

}  // namespace
}  // namespace devserver::testing
