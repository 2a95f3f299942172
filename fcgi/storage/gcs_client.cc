#include "fcgi/storage/gcs_client.h"

#include <Poco/String.h>

#include <charconv>

#include "fcgi/base/log.h"
#include "fcgi/storage/gcs_json.h"

namespace devserver::storage {
namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

GoogHeaders ReadGoogHeaders(const Poco::Net::HTTPResponse& response) {
  GoogHeaders goog;
  // GCS sends one x-goog-hash header per algorithm; others join them with commas.
  for (auto it = response.find("x-goog-hash"); it != response.end(); ++it) {
    if (Poco::icompare(it->first, "x-goog-hash") != 0) break;
    std::string_view rest = it->second;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string item = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (item.starts_with("crc32c=")) goog.crc32c = item.substr(7);
      if (item.starts_with("md5=")) goog.md5 = item.substr(4);
    }
  }
  const std::string generation = response.get("x-goog-generation", "");
  int64_t value = 0;
  const auto [ptr, ec] =
      std::from_chars(generation.data(), generation.data() + generation.size(), value);
  if (ec == std::errc() && ptr == generation.data() + generation.size()) goog.generation = value;
  return goog;
}

Status HttpFailure(const std::string& what, int status, const std::string& body) {
  const std::string message = ErrorBodyMessage(body);
  const std::string detail =
      "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
  if (status == 404) return Status::NotFound(what + ": not found (" + detail + ")");
  if (status == 401 || status == 403) {
    return Status::Failed(what + ": permission denied (" + detail + ")");
  }
  return Status::Failed(what + ": " + detail);
}

GcsClient::GcsClient(const GcsOptions& options, const HttpEndpoint& endpoint,
                     Poco::Net::Context::Ptr tls, std::unique_ptr<TokenSource> tokens)
    : options_(options),
      base_path_(endpoint.base_path),
      pool_(endpoint, HttpTimeouts{options.connect_timeout_ms, options.stall_timeout_ms},
            std::move(tls)),
      retry_(options.max_attempts, options.backoff_initial_ms, options.backoff_max_ms),
      tokens_(std::move(tokens)) {}

std::string GcsClient::ObjectTarget(const std::string& bucket, const std::string& name) const {
  return base_path_ + "/storage/v1/b/" + PercentEncode(bucket) + "/o/" + PercentEncode(name);
}

std::string GcsClient::ListTarget(const std::string& bucket) const {
  return base_path_ + "/storage/v1/b/" + PercentEncode(bucket) + "/o";
}

Status GcsClient::Authorize(HttpRequest* request, std::string* token) {
  token->clear();
  if (tokens_ == nullptr) return Status::Ok();
  Status s = tokens_->Token(token);
  if (!s.ok()) return s;
  request->headers.emplace_back("Authorization", "Bearer " + *token);
  return Status::Ok();
}

void GcsClient::RejectToken(const std::string& token) {
  if (tokens_ != nullptr) tokens_->Invalidate(token);
}

Status GcsClient::Get(const std::string& what, HttpRequest request, size_t max_body,
                      FetchObserver* observer, Reply* reply) {
  const size_t base_headers = request.headers.size();
  bool reauthorized = false;
  for (int attempt = 1;;) {
    request.headers.resize(base_headers);
    std::string token;
    Status s = Authorize(&request, &token);
    if (!s.ok()) return Status::Failed(what + ": " + s.message());

    std::string reason;
    bool retryable = true;
    std::unique_ptr<HttpConnection> connection = pool_.Acquire();
    TransportError err = connection->Start(request);
    if (err.ok()) {
      const int status = connection->response().getStatus();
      const bool success = status >= 200 && status < 300;
      err =
          connection->ReadAll(success ? max_body : kMaxErrorBody, &reply->body, &reply->too_large);
      if (err.ok() && success) {
        reply->goog = ReadGoogHeaders(connection->response());
        pool_.Release(std::move(connection));
        return Status::Ok();
      }
      if (err.ok()) {
        pool_.Release(std::move(connection));
        if (status == 401 && !token.empty() && !reauthorized) {
          // The token may have been revoked or expired early: one fresh token, no back-off.
          reauthorized = true;
          RejectToken(token);
          continue;
        }
        if (!RetryPolicy::IsRetryableHttpStatus(status)) {
          return HttpFailure(what, status, reply->body);
        }
        const std::string message = ErrorBodyMessage(reply->body);
        reason = "HTTP " + std::to_string(status) + (message.empty() ? "" : ": " + message);
      }
    }
    if (!err.ok()) {
      reason = err.message;
      retryable = err.transient();
    }
    if (!retryable) return Status::Failed(what + ": " + reason);
    if (attempt >= retry_.max_attempts()) {
      return Status::Failed(what + ": giving up after " + std::to_string(attempt) +
                            " attempts: " + reason);
    }
    DS_LOG(kWarning) << what << ": " << reason << "; trying again";
    if (!SleepUnlessCancelled(retry_.BackoffMs(attempt), observer)) {
      return Status::Failed(what + ": cancelled");
    }
    ++attempt;
  }
}

}  // namespace devserver::storage
