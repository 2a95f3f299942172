#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugins/images/images_plugin.h"
#include "plugins/testing/scratch_install.h"

namespace devserver::images {
namespace {

using devserver::testing::Compression;
using devserver::testing::TestFile;
using plugin::testing::ScratchInstall;
using plugin::testing::TarWith;
using plugin::testing::Zip;
using Names = std::vector<std::string>;

const std::string kBuild = "R19-2003.0.0-a1-b1819";
const std::string kUrl = "gs://chromeos-image-archive/x86-alex-release/" + kBuild;

// Mostly zeros, like a disk image.
std::string Image(char tag) {
  std::string bytes(256 << 10, '\0');
  bytes[0] = tag;
  bytes[bytes.size() - 1] = tag;
  return bytes;
}

std::string ImageZip(ScratchInstall& ctx) {
  return ctx.FetchArchive("image.zip",
                          {TestFile("chromiumos_test_image.bin", Image('t')),
                           TestFile("chromiumos_base_image.bin", Image('b')),
                           TestFile("recovery_image.bin", Image('r')), TestFile("config.txt", "x")},
                          Zip());
}

TEST(ImagesPluginTest, OffersThreeImages) {
  ImagesPlugin plugin;
  EXPECT_EQ(plugin.Name(), "images");
  Names names;
  for (const auto& spec : plugin.Artifacts()) names.push_back(spec.name);
  EXPECT_EQ(names, (Names{"test_image", "base_image", "recovery_image"}));
}

TEST(ImagesPluginTest, TheTarXzWhenUploaded) {
  ImagesPlugin plugin;
  ScratchInstall ctx({kUrl, kBuild, {"chromiumos_test_image.tar.xz", "image.zip"}});
  Names objects;
  ASSERT_TRUE(plugin.Resolve("test_image", ctx.folder(), &objects).ok());
  EXPECT_EQ(objects, Names{"chromiumos_test_image.tar.xz"});
  ASSERT_EQ(ctx.FetchArchive("chromiumos_test_image.tar.xz",
                             {TestFile("chromiumos_test_image.bin", Image('t'))},
                             TarWith(Compression::kXz)),
            "");
  ASSERT_TRUE(plugin.Install("test_image", ctx).ok());
  EXPECT_EQ(ctx.Output(), Names{"chromiumos_test_image.bin"});
  EXPECT_EQ(ctx.OutputBytes("chromiumos_test_image.bin"), Image('t'));
}

TEST(ImagesPluginTest, ElseTheMemberOfImageZip) {
  ImagesPlugin plugin;
  for (const auto& [artifact, member, tag] :
       std::vector<std::tuple<std::string, std::string, char>>{
           {"test_image", "chromiumos_test_image.bin", 't'},
           {"base_image", "chromiumos_base_image.bin", 'b'},
           {"recovery_image", "recovery_image.bin", 'r'}}) {
    ScratchInstall ctx({kUrl, kBuild, {"UPLOADED", "image.zip"}});
    Names objects;
    ASSERT_TRUE(plugin.Resolve(artifact, ctx.folder(), &objects).ok()) << artifact;
    EXPECT_EQ(objects, Names{"image.zip"});
    ASSERT_EQ(ImageZip(ctx), "");
    Status s = plugin.Install(artifact, ctx);
    ASSERT_TRUE(s.ok()) << artifact << ": " << s.message();
    EXPECT_EQ(ctx.Output(), Names{member}) << artifact;
    EXPECT_EQ(ctx.OutputBytes(member), Image(tag)) << artifact;
  }
}

TEST(ImagesPluginTest, AZipWithoutTheImageFails) {
  ImagesPlugin plugin;
  ScratchInstall ctx({kUrl, kBuild, {"image.zip"}});
  ASSERT_EQ(
      ctx.FetchArchive("image.zip", {TestFile("chromiumos_test_image.bin", Image('t'))}, Zip()),
      "");
  Status s = plugin.Install("recovery_image", ctx);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("recovery_image.bin"), std::string::npos) << s.message();
  EXPECT_EQ(ctx.Output(), Names{});
  Names objects;
  EXPECT_EQ(plugin.Resolve("base_image", {kUrl, kBuild, {"stateful.tgz"}}, &objects).message(),
            "base_image: no object chromiumos_base_image.tar.xz or image.zip in " + kUrl);
}

}  // namespace
}  // namespace devserver::images
