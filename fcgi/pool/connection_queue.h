// Hands accepted connections from a worker's acceptor to its request threads.
//
// The acceptor only takes a connection off the shared socket when a request thread is idle
// to serve it, so a busy worker leaves new connections to the other workers instead of
// queueing them behind its own slow requests.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>

namespace devserver {

class ConnectionQueue {
 public:
  // Blocks until a request thread is free to take one more connection, or Close().
  // Returns false once closed.
  bool WaitForIdleThread();
  void Push(int fd);
  // Blocks for the next connection; -1 once the queue is closed and empty. A thread that got
  // one calls Done() when it has served it.
  int Pop();
  void Done();
  // Whether a connection is queued or being served (a draining worker waits for neither).
  bool Busy();
  // No more connections will come; threads finish what is queued, then Pop() returns -1.
  void Close();

 private:
  std::mutex mu_;
  std::condition_variable threads_cv_;   // request threads wait here for a connection
  std::condition_variable acceptor_cv_;  // the acceptor waits here for an idle thread
  std::deque<int> fds_;
  int waiting_threads_ = 0;  // threads blocked in Pop()
  int serving_ = 0;          // connections popped and not Done() yet
  bool closed_ = false;
};

}  // namespace devserver
