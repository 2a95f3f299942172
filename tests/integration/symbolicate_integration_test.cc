// Real symbolication end to end: a crashed program's minidump, its breakpad symbols packed
// into the build's debug.tgz in the fake GCS, /stage_debug, then /symbolicate_dump through
// nginx and the pool running the shipped minidump_stackwalk.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/integration/staging_fixture.h"
#include "tests/symbolicate/breakpad_fixture.h"

namespace devserver::testing {
namespace {

namespace fs = std::filesystem;

const std::string kBoundary = "----devserver-test-boundary-7MA4YWxkTrZu0gW";

// A multipart/form-data body as curl -F builds it.
std::string FormBody(const std::vector<std::pair<std::string, std::string>>& fields,
                     const std::string& dump) {
  std::string body;
  for (const auto& [name, value] : fields) {
    body += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" +
            value + "\r\n";
  }
  body += "--" + kBoundary +
          "\r\nContent-Disposition: form-data; name=\"minidump\"; filename=\"crash.dmp\"\r\n"
          "Content-Type: application/octet-stream\r\n\r\n" +
          dump + "\r\n--" + kBoundary + "--\r\n";
  return body;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class SymbolicateTest : public StagingTest {
 protected:
  HttpResult Post(const std::string& target, const std::string& body) {
    return HttpCall(service_.port(), "POST", target,
                    {{"Content-Type", "multipart/form-data; boundary=" + kBoundary}}, body, 60000);
  }
};

TEST_F(SymbolicateTest, TraceNamesTheCrashingFunctionAndLine) {
  TempDir work("devserver-symbolicate");
  CrashDump crash;
  ASSERT_TRUE(WriteCrashDump(work.Sub("dumps"), &crash));
  std::string sym;
  ASSERT_TRUE(WriteSymbolTree(work.Sub("breakpad"), &sym));

  // debug.tgz as builders upload it: the breakpad tree beside other debug files.
  FakeBuild b = PutBuild("R99-400.0.0");
  fake_->PutObject(
      kBucket, b.folder + "/debug.tgz",
      ArchiveBytes({TestFile("debug/breakpad/" + sym, ReadBytes(work.Sub("breakpad/" + sym))),
                    TestFile("debug/crasher.debug", RandomBytes(64 << 10, 3))},
                   Compression::kGzip));
  HttpResult staged = Get("/stage_debug?archive_url=" + b.Url());
  ASSERT_EQ(staged.status, 200) << staged.body;
  ASSERT_EQ(staged.body, "Success");
  ASSERT_TRUE(fs::exists(BuildDir(b) + "/debug/breakpad/" + sym));

  const std::string dump = ReadBytes(crash.minidump);
  ASSERT_GT(dump.size(), 0u);
  // Frame 0, as minidump_stackwalk prints it: module!function() [file : line + offset].
  const std::string frame = " 0  crasher!" + crash.function + "() [" +
                            fs::path(crash.source_file).filename().string() + " : " +
                            std::to_string(crash.line) + " + 0x";
  HttpResult trace = Post("/symbolicate_dump?archive_url=" + b.Url(), FormBody({}, dump));
  ASSERT_EQ(trace.status, 200) << trace.body;
  EXPECT_NE(trace.body.find(frame), std::string::npos) << "wanted '" << frame << "' in\n"
                                                       << trace.body;
  // archive_url as a form field works the same.
  HttpResult by_field = Post("/symbolicate_dump", FormBody({{"archive_url", b.Url()}}, dump));
  ASSERT_EQ(by_field.status, 200) << by_field.body;
  EXPECT_NE(by_field.body.find(frame), std::string::npos);
  // Without symbols the tool still walks the stack, but cannot name the function.
  HttpResult bare = Post("/symbolicate_dump", FormBody({}, dump));
  ASSERT_EQ(bare.status, 200) << bare.body;
  EXPECT_EQ(bare.body.find(crash.function), std::string::npos) << bare.body;
  EXPECT_EQ(fake_->Counters().Of(b.Key("debug.tgz")).media, 1u);  // staged once for all
}

TEST_F(SymbolicateTest, BadRequestsAndBadDumpsGetClearErrors) {
  HttpResult garbage = Post("/symbolicate_dump", FormBody({}, "this is not a minidump"));
  EXPECT_EQ(garbage.status, 500);
  EXPECT_EQ(garbage.body,
            "Can't generate stack trace: Minidump (uploaded dump) could not be read (rc=1)");

  HttpResult no_field = Post("/symbolicate_dump", FormBody({{"archive_url", "x"}}, "").substr(0));
  EXPECT_EQ(no_field.status, 400);
  HttpResult missing = HttpCall(
      service_.port(), "POST", "/symbolicate_dump",
      {{"Content-Type", "multipart/form-data; boundary=" + kBoundary}},
      "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--" +
          kBoundary + "--\r\n");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.body, "minidump: the form field is required");
  HttpResult not_form = HttpCall(service_.port(), "POST", "/symbolicate_dump",
                                 {{"Content-Type", "text/plain"}}, "hello");
  EXPECT_EQ(not_form.status, 400) << not_form.body;
  HttpResult get = Get("/symbolicate_dump");
  EXPECT_EQ(get.status, 405);
  HttpResult bucket = Post("/symbolicate_dump?archive_url=gs://elsewhere/a/b", FormBody({}, "x"));
  EXPECT_EQ(bucket.status, 403) << bucket.body;
}

}  // namespace
}  // namespace devserver::testing
