#include "fcgi/pool/connection_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace devserver {
namespace {

TEST(ConnectionQueueTest, AcceptorWaitsUntilAThreadIsIdle) {
  ConnectionQueue queue;
  std::atomic<bool> acceptor_passed{false};
  std::thread acceptor([&] {
    EXPECT_TRUE(queue.WaitForIdleThread());
    acceptor_passed = true;
    queue.Push(7);
  });
  // No thread is in Pop(): the acceptor must still be waiting; Pop() releases it.
  EXPECT_FALSE(acceptor_passed.load());
  EXPECT_EQ(queue.Pop(), 7);
  acceptor.join();
  EXPECT_TRUE(acceptor_passed.load());
}

TEST(ConnectionQueueTest, CloseDrainsQueuedConnectionsThenStops) {
  ConnectionQueue queue;
  std::vector<int> got;
  std::thread worker([&] {
    for (int fd = queue.Pop(); fd >= 0; fd = queue.Pop()) got.push_back(fd);
  });
  ASSERT_TRUE(queue.WaitForIdleThread());
  queue.Push(3);
  ASSERT_TRUE(queue.WaitForIdleThread());  // the worker took 3 and is idle again
  queue.Push(4);
  queue.Close();
  worker.join();
  EXPECT_EQ(got, (std::vector<int>{3, 4}));
  EXPECT_FALSE(queue.WaitForIdleThread());
}

}  // namespace
}  // namespace devserver
