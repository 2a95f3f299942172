// What every request of the GCS store shares: the endpoint, credentials, pooled connections,
// the retry policy, and how HTTP failures become Status values.
#pragma once

#include <Poco/Net/HTTPResponse.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fcgi/base/status.h"
#include "fcgi/storage/archive_store.h"
#include "fcgi/storage/gcs_store.h"
#include "fcgi/storage/http_transport.h"
#include "fcgi/storage/retry_policy.h"
#include "fcgi/storage/token_source.h"

namespace devserver::storage {

// Most of an error response's body kept (GCS's JSON error, for the message).
inline constexpr size_t kMaxErrorBody = size_t{64} << 10;

// Object headers GCS sends with media (whole-object values, also for ranges).
struct GoogHeaders {
  std::string crc32c;      // from x-goog-hash: crc32c=...
  std::string md5;         // from x-goog-hash: md5=...
  int64_t generation = 0;  // x-goog-generation; 0 when absent
};
GoogHeaders ReadGoogHeaders(const Poco::Net::HTTPResponse& response);

// The final Status of a request GCS answered with `status` (not 2xx): NotFound for 404,
// Failed "permission denied" for 401/403, else Failed naming the status. `what` names the
// object or listing ("gs://bucket/name").
Status HttpFailure(const std::string& what, int status, const std::string& body);

class GcsClient {
 public:
  // `tokens` is null when requests go unauthenticated.
  GcsClient(const GcsOptions& options, const HttpEndpoint& endpoint, Poco::Net::Context::Ptr tls,
            std::unique_ptr<TokenSource> tokens);

  const GcsOptions& options() const { return options_; }
  ConnectionPool& pool() { return pool_; }
  RetryPolicy& retry() { return retry_; }

  // Request targets, with the endpoint's path prefix: .../storage/v1/b/<bucket>/o[/<name>].
  std::string ObjectTarget(const std::string& bucket, const std::string& name) const;
  std::string ListTarget(const std::string& bucket) const;

  // Adds "Authorization: Bearer" when the store authenticates; `*token` is what was sent
  // ("" for nothing).
  Status Authorize(HttpRequest* request, std::string* token);
  // GCS answered 401 to `token`: drops it so the next Authorize fetches a fresh one.
  void RejectToken(const std::string& token);

  struct Reply {
    std::string body;
    bool too_large = false;  // the body was cut at max_body
    GoogHeaders goog;
  };
  // Sends `request` until it gets a 2xx answer, retrying what is worth retrying, and reads at
  // most `max_body` bytes of it. `what` prefixes every error message.
  Status Get(const std::string& what, HttpRequest request, size_t max_body, FetchObserver* observer,
             Reply* reply);

 private:
  const GcsOptions options_;
  const std::string base_path_;
  ConnectionPool pool_;
  RetryPolicy retry_;
  const std::unique_ptr<TokenSource> tokens_;
};

}  // namespace devserver::storage
