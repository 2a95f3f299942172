#include "fcgi/http/read_body.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace devserver {
namespace {

// A body that arrives in pieces of `piece` bytes, whatever Content-Length claimed.
class PiecesBody : public RequestBody {
 public:
  PiecesBody(std::string data, size_t piece) : data_(std::move(data)), piece_(piece) {}
  Status Read(char* buf, size_t n, size_t* got) override {
    const size_t k = std::min({n, piece_, data_.size() - pos_});
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    *got = k;
    return Status::Ok();
  }

 private:
  std::string data_;
  size_t piece_;
  size_t pos_ = 0;
};

Status ReadThrough(const std::string& data, size_t claimed, size_t limit, std::string* out) {
  PiecesBody body(data, 1000);
  Request req;
  req.content_length = claimed;
  req.body = &body;
  return ReadWholeBody(req, limit, out);
}

TEST(ReadWholeBodyTest, ABodyUpToTheLimitArrivesWholeAcrossManyReads) {
  std::string data(20000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  std::string out;
  ASSERT_TRUE(ReadThrough(data, data.size(), data.size(), &out).ok());
  EXPECT_EQ(out, data);
  // Content-Length is a hint only: a body that does not say its length is read too.
  ASSERT_TRUE(ReadThrough(data, 0, data.size(), &out).ok());
  EXPECT_EQ(out, data);
}

TEST(ReadWholeBodyTest, AClaimedLengthOverTheLimitIsRefusedUnread) {
  std::string out = "stale";
  Status s = ReadThrough("abc", 2000, 1000, &out);
  EXPECT_EQ(s.code(), Status::Code::kTooLarge);
  EXPECT_EQ(s.message(), "request body of 2000 bytes is over the 1000-byte limit");
  EXPECT_TRUE(out.empty());
}

TEST(ReadWholeBodyTest, ABodyLongerThanItSaidIsRefusedAtOneByteOverTheLimit) {
  std::string out;
  Status s = ReadThrough(std::string(1001, 'x'), 10, 1000, &out);
  EXPECT_EQ(s.code(), Status::Code::kTooLarge);
  EXPECT_EQ(s.message(), "request body is over the 1000-byte limit");
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace devserver
