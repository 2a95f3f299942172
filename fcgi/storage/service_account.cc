#include "fcgi/storage/service_account.h"

#include <Poco/Base64Encoder.h>
#include <Poco/Crypto/EVPPKey.h>
#include <Poco/Crypto/RSADigestEngine.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <sstream>

#include "fcgi/storage/openssl_lifetime.h"

namespace devserver::storage {
namespace {

// Google rejects assertions valid for longer than an hour.
constexpr int64_t kAssertionLifetimeS = 3600;

std::string Field(const Poco::JSON::Object& o, const std::string& key) {
  try {
    return o.has(key) ? o.getValue<std::string>(key) : "";
  } catch (const Poco::Exception&) {
    return "";
  }
}

int NoPassphrase(char*, int, int, void*) { return 0; }

// The oldest queued OpenSSL error, and the queue cleared for the next caller.
std::string OpenSslError() {
  const auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "not a PEM private key";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

std::string Compact(const Poco::JSON::Object& o) {
  std::ostringstream out;
  o.stringify(out);
  return out.str();
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::ostringstream out;
  Poco::Base64Encoder encoder(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
  encoder.rdbuf()->setLineLength(0);
  encoder.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  encoder.close();
  return out.str();
}

Status ParseServiceAccountKey(const std::string& json, ServiceAccountKey* key) {
  Poco::JSON::Object::Ptr root;
  try {
    root = Poco::JSON::Parser().parse(json).extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception& e) {
    return Status::InvalidArgument("service-account key is not JSON: " + e.displayText());
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("service-account key is not JSON: ") + e.what());
  }
  if (root.isNull()) return Status::InvalidArgument("service-account key is not a JSON object");
  const std::string type = Field(*root, "type");
  if (!type.empty() && type != "service_account") {
    return Status::InvalidArgument("key type is '" + type + "', not service_account");
  }
  key->client_email = Field(*root, "client_email");
  key->private_key = Field(*root, "private_key");
  key->private_key_id = Field(*root, "private_key_id");
  key->token_uri = Field(*root, "token_uri");
  if (key->token_uri.empty()) key->token_uri = kDefaultTokenUri;
  if (key->client_email.empty()) return Status::InvalidArgument("key has no client_email");
  if (key->private_key.empty()) return Status::InvalidArgument("key has no private_key");
  return Status::Ok();
}

JwtSigner::JwtSigner(ServiceAccountKey key, std::unique_ptr<Poco::Crypto::RSAKey> rsa)
    : key_(std::move(key)), rsa_(std::move(rsa)) {}

JwtSigner::~JwtSigner() = default;

Status JwtSigner::Create(const ServiceAccountKey& key, std::unique_ptr<JwtSigner>* signer) {
  // The PEM is parsed with OpenSSL itself: Poco's stream constructor leaks the key it
  // allocated when the PEM is bad, and OpenSSL's default passphrase callback would prompt on
  // a terminal for an encrypted key.
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(key.private_key.data(), static_cast<int>(key.private_key.size())), BIO_free);
  if (bio == nullptr) return Status::Failed("out of memory reading a private key");
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> raw(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr), EVP_PKEY_free);
  if (raw == nullptr) {
    return Status::InvalidArgument("cannot read the private key of " + key.client_email + ": " +
                                   OpenSslError());
  }
  HoldOpenSsl();
  try {
    const Poco::Crypto::EVPPKey pkey(raw.get());  // takes its own reference
    auto rsa = std::make_unique<Poco::Crypto::RSAKey>(pkey);
    signer->reset(new JwtSigner(key, std::move(rsa)));
    return Status::Ok();
  } catch (const Poco::Exception& e) {
    return Status::InvalidArgument("cannot use the private key of " + key.client_email + ": " +
                                   e.displayText());
  }
}

Status JwtSigner::MakeAssertion(const std::string& scope, int64_t now_s, std::string* jwt) const {
  Poco::JSON::Object header(Poco::JSON_PRESERVE_KEY_ORDER);
  header.set("alg", "RS256");
  header.set("typ", "JWT");
  if (!key_.private_key_id.empty()) header.set("kid", key_.private_key_id);
  Poco::JSON::Object claims(Poco::JSON_PRESERVE_KEY_ORDER);
  claims.set("iss", key_.client_email);
  claims.set("scope", scope);
  claims.set("aud", key_.token_uri);
  claims.set("iat", now_s);
  claims.set("exp", now_s + kAssertionLifetimeS);

  const std::string signing_input =
      Base64UrlEncode(Compact(header)) + "." + Base64UrlEncode(Compact(claims));
  try {
    // A fresh engine per call: DigestEngine objects keep state and are not thread-safe.
    Poco::Crypto::RSADigestEngine engine(*rsa_, "SHA256");
    engine.update(signing_input);
    const Poco::DigestEngine::Digest& signature = engine.signature();
    *jwt = signing_input + "." +
           Base64UrlEncode(
               std::string_view(reinterpret_cast<const char*>(signature.data()), signature.size()));
    return Status::Ok();
  } catch (const Poco::Exception& e) {
    return Status::Failed("signing the token request for " + key_.client_email +
                          " failed: " + e.displayText());
  }
}

}  // namespace devserver::storage
