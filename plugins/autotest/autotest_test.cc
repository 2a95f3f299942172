#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugins/autotest/autotest_plugin.h"
#include "plugins/testing/scratch_install.h"

namespace devserver::autotest {
namespace {

using devserver::testing::Compression;
using devserver::testing::TestDir;
using devserver::testing::TestFile;
using devserver::testing::TestSymlink;
using plugin::testing::ScratchInstall;
using plugin::testing::TarWith;
using Names = std::vector<std::string>;

const std::string kBuild = "R19-2003.0.0-a1-b1819";
const std::string kUrl = "gs://chromeos-image-archive/x86-alex-release/" + kBuild;

std::vector<devserver::testing::TestEntry> AutotestTree() {
  return {TestDir("autotest"),
          TestFile("autotest/global_config.ini", "[CLIENT]\n"),
          TestFile("autotest/server/autoserv", "#!/usr/bin/python\n", 0755),
          TestFile("autotest/server/site_tests/dummy/control", "NAME = 'dummy'\n"),
          TestSymlink("autotest/server/site_tests/dummy/control.alias", "control"),
          TestFile("autotest/test_suites/control.bvt", "old copy of the suite\n"),
          TestFile("autotest/test_suites/dependency_info", "{}\n")};
}

TEST(AutotestPluginTest, OffersFourArtifacts) {
  AutotestPlugin plugin;
  EXPECT_EQ(plugin.Name(), "autotest");
  Names names;
  for (const auto& spec : plugin.Artifacts()) names.push_back(spec.name);
  EXPECT_EQ(names, (Names{"autotest", "test_suites", "control_files", "autotest_packages"}));
}

TEST(AutotestPluginTest, AutotestPrefersTheTarAndLeavesTestSuitesOut) {
  AutotestPlugin plugin;
  ScratchInstall ctx({kUrl, kBuild, {"autotest.tar", "autotest.tar.bz2", "test_suites.tar.bz2"}});
  Names objects;
  ASSERT_TRUE(plugin.Resolve("autotest", ctx.folder(), &objects).ok());
  EXPECT_EQ(objects, Names{"autotest.tar"});
  ASSERT_EQ(ctx.FetchArchive("autotest.tar", AutotestTree()), "");
  Status s = plugin.Install("autotest", ctx);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ctx.Output(), (Names{"autotest/global_config.ini", "autotest/server/autoserv",
                                 "autotest/server/site_tests/dummy/control",
                                 "autotest/server/site_tests/dummy/control.alias -> control"}));
  EXPECT_EQ(ctx.OutputBytes("autotest/server/site_tests/dummy/control"), "NAME = 'dummy'\n");
}

TEST(AutotestPluginTest, AutotestFallsBackToTheBzip2Tarball) {
  AutotestPlugin plugin;
  ScratchInstall ctx({kUrl, kBuild, {"autotest.tar.bz2"}});
  Names objects;
  ASSERT_TRUE(plugin.Resolve("autotest", ctx.folder(), &objects).ok());
  EXPECT_EQ(objects, Names{"autotest.tar.bz2"});
  ASSERT_EQ(ctx.FetchArchive("autotest.tar.bz2", AutotestTree(), TarWith(Compression::kBzip2)), "");
  ASSERT_TRUE(plugin.Install("autotest", ctx).ok());
  EXPECT_EQ(ctx.Output().size(), 4u);
  EXPECT_EQ(plugin.Resolve("autotest", {kUrl, kBuild, {"control_files.tar"}}, &objects).message(),
            "autotest: no object autotest.tar or autotest.tar.bz2 in " + kUrl);
}

TEST(AutotestPluginTest, TestSuitesControlFilesAndPackagesLandUnderAutotest) {
  AutotestPlugin plugin;
  ScratchInstall ctx(
      {kUrl, kBuild, {"autotest_packages.tar", "control_files.tar", "test_suites.tar.bz2"}});
  ASSERT_EQ(ctx.FetchArchive("test_suites.tar.bz2",
                             {TestFile("autotest/test_suites/control.bvt", "bvt\n"),
                              TestFile("autotest/test_suites/suite_to_control_file_map",
                                       "{'bvt': ['server/site_tests/dummy/control']}\n")},
                             TarWith(Compression::kBzip2)),
            "");
  ASSERT_EQ(ctx.FetchArchive("control_files.tar",
                             {TestFile("autotest/server/site_tests/dummy/control", "dummy\n")}),
            "");
  ASSERT_EQ(ctx.FetchArchive("autotest_packages.tar",
                             {TestFile("autotest/packages/packages.checksum", "sums\n"),
                              TestFile("autotest/packages/test-dummy.tar.bz2", "pkg")}),
            "");
  for (const char* artifact : {"test_suites", "control_files", "autotest_packages"}) {
    Names objects;
    ASSERT_TRUE(plugin.Resolve(artifact, ctx.folder(), &objects).ok()) << artifact;
    Status s = plugin.Install(artifact, ctx);
    ASSERT_TRUE(s.ok()) << artifact << ": " << s.message();
  }
  EXPECT_EQ(ctx.Output(),
            (Names{"autotest/packages/packages.checksum", "autotest/packages/test-dummy.tar.bz2",
                   "autotest/server/site_tests/dummy/control", "autotest/test_suites/control.bvt",
                   "autotest/test_suites/suite_to_control_file_map"}));
  EXPECT_EQ(ctx.OutputBytes("autotest/packages/test-dummy.tar.bz2"), "pkg");
}

}  // namespace
}  // namespace devserver::autotest
