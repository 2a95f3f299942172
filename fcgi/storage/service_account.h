// Service-account keys and the signed JWT assertion exchanged for an OAuth access token
// (RFC 7523 "JWT bearer" grant, as Google's token endpoint expects).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fcgi/base/status.h"

namespace Poco::Crypto {
class RSAKey;
}

namespace devserver::storage {

inline constexpr char kReadOnlyScope[] = "https://www.googleapis.com/auth/devstorage.read_only";
inline constexpr char kDefaultTokenUri[] = "https://oauth2.googleapis.com/token";

// The fields of a downloaded service-account JSON key that signing needs.
struct ServiceAccountKey {
  std::string client_email;
  std::string private_key;     // PEM, PKCS#8 as Google issues it (PKCS#1 works too)
  std::string private_key_id;  // becomes the JWT "kid"; may be empty
  std::string token_uri;       // kDefaultTokenUri when the key does not say
};

Status ParseServiceAccountKey(const std::string& json, ServiceAccountKey* key);

// Signs RS256 JWT assertions with one key. Thread-safe.
class JwtSigner {
 public:
  // Fails when the private key cannot be read.
  static Status Create(const ServiceAccountKey& key, std::unique_ptr<JwtSigner>* signer);
  ~JwtSigner();

  // header.claims.signature (base64url): iss = client_email, aud = token_uri, `scope`, issued at
  // `now_s` (Unix seconds) and valid for an hour, the longest Google accepts.
  Status MakeAssertion(const std::string& scope, int64_t now_s, std::string* jwt) const;

 private:
  JwtSigner(ServiceAccountKey key, std::unique_ptr<Poco::Crypto::RSAKey> rsa);

  const ServiceAccountKey key_;
  const std::unique_ptr<Poco::Crypto::RSAKey> rsa_;
};

// Unpadded base64url (RFC 4648 section 5), the JWT encoding.
std::string Base64UrlEncode(std::string_view bytes);

}  // namespace devserver::storage
