#include "fcgi/storage/retry_policy.h"

#include <gtest/gtest.h>

#include <chrono>

#include "fcgi/storage/archive_store.h"

namespace devserver::storage {
namespace {

TEST(RetryPolicyTest, BackoffDoublesUpToTheCapWithJitterInTheUpperHalf) {
  RetryPolicy policy(5, 100, 1000);
  const int64_t caps[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (int failures = 1; failures <= 7; ++failures) {
    const int64_t cap = caps[failures - 1];
    for (int i = 0; i < 200; ++i) {
      const int64_t ms = policy.BackoffMs(failures);
      EXPECT_GE(ms, cap / 2) << failures;
      EXPECT_LE(ms, cap) << failures;
    }
  }
}

TEST(RetryPolicyTest, JitterSpreadsDelays) {
  RetryPolicy policy(5, 1000, 1000);
  int64_t lo = 1000;
  int64_t hi = 0;
  for (int i = 0; i < 200; ++i) {
    const int64_t ms = policy.BackoffMs(1);
    lo = std::min(lo, ms);
    hi = std::max(hi, ms);
  }
  EXPECT_LT(lo, 600);
  EXPECT_GT(hi, 900);
}

TEST(RetryPolicyTest, SurvivesHugeFailureCounts) {
  RetryPolicy policy(5, 200, 10000);
  EXPECT_LE(policy.BackoffMs(1000), 10000);
  EXPECT_GE(policy.BackoffMs(1000), 5000);
}

TEST(RetryPolicyTest, ClampsNonsenseSettings) {
  RetryPolicy policy(0, 0, -5);
  EXPECT_EQ(policy.max_attempts(), 1);
  EXPECT_LE(policy.BackoffMs(3), 1);
}

TEST(RetryPolicyTest, RetriesTimeoutsRateLimitsAndServerErrorsOnly) {
  for (int status : {408, 429, 500, 502, 503, 504}) {
    EXPECT_TRUE(RetryPolicy::IsRetryableHttpStatus(status)) << status;
  }
  for (int status : {200, 206, 400, 401, 403, 404, 410, 412, 416}) {
    EXPECT_FALSE(RetryPolicy::IsRetryableHttpStatus(status)) << status;
  }
}

class CancelledObserver : public FetchObserver {
 public:
  void OnProgress(uint64_t, uint64_t) override {}
  bool Cancelled() override { return true; }
};

TEST(RetryPolicyTest, SleepEndsEarlyWhenCancelled) {
  CancelledObserver observer;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(SleepUnlessCancelled(60000, &observer));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(SleepUnlessCancelled(1, nullptr));
}

}  // namespace
}  // namespace devserver::storage
