// The GCS store's requests as a server sees them: credentials, encoding of names, headers.
// A recording HTTP server stands in for GCS, the metadata server and the token endpoint.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "fcgi/base/fs.h"
#include "fcgi/storage/crc32c.h"
#include "fcgi/storage/gcs_store.h"
#include "fcgi/storage/test_http_server.h"
#include "fcgi/storage/test_keys.h"
#include "tests/support/temp_dir.h"

namespace devserver::storage {
namespace {

using ::testing::HasSubstr;
using Reply = TestHttpServer::Reply;
using Request = TestHttpServer::Request;

constexpr char kObjectPath[] = "/storage/v1/b/bkt/o/dir%2Fobj.bin";
constexpr char kBody[] = "0123456789abcdef";
constexpr int64_t kGeneration = 42;

Reply TokenReply(const std::string& token) {
  return Reply{200, R"({"access_token":")" + token + R"(","expires_in":3600})"};
}

// GCS for one object, bkt/dir/obj.bin, under an optional path prefix, plus both token
// endpoints. `gate` may answer a storage request instead (e.g. 401 for a stale token).
class MiniGcs {
 public:
  explicit MiniGcs(std::string prefix = "")
      : prefix_(std::move(prefix)), server_([this](const Request& r) { return Handle(r); }) {}

  std::function<std::optional<Reply>(const Request&)> gate;
  std::string media_encoding;  // Content-Encoding of media replies
  bool chunked_media = false;

  TestHttpServer& server() { return server_; }
  std::vector<Request> Storage() { return server_.Requests(prefix_ + "/storage/"); }
  std::vector<Request> MetadataServer() { return server_.Requests("/computeMetadata/"); }
  std::vector<Request> TokenEndpoint() { return server_.Requests("/token"); }

 private:
  Reply Handle(const Request& r) {
    if (r.uri.starts_with("/computeMetadata/")) return TokenReply("meta-" + std::to_string(++n_));
    if (r.uri.starts_with("/token")) return TokenReply("sa-" + std::to_string(++n_));
    if (gate) {
      if (std::optional<Reply> reply = gate(r)) return *reply;
    }
    const std::string object = prefix_ + kObjectPath;
    if (r.uri.starts_with(object + "?alt=media")) {
      Reply reply{200, kBody, "application/octet-stream"};
      reply.headers = {{"x-goog-generation", std::to_string(kGeneration)},
                       {"x-goog-hash", "crc32c=" + Crc32cBase64(Crc32c(kBody, 16))}};
      if (!media_encoding.empty()) reply.headers.emplace_back("Content-Encoding", media_encoding);
      reply.chunked = chunked_media;
      return reply;
    }
    if (r.uri.starts_with(object + "?")) {
      return Reply{200, R"({"bucket":"bkt","name":"dir/obj.bin","size":"16","generation":"42",)"
                        R"("crc32c":")" +
                            Crc32cBase64(Crc32c(kBody, 16)) + "\"}"};
    }
    if (r.uri.starts_with(prefix_ + "/storage/v1/b/bkt/o?")) {
      return Reply{200, R"({"items":[{"name":"dir/obj.bin","size":"16","generation":"42"}]})"};
    }
    return Reply{404, R"({"error":{"code":404,"message":"No such object"}})"};
  }

  const std::string prefix_;
  std::atomic<int> n_{0};
  TestHttpServer server_;
};

ObjectInfo Object() {
  ObjectInfo info;
  info.bucket = "bkt";
  info.name = "dir/obj.bin";
  info.size = 16;
  info.generation = kGeneration;
  info.crc32c = Crc32cBase64(Crc32c(kBody, 16));
  return info;
}

class GcsAuthTest : public ::testing::Test {
 protected:
  static GcsOptions Options(MiniGcs& gcs) {
    GcsOptions o;
    o.endpoint = gcs.server().url();
    o.metadata_host = gcs.server().host_port();
    o.backoff_initial_ms = 1;
    o.backoff_max_ms = 5;
    return o;
  }

