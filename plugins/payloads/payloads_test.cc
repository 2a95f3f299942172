#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fcgi/staging/artifact_registry.h"
#include "plugins/payloads/payloads_plugin.h"
#include "plugins/testing/scratch_install.h"
#include "tests/support/temp_dir.h"

namespace devserver::payloads {
namespace {

namespace fs = std::filesystem;

const std::string kBuild = "R19-2003.0.0-a1-b1819";
const std::string kUrl = "gs://chromeos-image-archive/peach_pit-release/" + kBuild;
const std::string kFull = "chromeos_" + kBuild + "_peach_pit_full_dev.bin";
const std::string kNToN = "chromeos_" + kBuild + "_" + kBuild + "_peach_pit_delta_dev.bin";
const std::string kMToN = "chromeos_R18-1900.0.0-a1-b1700_" + kBuild + "_peach_pit_delta_dev.bin";

using plugin::testing::ScratchInstall;

plugin::BuildFolder Folder(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return {kUrl, kBuild, std::move(names)};
}

using Names = std::vector<std::string>;

TEST(PayloadsPluginTest, OffersThreeArtifacts) {
  PayloadsPlugin plugin;
  EXPECT_EQ(plugin.Name(), "payloads");
  EXPECT_EQ(plugin.ApiVersion(), plugin::kPluginApiVersion);
  Names names;
  for (const auto& spec : plugin.Artifacts()) {
    names.push_back(spec.name);
    EXPECT_FALSE(spec.summary.empty());
  }
  EXPECT_EQ(names, (Names{"full_payload", "delta_payloads", "stateful"}));
}

TEST(PayloadsPluginTest, RefusesOtherArtifacts) {
  PayloadsPlugin plugin;
  Names objects;
  Status s = plugin.Resolve("symbols", Folder({}), &objects);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "payloads: no artifact 'symbols' in this plugin");
}

TEST(FullPayloadTest, ResolvesTheOneFullPayload) {
  PayloadsPlugin plugin;
  Names objects;
  Status s = plugin.Resolve(
      "full_payload",
      Folder({"UPLOADED", kFull, kNToN, kMToN, "stateful.tgz", "old/chromeos_x_full_y.bin"}),
      &objects);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(objects, Names{kFull});
}

TEST(FullPayloadTest, NoMatchIsNotFound) {
  PayloadsPlugin plugin;
  Names objects;
  Status s = plugin.Resolve("full_payload", Folder({"UPLOADED", kNToN, "stateful.tgz"}), &objects);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "full_payload: no object matches chromeos_*_full_*.bin in " + kUrl);
}

TEST(FullPayloadTest, TwoMatchesFail) {
  PayloadsPlugin plugin;
  Names objects;
  const std::string other = "chromeos_" + kBuild + "_peach_pit_full_test.bin";
  Status s = plugin.Resolve("full_payload", Folder({kFull, other}), &objects);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "full_payload: 2 objects match chromeos_*_full_*.bin in " + kUrl +
                             ", expected one: " + kFull + ", " + other);
}

TEST(FullPayloadTest, InstallsAsUpdateGz) {
  PayloadsPlugin plugin;
  ScratchInstall ctx(Folder({"UPLOADED", kFull, kNToN, "stateful.tgz"}));
  ctx.FetchAll();
  Status s = plugin.Install("full_payload", ctx);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ctx.Output(), Names{"update.gz"});
  EXPECT_EQ(ctx.OutputBytes("update.gz"), "bytes of " + kFull);
  EXPECT_FALSE(fs::exists(ctx.FetchedPath(kFull)));  // renamed, not copied
}

TEST(FullPayloadTest, MissingFetchedFileIsAnIOError) {
  PayloadsPlugin plugin;
  ScratchInstall ctx(Folder({kFull}));
  Status s = plugin.Install("full_payload", ctx);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  // The core puts the artifact in front of the cause.
  EXPECT_EQ(s.message(), "rename " + ctx.FetchedPath(kFull) + " to " + ctx.OutputDir() +
                             "/update.gz: No such file or directory");
}

TEST(StatefulTest, ResolvesAndInstallsAsIs) {
  PayloadsPlugin plugin;
  ScratchInstall ctx(Folder({kFull, "stateful.tgz"}));
  Names objects;
  ASSERT_TRUE(plugin.Resolve("stateful", ctx.folder(), &objects).ok());
  EXPECT_EQ(objects, Names{"stateful.tgz"});
  ctx.FetchAll();
  ASSERT_TRUE(plugin.Install("stateful", ctx).ok());
  EXPECT_EQ(ctx.Output(), Names{"stateful.tgz"});
  EXPECT_EQ(ctx.OutputBytes("stateful.tgz"), "bytes of stateful.tgz");
}

TEST(StatefulTest, AbsentIsNotFound) {
  PayloadsPlugin plugin;
  Names objects;
  Status s = plugin.Resolve("stateful", Folder({kFull, "stateful.tgz.old"}), &objects);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "stateful: no object stateful.tgz in " + kUrl);
}

TEST(DeltaPayloadsTest, ResolvesOnlyDeltasToThisBuild) {
  PayloadsPlugin plugin;
  Names objects;
  Status s = plugin.Resolve(
      "delta_payloads",
      Folder({kFull, kNToN, kMToN, "stateful.tgz",
              // from this build to another one, and between two others
              "chromeos_" + kBuild + "_R20-2100.0.0-a1-b1900_peach_pit_delta_dev.bin",
              "chromeos_R17-1.0.0_R18-2.0.0_peach_pit_delta_dev.bin",
              // right builds, not a delta; no board; in a subfolder
              "chromeos_" + kBuild + "_" + kBuild + "_peach_pit_full_dev.bin",
              "chromeos_" + kBuild + "_" + kBuild + "_delta_dev.bin",
              "au/chromeos_" + kBuild + "_" + kBuild + "_x_delta_dev.bin"}),
      &objects);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(objects, (Names{kNToN, kMToN}));
}

