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
  ASSERT_TRUE(ParseArchiveUrl("gs://other-bucket/trybot/a/b/R1-1.0.0", kAllowed, &ref).ok());
  EXPECT_EQ(ref.folder, "trybot/a/b/R1-1.0.0");
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
      {"x86-alex-release", "build must be <target>/<build> (got 'x86-alex-release')"},
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
