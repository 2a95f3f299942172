#include "fcgi/base/fs.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <thread>

#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

TEST(FsTest, MakeDirectoriesWriteAndReadBack) {
  const testing::TempDir tmp("devserver-fs-test");
  std::string dir = tmp.Sub("a/b/c");
  ASSERT_TRUE(MakeDirectories(dir, 0755).ok());
  ASSERT_TRUE(MakeDirectories(dir, 0755).ok());  // existing is fine
  ASSERT_TRUE(WriteFileAtomically(dir + "/f", "hello").ok());
  std::string back;
  ASSERT_TRUE(ReadFile(dir + "/f", &back).ok());
  EXPECT_EQ(back, "hello");
  EXPECT_FALSE(MakeDirectories(dir + "/f", 0755).ok());  // a file is not a directory
  Status missing = ReadFile(dir + "/nope", &back);
  EXPECT_EQ(missing.code(), Status::Code::kIOError);
  EXPECT_NE(missing.message().find("No such file or directory"), std::string::npos);
}

TEST(FsTest, ExclusiveFileLockHasOneHolderAndWaitersGetItOnRelease) {
  const testing::TempDir tmp("devserver-fs-test");
  const std::string path = tmp.Sub("evict.lock");
  auto first = std::make_unique<ExclusiveFileLock>();
  bool held = false;
  ASSERT_TRUE(first->Lock(path, /*wait=*/false, &held).ok());
  ASSERT_TRUE(held);
  {
    ExclusiveFileLock second;  // another open file description, as another process has
    ASSERT_TRUE(second.Lock(path, /*wait=*/false, &held).ok());
    EXPECT_FALSE(held);
  }
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    ExclusiveFileLock third;
    bool waited = false;
    EXPECT_TRUE(third.Lock(path, /*wait=*/true, &waited).ok());
    got = waited;
  });
  first.reset();  // releases the lock
  waiter.join();
  EXPECT_TRUE(got);
}

}  // namespace
}  // namespace devserver
