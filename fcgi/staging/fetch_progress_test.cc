// Readers that follow a download: what they may read, when their end comes, and what a restart
// or a failure tells them.
#include "fcgi/staging/fetch_progress.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "fcgi/staging/payload_digest.h"
#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

class FetchProgressTest : public ::testing::Test {
 protected:
  // Writes `bytes` as the download's working file `name`; returns its path.
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = dir_.Sub(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }
  // Everything a reader reads from `from` to its end.
  static Status ReadAll(FollowingReader* reader, std::string* out, uint64_t from = 0) {
    char buf[4096];
    for (uint64_t at = from;;) {
      size_t got = 0;
      Status s = reader->ReadAt(at, buf, sizeof buf, &got);
      if (!s.ok() || got == 0) return s;
      out->append(buf, got);
      at += got;
    }
  }
  // Polls until `done` or 10 s.
  template <typename Done>
  static bool Eventually(Done done) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  testing::TempDir dir_{"devserver-fetch-progress"};
};

TEST_F(FetchProgressTest, AReaderGetsThePrefixAsItGrowsAndItsEndOnlyOnceVerified) {
  auto progress = std::make_shared<FetchProgress>(10);
  const std::string path = Write("obj.part", "0123456789");
  FollowingReader reader(progress, nullptr);
  progress->Advance(path, 4);
  char buf[16];
  size_t got = 0;
  ASSERT_TRUE(reader.ReadAt(0, buf, sizeof buf, &got).ok());
  EXPECT_EQ(std::string(buf, got), "0123");  // only what is final, not what the file holds

  // Everything written, not yet verified: the last read waits for the verdict.
  progress->Advance(path, 10);
  ASSERT_TRUE(reader.ReadAt(4, buf, sizeof buf, &got).ok());
  EXPECT_EQ(std::string(buf, got), "456789");
  auto end = std::async(std::launch::async, [&] {
    size_t n = 99;
    Status s = reader.ReadAt(10, buf, sizeof buf, &n);
    return s.ok() ? n : size_t{99};
  });
  EXPECT_EQ(end.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  // Renamed into place: the descriptor opened on the working file still reads it.
  const std::string dest = dir_.Sub("obj");
  ASSERT_EQ(std::rename(path.c_str(), dest.c_str()), 0);
  progress->Finish(dest, Status::Ok());
  EXPECT_EQ(end.get(), 0U);
  EXPECT_TRUE(reader.WaitVerified().ok());
  EXPECT_GE(reader.waited_micros(), 150000);
}

TEST_F(FetchProgressTest, ARestartFailsTheEarlierReadersAndANewReaderReadsTheNewBytes) {
  auto progress = std::make_shared<FetchProgress>(6);
  FollowingReader early(progress, nullptr);
  progress->Advance(Write("peer", "BADBAD"), 6);
  std::string read;
  auto waiting = std::async(std::launch::async, [&] { return ReadAll(&early, &read); });
  ASSERT_TRUE(Eventually([&] { return read.size() == 6; }));  // then it waits at the end
  progress->Restart();
  const Status s = waiting.get();
  EXPECT_EQ(s.message(), FollowingReader::kRestarted);
  EXPECT_TRUE(early.Restarted());

  FollowingReader late(progress, nullptr);
  const std::string path = Write("gcs.part", "GOOD!!");
  progress->Advance(path, 6);
  progress->Finish(path, Status::Ok());
  std::string good;
  ASSERT_TRUE(ReadAll(&late, &good).ok());
  EXPECT_EQ(good, "GOOD!!");
  EXPECT_FALSE(late.Restarted());
}

TEST_F(FetchProgressTest, ARestartBeforeAnyByteIsNothingToItsReaders) {
  auto progress = std::make_shared<FetchProgress>(2);
  FollowingReader reader(progress, nullptr);
  progress->Restart();  // a peer that did not have it: nothing was readable
  const std::string path = Write("obj", "ok");
  progress->Finish(path, Status::Ok());
  std::string read;
  EXPECT_TRUE(ReadAll(&reader, &read).ok());
  EXPECT_EQ(read, "ok");
  EXPECT_FALSE(reader.Restarted());
}

TEST_F(FetchProgressTest, AFailedDownloadGivesItsCauseToEveryReader) {
  auto progress = std::make_shared<FetchProgress>(100);
  FollowingReader reader(progress, nullptr);
  progress->Advance(Write("obj.part", std::string(40, 'x')), 40);
  std::string read;
  auto waiting = std::async(std::launch::async, [&] { return ReadAll(&reader, &read); });
  ASSERT_TRUE(Eventually([&] { return read.size() == 40; }));
  progress->Finish("", Status::Failed("gs://b/obj: checksum mismatch"));
  const Status s = waiting.get();
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "gs://b/obj: checksum mismatch");
  int fd = -1;
  EXPECT_EQ(reader.OpenWhole(&fd).message(), "gs://b/obj: checksum mismatch");
}

TEST_F(FetchProgressTest, AWaitingReaderStopsWhenCancelled) {
  auto progress = std::make_shared<FetchProgress>(100);
  std::atomic<bool> cancel{false};
  FollowingReader reader(progress, [&] { return cancel.load(); });
  auto waiting = std::async(std::launch::async, [&] {
    char buf[8];
    size_t got = 0;
    return reader.ReadAt(0, buf, sizeof buf, &got);
  });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(150)), std::future_status::timeout);
  cancel = true;
  EXPECT_EQ(waiting.get().message(), "cancelled");
}

TEST_F(FetchProgressTest, AWholeFileIsReadAtOnceAndOpenedWhole) {
  auto progress = FetchProgress::Whole(Write("obj", "whole"), 5);
  FollowingReader reader(progress, nullptr);
  std::string read;
  ASSERT_TRUE(ReadAll(&reader, &read).ok());
  EXPECT_EQ(read, "whole");
  int fd = -1;
  ASSERT_TRUE(reader.OpenWhole(&fd).ok());
  char buf[8];
  EXPECT_EQ(pread(fd, buf, sizeof buf, 1), 4);
  close(fd);
  EXPECT_EQ(reader.waited_micros(), 0);
}

// The payload's hashes follow its download: they are ready only once it is verified, and a
// download that starts over is hashed again from its first byte, so a peer's corrupt copy never
// reaches an update check.
TEST_F(FetchProgressTest, APayloadIsHashedAsItArrivesAndAgainAfterARestart) {
  const std::string good = "Developers, developers, developers!\n";
  auto progress = std::make_shared<FetchProgress>(good.size());
  std::atomic<int> polls{0};
  auto digest = std::async(std::launch::async, [&] {
    PayloadDigest d;
    Status s = DigestPayload(
        progress,
        [&] {
          ++polls;
          return false;
        },
        &d);
    return s.ok() ? d.sha1_base64 : s.message();
  });
  progress->Advance(Write("peer", std::string(good.size(), '?')), good.size());
  // Both hashers read the whole of the bad copy and wait at its end (they poll while they do).
  const int after_advance = polls.load();
  ASSERT_TRUE(Eventually([&] { return polls.load() > after_advance + 6; }));
  EXPECT_EQ(digest.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  progress->Restart();
  const std::string path = Write("gcs.part", good);
  progress->Advance(path, good.size());
  progress->Finish(path, Status::Ok());
  EXPECT_EQ(digest.get(), "kGcOinJ0vA8vdYX53FN0F5BdwfY=");
}

}  // namespace
}  // namespace devserver