TEST(DeltaPayloadsTest, InstallsIntoAuDirsWithStatefulLinks) {
  PayloadsPlugin plugin;
  ScratchInstall ctx(Folder({kFull, kNToN, kMToN, "stateful.tgz"}));
  ctx.FetchAll();
  Status s = plugin.Install("delta_payloads", ctx);
  ASSERT_TRUE(s.ok()) << s.message();
  const std::string nton = "au/" + kBuild + "_nton/";
  const std::string mton = "au/" + kBuild + "_mton/";
  EXPECT_EQ(ctx.Output(), (Names{mton + "stateful.tgz -> ../../stateful.tgz", mton + "update.gz",
                                 nton + "stateful.tgz -> ../../stateful.tgz", nton + "update.gz"}));
  EXPECT_EQ(ctx.OutputBytes(nton + "update.gz"), "bytes of " + kNToN);
  EXPECT_EQ(ctx.OutputBytes(mton + "update.gz"), "bytes of " + kMToN);
}

TEST(DeltaPayloadsTest, OnlyWhatExists) {
  PayloadsPlugin plugin;
  ScratchInstall ctx(Folder({kFull, kMToN}));
  Names objects;
  ASSERT_TRUE(plugin.Resolve("delta_payloads", ctx.folder(), &objects).ok());
  EXPECT_EQ(objects, Names{kMToN});
  ctx.FetchAll();
  ASSERT_TRUE(plugin.Install("delta_payloads", ctx).ok());
  const std::string mton = "au/" + kBuild + "_mton/";
  EXPECT_EQ(ctx.Output(), (Names{mton + "stateful.tgz -> ../../stateful.tgz", mton + "update.gz"}));
}

TEST(DeltaPayloadsTest, NoDeltasIsFine) {
  PayloadsPlugin plugin;
  ScratchInstall ctx(Folder({kFull, "stateful.tgz"}));
  Names objects = {"stale"};
  ASSERT_TRUE(plugin.Resolve("delta_payloads", ctx.folder(), &objects).ok());
  EXPECT_TRUE(objects.empty());
  ASSERT_TRUE(plugin.Install("delta_payloads", ctx).ok());
  EXPECT_TRUE(ctx.Output().empty());
}

TEST(DeltaPayloadsTest, TwoOfAKindFail) {
  PayloadsPlugin plugin;
  Names objects;
  const std::string nton2 = "chromeos_" + kBuild + "_" + kBuild + "_peach_pit_delta_test.bin";
  Status s = plugin.Resolve("delta_payloads", Folder({kNToN, nton2, kMToN}), &objects);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "delta_payloads: 2 N-to-N deltas to " + kBuild + " in " + kUrl +
                             ", expected at most one: " + kNToN + ", " + nton2);

  const std::string mton2 = "chromeos_R18-1950.0.0-a1-b1750_" + kBuild + "_peach_pit_delta_dev.bin";
  s = plugin.Resolve("delta_payloads", Folder({kNToN, kMToN, mton2}), &objects);
  EXPECT_EQ(s.code(), Status::Code::kFailed);
  EXPECT_EQ(s.message(), "delta_payloads: 2 M-to-N deltas to " + kBuild + " in " + kUrl +
                             ", expected at most one: " + kMToN + ", " + mton2);
}

// The same calls through the built devserver_payloads.so, loaded by the core's registry.
TEST(PayloadsPluginTest, WorksThroughTheRegistry) {
  std::unique_ptr<ArtifactRegistry> registry;
  Status loaded;
  {  // the plugin directory is gone before the plugin is used: only loading may need it
    const testing::TempDir dir("payloads_test_plugins");
    fs::create_symlink(std::string(DEVSERVER_PLUGIN_DIR) + "/devserver_payloads.so",
                       dir.Sub("devserver_payloads.so"));
    loaded = ArtifactRegistry::Load(dir.path(), &registry);
  }
  ASSERT_TRUE(loaded.ok()) << loaded.message();

  ScratchInstall ctx(Folder({"UPLOADED", kFull, kNToN, "stateful.tgz"}));
  ctx.FetchAll();
  for (const char* artifact : {"full_payload", "delta_payloads", "stateful"}) {
    const plugin::ArtifactPlugin* plugin = registry->Find(artifact);
    ASSERT_NE(plugin, nullptr) << artifact;
    Names objects;
    ASSERT_TRUE(plugin->Resolve(artifact, ctx.folder(), &objects).ok()) << artifact;
    Status s = plugin->Install(artifact, ctx);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  const std::string nton = "au/" + kBuild + "_nton/";
  EXPECT_EQ(ctx.Output(), (Names{nton + "stateful.tgz -> ../../stateful.tgz", nton + "update.gz",
                                 "stateful.tgz", "update.gz"}));
  EXPECT_EQ(ctx.OutputBytes("update.gz"), "bytes of " + kFull);
  EXPECT_EQ(ctx.OutputBytes(nton + "stateful.tgz"), "bytes of stateful.tgz");  // link resolves

  Names objects;
  Status missing = registry->Find("full_payload")->Resolve("full_payload", Folder({}), &objects);
  EXPECT_EQ(missing.message(), "full_payload: no object matches chromeos_*_full_*.bin in " + kUrl);
}

}  // namespace
}  // namespace devserver::payloads
