#include "fcgi/pool/connection_queue.h"

namespace devserver {

bool ConnectionQueue::WaitForIdleThread() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return closed_ || waiting_threads_ > static_cast<int>(fds_.size()); });
  return !closed_;
}

void ConnectionQueue::Push(int fd) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(fd);
  }
  cv_.notify_all();
}

int ConnectionQueue::Pop() {
  std::unique_lock<std::mutex> lock(mu_);
  ++waiting_threads_;
  cv_.notify_all();  // the acceptor may be waiting for an idle thread
  cv_.wait(lock, [&] { return closed_ || !fds_.empty(); });
  --waiting_threads_;
  if (fds_.empty()) return -1;
  int fd = fds_.front();
  fds_.pop_front();
  return fd;
}

void ConnectionQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace devserver
