#include "fcgi/config/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "fcgi/base/fs.h"
#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

class ConfigFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    std::string path = dir_.Sub("devserver.ini");
    EXPECT_TRUE(WriteFileAtomically(path, text).ok());
    return path;
  }
  testing::TempDir dir_{"devserver-config-test"};
};

TEST(ConfigTest, DefaultsAreTheDocumentedOnes) {
  Config c = DefaultConfig();
  EXPECT_EQ(c.socket, "/run/devserver/fcgi.sock");
  EXPECT_EQ(c.socket_mode, 0660u);
  EXPECT_EQ(c.threads, 256);
  EXPECT_EQ(c.workers, 0);
  EXPECT_GE(c.EffectiveWorkers(), 1);
  EXPECT_EQ(c.static_root, "/var/lib/devserver/static");
  ASSERT_EQ(c.allowed_buckets.size(), 1u);
  EXPECT_EQ(c.allowed_buckets[0], "chromeos-image-archive");
  EXPECT_FALSE(c.test_endpoints);
  EXPECT_TRUE(ValidateConfig(c).ok());
}

TEST(ConfigTest, KeyNamesAreUniqueSoEveryKeyHasAFlag) {
  std::set<std::string> names;
  for (const ConfigKey& key : ConfigKeys()) {
    EXPECT_TRUE(names.insert(key.name).second) << key.name;
    EXPECT_NE(std::string(key.doc), "") << key.name;
  }
}

TEST(ConfigTest, RenderedConfigParsesBackToTheSameValues) {
  Config c = DefaultConfig();
  ASSERT_TRUE(ApplyConfigOverride("workers", "3", &c).ok());
  ASSERT_TRUE(ApplyConfigOverride("allowed-buckets", "a-b, c.d", &c).ok());
  const testing::TempDir dir("devserver-config-render");
  std::string path = dir.Sub("c.ini");
  ASSERT_TRUE(WriteFileAtomically(path, RenderConfig(c)).ok());
  Config back = DefaultConfig();
  Status s = LoadConfigFile(path, &back);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(RenderConfig(back), RenderConfig(c));
  EXPECT_EQ(back.workers, 3);
  EXPECT_EQ(back.allowed_buckets, (std::vector<std::string>{"a-b", "c.d"}));
}

TEST_F(ConfigFileTest, BadValueNamesFileLineSectionAndKey) {
  Config c = DefaultConfig();
  Status s = LoadConfigFile(Write("[server]\nthreads = 8\nworkers = lots\n"), &c);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            dir_.path() + "/devserver.ini:3: [server] workers: 'lots' is not a whole number");
}

TEST_F(ConfigFileTest, UnknownAndRepeatedKeysAreErrors) {
  Config c = DefaultConfig();
  Status s = LoadConfigFile(Write("[server]\nwrokers = 2\n"), &c);
  EXPECT_NE(s.message().find("[server] wrokers: unknown key"), std::string::npos) << s.message();
  s = LoadConfigFile(Write("[paths]\nworkers = 2\n"), &c);
  EXPECT_NE(s.message().find("[paths] workers: unknown key"), std::string::npos) << s.message();
  s = LoadConfigFile(Write("[server]\nworkers = 2\nworkers = 3\n"), &c);
  EXPECT_NE(s.message().find("given more than once"), std::string::npos) << s.message();
}

TEST_F(ConfigFileTest, ValuesAreChecked) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"[server]\nthreads = 0\n", "[server] threads: '0' is outside 1..1024"},
      {"[server]\nsocket_mode = 999\n", "[server] socket_mode: '999' is not an octal mode"},
      {"[server]\nsocket_group = no-such-group-xyz\n", "no such group 'no-such-group-xyz'"},
      {"[server]\nsocket = fcgi.sock\n", "neither an absolute path nor host:port"},
      {"[server]\nlog_level = loud\n", "'loud' is not one of"},
      {"[server]\ntest_endpoints = maybe\n", "'maybe' is not true or false"},
      {"[paths]\nstatic_root = relative/dir\n", "'relative/dir' is not an absolute path"},
      {"[storage]\nallowed_buckets = Bad/Bucket\n", "'Bad/Bucket' is not a bucket name"},
      {"[storage]\ngs_endpoint = ftp://x\n", "not an http:// or https:// URL"},
      {"[cache]\nmax_cache_size = 5GB\n", "'5GB' is not a size"},
      {"[cache]\nmax_cache_size = -1\n", "'-1' is not a size"},
      {"[cache]\nmax_cache_size = 99999999999T\n", "is too large"},
  };
  for (const Case& c : cases) {
    Config config = DefaultConfig();
    Status s = LoadConfigFile(Write(c.text), &config);
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << c.text << " -> " << s.message();
  }
}

TEST(ConfigTest, SizesTakeBinaryUnitsAndRenderInTheLargestExactOne) {
  Config c = DefaultConfig();
  ASSERT_TRUE(ApplyConfigOverride("max-cache-size", "500G", &c).ok());
  EXPECT_EQ(c.cache_max_bytes, int64_t{500} << 30);
  ASSERT_TRUE(ApplyConfigOverride("max-cache-size", "3m", &c).ok());
  EXPECT_EQ(c.cache_max_bytes, 3 << 20);
  ASSERT_TRUE(ApplyConfigOverride("max-cache-size", "1536K", &c).ok());
  EXPECT_EQ(c.cache_max_bytes, 1536 << 10);
  EXPECT_NE(RenderConfig(c).find("max_cache_size = 1536K\n"), std::string::npos);
  ASSERT_TRUE(ApplyConfigOverride("max-cache-size", "2048", &c).ok());
  EXPECT_NE(RenderConfig(c).find("max_cache_size = 2K\n"), std::string::npos);
}

TEST(ConfigTest, OverridesUseDashedOrUnderscoredNames) {
  Config c = DefaultConfig();
  ASSERT_TRUE(ApplyConfigOverride("static-root", "/srv/static", &c).ok());
  ASSERT_TRUE(ApplyConfigOverride("drain_timeout", "7", &c).ok());
  EXPECT_EQ(c.static_root, "/srv/static");
  EXPECT_EQ(c.drain_timeout_s, 7);
  EXPECT_EQ(ApplyConfigOverride("no-such-key", "1", &c).message(), "unknown option --no-such-key");
  EXPECT_EQ(ApplyConfigOverride("workers", "-1", &c).message(),
            "--workers: '-1' is outside 0..256");
}

// The README is the operator's reference: every key must be documented there.
TEST(ConfigTest, ReadmeDocumentsEveryKey) {
  std::string readme;
  ASSERT_TRUE(ReadFile(DEVSERVER_SOURCE_DIR "/README.md", &readme).ok());
  for (const ConfigKey& key : ConfigKeys()) {
    std::string row = "| `" + std::string(key.section) + "` | `" + key.name + "` |";
    EXPECT_NE(readme.find(row), std::string::npos) << "README lacks a row starting " << row;
  }
}

}  // namespace
}  // namespace devserver
