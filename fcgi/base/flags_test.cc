#include "fcgi/base/flags.h"

#include <gtest/gtest.h>

namespace devserver {
namespace {

TEST(FlagsTest, ReadsBothSpellingsAndRefusesTheRest) {
  char a0[] = "prog", a1[] = "--port=8080", a2[] = "--state-dir", a3[] = "/tmp/x", a4[] = "stray",
       a5[] = "--last";
  char* argv[] = {a0, a1, a2, a3, a4, a5};
  std::string name, value;
  int i = 1;
  ASSERT_TRUE(ReadFlag(6, argv, &i, &name, &value).ok());
  EXPECT_EQ(name, "port");
  EXPECT_EQ(value, "8080");
  i = 2;
  ASSERT_TRUE(ReadFlag(6, argv, &i, &name, &value).ok());
  EXPECT_EQ(name, "state-dir");
  EXPECT_EQ(value, "/tmp/x");
  EXPECT_EQ(i, 3);  // the value was consumed
  i = 4;
  EXPECT_EQ(ReadFlag(6, argv, &i, &name, &value).message(), "unexpected argument 'stray'");
  i = 5;
  EXPECT_EQ(ReadFlag(6, argv, &i, &name, &value).message(), "option --last needs a value");
}

}  // namespace
}  // namespace devserver
