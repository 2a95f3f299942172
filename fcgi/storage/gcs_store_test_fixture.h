// The GCS store's tests against the fake GCS server (tests/fakegcs): one server per test
// program, reset before each test; objects put with their metadata as a listing would give it.
#pragma once

#include <Poco/Base64Encoder.h>
#include <Poco/MD5Engine.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fcgi/base/fs.h"
#include "fcgi/storage/crc32c.h"
#include "fcgi/storage/gcs_store.h"
#include "tests/fakegcs/fakegcs_process.h"
#include "tests/support/temp_dir.h"

namespace devserver::storage {

using fakegcs::FakeGcsProcess;
using fakegcs::Fault;

inline constexpr char kBucket[] = "bkt";

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

inline std::string Md5Base64(const std::string& bytes) {
  Poco::MD5Engine md5;
  md5.update(bytes);
  std::ostringstream out;
  Poco::Base64Encoder encoder(out);
  const auto& digest = md5.digest();
  encoder.write(reinterpret_cast<const char*>(digest.data()),
                static_cast<std::streamsize>(digest.size()));
  encoder.close();
  return out.str();
}

inline std::string Contents(const std::string& path) {
  std::string out;
  const Status s = ReadFile(path, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

class RecordingObserver : public FetchObserver {
 public:
  void OnProgress(uint64_t done, uint64_t total) override {
    progress.emplace_back(done, total);
    if (on_progress) on_progress(done);
  }
  bool Cancelled() override { return cancel_after_first_progress && !progress.empty(); }

  std::vector<std::pair<uint64_t, uint64_t>> progress;
  std::function<void(uint64_t)> on_progress;
  bool cancel_after_first_progress = false;
};

class FakeGcsStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FakeGcsProcess::Options options;
    options.binary = FAKEGCS_BIN;
    fake_ = new FakeGcsProcess(options);
  }
  static void TearDownTestSuite() {
    delete fake_;
    fake_ = nullptr;
  }

  void SetUp() override { fake_->Reset(); }

  static GcsOptions Options() {
    GcsOptions o;
    o.endpoint = fake_->endpoint();
    o.backoff_initial_ms = 5;
    o.backoff_max_ms = 20;
    return o;
  }

  static std::unique_ptr<ArchiveStore> Store(const GcsOptions& options = Options()) {
    std::unique_ptr<ArchiveStore> store;
    const Status s = CreateGcsStore(options, &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return store;
  }

  // Puts an object and returns the metadata a caller would have listed.
  static ObjectInfo Put(const std::string& name, const std::string& bytes) {
    ObjectInfo info;
    info.bucket = kBucket;
    info.name = name;
    info.size = bytes.size();
    info.generation = fake_->PutObject(kBucket, name, bytes);
    info.crc32c = Crc32cBase64(Crc32c(bytes.data(), bytes.size()));
    info.md5 = Md5Base64(bytes);
    return info;
  }

  static uint64_t MediaGets(const std::string& name) {
    return fake_->Counters().Of(std::string(kBucket) + "/" + name).media;
  }

  std::string Dest(const std::string& leaf = "out.bin") const { return dir_.Sub(leaf); }

  static FakeGcsProcess* fake_;  // one server for the whole test program
  testing::TempDir dir_{"gcs_store_test"};
};

inline FakeGcsProcess* FakeGcsStoreTest::fake_ = nullptr;

}  // namespace devserver::storage
