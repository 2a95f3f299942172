#include "fcgi/config/ini.h"

#include <gtest/gtest.h>

namespace devserver {
namespace {

TEST(IniTest, ReadsSectionsKeysAndLineNumbers) {
  std::vector<IniEntry> entries;
  ASSERT_TRUE(ParseIni("# comment\n[server]\nworkers = 4\n\n; other\n[paths]\n static_root=/x \n",
                       "f.ini", &entries)
                  .ok());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].section, "server");
  EXPECT_EQ(entries[0].key, "workers");
  EXPECT_EQ(entries[0].value, "4");
  EXPECT_EQ(entries[0].line, 3);
  EXPECT_EQ(entries[1].section, "paths");
  EXPECT_EQ(entries[1].value, "/x");
  EXPECT_EQ(entries[1].line, 7);
}

TEST(IniTest, RejectsMalformedLinesWithTheirLineNumber) {
  std::vector<IniEntry> entries;
  Status s = ParseIni("[server]\nworkers 4\n", "f.ini", &entries);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "f.ini:2: expected 'key = value', got 'workers 4'");
  EXPECT_FALSE(ParseIni("[server\n", "f.ini", &entries).ok());
  EXPECT_FALSE(ParseIni("workers = 1\n", "f.ini", &entries).ok());
  EXPECT_FALSE(ParseIni("[s]\n = 1\n", "f.ini", &entries).ok());
}

}  // namespace
}  // namespace devserver
