#include "fcgi/base/slot_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

// A cancellation that gives a waiter `polls` looks at the slots before it gives up.
std::function<bool()> GiveUpAfter(int polls) {
  auto left = std::make_shared<int>(polls);
  return [left] { return --*left < 0; };
}

class SlotLockTest : public ::testing::Test {
 protected:
  testing::TempDir dir_{"slot_lock_test"};
  std::string path_ = dir_.Sub("slots.lock");
};

TEST_F(SlotLockTest, TwoThreadsOfOneProcessExcludeEachOther) {
  SlotLock first;
  ASSERT_TRUE(first.Lock(path_, 7, nullptr).ok());
  SlotLock second;
  const Status s = second.Lock(path_, 7, GiveUpAfter(2));
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_FALSE(second.held());
  // Another byte is another slot.
  EXPECT_TRUE(second.Lock(path_, 8, nullptr).ok());
  first.Unlock();
  SlotLock third;
  EXPECT_TRUE(third.Lock(path_, 7, GiveUpAfter(0)).ok());
}

TEST_F(SlotLockTest, LockAnyHandsOutEachSlotOnceAndWaitsWhenAllAreHeld) {
  SlotLock a;
  SlotLock b;
  uint64_t slot_a = 99;
  uint64_t slot_b = 99;
  ASSERT_TRUE(a.LockAny(path_, 2, nullptr, &slot_a).ok());
  ASSERT_TRUE(b.LockAny(path_, 2, nullptr, &slot_b).ok());
  EXPECT_EQ((std::set<uint64_t>{slot_a, slot_b}), (std::set<uint64_t>{0, 1}));
  SlotLock c;
  EXPECT_EQ(c.LockAny(path_, 2, GiveUpAfter(2)).code(), Status::Code::kUnavailable);
  b.Unlock();
  uint64_t slot_c = 99;
  ASSERT_TRUE(c.LockAny(path_, 2, GiveUpAfter(0), &slot_c).ok());
  EXPECT_EQ(slot_c, slot_b);
}

TEST_F(SlotLockTest, ASlotOfAKilledProcessIsFreeAgain) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    SlotLock held;
    if (!held.Lock(path_, 0, nullptr).ok()) _exit(1);
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  SlotLock mine;
  EXPECT_EQ(mine.Lock(path_, 0, GiveUpAfter(1)).code(), Status::Code::kUnavailable);
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(mine.Lock(path_, 0, GiveUpAfter(0)).ok());
  close(ready[0]);
  close(ready[1]);
}

}  // namespace
}  // namespace devserver
