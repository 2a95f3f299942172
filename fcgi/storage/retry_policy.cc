#include "fcgi/storage/retry_policy.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "fcgi/storage/archive_store.h"

namespace devserver::storage {
namespace {

// How often a back-off sleep looks at the observer.
constexpr int64_t kCancelPollMs = 50;

}  // namespace

RetryPolicy::RetryPolicy(int max_attempts, int initial_ms, int max_ms)
    : max_attempts_(std::max(1, max_attempts)),
      initial_ms_(std::max(1, initial_ms)),
      max_ms_(std::max(initial_ms_, static_cast<int64_t>(max_ms))),
      rng_(std::random_device()()) {}

int64_t RetryPolicy::BackoffMs(int failures) {
  int64_t cap = initial_ms_;
  for (int i = 1; i < failures && cap < max_ms_; ++i) cap *= 2;
  cap = std::min(cap, max_ms_);
  std::lock_guard<std::mutex> lock(mu_);
  std::uniform_int_distribution<int64_t> jitter(cap / 2, cap);
  return jitter(rng_);
}

bool RetryPolicy::IsRetryableHttpStatus(int status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool SleepUnlessCancelled(int64_t ms, FetchObserver* observer) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    if (observer != nullptr && observer->Cancelled()) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        deadline - now, std::chrono::milliseconds(kCancelPollMs)));
  }
}

}  // namespace devserver::storage
