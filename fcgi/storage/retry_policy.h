// When and how long the GCS store waits before trying a request again.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>

namespace devserver::storage {

class FetchObserver;

class RetryPolicy {
 public:
  // `max_attempts` counts the first try; delays grow from `initial_ms` to `max_ms`.
  RetryPolicy(int max_attempts, int initial_ms, int max_ms);

  int max_attempts() const { return max_attempts_; }

  // The wait before the attempt after `failures` consecutive failures (1 = after the first):
  // initial * 2^(failures-1), capped, then jittered into its upper half so that many stagers
  // failing together do not come back in lockstep, yet never retry at once.
  int64_t BackoffMs(int failures);

  // Statuses GCS documents as worth retrying: request timeout, rate limit, server errors.
  static bool IsRetryableHttpStatus(int status);

 private:
  const int max_attempts_;
  const int64_t initial_ms_;
  const int64_t max_ms_;
  std::mutex mu_;
  std::minstd_rand rng_;
};

// Sleeps `ms`, waking early (and returning false) when `observer` says the work was cancelled.
bool SleepUnlessCancelled(int64_t ms, FetchObserver* observer);

}  // namespace devserver::storage
