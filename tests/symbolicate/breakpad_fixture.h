// A real minidump with a known crash site, and the Breakpad symbol tree that symbolizes it, for
// tests of minidump symbolication (POST /symbolicate_dump). The crash comes from the crasher
// program (crasher.cc), built with debug information and linked with the Breakpad client.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace devserver::testing {

struct CrashDump {
  // Absolute path of the minidump the crasher wrote.
  std::string minidump;
  // The crashing function as the symbol file names it, without the parameter list:
  // minidump_stackwalk prints frame 0 as "crasher!devserver_test_crash_here() [crasher.cc : ...".
  std::string function;
  // Absolute path of crasher.cc; minidump_stackwalk prints only its base name.
  std::string source_file;
  // The line of the faulting store in source_file.
  int line = 0;
};

// Runs the crasher with dir (created if missing) as its dump directory; the dump lands there.
::testing::AssertionResult WriteCrashDump(const std::string& dir, CrashDump* dump);

// Writes the symbols of the crasher binary (dump_syms) to <root>/<module>/<id>/<module>.sym, the
// layout minidump_stackwalk looks up under each symbol path, with module and id from the symbol
// file's MODULE line. sym_relative_path receives "<module>/<id>/<module>.sym".
::testing::AssertionResult WriteSymbolTree(const std::string& root, std::string* sym_relative_path);

// The minidump_stackwalk the service runs, in the build tree (<build>/lib/devserver/).
std::string StackwalkPath();

// Runs argv (argv[0] an absolute path) to completion with stdin from /dev/null and collects its
// stdout and stderr. Fails unless it exits with status 0.
::testing::AssertionResult RunTool(const std::vector<std::string>& argv, std::string* out,
                                   std::string* err = nullptr);

}  // namespace devserver::testing
