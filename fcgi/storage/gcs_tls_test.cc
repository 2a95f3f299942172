// HTTPS: downloads through TLS read the body straight from the TLS socket, and certificates are
// verified. The server's certificate is made at test time with the openssl tool and trusted
// through SSL_CERT_FILE, which OpenSSL reads when the store's TLS context loads the default CAs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "fcgi/base/fs.h"
#include "fcgi/storage/crc32c.h"
#include "fcgi/storage/gcs_store.h"
#include "fcgi/storage/test_http_server.h"
#include "tests/support/temp_dir.h"

namespace devserver::storage {
namespace {

using ::testing::HasSubstr;
using Reply = TestHttpServer::Reply;
using Request = TestHttpServer::Request;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

class GcsTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("gcs_tls_test");
    tls_.cert_file = dir_->Sub("cert.pem");
    tls_.key_file = dir_->Sub("key.pem");
    const std::string command =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        tls_.key_file + " -out " + tls_.cert_file + " >/dev/null 2>&1";
    // NOLINTNEXTLINE(concurrency-mt-unsafe,cert-env33-c): set-up runs before any thread.
    have_cert_ = std::system(command.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!have_cert_) GTEST_SKIP() << "the openssl tool could not make a test certificate";
  }

  // Makes a store for `url`, trusting the test certificate when `trust` says so.
  static Status MakeStore(const std::string& url, bool trust,
                          std::unique_ptr<ArchiveStore>* store) {
    // The servers' threads never read the environment; OpenSSL reads it here, once.
    // NOLINTBEGIN(concurrency-mt-unsafe)
    if (trust) setenv("SSL_CERT_FILE", tls_.cert_file.c_str(), 1);
    GcsOptions options;
    options.endpoint = url;
    options.backoff_initial_ms = 1;
    options.backoff_max_ms = 1;
    Status s = CreateGcsStore(options, store);
    unsetenv("SSL_CERT_FILE");
    // NOLINTEND(concurrency-mt-unsafe)
    return s;
  }

  static testing::TempDir* dir_;
  static TestHttpServer::Tls tls_;
  static bool have_cert_;
};

testing::TempDir* GcsTlsTest::dir_ = nullptr;
TestHttpServer::Tls GcsTlsTest::tls_;
bool GcsTlsTest::have_cert_ = false;

TEST_F(GcsTlsTest, DownloadsOverVerifiedTls) {
  const std::string bytes = RandomBytes((5 << 20) + 11, 1);
  const std::string crc = Crc32cBase64(Crc32c(bytes.data(), bytes.size()));
  TestHttpServer server(
      [&](const Request& r) {
        if (r.uri.find("alt=media") != std::string::npos) {
          Reply reply{200, bytes, "application/octet-stream"};
          reply.headers = {{"x-goog-generation", "7"}, {"x-goog-hash", "crc32c=" + crc}};
          return reply;
        }
        return Reply{200, R"({"name":"big.bin","size":")" + std::to_string(bytes.size()) +
                              R"(","generation":"7","crc32c":")" + crc + "\"}"};
      },
      &tls_);
  std::unique_ptr<ArchiveStore> store;
  ASSERT_TRUE(MakeStore(server.url(), true, &store).ok());
  ObjectInfo info;
  Status s = store->Stat("bkt", "big.bin", &info);
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = store->Fetch(info, dir_->Sub("out"), nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::string contents;
  ASSERT_TRUE(ReadFile(dir_->Sub("out"), &contents).ok());
  EXPECT_EQ(contents.size(), bytes.size());
  EXPECT_TRUE(contents == bytes);
  EXPECT_EQ(server.Requests().size(), 2u);
}

TEST_F(GcsTlsTest, UntrustedCertificateFailsWithoutRetry) {
  TestHttpServer server([](const Request&) { return Reply{}; }, &tls_);
  std::unique_ptr<ArchiveStore> store;
  ASSERT_TRUE(MakeStore(server.url(), false, &store).ok());
  ObjectInfo info;
  const Status s = store->Stat("bkt", "x.bin", &info);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_THAT(s.message(), HasSubstr("gs://bkt/x.bin: " + server.url() + ": "));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("giving up")));
  EXPECT_TRUE(server.Requests().empty());
}

}  // namespace
}  // namespace devserver::storage
