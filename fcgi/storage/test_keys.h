// RSA keys made at test time, and a JWT checker, for the service-account tests.
#pragma once

#include <Poco/JSON/Object.h>

#include <string>

namespace devserver::storage {

struct TestKey {
  std::string private_pem;  // PKCS#8 ("BEGIN PRIVATE KEY"), as Google issues them
  std::string pkcs1_pem;    // the same key as "BEGIN RSA PRIVATE KEY"
  std::string public_pem;
};

// One 2048-bit key per process, made on first use.
const TestKey& SharedTestKey();

// A service-account JSON key file's contents for `key`.
std::string ServiceAccountJson(const TestKey& key, const std::string& client_email,
                               const std::string& token_uri);

struct DecodedJwt {
  Poco::JSON::Object::Ptr header;
  Poco::JSON::Object::Ptr claims;
  bool signature_valid = false;  // RS256 over header.claims with `public_pem`
};

// Splits, decodes and checks a compact JWT; false when it is not one.
bool DecodeJwt(const std::string& jwt, const std::string& public_pem, DecodedJwt* decoded);

}  // namespace devserver::storage
