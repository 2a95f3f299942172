#include "fcgi/storage/token_source.h"

#include <Poco/URI.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "fcgi/storage/test_http_server.h"
#include "fcgi/storage/test_keys.h"

namespace devserver::storage {
namespace {

using ::testing::HasSubstr;
using Reply = TestHttpServer::Reply;
using Request = TestHttpServer::Request;

constexpr char kMetadataPath[] = "/computeMetadata/v1/instance/service-accounts/default/token";

// Time stands still unless the test moves it.
class ManualEnv : public Env {
 public:
  int64_t MonotonicMicros() override { return mono_us; }
  int64_t WallSeconds() override { return wall_s; }
  Status Disk(const std::string&, DiskSpace* space) override {
    *space = DiskSpace{};
    return Status::Ok();
  }
  int64_t mono_us = 5'000'000;
  int64_t wall_s = 1'700'000'000;
};

Reply TokenReply(const std::string& token, int expires_in) {
  Reply r;
  r.body = R"({"access_token":")" + token + R"(","expires_in":)" + std::to_string(expires_in) +
           R"(,"token_type":"Bearer"})";
  return r;
}

class TokenSourceTest : public ::testing::Test {
 protected:
  TokenFetchOptions Options() {
    TokenFetchOptions o;
    o.env = &env_;
    o.backoff_initial_ms = 1;
    o.backoff_max_ms = 5;
    o.max_attempts = 3;
    return o;
  }
  std::string Token(TokenSource* source) {
    std::string token;
    const Status s = source->Token(&token);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return token;
  }

  ManualEnv env_;
  std::atomic<int> issued_{0};
};

TEST_F(TokenSourceTest, MetadataServerTokenIsFetchedOnceAndCached) {
  TestHttpServer server([&](const Request& r) {
    if (r.Header("metadata-flavor") != "Google") return Reply{403, "missing header"};
    return TokenReply("tok-" + std::to_string(++issued_), 3600);
  });
  auto source = MakeMetadataServerTokenSource(server.host_port(), Options());
  EXPECT_EQ(Token(source.get()), "tok-1");
  EXPECT_EQ(Token(source.get()), "tok-1");
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].uri, kMetadataPath);
  EXPECT_EQ(requests[0].Header("metadata-flavor"), "Google");
}

TEST_F(TokenSourceTest, RefreshesFiveMinutesBeforeExpiry) {
  TestHttpServer server(
      [&](const Request&) { return TokenReply("tok-" + std::to_string(++issued_), 3600); });
  auto source = MakeMetadataServerTokenSource(server.host_port(), Options());
  EXPECT_EQ(Token(source.get()), "tok-1");
  env_.mono_us += 3300LL * 1'000'000 - 1;
  EXPECT_EQ(Token(source.get()), "tok-1");
  env_.mono_us += 1;
  EXPECT_EQ(Token(source.get()), "tok-2");
  EXPECT_EQ(server.Requests().size(), 2u);
}

TEST_F(TokenSourceTest, ShortLivedTokensRefreshAtHalfLife) {
  TestHttpServer server(
      [&](const Request&) { return TokenReply("tok-" + std::to_string(++issued_), 60); });
  auto source = MakeMetadataServerTokenSource(server.host_port(), Options());
  EXPECT_EQ(Token(source.get()), "tok-1");
  env_.mono_us += 29'999'999;
  EXPECT_EQ(Token(source.get()), "tok-1");
  env_.mono_us += 1;
  EXPECT_EQ(Token(source.get()), "tok-2");
}

TEST_F(TokenSourceTest, InvalidateDropsOnlyTheRejectedToken) {
  TestHttpServer server(
      [&](const Request&) { return TokenReply("tok-" + std::to_string(++issued_), 3600); });
  auto source = MakeMetadataServerTokenSource(server.host_port(), Options());
  EXPECT_EQ(Token(source.get()), "tok-1");
  source->Invalidate("some-older-token");
  EXPECT_EQ(Token(source.get()), "tok-1");
  source->Invalidate("tok-1");
  EXPECT_EQ(Token(source.get()), "tok-2");
  EXPECT_EQ(server.Requests().size(), 2u);
}

