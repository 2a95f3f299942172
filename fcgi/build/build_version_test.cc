#include "fcgi/build/build_version.h"

#include <gtest/gtest.h>

namespace devserver {
namespace {

TEST(BuildVersionTest, OrdersByVersionNotByString) {
  EXPECT_GT(CompareBuildVersions("R19-2003.0.0-a1-b1819", "R19-1999.0.0-a1-b1800"), 0);
  EXPECT_GT(CompareBuildVersions("R19-1999.0.0-a1-b1800", "R18-9999.0.0-a1-b1"), 0);
  // String order would say the opposite of each of these.
  EXPECT_GT(CompareBuildVersions("R100-1.0.0", "R99-1.0.0"), 0);
  EXPECT_GT(CompareBuildVersions("R19-10.0.0", "R19-9.0.0"), 0);
  EXPECT_GT(CompareBuildVersions("R19-2003.0.0-a1-b1819", "R19-2003.0.0-a1-b999"), 0);
  EXPECT_EQ(CompareBuildVersions("R19-2003.0.0", "R19-2003.0.0"), 0);
  EXPECT_LT(CompareBuildVersions("R19-2003.0.0", "R19-2003.0.0-rc1"), 0);
}

TEST(BuildVersionTest, NewestAcrossMilestonesAndBuilds) {
  const std::vector<std::string> builds = {"R18-1500.0.0-a1-b100", "R19-1999.0.0-a1-b1800",
                                           "R19-2003.0.0-a1-b1819", "R19-2003.0.0-a1-b999",
                                           "R9-9999.0.0-a1-b1"};
  EXPECT_EQ(NewestBuild(builds, ""), "R19-2003.0.0-a1-b1819");
  EXPECT_EQ(NewestBuild(builds, "R18"), "R18-1500.0.0-a1-b100");
  EXPECT_EQ(NewestBuild(builds, "R9"), "R9-9999.0.0-a1-b1");
  EXPECT_EQ(NewestBuild(builds, "R1"), "");  // a milestone is a whole prefix, not "R1*"
  EXPECT_EQ(NewestBuild({}, ""), "");
}

TEST(BuildVersionTest, OsVersionIsTheVersionAnUpdateCheckReports) {
  EXPECT_EQ(BuildOsVersion("R119-15633.0.0"), "15633.0.0");
  EXPECT_EQ(BuildOsVersion("R19-2003.0.0-a1-b1819"), "2003.0.0");
  EXPECT_EQ(BuildOsVersion("15633.0.0"), "15633.0.0");
  EXPECT_EQ(BuildOsVersion("R1-1.0.0"), "1.0.0");
  EXPECT_EQ(BuildOsVersion("Rabbit-1.0"), "Rabbit");  // no milestone: up to the first '-'
  EXPECT_EQ(BuildOsVersion("R12"), "R12");
}

}  // namespace
}  // namespace devserver
