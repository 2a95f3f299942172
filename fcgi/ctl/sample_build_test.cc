#include "fcgi/ctl/sample_build.h"

#include <Poco/DigestEngine.h>
#include <Poco/MD5Engine.h>
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "fcgi/base/fs.h"
#include "fcgi/staging/payload_digest.h"
#include "tests/support/temp_dir.h"

namespace devserver {
namespace {

namespace fs = std::filesystem;

const std::string kBuild = "R19-2003.0.0-a1-b1819";
const std::string kFolder = "chromeos-image-archive/x86-alex-release/" + kBuild;

class SampleBuildTest : public ::testing::Test {
 protected:
  SampleBuildOptions Options(const std::string& subdir) const {
    SampleBuildOptions options;
    options.dir = root_.Sub(subdir);
    options.payload_mib = 1;
    return options;
  }

  testing::TempDir root_{"sample_build_test"};
};

// Every regular file under `dir`, relative to it, with its bytes.
std::map<std::string, std::string> Files(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::string bytes;
    EXPECT_TRUE(ReadFile(entry.path().string(), &bytes).ok());
    files[entry.path().lexically_relative(dir).string()] = std::move(bytes);
  }
  return files;
}

struct Listing {
  int filter = ARCHIVE_FILTER_NONE;  // the outermost compression
  std::set<std::string> dirs;
  std::map<std::string, std::string> files;
};

// Reads an archive the way the service's extractor will: any format, any filter.
Listing ReadArchive(const std::string& bytes) {
  Listing listing;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  EXPECT_EQ(archive_read_open_memory(a, bytes.data(), bytes.size()), ARCHIVE_OK);
  archive_entry* entry = nullptr;
  int rc = ARCHIVE_OK;
  while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
    std::string path = archive_entry_pathname(entry);
    if (archive_entry_filetype(entry) == AE_IFDIR) {
      listing.dirs.insert(path);
      continue;
    }
    std::string data;
    char buf[65536];
    la_ssize_t n = 0;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
      data.append(buf, static_cast<size_t>(n));
    EXPECT_EQ(n, 0) << path << ": " << archive_error_string(a);
    listing.files[path] = std::move(data);
  }
  EXPECT_EQ(rc, ARCHIVE_EOF) << archive_error_string(a);
  listing.filter = archive_filter_code(a, 0);
  archive_read_free(a);
  return listing;
}

