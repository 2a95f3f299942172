#include "fcgi/staging/artifact_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

const std::string kPluginDir = DEVSERVER_PLUGIN_DIR;
const std::string kTestPluginDir = DEVSERVER_REGISTRY_TEST_PLUGIN_DIR;

// A scratch plugin directory, filled with links to built plugins or with junk.
class PluginDirTest : public ::testing::Test {
 protected:
  void Link(const std::string& target, const std::string& name) {
    std::filesystem::create_symlink(target, dir_.Sub(name));
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.Sub(name)) << text;
  }

  testing::TempDir dir_{"artifact_registry_test"};
};

std::vector<std::string> SpecNames(const ArtifactRegistry& registry) {
  std::vector<std::string> names;
  for (const plugin::ArtifactSpec& spec : registry.Specs()) names.push_back(spec.name);
  return names;
}

TEST(ArtifactRegistryTest, LoadsTheShippedPlugins) {
  std::unique_ptr<ArtifactRegistry> registry;
  Status s = ArtifactRegistry::Load(kPluginDir, &registry);
  ASSERT_TRUE(s.ok()) << s.message();
  for (const char* name : {"full_payload", "delta_payloads", "stateful"}) {
    ASSERT_NE(registry->Find(name), nullptr) << name;
    EXPECT_EQ(registry->Find(name)->Name(), "payloads") << name;
  }
  const std::vector<std::pair<const char*, const char*>> owners = {
      {"symbols", "symbols"},      {"symbols_only", "symbols"},   {"autotest", "autotest"},
      {"test_suites", "autotest"}, {"control_files", "autotest"}, {"autotest_packages", "autotest"},
      {"test_image", "images"},    {"base_image", "images"},      {"recovery_image", "images"},
  };
  for (const auto& [artifact, plugin] : owners) {
    ASSERT_NE(registry->Find(artifact), nullptr) << artifact;
    EXPECT_EQ(registry->Find(artifact)->Name(), plugin) << artifact;
  }
  ASSERT_NE(registry->Find("file:x"), nullptr);
  EXPECT_EQ(registry->Find("file:x")->Name(), "files");
  EXPECT_EQ(registry->Find("file:"), nullptr);  // a family needs a member name
  EXPECT_EQ(registry->Find("full_payloadx"), nullptr);
  EXPECT_EQ(registry->Find("nope"), nullptr);

  // Other plugins may sit in the same directory; these must be there, in order.
  std::vector<std::string> names = SpecNames(*registry);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* name : {"delta_payloads", "file:", "full_payload", "stateful"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  EXPECT_TRUE(registry->CheckNames({"full_payload", "file:a.txt", "stateful"}).ok());
}

TEST_F(PluginDirTest, UnknownNamesListWhatIsKnown) {
  Link(kPluginDir + "/devserver_payloads.so", "devserver_payloads.so");
  Link(kPluginDir + "/devserver_files.so", "devserver_files.so");
  std::unique_ptr<ArtifactRegistry> registry;
  ASSERT_TRUE(ArtifactRegistry::Load(dir_.path(), &registry).ok());
  EXPECT_EQ(SpecNames(*registry),
            (std::vector<std::string>{"delta_payloads", "file:", "full_payload", "stateful"}));
  Status s = registry->CheckNames({"stateful", "symbols", "bogus"});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "unknown artifact 'symbols'; known: delta_payloads, file:<name>, full_payload, "
            "stateful");
  EXPECT_EQ(registry->CheckNames({"a\nb"}).message(),
            "unknown artifact 'a\\x0ab'; known: delta_payloads, file:<name>, full_payload, "
            "stateful");
  EXPECT_TRUE(registry->CheckNames({}).ok());
}

TEST_F(PluginDirTest, EmptyDirectoryLoadsNothing) {
  Write("README", "not a plugin");  // only *.so files are plugins
  std::unique_ptr<ArtifactRegistry> registry;
  Status s = ArtifactRegistry::Load(dir_.path(), &registry);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(registry->Specs().empty());
  EXPECT_EQ(registry->Find("full_payload"), nullptr);
  EXPECT_EQ(registry->CheckNames({"full_payload"}).message(),
            "unknown artifact 'full_payload'; known: (none: no plugins loaded)");
}

TEST_F(PluginDirTest, MissingDirectoryIsAnError) {
  std::unique_ptr<ArtifactRegistry> registry;
  Status s = ArtifactRegistry::Load(dir_.Sub("nope"), &registry);
  EXPECT_EQ(s.message(), "plugin directory " + dir_.path() + "/nope: No such file or directory");
  EXPECT_EQ(registry, nullptr);
}

TEST_F(PluginDirTest, TextFileNamedSoIsNotLoadable) {
  Write("x.so", "just text\n");
  std::unique_ptr<ArtifactRegistry> registry;
  Status s = ArtifactRegistry::Load(dir_.path(), &registry);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message().rfind("plugin " + dir_.path() + "/x.so: not loadable: ", 0), 0u)
      << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
  EXPECT_EQ(registry, nullptr);
}

TEST_F(PluginDirTest, LibraryWithoutManifestIsRefused) {
  Link(kTestPluginDir + "/registry_test_no_manifest.so", "a.so");
  std::unique_ptr<ArtifactRegistry> registry;
  EXPECT_EQ(ArtifactRegistry::Load(dir_.path(), &registry).message(),
            "plugin " + dir_.path() + "/a.so: no manifest (pocoBuildManifest is missing)");
}

TEST_F(PluginDirTest, OtherApiVersionIsRefused) {
  Link(kTestPluginDir + "/registry_test_newer_api.so", "newer.so");
  std::unique_ptr<ArtifactRegistry> registry;
  EXPECT_EQ(ArtifactRegistry::Load(dir_.path(), &registry).message(),
            "plugin " + dir_.path() +
                "/newer.so: devserver::registry_test::StandInPlugin implements plugin API " +
                std::to_string(plugin::kPluginApiVersion + 1) + ", devserver implements " +
                std::to_string(plugin::kPluginApiVersion));
}

TEST_F(PluginDirTest, ArtifactClaimedTwiceNamesBothPlugins) {
  Link(kPluginDir + "/devserver_payloads.so", "a_payloads.so");
  Link(kTestPluginDir + "/registry_test_duplicate.so", "b_duplicate.so");
  std::unique_ptr<ArtifactRegistry> registry;
  Status s = ArtifactRegistry::Load(dir_.path(), &registry);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "plugin " + dir_.path() +
                             "/b_duplicate.so: artifact 'full_payload' is also claimed by " +
                             dir_.path() + "/a_payloads.so");
  EXPECT_EQ(registry, nullptr);
}

// Objects are destroyed before their libraries go: loading and dropping the registry again
// and again must neither crash nor leave the previous load's state behind.
TEST(ArtifactRegistryTest, ReloadsCleanly) {
  for (int i = 0; i < 3; ++i) {
    std::unique_ptr<ArtifactRegistry> registry;
    ASSERT_TRUE(ArtifactRegistry::Load(kPluginDir, &registry).ok());
    ASSERT_NE(registry->Find("stateful"), nullptr);
    std::vector<std::string> objects;
    EXPECT_TRUE(registry->Find("stateful")
                    ->Resolve("stateful", {"gs://b/f/B", "B", {"stateful.tgz"}}, &objects)
                    .ok());
    EXPECT_EQ(objects, std::vector<std::string>{"stateful.tgz"});
  }
}

}  // namespace
}  // namespace devserver
