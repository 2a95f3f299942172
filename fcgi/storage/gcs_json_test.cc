#include "fcgi/storage/gcs_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace devserver::storage {
namespace {

using ::testing::HasSubstr;

TEST(GcsJsonTest, ParsesObjectResourceWithStringNumbers) {
  ObjectInfo info;
  const Status s = ParseObjectResource(
      R"({"kind":"storage#object","name":"a/b.bin","bucket":"bkt","size":"4294967296",
          "generation":"1700000000123456","crc32c":"yZRlqg==","md5Hash":"XrY7u+Ae7tCTyyK7j1rNww=="})",
      "ignored", &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(info.bucket, "bkt");
  EXPECT_EQ(info.name, "a/b.bin");
  EXPECT_EQ(info.size, 4294967296u);
  EXPECT_EQ(info.generation, 1700000000123456);
  EXPECT_EQ(info.crc32c, "yZRlqg==");
  EXPECT_EQ(info.md5, "XrY7u+Ae7tCTyyK7j1rNww==");
}

TEST(GcsJsonTest, AcceptsNumbersAndFillsTheBucket) {
  ObjectInfo info;
  ASSERT_TRUE(ParseObjectResource(R"({"name":"x","size":12,"generation":34})", "bkt", &info).ok());
  EXPECT_EQ(info.bucket, "bkt");
  EXPECT_EQ(info.size, 12u);
  EXPECT_EQ(info.generation, 34);
  EXPECT_EQ(info.crc32c, "");
  EXPECT_EQ(info.md5, "");
}

TEST(GcsJsonTest, RejectsIncompleteOrMalformedResources) {
  ObjectInfo info;
  EXPECT_THAT(ParseObjectResource(R"({"size":"1","generation":"1"})", "b", &info).message(),
              HasSubstr("without a name"));
  EXPECT_THAT(
      ParseObjectResource(R"({"name":"x","size":"-1","generation":"1"})", "b", &info).message(),
      HasSubstr("without a valid size"));
  EXPECT_THAT(
      ParseObjectResource(R"({"name":"x","size":"1","generation":"1x"})", "b", &info).message(),
      HasSubstr("without a valid generation"));
  EXPECT_THAT(
      ParseObjectResource(R"({"name":"x","size":{"a":1},"generation":"1"})", "b", &info).message(),
      HasSubstr("without a valid size"));
  const Status s = ParseObjectResource("<html>", "b", &info);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_THAT(s.message(), HasSubstr("malformed object resource"));
  EXPECT_THAT(ParseObjectResource("[1,2]", "b", &info).message(), HasSubstr("malformed"));
}

TEST(GcsJsonTest, ParsesListPages) {
  std::vector<ObjectInfo> objects;
  std::string next;
  ASSERT_TRUE(ParseListPage(R"({"kind":"storage#objects","nextPageToken":"tok",
      "items":[{"name":"a","size":"1","generation":"5"},{"name":"b","size":"2","generation":"6"}]})",
                            "bkt", &objects, &next)
                  .ok());
  EXPECT_EQ(next, "tok");
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[1].name, "b");
  EXPECT_EQ(objects[1].bucket, "bkt");
  // Pages append; the last page has no token and may have no items at all.
  ASSERT_TRUE(ParseListPage(R"({"kind":"storage#objects"})", "bkt", &objects, &next).ok());
  EXPECT_EQ(next, "");
  EXPECT_EQ(objects.size(), 2u);
  EXPECT_FALSE(ParseListPage(R"({"items":{"name":"a"}})", "bkt", &objects, &next).ok());
  EXPECT_FALSE(ParseListPage(R"({"items":[{"name":"a"}]})", "bkt", &objects, &next).ok());
}

TEST(GcsJsonTest, ErrorMessagesComeFromGcsOAuthOrTheBody) {
  EXPECT_EQ(ErrorBodyMessage(R"({"error":{"code":404,"message":"No such object: b/o"}})"),
            "No such object: b/o");
  EXPECT_EQ(ErrorBodyMessage(R"({"error":"invalid_grant","error_description":"Bad JWT"})"),
            "invalid_grant: Bad JWT");
  EXPECT_EQ(ErrorBodyMessage("Service Unavailable\r\nmore"), "Service Unavailable");
  EXPECT_EQ(ErrorBodyMessage(""), "");
  const std::string long_body(1000, 'x');
  EXPECT_EQ(ErrorBodyMessage(long_body), std::string(200, 'x') + "...");
}

TEST(GcsJsonTest, ParsesTokenResponses) {
  AccessToken token;
  ASSERT_TRUE(ParseTokenResponse(
                  R"({"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"})", &token)
                  .ok());
  EXPECT_EQ(token.token, "ya29.x");
  EXPECT_EQ(token.expires_in_s, 3599);
  EXPECT_THAT(ParseTokenResponse(R"({"expires_in":1})", &token).message(),
              HasSubstr("without an access_token"));
  EXPECT_THAT(ParseTokenResponse(R"({"access_token":"a"})", &token).message(),
              HasSubstr("expires_in"));
}

// Found by tests/fuzz/gcs_json_fuzzer (corpus/gcs_json/regress_nul_in_name): a JSON escape
// put a NUL into an object name, which a file path would have cut short.
TEST(GcsJsonTest, RefusesNamesWithNulCrOrLfAndOverLongNames) {
  std::vector<ObjectInfo> objects;
  std::string next;
  EXPECT_EQ(ParseListPage(
                R"({"items":[{"name":"x\u0000y","size":"1","generation":"1"}],"nextPageToken":""})",
                "bkt", &objects, &next)
                .message(),
            "object resource with a NUL, CR or LF in its name");
  ObjectInfo info;
  EXPECT_FALSE(ParseObjectResource(R"({"name":"a\nb","size":1,"generation":1})", "b", &info).ok());
  EXPECT_FALSE(ParseObjectResource(R"({"name":"a\rb","size":1,"generation":1})", "b", &info).ok());
  const std::string long_name(1025, 'n');
  EXPECT_THAT(
      ParseObjectResource(R"({"name":")" + long_name + R"(","size":1,"generation":1})", "b", &info)
          .message(),
      HasSubstr("longer than 1024 bytes"));
  // An object or array is no name at all, not its JSON text.
  EXPECT_THAT(
      ParseObjectResource(R"({"name":{"a":1},"size":1,"generation":1})", "b", &info).message(),
      HasSubstr("without a name"));
}

// Found by tests/fuzz/gcs_json_fuzzer (corpus/gcs_json/regress_cr_in_syntax_error): Poco's
// syntax error quotes the offending byte raw, so a CR reached the one-line reason.
TEST(GcsJsonTest, SyntaxErrorReasonIsOneLine) {
  std::vector<ObjectInfo> objects;
  std::string next;
  const Status s = ParseListPage("t\r", "bkt", &objects, &next);
  EXPECT_THAT(s.message(), HasSubstr("malformed object listing"));
  EXPECT_EQ(s.message().find_first_of("\r\n"), std::string::npos) << s.message();
}

TEST(GcsJsonTest, RefusesTokensThatWouldBreakTheAuthorizationHeader) {
  AccessToken token;
  EXPECT_THAT(ParseTokenResponse(R"({"access_token":"ya29\r\nX-Evil: 1","expires_in":1})", &token)
                  .message(),
              HasSubstr("not printable ASCII"));
  EXPECT_EQ(token.token, "");
  EXPECT_FALSE(ParseTokenResponse(R"({"access_token":"a b","expires_in":1})", &token).ok());
}

}  // namespace
}  // namespace devserver::storage
