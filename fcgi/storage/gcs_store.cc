#include "fcgi/storage/gcs_store.h"

#include <algorithm>
#include <utility>

#include "fcgi/base/fs.h"
#include "fcgi/base/log.h"
#include "fcgi/storage/crc32c.h"
#include "fcgi/storage/gcs_client.h"
#include "fcgi/storage/gcs_download.h"
#include "fcgi/storage/gcs_json.h"
#include "fcgi/storage/service_account.h"

namespace devserver::storage {
namespace {

// A full page of 1000 objects with the fields we ask for is a few hundred KiB.
constexpr size_t kMaxJsonBody = 16 << 20;

class GcsStore : public ArchiveStore {
 public:
  explicit GcsStore(std::unique_ptr<GcsClient> client) : client_(std::move(client)) {}

  Status List(const std::string& bucket, const std::string& prefix,
              std::vector<ObjectInfo>* objects) override {
    objects->clear();
    const std::string what = "gs://" + bucket + "/" + prefix;
    std::string page_token;
    for (;;) {
      HttpRequest request;
      request.target = client_->ListTarget(bucket) +
                       "?maxResults=" + std::to_string(client_->options().list_page_size) +
                       "&fields=" + PercentEncode(kListFields);
      if (!prefix.empty()) request.target += "&prefix=" + PercentEncode(prefix);
      if (!page_token.empty()) request.target += "&pageToken=" + PercentEncode(page_token);
      GcsClient::Reply reply;
      Status s = client_->Get(what, request, kMaxJsonBody, nullptr, &reply);
      if (s.ok() && reply.too_large) s = Status::Failed("listing page too large");
      std::string next;
      if (s.ok()) s = ParseListPage(reply.body, bucket, objects, &next);
      if (!s.ok())
        return s.message().starts_with(what) ? s : Status::Failed(what + ": " + s.message());
      if (next.empty()) break;
      if (next == page_token) return Status::Failed(what + ": listing repeats page " + next);
      page_token = std::move(next);
    }
    // GCS lists in name order already; sorting keeps the promise for any emulator.
    std::stable_sort(objects->begin(), objects->end(),
                     [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
    return Status::Ok();
  }

  Status Stat(const std::string& bucket, const std::string& name, ObjectInfo* info) override {
    const std::string what = "gs://" + bucket + "/" + name;
    HttpRequest request;
    request.target =
        client_->ObjectTarget(bucket, name) + "?fields=" + PercentEncode(kObjectFields);
    GcsClient::Reply reply;
    Status s = client_->Get(what, request, kMaxJsonBody, nullptr, &reply);
    if (!s.ok()) return s;
    s = ParseObjectResource(reply.body, bucket, info);
    return s.ok() ? s : Status::Failed(what + ": " + s.message());
  }

  Status ReadSmall(const std::string& bucket, const std::string& name, size_t max_bytes,
                   std::string* contents) override {
    const std::string what = "gs://" + bucket + "/" + name;
    HttpRequest request;
    request.target = client_->ObjectTarget(bucket, name) + "?alt=media";
    request.headers.emplace_back("Accept-Encoding", "gzip");
    GcsClient::Reply reply;
    Status s = client_->Get(what, request, max_bytes, nullptr, &reply);
    if (!s.ok()) return s;
    if (reply.too_large) {
      return Status::Failed(what + ": more than the " + std::to_string(max_bytes) +
                            " bytes expected");
    }
    if (!reply.goog.crc32c.empty()) {
      const std::string actual = Crc32cBase64(Crc32c(reply.body.data(), reply.body.size()));
      if (actual != reply.goog.crc32c) {
        return Status::Failed(what + ": checksum mismatch: downloaded crc32c " + actual +
                              ", GCS says " + reply.goog.crc32c);
      }
    }
    *contents = std::move(reply.body);
    return Status::Ok();
  }

  Status FetchObject(const ObjectInfo& object, const std::string& dest_path,
                     FetchObserver* observer, bool resume) override {
    return DownloadObject(client_.get(), object, dest_path, observer, resume);
  }

 private:
  const std::unique_ptr<GcsClient> client_;
};

// Stands in for a store that could not be built, so the error surfaces where it is used.
class FailedStore : public ArchiveStore {
 public:
  explicit FailedStore(Status status) : status_(std::move(status)) {}
  Status List(const std::string&, const std::string&, std::vector<ObjectInfo>*) override {
    return status_;
  }
  Status Stat(const std::string&, const std::string&, ObjectInfo*) override { return status_; }
  Status ReadSmall(const std::string&, const std::string&, size_t, std::string*) override {
    return status_;
  }
  Status FetchObject(const ObjectInfo&, const std::string&, FetchObserver*, bool) override {
    return status_;
  }

 private:
  const Status status_;
};

Status CheckOptions(const GcsOptions& o) {
  if (o.max_attempts < 1) return Status::InvalidArgument("gcs max_attempts must be at least 1");
  if (o.stall_timeout_ms < 1 || o.connect_timeout_ms < 1) {
    return Status::InvalidArgument("gcs timeouts must be positive");
  }
  if (o.backoff_initial_ms < 1 || o.backoff_max_ms < o.backoff_initial_ms) {
    return Status::InvalidArgument("gcs back-off must satisfy 1 <= initial <= max");
  }
  if (o.list_page_size < 1 || o.list_page_size > 1000) {
    return Status::InvalidArgument("gcs list_page_size must be 1..1000");
  }
  return Status::Ok();
}

Status MakeTokenSource(const GcsOptions& options, const TokenFetchOptions& fetch,
                       std::unique_ptr<TokenSource>* tokens) {
  switch (options.auth) {
    case GcsOptions::Auth::kNone:
      return Status::Ok();
    case GcsOptions::Auth::kMetadataServer:
      *tokens = MakeMetadataServerTokenSource(options.metadata_host, fetch);
      return Status::Ok();
    case GcsOptions::Auth::kServiceAccountKey:
      break;
  }
  const std::string context = "service-account key " + options.key_file + ": ";
  if (options.key_file.empty()) return Status::InvalidArgument("gcs key_file is not set");
  std::string json;
  Status s = ReadFile(options.key_file, &json);
  if (!s.ok()) return s;
  ServiceAccountKey key;
  s = ParseServiceAccountKey(json, &key);
  if (!s.ok()) return Status::InvalidArgument(context + s.message());
  std::unique_ptr<JwtSigner> signer;
  s = JwtSigner::Create(key, &signer);
  if (!s.ok()) return Status::InvalidArgument(context + s.message());
  TokenFetchOptions with_tls = fetch;
  if (with_tls.tls.isNull() && key.token_uri.starts_with("https:")) {
    with_tls.tls = MakeSystemTlsContext(&s);
    if (!s.ok()) return s;
  }
  *tokens = MakeServiceAccountTokenSource(std::move(signer), key.token_uri, with_tls);
  return Status::Ok();
}

}  // namespace

Status CreateGcsStore(const GcsOptions& options, std::unique_ptr<ArchiveStore>* store) {
  Status s = CheckOptions(options);
  if (!s.ok()) return s;
  std::string url;
  bool is_emulator = false;
  s = ResolveGcsEndpoint(options.endpoint, &url, &is_emulator);
  if (!s.ok()) return s;
  HttpEndpoint endpoint;
  std::string path;
  s = ParseHttpUrl(url, &endpoint, &path);
  if (!s.ok()) return s;
  endpoint.base_path = path == "/" ? "" : path;

  Poco::Net::Context::Ptr tls;
  if (endpoint.https) {
    tls = MakeSystemTlsContext(&s);
    if (!s.ok()) return s;
  }
  std::unique_ptr<TokenSource> tokens;
  if (is_emulator) {
    if (options.auth != GcsOptions::Auth::kNone) {
      DS_LOG(kInfo) << "gcs: emulator endpoint " << url << ": sending no credentials";
    }
  } else {
    TokenFetchOptions fetch;
    fetch.timeouts = HttpTimeouts{options.connect_timeout_ms, options.stall_timeout_ms};
    fetch.max_attempts = options.max_attempts;
    fetch.backoff_initial_ms = options.backoff_initial_ms;
    fetch.backoff_max_ms = options.backoff_max_ms;
    s = MakeTokenSource(options, fetch, &tokens);
    if (!s.ok()) return s;
  }
  *store = std::make_unique<GcsStore>(
      std::make_unique<GcsClient>(options, endpoint, tls, std::move(tokens)));
  return Status::Ok();
}

std::unique_ptr<ArchiveStore> MakeGcsStore(const GcsOptions& options) {
  std::unique_ptr<ArchiveStore> store;
  Status s = CreateGcsStore(options, &store);
  if (s.ok()) return store;
  DS_LOG(kError) << "gcs store: " << s.message();
  return std::make_unique<FailedStore>(s);
}

}  // namespace devserver::storage
