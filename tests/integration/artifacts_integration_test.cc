// The archive artifacts end to end (symbols, autotest, images) and the endpoints that read
// what they stage: /stage_debug, /controlfiles, /latestbuild, /list_image_dir.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/staging_fixture.h"

namespace devserver::testing {
namespace {

namespace fs = std::filesystem;

class ArtifactsTest : public StagingTest {
 protected:
  HttpResult Stage(const FakeBuild& b, const std::string& artifacts) {
    return Get("/stage?archive_url=" + b.Url() + "&artifacts=" + artifacts);
  }
  // Every file and link below `dir`, relative to it, sorted.
  static std::vector<std::string> Tree(const std::string& dir) {
    std::vector<std::string> paths;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_directory() || e.is_symlink()) paths.push_back(fs::relative(e.path(), dir));
    }
    std::sort(paths.begin(), paths.end());
    return paths;
  }
  // How many times the service's log says an archive was unpacked.
  int Extractions(const std::string& object) {
    std::string log = service_.Log();
    int n = 0;
    for (size_t at = log.find("extracted " + object + ":"); at != std::string::npos;
         at = log.find("extracted " + object + ":", at + 1)) {
      ++n;
    }
    return n;
  }
};

const std::string kChromeSym = "MODULE Linux x86_64 0123456789ABCDEF0 chrome\nFUNC 10 4 0 main\n";

// 32 callers of /stage_debug on four workers: one GET of debug.tgz, one extraction, and only
// the breakpad tree lands.
TEST_F(ArtifactsTest, ConcurrentStageDebugFetchesAndUnpacksOnce) {
  FakeBuild b = PutBuild("R99-200.0.0");
  fake_->PutObject(
      kBucket, b.folder + "/debug.tgz",
      ArchiveBytes({TestFile("debug/breakpad/chrome/0123456789ABCDEF0/chrome.sym", kChromeSym),
                    TestFile("debug/breakpad/libc.so.6/ABCDEF/libc.so.6.sym", "MODULE x\n"),
                    TestFile("debug/usr/lib/debug/chrome.debug", RandomBytes(256 << 10, 1)),
                    TestFile("README", "not symbols")},
                   Compression::kGzip));
  constexpr int kClients = 32;
  std::vector<std::future<HttpResult>> calls;
  calls.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return Get("/stage_debug?archive_url=" + b.Url()); }));
  }
  for (auto& call : calls) {
    HttpResult r = call.get();
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_EQ(r.body, "Success");
  }
  EXPECT_EQ(fake_->Counters().Of(b.Key("debug.tgz")).media, 1u);
  EXPECT_EQ(Extractions("debug.tgz"), 1) << service_.Log();
  EXPECT_EQ(Tree(BuildDir(b)),
            (std::vector<std::string>{"debug/breakpad/chrome/0123456789ABCDEF0/chrome.sym",
                                      "debug/breakpad/libc.so.6/ABCDEF/libc.so.6.sym"}));
  EXPECT_EQ(Static(b, "debug/breakpad/chrome/0123456789ABCDEF0/chrome.sym"), kChromeSym);
  EXPECT_EQ(Get("/is_staged?archive_url=" + b.Url() + "&artifacts=symbols").body, "True");
}

TEST_F(ArtifactsTest, ControlFilesListAndReadInsideTheAutotestTree) {
  FakeBuild b = PutBuild("R99-201.0.0");
  ASSERT_EQ(Stage(b, "autotest,test_suites").body, "Success");
  const std::string q = "/controlfiles?build=" + b.folder;
  HttpResult list = Get(q);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.body, "server/site_tests/dummy/control\ntest_suites/control.bvt\n");
  EXPECT_EQ(Get(q + "&suite_name=bvt").body, "server/site_tests/dummy/control\n");
  EXPECT_EQ(Get(q + "&suite_name=nightly").body, "");
  EXPECT_EQ(Get(q + "&control_path=test_suites/control.bvt").body, b.suite_control);

  struct Refused {
    std::string query;
    int status;
    std::string body;
  } refused[] = {
      {q + "&control_path=../stateful.tgz", 400,
       "control_path may not contain '.' or '..' segments"},
      {q + "&control_path=/etc/passwd", 400, "control_path has an empty path segment"},
      {q + "&control_path=server/../../x", 400,
       "control_path may not contain '.' or '..' segments"},
      {"/controlfiles?build=../etc", 400, "build may not contain '.' or '..' segments"},
      {"/controlfiles?build=x86-alex-release", 400,
       "build must be <target>/<build> or gs/<bucket>/<target>/<build> (got 'x86-alex-release')"},
      {"/controlfiles", 400, "build is required (<target>/<build>)"},
      {q + "&control_path=server/nope/control", 500,
       b.folder + ": no control file server/nope/control is staged"},
      {"/controlfiles?build=x86-alex-release/R1-0.0.0", 500,
       "x86-alex-release/R1-0.0.0: no autotest tree is staged (stage autotest, control_files or "
       "test_suites first)"},
  };
  for (const Refused& r : refused) {
    HttpResult got = Get(r.query);
    EXPECT_EQ(got.status, r.status) << r.query << ": " << got.body;
    EXPECT_EQ(got.body, r.body) << r.query;
  }
}

