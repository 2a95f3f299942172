#include "fcgi/build/build_ref.h"

#include <gtest/gtest.h>

namespace devserver {
namespace {

const std::vector<std::string> kAllowed = {"chromeos-image-archive", "other-bucket"};

TEST(BuildRefTest, CanonicalisesAndSplits) {
  BuildRef ref;
  ASSERT_TRUE(
      ParseArchiveUrl("gs://chromeos-image-archive/x86-alex-release/R19-2003.0.0-a1-b1819//",
                      kAllowed, &ref)
          .ok());
  EXPECT_EQ(ref.archive_url, "gs://chromeos-image-archive/x86-alex-release/R19-2003.0.0-a1-b1819");
  EXPECT_EQ(ref.bucket, "chromeos-image-archive");
  EXPECT_EQ(ref.folder, "x86-alex-release/R19-2003.0.0-a1-b1819");
  EXPECT_EQ(ref.build, "R19-2003.0.0-a1-b1819");
  EXPECT_EQ(ref.object_prefix, "x86-alex-release/R19-2003.0.0-a1-b1819");
  ASSERT_TRUE(ParseArchiveUrl("gs://other-bucket/trybot/a/b/R1-1.0.0", kAllowed, &ref).ok());
  EXPECT_EQ(ref.object_prefix, "trybot/a/b/R1-1.0.0");
  EXPECT_EQ(ref.folder, "gs/other-bucket/trybot/a/b/R1-1.0.0");
}

// The same path in two buckets is two builds in two directories; the default bucket's keeps
// the old layout, so its paths may not reach into the other buckets' directory.
TEST(BuildRefTest, BucketIsPartOfTheBuildsIdentity) {
  BuildRef first;
  BuildRef second;
  ASSERT_TRUE(ParseArchiveUrl("gs://chromeos-image-archive/board/R1", kAllowed, &first).ok());
  ASSERT_TRUE(ParseArchiveUrl("gs://other-bucket/board/R1", kAllowed, &second).ok());
  EXPECT_EQ(first.object_prefix, second.object_prefix);
  EXPECT_NE(first.folder, second.folder);
  BuildRef ref;
  Status s =
      ParseArchiveUrl("gs://chromeos-image-archive/gs/other-bucket/board/R1", kAllowed, &ref);
  EXPECT_EQ(s.message(), "archive_url path of the default bucket may not start with 'gs/'");
  // Other buckets have no such layout to protect.
  ASSERT_TRUE(ParseArchiveUrl("gs://other-bucket/gs/x/y", kAllowed, &ref).ok());
  EXPECT_EQ(ref.folder, "gs/other-bucket/gs/x/y");
  std::string folder;
  ASSERT_TRUE(ParseBuildFolder(second.folder, &folder).ok());
  EXPECT_EQ(folder, second.folder);
  EXPECT_EQ(ParseBuildFolder("gs/other-bucket/board", &folder).message(),
            "build must be <target>/<build> or gs/<bucket>/<target>/<build> (got "
            "'gs/other-bucket/board')");
}

TEST(BuildRefTest, RefusesMalformedValuesWithAReason) {
  struct Case {
    std::string raw;
    std::string message;
  } cases[] = {
      {"", "archive_url is empty"},
      {"gs://chromeos-image-archive/a/" + std::string(1100, 'b'),
       "archive_url is longer than 1024 bytes"},
      {"gs://chromeos-image-archive/a/b\x01", "archive_url contains a control character"},
      {"gs://chromeos-image-archive/a\\b/c", "archive_url contains a backslash"},
      {"http://chromeos-image-archive/a/b",
       "archive_url must start with gs:// (got 'http://chromeos-image-archive/a/b')"},
      {"gs://chromeos-image-archive/b",
       "archive_url must be gs://<bucket>/<path>/<build> (got 'gs://chromeos-image-archive/b')"},
      {"gs://chromeos-image-archive//a/b", "archive_url has an empty path segment"},
      {"gs://chromeos-image-archive/a/../b", "archive_url may not contain '.' or '..' segments"},
      {"gs://chromeos-image-archive/a/./b", "archive_url may not contain '.' or '..' segments"},
      {"gs://chromeos-image-archive/a/.staging-x", "archive_url segments may not start with '.'"},
      {"gs://chromeos-image-archive/archive/b", "archive_url path may not start with 'archive/'"},
  };
  for (const Case& c : cases) {
    BuildRef ref;
    Status s = ParseArchiveUrl(c.raw, kAllowed, &ref);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << c.raw;
    EXPECT_EQ(s.message(), c.message) << c.raw;
  }
}

TEST(BuildRefTest, ForeignBucketIsForbidden) {
  BuildRef ref;
  Status s = ParseArchiveUrl("gs://evil-bucket/a/b", kAllowed, &ref);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "bucket 'evil-bucket' is not allowed (allowed: chromeos-image-archive, other-bucket)");
}

TEST(BuildRefTest, BuildFolderFollowsTheArchiveUrlRules) {
  std::string folder;
  ASSERT_TRUE(ParseBuildFolder("x86-alex-release/R19-2003.0.0-a1-b1819/", &folder).ok());
  EXPECT_EQ(folder, "x86-alex-release/R19-2003.0.0-a1-b1819");
  const std::pair<std::string, std::string> refused[] = {
      {"", "build is empty"},
      {"x86-alex-release",
       "build must be <target>/<build> or gs/<bucket>/<target>/<build> (got 'x86-alex-release')"},
      {"a/../b", "build may not contain '.' or '..' segments"},
      {"/etc/passwd", "build has an empty path segment"},
      {"a/.staging-x", "build segments may not start with '.'"},
      {"a\\b/c", "build contains a backslash"},
      {"archive/a/b", "build may not start with 'archive/'"},
  };
  for (const auto& [raw, message] : refused) {
    Status s = ParseBuildFolder(raw, &folder);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << raw;
    EXPECT_EQ(s.message(), message) << raw;
  }
  EXPECT_TRUE(CheckRelativePath("control_path", "server/site_tests/dummy/control").ok());
  EXPECT_EQ(CheckRelativePath("control_path", "a/\x01").message(),
            "control_path contains a control character");
}

}  // namespace
}  // namespace devserver
