#include "fcgi/storage/object_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "fcgi/base/fault_env.h"
#include "fcgi/base/fs.h"
#include "tests/support/temp_dir.h"

namespace devserver::storage {
namespace {

FaultRule Fault(FaultOp op, int err, int64_t skip = 0) {
  FaultRule rule;
  rule.op = op;
  rule.path = "obj.bin";
  rule.err = err;
  rule.skip = skip;
  return rule;
}

std::string Contents(const std::string& path) {
  std::string out;
  EXPECT_TRUE(ReadFile(path, &out).ok());
  return out;
}

class ObjectFileTest : public ::testing::Test {
 protected:
  const testing::TempDir tmp_{"object_file_test"};
  const std::string path_ = tmp_.Sub("obj.bin");
  FaultInjectionEnv env_{Env::Default()};
};

TEST_F(ObjectFileTest, WritesReservesTruncatesAndSyncs) {
  ObjectFile file(&env_);
  EXPECT_EQ(file.env(), &env_);
  ASSERT_TRUE(file.Open(path_).ok());
  ASSERT_TRUE(file.Reserve(1 << 20).ok());
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);  // reserved, not grown
  ASSERT_TRUE(file.Append("hello", 5).ok());
  ASSERT_TRUE(file.Truncate().ok());
  ASSERT_TRUE(file.Append("world", 5).ok());
  EXPECT_EQ(file.size(), 5U);
  ASSERT_TRUE(file.SyncAndClose().ok());
  EXPECT_EQ(Contents(path_), "world");
  EXPECT_EQ(env_.Injected(), 0);
}

TEST_F(ObjectFileTest, DefaultsToTheRealEnv) {
  ObjectFile file;
  EXPECT_EQ(file.env(), Env::Default());
  ASSERT_TRUE(file.Open(path_).ok());
  ASSERT_TRUE(file.Append("x", 1).ok());
  ASSERT_TRUE(file.SyncAndClose().ok());
  EXPECT_EQ(Contents(path_), "x");
}

TEST_F(ObjectFileTest, ENOSPCOnWriteIsAnIOErrorNamingTheFile) {
  env_.Add(Fault(FaultOp::kWrite, ENOSPC, /*skip=*/1));
  ObjectFile file(&env_);
  ASSERT_TRUE(file.Open(path_).ok());
  ASSERT_TRUE(file.Append("abc", 3).ok());
  const Status s = file.Append("def", 3);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "write " + path_ + ": No space left on device");
  EXPECT_EQ(file.size(), 3U);  // the failed bytes are not counted
  ASSERT_TRUE(file.SyncAndClose().ok());
  EXPECT_EQ(Contents(path_), "abc");
}

TEST_F(ObjectFileTest, EIOOnFsyncIsAnIOErrorAndTheFileIsClosed) {
  env_.Add(Fault(FaultOp::kSync, EIO));
  ObjectFile file(&env_);
  ASSERT_TRUE(file.Open(path_).ok());
  ASSERT_TRUE(file.Append("abc", 3).ok());
  const Status s = file.SyncAndClose();
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "fsync " + path_ + ": Input/output error");
  EXPECT_EQ(file.fd(), -1);
}

TEST_F(ObjectFileTest, CloseReserveOpenAndTruncateFailuresAreReported) {
  env_.Add(Fault(FaultOp::kClose, EIO));
  ObjectFile file(&env_);
  ASSERT_TRUE(file.Open(path_).ok());
  EXPECT_EQ(file.SyncAndClose().message(), "close " + path_ + ": Input/output error");

  env_.Add(Fault(FaultOp::kAllocate, ENOSPC));
  env_.Add(Fault(FaultOp::kTruncate, EIO));
  ASSERT_TRUE(file.Open(path_).ok());
  EXPECT_EQ(file.Reserve(1 << 20).message(), "fallocate " + path_ + ": No space left on device");
  EXPECT_EQ(file.Truncate().message(), "truncate " + path_ + ": Input/output error");
  ASSERT_TRUE(file.SyncAndClose().ok());

  env_.Add(Fault(FaultOp::kOpen, EACCES));
  EXPECT_EQ(file.Open(path_).message(), "open " + path_ + ": Permission denied");
  EXPECT_EQ(file.fd(), -1);
  EXPECT_EQ(env_.Injected(), 4);
}

}  // namespace
}  // namespace devserver::storage
