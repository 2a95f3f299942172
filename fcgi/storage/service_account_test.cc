#include "fcgi/storage/service_account.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fcgi/storage/test_keys.h"

namespace devserver::storage {
namespace {

using ::testing::HasSubstr;

constexpr char kEmail[] = "stager@project.iam.gserviceaccount.com";
constexpr char kTokenUri[] = "https://oauth2.example.com/token";

TEST(ServiceAccountTest, ParsesAKeyFile) {
  ServiceAccountKey key;
  const Status s =
      ParseServiceAccountKey(ServiceAccountJson(SharedTestKey(), kEmail, kTokenUri), &key);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(key.client_email, kEmail);
  EXPECT_EQ(key.private_key, SharedTestKey().private_pem);
  EXPECT_EQ(key.private_key_id, "kid1");
  EXPECT_EQ(key.token_uri, kTokenUri);
}

TEST(ServiceAccountTest, TokenUriDefaultsToGoogle) {
  ServiceAccountKey key;
  ASSERT_TRUE(ParseServiceAccountKey(R"({"client_email":"a@b","private_key":"pem"})", &key).ok());
  EXPECT_EQ(key.token_uri, "https://oauth2.googleapis.com/token");
}

TEST(ServiceAccountTest, RejectsOtherKeyFiles) {
  ServiceAccountKey key;
  EXPECT_THAT(ParseServiceAccountKey("not json", &key).message(), HasSubstr("not JSON"));
  EXPECT_THAT(ParseServiceAccountKey(R"({"type":"authorized_user"})", &key).message(),
              HasSubstr("not service_account"));
  EXPECT_THAT(ParseServiceAccountKey(R"({"private_key":"x"})", &key).message(),
              HasSubstr("no client_email"));
  EXPECT_THAT(ParseServiceAccountKey(R"({"client_email":"x"})", &key).message(),
              HasSubstr("no private_key"));
}

TEST(ServiceAccountTest, AssertionIsASignedJwtWithTheRightClaims) {
  ServiceAccountKey key;
  ASSERT_TRUE(
      ParseServiceAccountKey(ServiceAccountJson(SharedTestKey(), kEmail, kTokenUri), &key).ok());
  std::unique_ptr<JwtSigner> signer;
  ASSERT_TRUE(JwtSigner::Create(key, &signer).ok());
  std::string jwt;
  ASSERT_TRUE(signer->MakeAssertion(kReadOnlyScope, 1700000000, &jwt).ok());

  DecodedJwt decoded;
  ASSERT_TRUE(DecodeJwt(jwt, SharedTestKey().public_pem, &decoded)) << jwt;
  EXPECT_TRUE(decoded.signature_valid);
  EXPECT_EQ(decoded.header->getValue<std::string>("alg"), "RS256");
  EXPECT_EQ(decoded.header->getValue<std::string>("typ"), "JWT");
  EXPECT_EQ(decoded.header->getValue<std::string>("kid"), "kid1");
  EXPECT_EQ(decoded.claims->getValue<std::string>("iss"), kEmail);
  EXPECT_EQ(decoded.claims->getValue<std::string>("aud"), kTokenUri);
  EXPECT_EQ(decoded.claims->getValue<std::string>("scope"),
            "https://www.googleapis.com/auth/devstorage.read_only");
  EXPECT_EQ(decoded.claims->getValue<int64_t>("iat"), 1700000000);
  EXPECT_EQ(decoded.claims->getValue<int64_t>("exp"), 1700003600);
}

TEST(ServiceAccountTest, TamperedAssertionFailsVerification) {
  ServiceAccountKey key;
  ASSERT_TRUE(
      ParseServiceAccountKey(ServiceAccountJson(SharedTestKey(), kEmail, kTokenUri), &key).ok());
  std::unique_ptr<JwtSigner> signer;
  ASSERT_TRUE(JwtSigner::Create(key, &signer).ok());
  std::string a;
  std::string b;
  ASSERT_TRUE(signer->MakeAssertion(kReadOnlyScope, 1, &a).ok());
  ASSERT_TRUE(signer->MakeAssertion(kReadOnlyScope, 2, &b).ok());
  // b's header and claims with a's signature.
  const std::string forged = b.substr(0, b.rfind('.')) + a.substr(a.rfind('.'));
  DecodedJwt decoded;
  ASSERT_TRUE(DecodeJwt(forged, SharedTestKey().public_pem, &decoded));
  EXPECT_FALSE(decoded.signature_valid);
}

TEST(ServiceAccountTest, AcceptsPkcs1KeysToo) {
  ServiceAccountKey key;
  key.client_email = kEmail;
  key.private_key = SharedTestKey().pkcs1_pem;
  key.token_uri = kTokenUri;
  std::unique_ptr<JwtSigner> signer;
  ASSERT_TRUE(JwtSigner::Create(key, &signer).ok());
  std::string jwt;
  ASSERT_TRUE(signer->MakeAssertion(kReadOnlyScope, 5, &jwt).ok());
  DecodedJwt decoded;
  ASSERT_TRUE(DecodeJwt(jwt, SharedTestKey().public_pem, &decoded));
  EXPECT_TRUE(decoded.signature_valid);
}

TEST(ServiceAccountTest, UnreadablePrivateKeyIsAnError) {
  ServiceAccountKey key;
  key.client_email = kEmail;
  key.private_key = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n";
  std::unique_ptr<JwtSigner> signer;
  const Status s = JwtSigner::Create(key, &signer);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("cannot read the private key of " + std::string(kEmail)));
}

TEST(ServiceAccountTest, Base64UrlHasNoPaddingOrUnsafeCharacters) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlEncode(std::string(100, 'a')).find('\n'), std::string::npos);
}

}  // namespace
}  // namespace devserver::storage
