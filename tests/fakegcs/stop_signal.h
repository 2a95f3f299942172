// Lets long waits inside request handlers (delays, pacing, stalls) end promptly at shutdown.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace devserver::fakegcs {

class StopSignal {
 public:
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

  bool stopped() const {
    std::lock_guard lock(mu_);
    return stopped_;
  }

  // Sleeps up to `d`; returns true if the server is stopping.
  template <typename Rep, typename Period>
  bool WaitFor(std::chrono::duration<Rep, Period> d) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, d, [this] { return stopped_; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stopped_ = false;
};

}  // namespace devserver::fakegcs
