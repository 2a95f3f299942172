#include "fcgi/build/build_tree.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

namespace fs = std::filesystem;
using Names = std::vector<std::string>;

class BuildTreeTest : public ::testing::Test {
 protected:
  void Put(const std::string& relative, const std::string& content) {
    fs::create_directories(fs::path(dir_.Sub(relative)).parent_path());
    std::ofstream(dir_.Sub(relative), std::ios::binary) << content;
  }
  std::string Autotest() const { return dir_.Sub("build/autotest"); }

  testing::TempDir dir_{"devserver-build-tree"};
};

TEST_F(BuildTreeTest, ListsEverythingButStagingTempDirectories) {
  Put("build/update.gz", "12345");
  Put("build/au/R1_nton/update.gz", "ab");
  Put("build/.staging-symbols-7/out/debug/x.sym", "hidden");
  ASSERT_EQ(symlink("../../stateful.tgz", dir_.Sub("build/au/R1_nton/stateful.tgz").c_str()), 0);
  std::vector<TreeEntry> entries;
  ASSERT_TRUE(ListTree(dir_.Sub("build"), 100, &entries).ok());
  Names listed;
  for (const TreeEntry& e : entries) listed.push_back(std::string(1, e.type) + " " + e.path);
  EXPECT_EQ(listed, (Names{"d au/", "d au/R1_nton/", "l au/R1_nton/stateful.tgz",
                           "f au/R1_nton/update.gz", "f update.gz"}));
  EXPECT_EQ(entries.back().size, 5);
  EXPECT_EQ(entries[2].link_target, "../../stateful.tgz");
  EXPECT_EQ(ListTree(dir_.Sub("build"), 3, &entries).message(),
            dir_.Sub("build") + " has more than 3 entries");
  EXPECT_EQ(ListTree(dir_.Sub("nothing"), 100, &entries).code(), Status::Code::kNotFound);
}

TEST_F(BuildTreeTest, ControlFilesAreFilesNamedControl) {
  Put("build/autotest/server/site_tests/dummy/control", "x");
  Put("build/autotest/server/site_tests/dummy/control.extended", "x");
  Put("build/autotest/server/site_tests/dummy/dummy.py", "x");
  Put("build/autotest/test_suites/control.bvt", "x");
  Put("build/autotest/client/controller.py", "x");
  fs::create_directories(Autotest() + "/client/control");  // a directory is not a file
  Names paths;
  ASSERT_TRUE(ListControlFiles(Autotest(), &paths).ok());
  EXPECT_EQ(paths, (Names{"server/site_tests/dummy/control",
                          "server/site_tests/dummy/control.extended", "test_suites/control.bvt"}));
}

TEST_F(BuildTreeTest, SuiteFromTheSuiteMap) {
  Put("build/autotest/test_suites/suite_to_control_file_map",
      "{'bvt': ['client/site_tests/a/control', \"server/site_tests/b/control\",],\n"
      " 'smoke': ['client/site_tests/c/control']}\n");
  Names paths;
  ASSERT_TRUE(ListSuiteControlFiles(Autotest(), "bvt", &paths).ok());
  EXPECT_EQ(paths, (Names{"client/site_tests/a/control", "server/site_tests/b/control"}));
  EXPECT_EQ(ListSuiteControlFiles(Autotest(), "nope", &paths).message(),
            "suite nope is not in test_suites/suite_to_control_file_map");
  Put("build/autotest/test_suites/suite_to_control_file_map", "{'bvt': 'x'}");
  EXPECT_EQ(ListSuiteControlFiles(Autotest(), "bvt", &paths).message(),
            "test_suites/suite_to_control_file_map is not a suite map: expected '[' after "
            "'bvt': at byte 8");
}

TEST_F(BuildTreeTest, SuiteFromSuiteLinesWithoutAMap) {
  Put("build/autotest/client/site_tests/a/control", "NAME = 'a'\nSUITE = 'bvt, smoke'\n");
  Put("build/autotest/client/site_tests/b/control", "NAME = 'b'\nSUITE = \"smoke\"\n");
  Put("build/autotest/client/site_tests/c/control", "NAME = 'c'\n# bvt\n");
  Names paths;
  ASSERT_TRUE(ListSuiteControlFiles(Autotest(), "bvt", &paths).ok());
  EXPECT_EQ(paths, Names{"client/site_tests/a/control"});
  ASSERT_TRUE(ListSuiteControlFiles(Autotest(), "smoke", &paths).ok());
  EXPECT_EQ(paths, (Names{"client/site_tests/a/control", "client/site_tests/b/control"}));
}

TEST_F(BuildTreeTest, ReadsOnlyRegularFilesInsideTheTree) {
  Put("build/autotest/server/control", "AUTHOR = 'x'\n");
  Put("build/update.gz", "payload");
  Put("secret", "outside");
  ASSERT_EQ(symlink("../update.gz", (Autotest() + "/up").c_str()), 0);
  ASSERT_EQ(symlink(dir_.Sub("secret").c_str(), (Autotest() + "/abs").c_str()), 0);
  ASSERT_EQ(symlink("server/control", (Autotest() + "/inside").c_str()), 0);
  std::string content;
  ASSERT_TRUE(ReadTreeFile(Autotest(), "server/control", 100, &content).ok());
  EXPECT_EQ(content, "AUTHOR = 'x'\n");
  ASSERT_TRUE(ReadTreeFile(Autotest(), "inside", 100, &content).ok());
  EXPECT_EQ(content, "AUTHOR = 'x'\n");
  EXPECT_EQ(ReadTreeFile(Autotest(), "up", 100, &content).message(),
            "up leads outside the build's tree");
  EXPECT_EQ(ReadTreeFile(Autotest(), "abs", 100, &content).message(),
            "abs leads outside the build's tree");
  EXPECT_EQ(ReadTreeFile(Autotest(), "server", 100, &content).message(),
            "server is not a regular file");
  EXPECT_EQ(ReadTreeFile(Autotest(), "server/control", 5, &content).message(),
            "server/control is bigger than 5 bytes");
  EXPECT_EQ(ReadTreeFile(Autotest(), "server/nope", 100, &content).code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace devserver
