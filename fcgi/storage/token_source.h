// OAuth access tokens for GCS requests: from the GCE metadata server or from a service-account
// key, cached until shortly before they expire.
#pragma once

#include <Poco/Net/Context.h>

#include <memory>
#include <string>

#include "fcgi/base/env.h"
#include "fcgi/base/status.h"
#include "fcgi/storage/http_transport.h"
#include "fcgi/storage/service_account.h"

namespace devserver::storage {

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // A current access token, fetched (and cached) when there is none. Thread-safe; concurrent
  // callers wait for one fetch.
  virtual Status Token(std::string* token) = 0;
  // The server rejected `token` (HTTP 401): drop it, unless a newer one replaced it already.
  virtual void Invalidate(const std::string& token) = 0;
};

struct TokenFetchOptions {
  HttpTimeouts timeouts;
  int max_attempts = 5;
  int backoff_initial_ms = 200;
  int backoff_max_ms = 10000;
  Poco::Net::Context::Ptr tls;  // for an https token_uri
  Env* env = Env::Default();    // clocks: the JWT's iat and the cache's expiry
};

// GET http://<metadata_host>/computeMetadata/v1/instance/service-accounts/default/token with
// "Metadata-Flavor: Google". `metadata_host` may carry a port ("127.0.0.1:8080").
std::unique_ptr<TokenSource> MakeMetadataServerTokenSource(const std::string& metadata_host,
                                                           const TokenFetchOptions& options);

// POSTs a signed JWT assertion to the key's token_uri.
std::unique_ptr<TokenSource> MakeServiceAccountTokenSource(std::unique_ptr<JwtSigner> signer,
                                                           const std::string& token_uri,
                                                           const TokenFetchOptions& options);

}  // namespace devserver::storage
