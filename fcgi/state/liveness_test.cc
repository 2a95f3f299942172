#include "fcgi/state/liveness.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace devserver::state {
namespace {

class LivenessTest : public ::testing::Test {
 protected:
  testing::TempDir dir_{"devserver-liveness"};
};

TEST_F(LivenessTest, OwnLockIsAliveEvenFromThisProcess) {
  OwnerLock lock;
  ASSERT_TRUE(lock.Acquire(dir_.path()).ok());
  EXPECT_EQ(lock.owner().pid, getpid());
  EXPECT_EQ(lock.owner().start_ticks, ProcessStartTicks(getpid()));
  EXPECT_GT(lock.owner().start_ticks, 0);
  EXPECT_TRUE(FileLockLiveness()->IsAlive(lock.owner().lock_path));
  EXPECT_EQ(RemoveDeadOwnerLocks(dir_.path()), 0);
  EXPECT_TRUE(std::filesystem::exists(lock.owner().lock_path));
}

TEST_F(LivenessTest, KilledOwnerIsDeadAtOnceAndItsLockIsSwept) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    OwnerLock lock;
    char ok = lock.Acquire(dir_.path()).ok() ? 'y' : 'n';
    (void)!write(ready[1], &ok, 1);
    pause();
    _exit(0);
  }
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  ASSERT_EQ(ok, 'y');
  std::string path = dir_.path() + "/" + std::to_string(child) + "-" +
                     std::to_string(ProcessStartTicks(child)) + ".lock";
  EXPECT_TRUE(FileLockLiveness()->IsAlive(path));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // No lease to wait for: the kernel dropped the lock with the process.
  EXPECT_FALSE(FileLockLiveness()->IsAlive(path));
  EXPECT_EQ(RemoveDeadOwnerLocks(dir_.path()), 1);
  EXPECT_FALSE(std::filesystem::exists(path));
  close(ready[0]);
  close(ready[1]);
}

TEST_F(LivenessTest, MissingLockFileMeansDead) {
  EXPECT_FALSE(FileLockLiveness()->IsAlive(dir_.Sub("123-456.lock")));
  EXPECT_EQ(ProcessStartTicks(-1), 0);
}

}  // namespace
}  // namespace devserver::state