std::set<std::string> Keys(const std::map<std::string, std::string>& files) {
  std::set<std::string> keys;
  for (const auto& [name, bytes] : files) keys.insert(name);
  return keys;
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST_F(SampleBuildTest, ManifestListsExactlyTheObjects) {
  std::string url;
  int count = 0;
  Status s = WriteSampleBuild(Options("a"), &url, &count);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(url, "gs://chromeos-image-archive/x86-alex-release/" + kBuild);

  std::map<std::string, std::string> files = Files(root_.Sub("a/" + kFolder));
  const std::set<std::string> objects = {
      "chromeos_" + kBuild + "_x86-alex_full_dev.bin",
      "chromeos_" + kBuild + "_" + kBuild + "_x86-alex_delta_dev.bin",
      "chromeos_R19-2002.0.0-a1-b1819_" + kBuild + "_x86-alex_delta_dev.bin",
      "stateful.tgz",
      "autotest.tar",
      "test_suites.tar.bz2",
      "control_files.tar",
      "autotest_packages.tar",
      "debug.tgz",
      "chromiumos_test_image.tar.xz",
  };
  std::set<std::string> present = Keys(files);
  present.erase("UPLOADED");
  EXPECT_EQ(present, objects);
  EXPECT_EQ(count, static_cast<int>(objects.size()));

  std::string manifest;
  for (const std::string& name : objects) manifest += name + "\n";
  EXPECT_EQ(files["UPLOADED"], manifest);

  const size_t full = files["chromeos_" + kBuild + "_x86-alex_full_dev.bin"].size();
  EXPECT_EQ(full, 1024u * 1024u);
  EXPECT_LT(files["chromeos_" + kBuild + "_" + kBuild + "_x86-alex_delta_dev.bin"].size(), full);
  EXPECT_LT(files["chromeos_R19-2002.0.0-a1-b1819_" + kBuild + "_x86-alex_delta_dev.bin"].size(),
            full);
}

// The payloads carry a real header, so an update check answers a real metadata size.
TEST_F(SampleBuildTest, PayloadsStartWithAnUpdateHeader) {
  std::string url;
  int count = 0;
  ASSERT_TRUE(WriteSampleBuild(Options("a"), &url, &count).ok());
  int payloads = 0;
  for (const auto& [name, bytes] : Files(root_.Sub("a/" + kFolder))) {
    if (!name.ends_with("_dev.bin")) continue;
    ++payloads;
    EXPECT_EQ(PayloadMetadataSize(bytes), 24 + 4096) << name;
  }
  EXPECT_EQ(payloads, 3);
}

TEST_F(SampleBuildTest, ArchivesHoldWhatThePluginsExpect) {
  std::string url;
  int count = 0;
  ASSERT_TRUE(WriteSampleBuild(Options("a"), &url, &count).ok());
  std::map<std::string, std::string> files = Files(root_.Sub("a/" + kFolder));

  Listing stateful = ReadArchive(files["stateful.tgz"]);
  EXPECT_EQ(stateful.filter, ARCHIVE_FILTER_GZIP);
  for (const char* name : {"stateful.tgz", "debug.tgz"}) {
    // No time in the gzip header, and the file ends with the gzip trailer, unpadded: its
    // last four bytes are the size of the tar inside (ustar: a multiple of 512).
    const std::string& gz = files[name];
    ASSERT_GT(gz.size(), 18u);
    EXPECT_EQ(gz.substr(4, 4), std::string(4, '\0')) << name;
    uint32_t inner = 0;
    for (int i = 0; i < 4; ++i) {
      inner |= static_cast<uint32_t>(static_cast<unsigned char>(gz[gz.size() - 4 + i])) << (8 * i);
    }
    EXPECT_GT(inner, 0u) << name;
    EXPECT_EQ(inner % 512, 0u) << name;
  }
  EXPECT_GE(stateful.files.size(), 3u);
  for (const auto& [path, bytes] : stateful.files) {
    EXPECT_TRUE(StartsWith(path, "var_new/") || StartsWith(path, "dev_image_new/")) << path;
  }
  EXPECT_TRUE(stateful.dirs.count("var_new/") && stateful.dirs.count("dev_image_new/"));

  Listing autotest = ReadArchive(files["autotest.tar"]);
  EXPECT_EQ(autotest.filter, ARCHIVE_FILTER_NONE);
  EXPECT_EQ(autotest.files.count("autotest/server/site_tests/dummy/control"), 1u);
  for (const auto& [path, bytes] : autotest.files) {
    EXPECT_TRUE(StartsWith(path, "autotest/")) << path;
    EXPECT_FALSE(StartsWith(path, "autotest/test_suites")) << path;
  }
  for (const std::string& dir : autotest.dirs) {
    EXPECT_FALSE(StartsWith(dir, "autotest/test_suites")) << dir;
  }

  Listing suites = ReadArchive(files["test_suites.tar.bz2"]);
  EXPECT_EQ(suites.filter, ARCHIVE_FILTER_BZIP2);
  EXPECT_EQ(Keys(suites.files),
            (std::set<std::string>{"autotest/test_suites/control.bvt",
                                   "autotest/test_suites/control.smoke",
                                   "autotest/test_suites/dependency_info",
                                   "autotest/test_suites/suite_to_control_file_map"}));

  Listing control = ReadArchive(files["control_files.tar"]);
  EXPECT_GE(control.files.size(), 2u);
  for (const auto& [path, bytes] : control.files) {
    EXPECT_TRUE(StartsWith(path, "autotest/")) << path;
    EXPECT_EQ(fs::path(path).filename(), "control") << path;
  }

  Listing packages = ReadArchive(files["autotest_packages.tar"]);
  ASSERT_EQ(packages.files.count("autotest/packages/packages.checksum"), 1u);
  int nested = 0;
  for (const auto& [path, bytes] : packages.files) {
    EXPECT_TRUE(StartsWith(path, "autotest/packages/")) << path;
    if (fs::path(path).extension() != ".bz2") continue;
    ++nested;
    EXPECT_EQ(ReadArchive(bytes).filter, ARCHIVE_FILTER_BZIP2) << path;
    Poco::MD5Engine md5;
    md5.update(bytes);
    EXPECT_NE(packages.files["autotest/packages/packages.checksum"].find(
                  Poco::DigestEngine::digestToHex(md5.digest()) + "  " +
                  fs::path(path).filename().string() + "\n"),
              std::string::npos)
        << path;
  }
  EXPECT_GE(nested, 1);

  Listing debug = ReadArchive(files["debug.tgz"]);
  EXPECT_EQ(debug.filter, ARCHIVE_FILTER_GZIP);
  int symbols = 0, others = 0;
  for (const auto& [path, bytes] : debug.files) {
    if (!StartsWith(path, "debug/breakpad/")) {
      EXPECT_TRUE(StartsWith(path, "debug/usr/lib/debug/")) << path;
      ++others;
      continue;
    }
    ++symbols;
    // debug/breakpad/<module>/<id>/<module>.sym, whose first line names the same module and id.
    fs::path p(path);
    const std::string module = p.parent_path().parent_path().filename().string();
    const std::string id = p.parent_path().filename().string();
    EXPECT_EQ(p.filename().string(), module + ".sym");
    EXPECT_EQ(id.size(), 33u);
    EXPECT_TRUE(StartsWith(bytes, "MODULE Linux x86_64 " + id + " " + module + "\n")) << bytes;
  }
  EXPECT_GE(symbols, 2);
  EXPECT_GE(others, 1);

  Listing image = ReadArchive(files["chromiumos_test_image.tar.xz"]);
  EXPECT_EQ(image.filter, ARCHIVE_FILTER_XZ);
  ASSERT_EQ(Keys(image.files), std::set<std::string>{"chromiumos_test_image.bin"});
  EXPECT_GE(image.files["chromiumos_test_image.bin"].size(), 100u * 1024u);
  EXPECT_LE(image.files["chromiumos_test_image.bin"].size(), 1024u * 1024u);
}

TEST_F(SampleBuildTest, SameBytesOnEveryRun) {
  std::string url;
  int count = 0;
  ASSERT_TRUE(WriteSampleBuild(Options("a"), &url, &count).ok());
  ASSERT_TRUE(WriteSampleBuild(Options("b"), &url, &count).ok());
  std::map<std::string, std::string> first = Files(root_.Sub("a"));
  EXPECT_EQ(first, Files(root_.Sub("b")));  // gzip headers carry no time, members a fixed one

  // A second run over the same directory leaves the same files and no temporaries.
  ASSERT_TRUE(WriteSampleBuild(Options("a"), &url, &count).ok());
  EXPECT_EQ(Files(root_.Sub("a")), first);
}

TEST_F(SampleBuildTest, OtherBoardAndBuild) {
  SampleBuildOptions options = Options("c");
  options.bucket = "lab-bucket";
  options.board = "peach_pit";
  options.build = "R20-3000.0.0";
  std::string url;
  int count = 0;
  Status s = WriteSampleBuild(options, &url, &count);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(url, "gs://lab-bucket/peach_pit-release/R20-3000.0.0");
  std::map<std::string, std::string> files =
      Files(root_.Sub("c/lab-bucket/peach_pit-release/R20-3000.0.0"));
  EXPECT_EQ(files.count("chromeos_R20-3000.0.0_peach_pit_full_dev.bin"), 1u);
  EXPECT_EQ(files.count("chromeos_R20-3000.0.0_R20-3000.0.0_peach_pit_delta_dev.bin"), 1u);
  EXPECT_EQ(files.count("chromeos_R20-2999.0.0_R20-3000.0.0_peach_pit_delta_dev.bin"), 1u);
}

TEST_F(SampleBuildTest, RefusesBadOptions) {
  std::string url;
  int count = 0;
  SampleBuildOptions options = Options("d");
  options.build = "R19_1";
  EXPECT_EQ(WriteSampleBuild(options, &url, &count).message(),
            "--build: 'R19_1' must not contain '_'");
  options = Options("d");
  options.board = "../x";
  EXPECT_EQ(WriteSampleBuild(options, &url, &count).message(),
            "--board: '../x' is not a plain name");
  options = Options("d");
  options.payload_mib = 0;
  EXPECT_EQ(WriteSampleBuild(options, &url, &count).message(), "--payload-mib: must be 1 to 1024");
  EXPECT_FALSE(fs::exists(root_.Sub("d")));
}

TEST_F(SampleBuildTest, CommandPrintsTheArchiveUrlLast) {
  std::string dir = root_.Sub("e");
  std::vector<std::string> args = {"sample-build", dir, "--payload-mib=1", "--board", "x86-alex",
                                   "--bucket",     "b"};
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (std::string& arg : args) argv.push_back(arg.data());
  ::testing::internal::CaptureStdout();
  int rc = RunSampleBuild(static_cast<int>(argv.size()), argv.data());
  std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0);
  ASSERT_FALSE(out.empty());
  out.pop_back();
  EXPECT_EQ(out.substr(out.rfind('\n') + 1), "gs://b/x86-alex-release/" + kBuild);
  EXPECT_TRUE(fs::exists(dir + "/b/x86-alex-release/" + kBuild + "/UPLOADED"));

  std::vector<std::string> bad = {"sample-build", "--payload-mib", "x", dir};
  std::vector<char*> bad_argv;
  bad_argv.reserve(bad.size());
  for (std::string& arg : bad) bad_argv.push_back(arg.data());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunSampleBuild(static_cast<int>(bad_argv.size()), bad_argv.data()), 2);
  EXPECT_TRUE(StartsWith(::testing::internal::GetCapturedStderr(),
                         "devserverctl sample-build: --payload-mib: 'x' is not a number\n"));
}

}  // namespace
}  // namespace devserver
