#include "fcgi/pool/connection_queue.h"

namespace devserver {

// Two condition variables, so that a connection wakes one request thread and an idle thread
// wakes only the acceptor: with hundreds of mostly idle threads, a shared notify_all would
// wake all of them for every request.

bool ConnectionQueue::WaitForIdleThread() {
  std::unique_lock<std::mutex> lock(mu_);
  acceptor_cv_.wait(lock,
                    [&] { return closed_ || waiting_threads_ > static_cast<int>(fds_.size()); });
  return !closed_;
}

void ConnectionQueue::Push(int fd) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(fd);
  }
  threads_cv_.notify_one();
}

int ConnectionQueue::Pop() {
  std::unique_lock<std::mutex> lock(mu_);
  ++waiting_threads_;
  acceptor_cv_.notify_one();
  threads_cv_.wait(lock, [&] { return closed_ || !fds_.empty(); });
  --waiting_threads_;
  if (fds_.empty()) return -1;
  int fd = fds_.front();
  fds_.pop_front();
  ++serving_;
  return fd;
}

void ConnectionQueue::Done() {
  std::lock_guard<std::mutex> lock(mu_);
  --serving_;
}

bool ConnectionQueue::Busy() {
  std::lock_guard<std::mutex> lock(mu_);
  return serving_ > 0 || !fds_.empty();
}

void ConnectionQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  threads_cv_.notify_all();
  acceptor_cv_.notify_all();
}

}  // namespace devserver
