#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "fcgi/storage/gcs_store.h"

namespace devserver::storage {
namespace {

// Sets (or, given nullopt, clears) an environment variable for one test and restores it.
// These tests run on the main thread with no other thread alive.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded test, see above.
    if (const char* old = std::getenv(name)) old_ = old;
    Set(value);
  }
  ~ScopedEnv() { Set(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void Set(const std::optional<std::string>& value) {
    // NOLINTBEGIN(concurrency-mt-unsafe): single-threaded test, see above.
    if (value) {
      setenv(name_, value->c_str(), 1);
    } else {
      unsetenv(name_);
    }
    // NOLINTEND(concurrency-mt-unsafe)
  }

  const char* name_;
  std::optional<std::string> old_;
};

struct Resolved {
  Status status;
  std::string endpoint;
  bool is_emulator = false;
};

Resolved Resolve(const std::string& configured, const std::optional<std::string>& emulator_host,
                 const std::optional<std::string>& emulator_endpoint) {
  ScopedEnv host("STORAGE_EMULATOR_HOST", emulator_host);
  ScopedEnv endpoint("CLOUD_STORAGE_EMULATOR_ENDPOINT", emulator_endpoint);
  Resolved r;
  r.is_emulator = true;  // must be overwritten
  r.status = ResolveGcsEndpoint(configured, &r.endpoint, &r.is_emulator);
  return r;
}

TEST(GcsEndpointTest, DefaultsToProductionGcs) {
  const Resolved r = Resolve("", std::nullopt, std::nullopt);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.endpoint, "https://storage.googleapis.com");
  EXPECT_FALSE(r.is_emulator);
}

TEST(GcsEndpointTest, ConfiguredEndpointWinsOverTheEnvironment) {
  const Resolved r = Resolve("https://gcs.example.com:8443/", "127.0.0.1:1", "http://h:2");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.endpoint, "https://gcs.example.com:8443");
  EXPECT_FALSE(r.is_emulator);
}

TEST(GcsEndpointTest, EmulatorHostAcceptsHostPort) {
  const Resolved r = Resolve("", "localhost:9023", "http://other:1");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.endpoint, "http://localhost:9023");
  EXPECT_TRUE(r.is_emulator);
}

TEST(GcsEndpointTest, EmulatorHostAcceptsUrls) {
  const Resolved r = Resolve("", "http://127.0.0.1:4443/", std::nullopt);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.endpoint, "http://127.0.0.1:4443");
  EXPECT_TRUE(r.is_emulator);
}

TEST(GcsEndpointTest, EmulatorEndpointIsTheLastResort) {
  const Resolved r = Resolve("", "", "http://emu:9000");
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.endpoint, "http://emu:9000");
  EXPECT_TRUE(r.is_emulator);
}

TEST(GcsEndpointTest, RejectsWhatIsNotAnHttpUrl) {
  EXPECT_EQ(Resolve("storage.example.com", std::nullopt, std::nullopt).status.code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(Resolve("ftp://x", std::nullopt, std::nullopt).status.message(),
            "gcs endpoint: 'ftp://x' is not an http:// or https:// URL");
  EXPECT_EQ(Resolve("http://x/?a=b", std::nullopt, std::nullopt).status.code(),
            Status::Code::kInvalidArgument);
  const Resolved bad = Resolve("", "ftp://x", std::nullopt);
  EXPECT_EQ(bad.status.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(bad.status.message(),
            "STORAGE_EMULATOR_HOST: 'ftp://x' is not an http:// or https:// URL");
}

}  // namespace
}  // namespace devserver::storage