  static std::unique_ptr<ArchiveStore> Store(const GcsOptions& options) {
    std::unique_ptr<ArchiveStore> store;
    const Status s = CreateGcsStore(options, &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return store;
  }

  testing::TempDir dir_{"gcs_auth_test"};
};

TEST_F(GcsAuthTest, MetadataServerTokenReachesGcsAndIsCached) {
  MiniGcs gcs;
  GcsOptions options = Options(gcs);
  options.auth = GcsOptions::Auth::kMetadataServer;
  auto store = Store(options);
  ObjectInfo info;
  ASSERT_TRUE(store->Stat("bkt", "dir/obj.bin", &info).ok());
  ASSERT_TRUE(store->Fetch(info, dir_.Sub("out"), nullptr).ok());
  const auto storage = gcs.Storage();
  ASSERT_EQ(storage.size(), 2u);
  EXPECT_EQ(storage[0].Header("authorization"), "Bearer meta-1");
  EXPECT_EQ(storage[1].Header("authorization"), "Bearer meta-1");
  EXPECT_EQ(gcs.MetadataServer().size(), 1u);
}

TEST_F(GcsAuthTest, ServiceAccountTokenReachesGcs) {
  MiniGcs gcs;
  const std::string key_file = dir_.Sub("key.json");
  ASSERT_TRUE(WriteFileAtomically(key_file, ServiceAccountJson(SharedTestKey(), "sa@p",
                                                               gcs.server().url() + "/token"))
                  .ok());
  GcsOptions options = Options(gcs);
  options.auth = GcsOptions::Auth::kServiceAccountKey;
  options.key_file = key_file;
  auto store = Store(options);
  std::vector<ObjectInfo> objects;
  ASSERT_TRUE(store->List("bkt", "dir/", &objects).ok());
  ASSERT_EQ(objects.size(), 1u);
  std::string contents;
  ASSERT_TRUE(store->ReadSmall("bkt", "dir/obj.bin", 100, &contents).ok());
  EXPECT_EQ(contents, kBody);
  for (const auto& r : gcs.Storage()) EXPECT_EQ(r.Header("authorization"), "Bearer sa-1");
  ASSERT_EQ(gcs.TokenEndpoint().size(), 1u);
  EXPECT_EQ(gcs.TokenEndpoint()[0].method, "POST");
}

TEST_F(GcsAuthTest, UnauthorizedGetsExactlyOneFreshToken) {
  MiniGcs gcs;
  gcs.gate = [](const Request& r) -> std::optional<Reply> {
    if (r.Header("authorization") == "Bearer meta-1") return Reply{401, "expired"};
    return std::nullopt;
  };
  GcsOptions options = Options(gcs);
  options.auth = GcsOptions::Auth::kMetadataServer;
  auto store = Store(options);
  ObjectInfo info;
  const Status s = store->Stat("bkt", "dir/obj.bin", &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const auto storage = gcs.Storage();
  ASSERT_EQ(storage.size(), 2u);
  EXPECT_EQ(storage[1].Header("authorization"), "Bearer meta-2");
  EXPECT_EQ(gcs.MetadataServer().size(), 2u);
}

TEST_F(GcsAuthTest, FetchAlsoRefreshesARejectedToken) {
  MiniGcs gcs;
  gcs.gate = [](const Request& r) -> std::optional<Reply> {
    if (r.Header("authorization") == "Bearer meta-1") return Reply{401, "expired"};
    return std::nullopt;
  };
  GcsOptions options = Options(gcs);
  options.auth = GcsOptions::Auth::kMetadataServer;
  const Status s = Store(options)->Fetch(Object(), dir_.Sub("out"), nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(gcs.Storage().size(), 2u);
}

TEST_F(GcsAuthTest, PersistentUnauthorizedIsPermissionDenied) {
  MiniGcs gcs;
  gcs.gate = [](const Request&) -> std::optional<Reply> {
    return Reply{401, R"({"error":{"code":401,"message":"Invalid Credentials"}})"};
  };
  GcsOptions options = Options(gcs);
  options.auth = GcsOptions::Auth::kMetadataServer;
  auto store = Store(options);
  ObjectInfo info;
  const Status s = store->Stat("bkt", "dir/obj.bin", &info);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "gs://bkt/dir/obj.bin: permission denied (HTTP 401: Invalid Credentials)");
  EXPECT_EQ(gcs.Storage().size(), 2u);

  const Status f = store->Fetch(Object(), dir_.Sub("out"), nullptr);
  EXPECT_EQ(f.message(), "gs://bkt/dir/obj.bin: permission denied (HTTP 401: Invalid Credentials)");
  EXPECT_EQ(gcs.Storage().size(), 4u);
}

TEST_F(GcsAuthTest, ForbiddenIsNotRetried) {
  MiniGcs gcs;
  gcs.gate = [](const Request&) -> std::optional<Reply> {
    return Reply{403, R"({"error":{"code":403,"message":"sa@p has no access"}})"};
  };
  GcsOptions options = Options(gcs);
  options.auth = GcsOptions::Auth::kMetadataServer;
  std::vector<ObjectInfo> objects;
  const Status s = Store(options)->List("bkt", "dir/", &objects);
  EXPECT_EQ(s.message(), "gs://bkt/dir/: permission denied (HTTP 403: sa@p has no access)");
  EXPECT_EQ(gcs.Storage().size(), 1u);
}

// The emulator variables are read when the store is made; the server threads never read the
// environment, so changing it here is safe.
class EmulatorEnv {
 public:
  EmulatorEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name_, value.c_str(), 1);  // NOLINT(concurrency-mt-unsafe): see above
  }
  ~EmulatorEnv() {
    unsetenv(name_);  // NOLINT(concurrency-mt-unsafe): see above
  }
  EmulatorEnv(const EmulatorEnv&) = delete;
  EmulatorEnv& operator=(const EmulatorEnv&) = delete;

