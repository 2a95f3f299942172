#include "fcgi/storage/test_keys.h"

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <Poco/Crypto/EVPPKey.h>
#include <Poco/Crypto/RSADigestEngine.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>

#include <iterator>
#include <sstream>
#include <vector>

namespace devserver::storage {
namespace {

TestKey MakeKey() {
  Poco::Crypto::RSAKey rsa(Poco::Crypto::RSAKey::KL_2048, Poco::Crypto::RSAKey::EXP_LARGE);
  TestKey key;
  std::ostringstream pub;
  std::ostringstream pkcs1;
  rsa.save(&pub, &pkcs1);
  key.public_pem = pub.str();
  key.pkcs1_pem = pkcs1.str();
  std::ostringstream pkcs8;
  Poco::Crypto::EVPPKey(&rsa).save(nullptr, &pkcs8);
  key.private_pem = pkcs8.str();
  return key;
}

bool Base64UrlDecode(std::string text, std::string* out) {
  if (text.find_first_of("+/=") != std::string::npos) return false;  // not the URL alphabet
  while (text.size() % 4 != 0) text += '=';
  try {
    std::istringstream in(text);
    Poco::Base64Decoder decoder(in, Poco::BASE64_URL_ENCODING);
    out->assign(std::istreambuf_iterator<char>(decoder), std::istreambuf_iterator<char>());
    return true;
  } catch (const Poco::Exception&) {
    return false;
  }
}

Poco::JSON::Object::Ptr ParseObject(const std::string& json) {
  try {
    return Poco::JSON::Parser().parse(json).extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception&) {
    return nullptr;
  }
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

const TestKey& SharedTestKey() {
  static const TestKey key = MakeKey();
  return key;
}

std::string ServiceAccountJson(const TestKey& key, const std::string& client_email,
                               const std::string& token_uri) {
  return "{\"type\": \"service_account\", \"project_id\": \"test\", \"private_key_id\": \"kid1\""
         ", \"private_key\": " +
         JsonString(key.private_pem) + ", \"client_email\": " + JsonString(client_email) +
         ", \"token_uri\": " + JsonString(token_uri) + "}";
}

bool DecodeJwt(const std::string& jwt, const std::string& public_pem, DecodedJwt* decoded) {
  const size_t dot1 = jwt.find('.');
  const size_t dot2 = dot1 == std::string::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string::npos || jwt.find('.', dot2 + 1) != std::string::npos) return false;
  std::string header;
  std::string claims;
  std::string signature;
  if (!Base64UrlDecode(jwt.substr(0, dot1), &header) ||
      !Base64UrlDecode(jwt.substr(dot1 + 1, dot2 - dot1 - 1), &claims) ||
      !Base64UrlDecode(jwt.substr(dot2 + 1), &signature)) {
    return false;
  }
  decoded->header = ParseObject(header);
  decoded->claims = ParseObject(claims);
  if (decoded->header.isNull() || decoded->claims.isNull()) return false;
  std::istringstream pub(public_pem);
  Poco::Crypto::RSAKey key(&pub);
  Poco::Crypto::RSADigestEngine engine(key, "SHA256");
  engine.update(jwt.substr(0, dot2));
  decoded->signature_valid =
      engine.verify(std::vector<unsigned char>(signature.begin(), signature.end()));
  return true;
}

}  // namespace devserver::storage
