#include "fcgi/base/fs.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

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

}  // namespace
}  // namespace devserver