 private:
  const char* name_;
};

TEST_F(GcsAuthTest, EmulatorNeverGetsCredentials) {
  using ValueOf = std::function<std::string(MiniGcs&)>;
  const ValueOf host_port = [](MiniGcs& g) { return g.server().host_port(); };
  const ValueOf url = [](MiniGcs& g) { return g.server().url(); };
  const std::vector<std::pair<const char*, ValueOf>> variables = {
      {"STORAGE_EMULATOR_HOST", host_port}, {"CLOUD_STORAGE_EMULATOR_ENDPOINT", url}};
  for (const auto& [variable, value_of] : variables) {
    for (GcsOptions::Auth auth :
         {GcsOptions::Auth::kMetadataServer, GcsOptions::Auth::kServiceAccountKey}) {
      MiniGcs gcs;
      EmulatorEnv env(variable, value_of(gcs));
      GcsOptions options = Options(gcs);
      options.endpoint.clear();
      options.auth = auth;
      options.key_file = dir_.Sub("never-read.json");
      auto store = Store(options);
      ObjectInfo info;
      ASSERT_TRUE(store->Stat("bkt", "dir/obj.bin", &info).ok()) << variable;
      ASSERT_TRUE(store->Fetch(info, dir_.Sub("out"), nullptr).ok()) << variable;
      std::string contents;
      ASSERT_TRUE(store->ReadSmall("bkt", "dir/obj.bin", 100, &contents).ok()) << variable;
      const auto requests = gcs.server().Requests();
      EXPECT_EQ(requests.size(), 3u) << variable;  // storage only: no token was fetched
      for (const auto& r : requests) {
        EXPECT_TRUE(r.uri.starts_with("/storage/v1/")) << r.uri;
        EXPECT_EQ(r.Header("authorization"), "") << variable;
      }
    }
  }
}

TEST_F(GcsAuthTest, RequestsEncodeNamesAskForFieldsAndPinGenerations) {
  MiniGcs gcs;
  auto store = Store(Options(gcs));
  ObjectInfo info;
  ASSERT_TRUE(store->Stat("bkt", "dir/obj.bin", &info).ok());
  std::vector<ObjectInfo> objects;
  ASSERT_TRUE(store->List("bkt", "dir/o b", &objects).ok());
  ASSERT_TRUE(store->Fetch(Object(), dir_.Sub("out"), nullptr).ok());
  const auto storage = gcs.Storage();
  ASSERT_EQ(storage.size(), 3u);
  EXPECT_EQ(storage[0].uri, std::string(kObjectPath) +
                                "?fields=bucket%2Cname%2Csize%2Cgeneration%2Ccrc32c%2Cmd5Hash");
  EXPECT_EQ(storage[1].uri,
            "/storage/v1/b/bkt/o?maxResults=1000&fields=nextPageToken%2Citems%28bucket%2Cname%2C"
            "size%2Cgeneration%2Ccrc32c%2Cmd5Hash%29&prefix=dir%2Fo%20b");
  EXPECT_EQ(storage[2].uri, std::string(kObjectPath) + "?alt=media&generation=42");
  EXPECT_EQ(storage[2].Header("accept-encoding"), "gzip");
  EXPECT_EQ(storage[2].Header("range"), "");
  EXPECT_EQ(storage[0].Header("authorization"), "");
}

TEST_F(GcsAuthTest, EndpointPathPrefixIsKept) {
  MiniGcs gcs("/gcs-proxy");
  GcsOptions options = Options(gcs);
  options.endpoint = gcs.server().url() + "/gcs-proxy/";
  ObjectInfo info;
  ASSERT_TRUE(Store(options)->Stat("bkt", "dir/obj.bin", &info).ok());
  ASSERT_EQ(gcs.Storage().size(), 1u);
  EXPECT_TRUE(gcs.Storage()[0].uri.starts_with("/gcs-proxy/storage/v1/b/bkt/o/dir%2Fobj.bin?"));
}

TEST_F(GcsAuthTest, GzipEncodedObjectsAreStoredAsReceived) {
  MiniGcs gcs;
  gcs.media_encoding = "gzip";  // the body is not gzip at all: nothing may try to decode it
  ASSERT_TRUE(Store(Options(gcs))->Fetch(Object(), dir_.Sub("out"), nullptr).ok());
  std::string contents;
  ASSERT_TRUE(ReadFile(dir_.Sub("out"), &contents).ok());
  EXPECT_EQ(contents, kBody);
}

TEST_F(GcsAuthTest, ChunkedMediaIsReadToo) {
  MiniGcs gcs;
  gcs.chunked_media = true;
  const Status s = Store(Options(gcs))->Fetch(Object(), dir_.Sub("out"), nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::string contents;
  ASSERT_TRUE(ReadFile(dir_.Sub("out"), &contents).ok());
  EXPECT_EQ(contents, kBody);
}

TEST_F(GcsAuthTest, ABadKeyFileFailsCreationAndEveryCall) {
  GcsOptions options;
  options.endpoint = "http://127.0.0.1:1";
  options.auth = GcsOptions::Auth::kServiceAccountKey;
  options.key_file = dir_.Sub("missing.json");
  std::unique_ptr<ArchiveStore> store;
  const Status s = CreateGcsStore(options, &store);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "open " + dir_.path() + "/missing.json: No such file or directory");

  ASSERT_TRUE(WriteFileAtomically(dir_.Sub("bad.json"), R"({"type":"service_account"})").ok());
  options.key_file = dir_.Sub("bad.json");
  EXPECT_EQ(CreateGcsStore(options, &store).message(),
            "service-account key " + dir_.path() + "/bad.json: key has no client_email");
  auto failing = MakeGcsStore(options);
  ObjectInfo info;
  EXPECT_EQ(failing->Stat("b", "o", &info).message(),
            "service-account key " + dir_.path() + "/bad.json: key has no client_email");
  EXPECT_EQ(failing->Fetch(Object(), dir_.Sub("out"), nullptr).code(),
            Status::Code::kInvalidArgument);
}

TEST_F(GcsAuthTest, UnreachableEndpointIsRetriedThenFails) {
  std::string url;
  {
    MiniGcs gone;
    url = gone.server().url();
  }
  GcsOptions options;
  options.endpoint = url;
  options.max_attempts = 2;
  options.backoff_initial_ms = 1;
  options.backoff_max_ms = 1;
  ObjectInfo info;
  const Status s = Store(options)->Stat("bkt", "x", &info);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_THAT(s.message(), HasSubstr("gs://bkt/x: giving up after 2 attempts: " + url));
}

}  // namespace
}  // namespace devserver::storage
