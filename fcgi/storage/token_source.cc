#include "fcgi/storage/token_source.h"

#include <algorithm>
#include <mutex>

#include "fcgi/base/log.h"
#include "fcgi/storage/gcs_json.h"
#include "fcgi/storage/retry_policy.h"

namespace devserver::storage {
namespace {

constexpr size_t kMaxTokenResponse = size_t{64} << 10;
// Refresh this long before expiry (at most half the lifetime), so a request never carries a
// token that expires on its way.
constexpr int64_t kRefreshMarginS = 300;

// The cache and the retrying request; subclasses say how to ask for a token.
class CachingTokenSource : public TokenSource {
 public:
  explicit CachingTokenSource(const TokenFetchOptions& options)
      : options_(options),
        retry_(options.max_attempts, options.backoff_initial_ms, options.backoff_max_ms) {}

  Status Token(std::string* token) override {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now_us = options_.env->MonotonicMicros();
    if (!token_.empty() && now_us < refresh_at_us_) {
      *token = token_;
      return Status::Ok();
    }
    AccessToken fresh;
    Status s = FetchWithRetries(&fresh);
    if (!s.ok()) return s;
    const int64_t margin_s = std::min(kRefreshMarginS, fresh.expires_in_s / 2);
    token_ = fresh.token;
    refresh_at_us_ = now_us + (fresh.expires_in_s - margin_s) * 1'000'000;
    *token = token_;
    return Status::Ok();
  }

  void Invalidate(const std::string& token) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (token == token_) token_.clear();
  }

 protected:
  // The URL asked (for messages) and the request to send there.
  virtual Status MakeRequest(std::string* url, HttpRequest* request) = 0;

  const TokenFetchOptions& options() const { return options_; }

 private:
  Status FetchWithRetries(AccessToken* token) {
    std::string url;
    HttpRequest request;
    Status s = MakeRequest(&url, &request);
    if (!s.ok()) return s;
    HttpEndpoint endpoint;
    s = ParseHttpUrl(url, &endpoint, &request.target);
    if (!s.ok()) return s;
    const std::string context = "fetching an access token from " + url;
    for (int attempt = 1;; ++attempt) {
      HttpConnection connection(endpoint, options_.timeouts, options_.tls);
      std::string reason;
      bool retryable = false;
      TransportError err = connection.Start(request);
      std::string body;
      if (err.ok()) err = connection.ReadAll(kMaxTokenResponse, &body);
      if (!err.ok()) {
        reason = err.message;
        retryable = err.transient();
      } else {
        const int status = connection.response().getStatus();
        if (status == 200) {
          s = ParseTokenResponse(body, token);
          return s.ok() ? s : Status::Failed(context + ": " + s.message());
        }
        reason = "HTTP " + std::to_string(status) + ": " + ErrorBodyMessage(body);
        retryable = RetryPolicy::IsRetryableHttpStatus(status);
      }
      if (!retryable || attempt >= retry_.max_attempts()) {
        return Status::Failed(context + ": " + reason +
                              (retryable ? " (" + std::to_string(attempt) + " attempts)" : ""));
      }
      DS_LOG(kWarning) << context << ": " << reason << "; trying again";
      SleepUnlessCancelled(retry_.BackoffMs(attempt), nullptr);
    }
  }

  const TokenFetchOptions options_;
  RetryPolicy retry_;
  std::mutex mu_;
  std::string token_;
  int64_t refresh_at_us_ = 0;
};

class MetadataServerTokenSource : public CachingTokenSource {
 public:
  MetadataServerTokenSource(std::string host, const TokenFetchOptions& options)
      : CachingTokenSource(options), host_(std::move(host)) {}

 protected:
  Status MakeRequest(std::string* url, HttpRequest* request) override {
    *url = "http://" + host_ + "/computeMetadata/v1/instance/service-accounts/default/token";
    request->method = "GET";
    request->headers = {{"Metadata-Flavor", "Google"}};
    return Status::Ok();
  }

 private:
  const std::string host_;
};

class ServiceAccountTokenSource : public CachingTokenSource {
 public:
  ServiceAccountTokenSource(std::unique_ptr<JwtSigner> signer, std::string token_uri,
                            const TokenFetchOptions& options)
      : CachingTokenSource(options), signer_(std::move(signer)), token_uri_(std::move(token_uri)) {}

 protected:
  Status MakeRequest(std::string* url, HttpRequest* request) override {
    std::string jwt;
    Status s = signer_->MakeAssertion(kReadOnlyScope, options().env->WallSeconds(), &jwt);
    if (!s.ok()) return s;
    *url = token_uri_;
    request->method = "POST";
    request->content_type = "application/x-www-form-urlencoded";
    request->body = "grant_type=" + PercentEncode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
                    "&assertion=" + PercentEncode(jwt);
    return Status::Ok();
  }

 private:
  const std::unique_ptr<JwtSigner> signer_;
  const std::string token_uri_;
};

}  // namespace

std::unique_ptr<TokenSource> MakeMetadataServerTokenSource(const std::string& metadata_host,
                                                           const TokenFetchOptions& options) {
  return std::make_unique<MetadataServerTokenSource>(metadata_host, options);
}

std::unique_ptr<TokenSource> MakeServiceAccountTokenSource(std::unique_ptr<JwtSigner> signer,
                                                           const std::string& token_uri,
                                                           const TokenFetchOptions& options) {
  return std::make_unique<ServiceAccountTokenSource>(std::move(signer), token_uri, options);
}

}  // namespace devserver::storage
