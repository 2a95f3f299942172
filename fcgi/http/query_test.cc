#include "fcgi/http/query.h"

#include <gtest/gtest.h>

#include <string>

namespace devserver {
namespace {

using namespace std::string_literals;

std::string Value(const std::string& raw, const std::string& name) {
  QueryParams q;
  Status s = QueryParams::Parse(raw, &q);
  EXPECT_TRUE(s.ok()) << s.message();
  const std::string* v = q.Find(name);
  return v != nullptr ? *v : "<absent>";
}

TEST(QueryTest, RawAndPercentEncodedValuesAreTheSame) {
  const std::string want = "gs://chromeos-image-archive/x86-alex-release/R19-2003.0.0-a1-b1819";
  EXPECT_EQ(Value("archive_url=" + want, "archive_url"), want);
  EXPECT_EQ(Value("archive_url=gs%3A%2F%2Fchromeos-image-archive%2Fx86-alex-release%2F"
                  "R19-2003.0.0-a1-b1819",
                  "archive_url"),
            want);
  EXPECT_EQ(Value("archive_url=gs%3a%2f%2fchromeos-image-archive/x86-alex-release/"
                  "R19-2003.0.0-a1-b1819",
                  "archive_url"),
            want);
}

TEST(QueryTest, SeveralParametersFlagsAndPlus) {
  QueryParams q;
  ASSERT_TRUE(QueryParams::Parse("artifacts=a,b&async=True&&files=x+y&flag", &q).ok());
  EXPECT_EQ(*q.Find("artifacts"), "a,b");
  EXPECT_EQ(*q.Find("async"), "True");
  EXPECT_EQ(*q.Find("files"), "x y");
  EXPECT_EQ(*q.Find("flag"), "");
  EXPECT_EQ(q.Find("missing"), nullptr);
  EXPECT_EQ(q.GetOr("missing", "d"), "d");
  EXPECT_EQ(q.all().size(), 4u);
}

TEST(QueryTest, RefusesWhatItCannotReadUnambiguously) {
  QueryParams q;
  EXPECT_EQ(QueryParams::Parse("a=%zz", &q).message(),
            "parameter 'a': invalid percent-escape '%zz'");
  EXPECT_EQ(QueryParams::Parse("a=%4", &q).message(), "parameter 'a': invalid percent-escape '%4'");
  EXPECT_EQ(QueryParams::Parse("a=1&a=2", &q).message(), "parameter 'a' given more than once");
  EXPECT_EQ(QueryParams::Parse("a=x%00y", &q).message(),
            "parameter 'a' contains a control character");
  EXPECT_EQ(QueryParams::Parse("a=x%0Ay", &q).message(),
            "parameter 'a' contains a control character");
  EXPECT_EQ(QueryParams::Parse("=v", &q).message(), "parameter with an empty name");
  EXPECT_EQ(QueryParams::Parse(std::string(QueryParams::kMaxQueryBytes + 1, 'a'), &q).code(),
            Status::Code::kInvalidArgument);
}

TEST(QueryTest, EmptyQueryHasNoParameters) {
  QueryParams q;
  ASSERT_TRUE(QueryParams::Parse("", &q).ok());
  EXPECT_TRUE(q.all().empty());
}

// Found by tests/fuzz/query_fuzzer (corpus/query/regress_nul_in_name): the reason quoted the
// raw name, NUL and all, and the parameters before the bad one stayed behind.
TEST(QueryTest, RefusalsQuoteRawBytesOnOneLineAndKeepNoParameters) {
  QueryParams q;
  Status s = QueryParams::Parse("target=x21-alex-release&m\0&Astone=R1.9"s, &q);
  EXPECT_EQ(s.message(), "parameter 'm\\x00' contains a control character");
  EXPECT_TRUE(q.all().empty());
  s = QueryParams::Parse("a\n%zz=1", &q);
  EXPECT_EQ(s.message(), "parameter 'a\\x0a%zz': invalid percent-escape '%zz'");
  s = QueryParams::Parse(
      "a=%\xff"
      "1",
      &q);
  EXPECT_EQ(s.message(), "parameter 'a': invalid percent-escape '%\\xff1'");
  s = QueryParams::Parse(std::string(100, 'n') + "=%00", &q);
  EXPECT_EQ(s.message(),
            "parameter '" + std::string(64, 'n') + "...' contains a control character");
  ASSERT_TRUE(QueryParams::Parse("a=1", &q).ok());
  EXPECT_FALSE(QueryParams::Parse("b=1&b=2", &q).ok());
  EXPECT_TRUE(q.all().empty());
}

}  // namespace
}  // namespace devserver
