#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugins/symbols/symbols_plugin.h"
#include "plugins/testing/scratch_install.h"

namespace devserver::symbols {
namespace {

using devserver::testing::Compression;
using devserver::testing::TestDir;
using devserver::testing::TestFile;
using plugin::testing::ScratchInstall;
using plugin::testing::TarWith;
using Names = std::vector<std::string>;

const std::string kBuild = "R19-2003.0.0-a1-b1819";
const std::string kUrl = "gs://chromeos-image-archive/x86-alex-release/" + kBuild;

const std::string kChromeSym = "MODULE Linux x86_64 0123456789ABCDEF0 chrome\nFILE 0 a.cc\n";
const std::string kLibcSym = "MODULE Linux x86_64 FEDCBA98765432100 libc.so.6\n";

// What a real debug.tgz holds: the breakpad tree next to gigabytes of full debug binaries.
std::vector<devserver::testing::TestEntry> DebugTree() {
  return {TestDir("debug"),
          TestDir("debug/breakpad"),
          TestFile("debug/breakpad/chrome/0123456789ABCDEF0/chrome.sym", kChromeSym),
          TestFile("debug/breakpad/libc.so.6/FEDCBA98765432100/libc.so.6.sym", kLibcSym),
          TestFile("debug/usr/lib/debug/opt/google/chrome/chrome.debug", std::string(4096, 'x')),
          TestFile("debug/breakpad.txt", "not under debug/breakpad/"),
          TestFile("README", "top level")};
}

TEST(SymbolsPluginTest, OffersSymbolsAndSymbolsOnly) {
  SymbolsPlugin plugin;
  EXPECT_EQ(plugin.Name(), "symbols");
  Names names;
  for (const auto& spec : plugin.Artifacts()) names.push_back(spec.name);
  EXPECT_EQ(names, (Names{"symbols", "symbols_only"}));
}

TEST(SymbolsPluginTest, StagesOnlyTheBreakpadTreeOfDebugTgz) {
  SymbolsPlugin plugin;
  ScratchInstall ctx({kUrl, kBuild, {"UPLOADED", "debug.tgz", "debug_breakpad.tar.xz"}});
  Names objects;
  ASSERT_TRUE(plugin.Resolve("symbols", ctx.folder(), &objects).ok());
  EXPECT_EQ(objects, Names{"debug.tgz"});
  ASSERT_EQ(ctx.FetchArchive("debug.tgz", DebugTree(), TarWith(Compression::kGzip)), "");
  Status s = plugin.Install("symbols", ctx);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ctx.Output(), (Names{"debug/breakpad/chrome/0123456789ABCDEF0/chrome.sym",
                                 "debug/breakpad/libc.so.6/FEDCBA98765432100/libc.so.6.sym"}));
  EXPECT_EQ(ctx.OutputBytes("debug/breakpad/chrome/0123456789ABCDEF0/chrome.sym"), kChromeSym);
}

TEST(SymbolsPluginTest, SymbolsOnlyFromTheXzArchive) {
  SymbolsPlugin plugin;
  ScratchInstall ctx({kUrl, kBuild, {"debug_breakpad.tar.xz"}});
  Names objects;
  ASSERT_TRUE(plugin.Resolve("symbols_only", ctx.folder(), &objects).ok());
  EXPECT_EQ(objects, Names{"debug_breakpad.tar.xz"});
  ASSERT_EQ(ctx.FetchArchive("debug_breakpad.tar.xz", DebugTree(), TarWith(Compression::kXz)), "");
  ASSERT_TRUE(plugin.Install("symbols_only", ctx).ok());
  EXPECT_EQ(ctx.Output().size(), 2u);
  EXPECT_EQ(ctx.OutputBytes("debug/breakpad/libc.so.6/FEDCBA98765432100/libc.so.6.sym"), kLibcSym);
}

TEST(SymbolsPluginTest, MissingArchiveNamesTheObject) {
  SymbolsPlugin plugin;
  Names objects;
  Status s =
      plugin.Resolve("symbols", {kUrl, kBuild, {"UPLOADED", "debug_breakpad.tar.xz"}}, &objects);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "symbols: no object debug.tgz in " + kUrl);
}

TEST(SymbolsPluginTest, AnArchiveWithoutBreakpadSymbolsFails) {
  SymbolsPlugin plugin;
  ScratchInstall ctx({kUrl, kBuild, {"debug.tgz"}});
  ASSERT_EQ(ctx.FetchArchive("debug.tgz", {TestFile("debug/usr/lib/debug/x.debug", "x")},
                             TarWith(Compression::kGzip)),
            "");
  Status s = plugin.Install("symbols", ctx);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("debug/breakpad/"), std::string::npos) << s.message();
  EXPECT_EQ(ctx.Output(), Names{});
}

}  // namespace
}  // namespace devserver::symbols
