// The Breakpad tools POST /symbolicate_dump relies on, on a real crash: minidump_stackwalk names
// the crashing function and line given the symbol tree, and cannot without it.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "tests/support/temp_dir.h"
#include "tests/symbolicate/breakpad_fixture.h"

namespace devserver::testing {
namespace {

// The first frame of the crashed thread, e.g.
// " 0  crasher!devserver_test_crash_here() [crasher.cc : 38 + 0x7]"; "" if there is none.
std::string CrashedFrame0(const std::string& stackwalk_output) {
  std::istringstream in(stackwalk_output);
  std::string line;
  bool crashed_thread = false;
  while (std::getline(in, line)) {
    if (line.starts_with("Thread ") && line.ends_with("(crashed)")) {
      crashed_thread = true;
    } else if (crashed_thread && line.starts_with(" 0  ")) {
      return line;
    }
  }
  return "";
}

class SymbolicateToolsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(WriteCrashDump(dir_.Sub("dumps"), &dump_)); }

  TempDir dir_{"symbolicate-tools"};
  CrashDump dump_;
};

TEST_F(SymbolicateToolsTest, StackwalkNamesCrashFunctionAndLineWithSymbols) {
  std::string sym;
  ASSERT_TRUE(WriteSymbolTree(dir_.Sub("symbols"), &sym));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_.Sub("symbols/" + sym))) << sym;

  std::string out;
  ASSERT_TRUE(RunTool({StackwalkPath(), dump_.minidump, dir_.Sub("symbols")}, &out));
  const std::string frame = CrashedFrame0(out);
  const std::string source = std::filesystem::path(dump_.source_file).filename();
  const std::string expected = " 0  crasher!" + dump_.function + "() [" + source + " : " +
                               std::to_string(dump_.line) + " + 0x";
  EXPECT_TRUE(frame.starts_with(expected))
      << "frame 0: " << frame << "\nexpected it to start with: " << expected << "\n"
      << out;
}

TEST_F(SymbolicateToolsTest, StackwalkCannotNameCrashFunctionWithoutSymbols) {
  std::string out;
  ASSERT_TRUE(RunTool({StackwalkPath(), dump_.minidump}, &out));
  // Still a crash report, with frame 0 in the crasher module, just not the name.
  EXPECT_NE(out.find("Crash reason:  SIGSEGV"), std::string::npos) << out;
  EXPECT_TRUE(CrashedFrame0(out).starts_with(" 0  crasher + 0x")) << out;
  EXPECT_EQ(out.find(dump_.function), std::string::npos) << out;
}

}  // namespace
}  // namespace devserver::testing