TEST_F(TokenSourceTest, ServerErrorsAreRetried) {
  TestHttpServer server([&](const Request&) {
    if (++issued_ <= 2) return Reply{503, R"({"error":{"message":"busy"}})"};
    return TokenReply("tok", 3600);
  });
  auto source = MakeMetadataServerTokenSource(server.host_port(), Options());
  EXPECT_EQ(Token(source.get()), "tok");
  EXPECT_EQ(server.Requests().size(), 3u);
}

TEST_F(TokenSourceTest, PersistentFailuresAreReported) {
  TestHttpServer server([&](const Request&) { return Reply{503, "overloaded"}; });
  auto source = MakeMetadataServerTokenSource(server.host_port(), Options());
  std::string token;
  const Status s = source->Token(&token);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "fetching an access token from http://" + server.host_port() +
                             kMetadataPath + ": HTTP 503: overloaded (3 attempts)");
  EXPECT_EQ(server.Requests().size(), 3u);
}

TEST_F(TokenSourceTest, ClientErrorsAreNotRetried) {
  TestHttpServer server([&](const Request&) { return Reply{404, "no service account"}; });
  auto source = MakeMetadataServerTokenSource(server.host_port(), Options());
  std::string token;
  const Status s = source->Token(&token);
  EXPECT_THAT(s.message(), HasSubstr(": HTTP 404: no service account"));
  EXPECT_EQ(server.Requests().size(), 1u);
}

TEST_F(TokenSourceTest, UnreachableMetadataServerFails) {
  std::string host;
  {
    TestHttpServer gone([](const Request&) { return Reply{}; });
    host = gone.host_port();
  }
  auto source = MakeMetadataServerTokenSource(host, Options());
  std::string token;
  const Status s = source->Token(&token);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_THAT(s.message(), HasSubstr("fetching an access token from http://" + host));
}

TEST_F(TokenSourceTest, ServiceAccountPostsASignedAssertion) {
  TestHttpServer server([&](const Request&) { return TokenReply("sa-1", 3600); });
  const std::string token_uri = server.url() + "/oauth/token";
  ServiceAccountKey key;
  ASSERT_TRUE(
      ParseServiceAccountKey(
          ServiceAccountJson(SharedTestKey(), "sa@p.iam.gserviceaccount.com", token_uri), &key)
          .ok());
  std::unique_ptr<JwtSigner> signer;
  ASSERT_TRUE(JwtSigner::Create(key, &signer).ok());
  auto source = MakeServiceAccountTokenSource(std::move(signer), token_uri, Options());
  EXPECT_EQ(Token(source.get()), "sa-1");
  EXPECT_EQ(Token(source.get()), "sa-1");

  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].uri, "/oauth/token");
  EXPECT_EQ(requests[0].Header("content-type"), "application/x-www-form-urlencoded");
  const Poco::URI form("/?" + requests[0].body);
  std::map<std::string, std::string> fields;
  for (const auto& [name, value] : form.getQueryParameters()) fields[name] = value;
  EXPECT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
  DecodedJwt jwt;
  ASSERT_TRUE(DecodeJwt(fields["assertion"], SharedTestKey().public_pem, &jwt));
  EXPECT_TRUE(jwt.signature_valid);
  EXPECT_EQ(jwt.claims->getValue<std::string>("iss"), "sa@p.iam.gserviceaccount.com");
  EXPECT_EQ(jwt.claims->getValue<std::string>("aud"), token_uri);
  EXPECT_EQ(jwt.claims->getValue<int64_t>("iat"), env_.wall_s);
}

TEST_F(TokenSourceTest, RejectedAssertionIsReportedWithTheOAuthError) {
  TestHttpServer server([&](const Request&) {
    return Reply{400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})"};
  });
  ServiceAccountKey key;
  ASSERT_TRUE(
      ParseServiceAccountKey(ServiceAccountJson(SharedTestKey(), "sa@p", server.url()), &key).ok());
  std::unique_ptr<JwtSigner> signer;
  ASSERT_TRUE(JwtSigner::Create(key, &signer).ok());
  auto source = MakeServiceAccountTokenSource(std::move(signer), server.url() + "/t", Options());
  std::string token;
  const Status s = source->Token(&token);
  EXPECT_EQ(s.message(), "fetching an access token from " + server.url() +
                             "/t: HTTP 400: invalid_grant: Invalid JWT Signature.");
  EXPECT_EQ(server.Requests().size(), 1u);
}

}  // namespace
}  // namespace devserver::storage