TEST_F(ArtifactsTest, LatestBuildIsTheNewestStagedVersion) {
  // Staged in an order that is neither version nor string order.
  for (const char* build : {"R19-1999.0.0-a1-b1800", "R19-2003.0.0-a1-b1819", "R18-9999.0.0-a1-b1",
                            "R19-2003.0.0-a1-b999"}) {
    FakeBuild b = PutBuild(build);
    ASSERT_EQ(Stage(b, "stateful").body, "Success") << build;
  }
  PutBuild("R20-1.0.0");  // uploaded but never staged: not a candidate
  const std::string q = "/latestbuild?target=" + kBoard + "-release";
  EXPECT_EQ(Get(q).body, "R19-2003.0.0-a1-b1819");
  EXPECT_EQ(Get(q + "&milestone=R18").body, "R18-9999.0.0-a1-b1");
  HttpResult none = Get(q + "&milestone=R17");
  EXPECT_EQ(none.status, 500);
  EXPECT_EQ(none.body, "no staged build of x86-alex-release in milestone R17");
  EXPECT_EQ(Get(q + "&milestone=19").status, 400);
  EXPECT_EQ(Get("/latestbuild?target=lumpy-release").body, "no staged build of lumpy-release");
  EXPECT_EQ(Get("/latestbuild").status, 400);
}

TEST_F(ArtifactsTest, ListImageDirShowsWhatIsStaged) {
  FakeBuild b = PutBuild("R99-202.0.0");
  ASSERT_EQ(Stage(b, "stateful,test_suites").body, "Success");
  HttpResult r = Get("/list_image_dir?archive_url=" + b.Url());
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<std::string> lines;
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);) lines.push_back(line.substr(0, line.find('\t')));
  EXPECT_EQ(lines, (std::vector<std::string>{"static/" + b.folder + "/ (" + b.Url() + ")",
                                             "autotest/", "autotest/test_suites/",
                                             "autotest/test_suites/control.bvt", "stateful.tgz"}));
  EXPECT_NE(r.body.find("stateful.tgz\t" + std::to_string(b.stateful.size()) + "\t"),
            std::string::npos)
      << r.body;
  HttpResult missing = Get("/list_image_dir?archive_url=" + b.Url() + "-nope");
  EXPECT_EQ(missing.status, 500);
  EXPECT_EQ(missing.body, b.Url() + "-nope: nothing is staged for this build");
}

TEST_F(ArtifactsTest, ImagesComeFromImageZipWhenThereIsNoTarXz) {
  FakeBuild b = PutBuild("R99-203.0.0");
  std::string image(512 << 10, '\0');
  image.replace(0, 16, "test image bytes");
  fake_->PutObject(kBucket, b.folder + "/image.zip",
                   ArchiveBytes({TestFile("chromiumos_test_image.bin", image),
                                 TestFile("chromiumos_base_image.bin", "base"),
                                 TestFile("recovery_image.bin", "recovery")},
                                Compression::kNone, ArchiveFormat::kZip));
  ASSERT_EQ(Stage(b, "test_image,recovery_image").body, "Success");
  EXPECT_EQ(Static(b, "chromiumos_test_image.bin"), image);
  EXPECT_EQ(Static(b, "recovery_image.bin"), "recovery");
  EXPECT_FALSE(fs::exists(BuildDir(b) + "/chromiumos_base_image.bin"));  // not asked for
  EXPECT_EQ(fake_->Counters().Of(b.Key("image.zip")).media, 2u);         // one per artifact
}

// A first set of hostile archives, staged through the whole service: each fails the artifact
// with the extractor's reason, and nothing lands outside the staging temp directory.
TEST_F(ArtifactsTest, HostileArchivesFailWithTheReasonAndWriteNothing) {
  struct Case {
    std::string name;
    std::vector<TestEntry> entries;
    Compression compression;
    std::string reason;  // a part of the error
  };
  TestEntry device = TestSpecial("autotest/test_suites/null", EntryType::kCharDevice);
  std::vector<Case> cases = {
      {"dotdot",
       {TestFile("autotest/test_suites/../../../../escape", "x")},
       Compression::kNone,
       "escape"},
      {"absolute",
       {TestFile("/tmp/devserver-absolute-escape", "x")},
       Compression::kNone,
       "/tmp/devserver-absolute-escape"},
      {"symlink",
       {TestSymlink("autotest/test_suites/link", "../../../../../../tmp"),
        TestFile("autotest/test_suites/link/devserver-through-link", "x")},
       Compression::kNone,
       "link"},
      {"hardlink",
       {TestFile("autotest/test_suites/a", "x"),
        TestHardlink("autotest/test_suites/b", "/etc/passwd")},
       Compression::kNone,
       "hard link"},
      {"device", {device}, Compression::kNone, "autotest/test_suites/null"},
  };
  int round = 0;
  for (const Case& c : cases) {
    FakeBuild b = PutBuild("R99-3" + std::to_string(round++) + ".0.0");
    fake_->PutObject(kBucket, b.folder + "/test_suites.tar.bz2",
                     ArchiveBytes(c.entries, c.compression));
    HttpResult r = Stage(b, "test_suites");
    EXPECT_EQ(r.status, 500) << c.name << ": " << r.body;
    EXPECT_EQ(r.body.rfind("test_suites: test_suites.tar.bz2: ", 0), 0u)
        << c.name << ": " << r.body;
    EXPECT_NE(r.body.find(c.reason), std::string::npos) << c.name << ": " << r.body;
    EXPECT_EQ(Tree(BuildDir(b)), std::vector<std::string>{}) << c.name;
  }
  EXPECT_FALSE(fs::exists("/tmp/devserver-absolute-escape"));
  EXPECT_FALSE(fs::exists("/tmp/devserver-through-link"));
  EXPECT_FALSE(fs::exists(service_.state_dir() + "/escape"));
  EXPECT_FALSE(fs::exists(service_.state_dir() + "/static/escape"));
}

}  // namespace
}  // namespace devserver::testing
