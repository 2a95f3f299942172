#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fcgi/base/reason_text.h"
#include "fcgi/staging/artifact_registry.h"
#include "plugins/files/file_name.h"
#include "plugins/files/files_plugin.h"
#include "plugins/testing/scratch_install.h"
#include "tests/support/temp_dir.h"

namespace devserver::files {
namespace {

namespace fs = std::filesystem;

const std::string kBuild = "R19-2003.0.0-a1-b1819";
const std::string kUrl = "gs://chromeos-image-archive/x86-alex-release/" + kBuild;

using plugin::testing::ScratchInstall;
using Names = std::vector<std::string>;

TEST(FilesPluginTest, OffersTheFileFamily) {
  FilesPlugin plugin;
  EXPECT_EQ(plugin.Name(), "files");
  ASSERT_EQ(plugin.Artifacts().size(), 1u);
  EXPECT_EQ(plugin.Artifacts()[0].name, "file:");
}

TEST(FilesPluginTest, ResolvesAndInstallsAPlainObject) {
  FilesPlugin plugin;
  ScratchInstall ctx({kUrl, kBuild, {"UPLOADED", "au-generator.zip", "stateful.tgz"}},
                     ScratchInstall::Fetch::kAll);
  Names objects;
  Status s = plugin.Resolve("file:au-generator.zip", ctx.folder(), &objects);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(objects, Names{"au-generator.zip"});
  s = plugin.Install("file:au-generator.zip", ctx);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ctx.Output(), Names{"au-generator.zip"});
  EXPECT_EQ(ctx.OutputBytes("au-generator.zip"), "bytes of au-generator.zip");
  EXPECT_FALSE(fs::exists(ctx.FetchedPath("au-generator.zip")));
}

TEST(FilesPluginTest, AbsentObjectIsNotFound) {
  FilesPlugin plugin;
  Names objects;
  Status s = plugin.Resolve("file:a.zip", {kUrl, "R19-2003.0.0-a1-b1819", {"b.zip"}}, &objects);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "file:a.zip: no object a.zip in " + kUrl);
}

TEST(FilesPluginTest, RefusesNamesThatAreNotPlain) {
  FilesPlugin plugin;
  // Even when the folder really holds such a name, it is refused before it is looked up.
  plugin::BuildFolder folder{kUrl, "B", {"..", ".hidden", "a/b", "a..b"}};
  for (const std::string& name : std::vector<std::string>{
           "", "..", ".hidden", "a/b", "../x", "a..b", "tab\there", std::string(256, 'x')}) {
    Names objects;
    Status s = plugin.Resolve("file:" + name, folder, &objects);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << name;
    EXPECT_EQ(s.message(), "files: '" + ReasonText(name, 100, true) + "' is not a plain file name");
    // The same answer before anything is queued: the core asks CheckName for a 400.
    EXPECT_EQ(plugin.CheckName("file:" + name).message(), s.message());
  }
  Names objects;
  EXPECT_EQ(plugin.Resolve("file:a\nb", folder, &objects).message(),
            "files: 'a\\x0ab' is not a plain file name");
  EXPECT_TRUE(plugin.CheckName("file:a.b").ok());
  EXPECT_TRUE(IsPlainFileName(std::string(255, 'x')));
}

TEST(FilesPluginTest, InstallChecksTheNameToo) {
  FilesPlugin plugin;
  ScratchInstall ctx({kUrl, kBuild, {"a.zip"}}, ScratchInstall::Fetch::kAll);
  EXPECT_EQ(plugin.Install("file:../a.zip", ctx).message(),
            "files: '../a.zip' is not a plain file name");
  EXPECT_TRUE(ctx.Output().empty());
}

TEST(FilesPluginTest, RefusesOtherArtifacts) {
  FilesPlugin plugin;
  Names objects;
  Status s = plugin.Resolve("full_payload", {kUrl, "B", {}}, &objects);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "files: no artifact 'full_payload' in this plugin");
}

// The same calls through the built devserver_files.so, loaded by the core's registry.
TEST(FilesPluginTest, WorksThroughTheRegistry) {
  std::unique_ptr<ArtifactRegistry> registry;
  Status loaded;
  {  // the plugin directory is gone before the plugin is used: only loading may need it
    const testing::TempDir dir("files_test_plugins");
    fs::create_symlink(std::string(DEVSERVER_PLUGIN_DIR) + "/devserver_files.so",
                       dir.Sub("devserver_files.so"));
    loaded = ArtifactRegistry::Load(dir.path(), &registry);
  }
  ASSERT_TRUE(loaded.ok()) << loaded.message();

  const plugin::ArtifactPlugin* plugin = registry->Find("file:stateful.tgz");
  ASSERT_NE(plugin, nullptr);
  EXPECT_EQ(registry->Find("stateful.tgz"), nullptr);
  ScratchInstall ctx({kUrl, kBuild, {"UPLOADED", "stateful.tgz"}}, ScratchInstall::Fetch::kAll);
  Names objects;
  ASSERT_TRUE(plugin->Resolve("file:stateful.tgz", ctx.folder(), &objects).ok());
  EXPECT_EQ(objects, Names{"stateful.tgz"});
  ASSERT_TRUE(plugin->Install("file:stateful.tgz", ctx).ok());
  EXPECT_EQ(ctx.Output(), Names{"stateful.tgz"});
  EXPECT_EQ(ctx.OutputBytes("stateful.tgz"), "bytes of stateful.tgz");
  EXPECT_EQ(plugin->Resolve("file:nope", ctx.folder(), &objects).message(),
            "file:nope: no object nope in " + kUrl);
  // The registry asks the plugin about family names, so files=a..b is a caller mistake.
  Status checked = registry->CheckNames({"file:ok.txt", "file:a..b"});
  EXPECT_EQ(checked.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(checked.message(), "files: 'a..b' is not a plain file name");
}

}  // namespace
}  // namespace devserver::files
