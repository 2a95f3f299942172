// Repeated update checks are logged once per window; changes and other clients always.
#include "fcgi/omaha/repeat_filter.h"

#include <gtest/gtest.h>

namespace devserver::omaha {
namespace {

constexpr int64_t kMinute = 60'000'000;

TEST(RepeatFilterTest, ARepeatIsLoggedOncePerWindow) {
  RepeatFilter filter(kMinute, 100);
  EXPECT_TRUE(filter.Admit("10.0.0.1", "15474.0.0|dev|eve", 0));
  EXPECT_FALSE(filter.Admit("10.0.0.1", "15474.0.0|dev|eve", 1000));
  EXPECT_FALSE(filter.Admit("10.0.0.1", "15474.0.0|dev|eve", kMinute - 1));
  EXPECT_TRUE(filter.Admit("10.0.0.1", "15474.0.0|dev|eve", kMinute));
  // A new version is news, and so is another client.
  EXPECT_TRUE(filter.Admit("10.0.0.1", "15475.0.0|dev|eve", kMinute + 1));
  EXPECT_TRUE(filter.Admit("10.0.0.2", "15475.0.0|dev|eve", kMinute + 1));
  // A clock that went back never hides a check.
  EXPECT_TRUE(filter.Admit("10.0.0.2", "15475.0.0|dev|eve", 5));
}

TEST(RepeatFilterTest, ForgettingEveryoneOnlyLogsMore) {
  RepeatFilter filter(kMinute, 2);
  EXPECT_TRUE(filter.Admit("a", "k", 0));
  EXPECT_TRUE(filter.Admit("b", "k", 0));
  EXPECT_TRUE(filter.Admit("c", "k", 0));  // the third client: the first two are forgotten
  EXPECT_TRUE(filter.Admit("a", "k", 1));
  EXPECT_FALSE(filter.Admit("c", "k", 2));
}

}  // namespace
}  // namespace devserver::omaha
