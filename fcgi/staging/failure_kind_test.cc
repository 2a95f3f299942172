#include "fcgi/staging/failure_kind.h"

#include <gtest/gtest.h>

namespace devserver {
namespace {

TEST(FailureKindTest, NamesEachKindOfCause) {
  EXPECT_EQ(FailureKind(Status::NotFound("no objects in gs://b/x")), "not_found");
  EXPECT_EQ(FailureKind(Status::Failed("full_payload: gs://b/x/f.bin: checksum mismatch: "
                                       "downloaded crc32c AAAA, GCS says BBBB")),
            "checksum");
  EXPECT_EQ(
      FailureKind(Status::Failed("gs://b/x/f.bin: stalled after 10 of 20 bytes (no data for 2 s)")),
      "stall");
  EXPECT_EQ(FailureKind(Status::IOError("writing f.bin", ENOSPC)), "disk_full");
  EXPECT_EQ(FailureKind(Status::Failed("stateful: stateful.tgz: member ../x is outside the build")),
            "archive_refused");
  EXPECT_EQ(FailureKind(Status::Failed("x.tar: over the byte budget: more than 10 bytes")),
            "archive_refused");
  EXPECT_EQ(FailureKind(Status::Failed("gs://b/x/f.bin: HTTP 503: backend error (3 attempts)")),
            "upstream_http_503");
  EXPECT_EQ(FailureKind(Status::Failed("gs://b/x/f.bin: HTTP 403")), "upstream_http_403");
  EXPECT_EQ(FailureKind(Status::Failed("storage.googleapis.com: connection refused")),
            "upstream_connection");
  EXPECT_EQ(FailureKind(Status::Failed("plugin payloads threw: bad_alloc")), "other");
  // "HTTP 5000" is no status.
  EXPECT_EQ(FailureKind(Status::Failed("HTTP 5000 things")), "other");
}

}  // namespace
}  // namespace devserver
